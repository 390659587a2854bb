/**
 * A model's GPU-side state on one engine: the flat parameter, gradient and optimizer-slot buffers
 * (trainable weights first, the optimizer's range), the per-step uniforms and metrics, and the
 * caches of plans, uploaded datasets and index buffers.
 */
import { fill } from '../../shaders/elementwise.ts';
import { STEP_INFO_BYTES } from '../../shaders/kernel.ts';
import { DeviceDataset } from '../data/device-dataset.ts';
import type { Plan } from '../graph/plan.ts';
import { METRICS_BYTES } from '../ops/losses/metrics.ts';
import type { LabelLayout } from '../ops/losses/loss.ts';
import type { Optimizer } from '../optimizers.ts';
import type { Engine, View } from '../runtime/engine.ts';
import type { Tensor } from '../runtime/tensor.ts';
import { isTrainable, type ModelWeight } from './weights.ts';

/** Uploaded datasets kept per model: train, validation, test. */
const DATASET_CACHE = 3;

/** GPU-side state of a model on one engine. */
export interface DeviceState {
  engine: Engine;
  /** layoutKey() of the weights when the flat buffers were laid out: trainable ones first. */
  layout: string;
  floats: number;
  /** Floats of the trainable prefix of the flat buffers, the optimizer's range. */
  trainableFloats: number;
  params: View;
  grads: View;
  slots: View[];
  hyper: View;
  stepInfo: GPUBuffer;
  metrics: View;
  plans: Map<string, Plan>;
  datasets: Map<string, { key: object; dataset: DeviceDataset }>;
  /** Index buffers by use: one holds the epoch's permutation, another the identity order. */
  indices: Map<string, { view: View; length: number; identity: boolean }>;
  /** Optimizer iterations done (Adam's t). */
  iterations: number;
  slotOptimizer: Optimizer | undefined;
}

/**
 * Lays out `ordered` (getWeights() order: trainable first) in fresh flat buffers on `engine`,
 * sets each weight's offset, and uploads the host values.
 */
export function createDeviceState(engine: Engine, ordered: readonly ModelWeight[], layout: string): DeviceState {
  const align = Math.max(1, engine.limits.minStorageBufferOffsetAlignment / 4);
  let floats = 0;
  let trainableFloats = 0;
  for (const w of ordered) {
    w.offset = floats;
    floats += Math.ceil(w.size / align) * align;
    if (isTrainable(w)) trainableFloats = floats;
  }
  floats = Math.max(floats, align);
  const flat = (label: string): View => ({ buffer: engine.buffer(floats * 4, label), offset: 0, size: floats * 4 });
  const state: DeviceState = {
    engine,
    layout,
    floats,
    trainableFloats,
    params: flat('params'),
    grads: flat('grads'),
    slots: [],
    hyper: { buffer: engine.uniform(64, 'optimizer-hyper'), offset: 0, size: 64 },
    stepInfo: engine.uniform(STEP_INFO_BYTES, 'step-info'),
    metrics: { buffer: engine.buffer(METRICS_BYTES, 'metrics'), offset: 0, size: METRICS_BYTES },
    plans: new Map(),
    datasets: new Map(),
    indices: new Map(),
    iterations: 0,
    slotOptimizer: undefined,
  };
  // Padding between weights must stay zero in every flat buffer (the optimizer runs over it).
  engine.run([engine.kernel(fill(floats, 0), [state.params]), engine.kernel(fill(floats, 0), [state.grads])]);
  for (const w of ordered) engine.write(state.params, w.host, w.offset * 4);
  return state;
}

/** Frees a state's GPU memory. */
export function releaseDeviceState(state: DeviceState): void {
  for (const plan of state.plans.values()) plan.dispose();
  for (const { dataset } of state.datasets.values()) dataset.dispose();
  for (const { view } of state.indices.values()) state.engine.release(view.buffer);
  for (const v of [state.params, state.grads, state.hyper, state.metrics, ...state.slots]) state.engine.release(v.buffer);
  state.engine.release(state.stepInfo);
}

/** Fresh zeroed slots for `optimizer` (its iteration count restarts); train plans bind the slots, so they go. */
export function resetOptimizerSlots(state: DeviceState, optimizer: Optimizer): void {
  for (const s of state.slots) state.engine.release(s.buffer);
  state.slots = optimizer.slotNames.map((name) => ({ buffer: state.engine.buffer(state.floats * 4, `slot-${name}`), offset: 0, size: state.floats * 4 }));
  if (state.slots.length) state.engine.run(state.slots.map((s) => state.engine.kernel(fill(state.floats, 0), [s])));
  state.iterations = 0;
  state.slotOptimizer = optimizer;
  for (const [key, plan] of state.plans) {
    if (plan.mode === 'train') {
      plan.dispose();
      state.plans.delete(key);
    }
  }
}

/**
 * (x, y) on the GPU: uploaded once and kept while among the last few datasets used. `labels` is the
 * loss's label layout; `width` the model output's per-sample size.
 */
export function deviceDataset(state: DeviceState, x: Tensor, y: Tensor | undefined, labels: LabelLayout | undefined, width: number): DeviceDataset {
  const key = `${datasetId(x)}:${y ? datasetId(y) : '-'}:${labels}`;
  const cached = state.datasets.get(key);
  if (cached) {
    state.datasets.delete(key);
    state.datasets.set(key, cached); // most recent last
    return cached.dataset;
  }
  const dataset = new DeviceDataset(state.engine, x, y, labels, width);
  state.datasets.set(key, { key: x, dataset });
  while (state.datasets.size > DATASET_CACHE) {
    const [oldest, entry] = state.datasets.entries().next().value as [string, { dataset: DeviceDataset }];
    entry.dataset.dispose();
    state.datasets.delete(oldest);
  }
  return dataset;
}

/** An index buffer (one per use) holding `order`, or the identity over [start, start + length). */
export function indexBuffer(state: DeviceState, use: string, length: number, order?: Uint32Array, start = 0): View {
  let entry = state.indices.get(use);
  if (!entry || entry.length < length) {
    if (entry) state.engine.release(entry.view.buffer);
    entry = { view: { buffer: state.engine.buffer(length * 4, `indices-${use}`), offset: 0, size: length * 4 }, length, identity: false };
    state.indices.set(use, entry);
  }
  const data = order ?? Uint32Array.from({ length }, (_, i) => start + i);
  state.engine.write(entry.view, data);
  return { ...entry.view, size: length * 4 };
}

const tensorIds = new WeakMap<object, number>();
let nextTensorId = 0;
/** Identity of a dataset's host data (the same arrays reuse their GPU copy). */
function datasetId(t: Tensor): string {
  let id = tensorIds.get(t.data.buffer);
  if (id === undefined) tensorIds.set(t.data.buffer, (id = nextTensorId++));
  return `${id}@${t.data.byteOffset}+${t.data.length}`;
}
