/**
 * A model's GPU-side state on one engine: the flat parameter, gradient and optimizer-slot buffers
 * (trainable weights first, the optimizer's range), the per-step uniforms and metrics, and the
 * caches of plans, uploaded datasets, index buffers and staging areas for streamed batches.
 */
import { fill } from '../../shaders/elementwise.ts';
import { STEP_INFO_BYTES } from '../../shaders/kernel.ts';
import { DeviceDataset, type DatasetLabels } from '../data/device-dataset.ts';
import type { Plan } from '../graph/plan.ts';
import type { Optimizer } from '../optimizers.ts';
import type { Engine, View } from '../runtime/engine.ts';
import type { Tensor } from '../runtime/tensor.ts';
import type { Layer } from '../layers/layer.ts';
import { layerWeights, type WeightHolder } from './shared-weights.ts';
import { hostValue, isTrainable, type ModelWeight } from './weights.ts';

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
  /** The loss and metric accumulators, one aligned slot each (ensureMetricSlots). */
  metrics: View;
  /** The version (src/model/shared-weights.ts) of each layer's weights last uploaded here. */
  versions: Map<Layer, number>;
  plans: Map<string, Plan>;
  datasets: Map<string, { key: object; dataset: DeviceDataset }>;
  /** Index buffers by use: one holds the epoch's permutation, another the identity order. */
  indices: Map<string, { view: View; length: number; identity: boolean }>;
  /** What streams host batches to the plans (src/model/batch-feeder.ts), by mode; freed with the state. */
  feeds: Map<string, { dispose(): void }>;
  /** Per-row loss weights of weighted train plans (f32 [batch]), by batch size and output. */
  lossWeights: Map<string, View>;
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
    metrics: { buffer: engine.buffer(METRIC_SLOT_BYTES, 'metrics'), offset: 0, size: METRIC_SLOT_BYTES },
    versions: new Map(),
    plans: new Map(),
    datasets: new Map(),
    indices: new Map(),
    feeds: new Map(),
    lossWeights: new Map(),
    iterations: 0,
    slotOptimizer: undefined,
  };
  // Padding between weights must stay zero in every flat buffer (the optimizer runs over it).
  engine.run([engine.kernel(fill(floats, 0), [state.params]), engine.kernel(fill(floats, 0), [state.grads])]);
  for (const w of ordered) {
    engine.write(state.params, hostValue(w), w.offset * 4);
    state.versions.set(w.layer, layerWeights(w.layer)!.version);
  }
  return state;
}

/** Uploads every layer whose weights changed since this device last had them. */
export function uploadStale(state: DeviceState, weights: readonly ModelWeight[]): void {
  for (const w of weights) {
    const entry = layerWeights(w.layer)!;
    if (state.versions.get(w.layer) === entry.version) continue;
    state.engine.write(state.params, hostValue(w), w.offset * 4);
    if (w.index === entry.values.length - 1) state.versions.set(w.layer, entry.version);
  }
}

/** Training changes every trainable layer's weights: `holder`'s device copy becomes the newest. */
export function holdTrainedLayers(holder: WeightHolder, state: DeviceState, weights: readonly ModelWeight[]): void {
  for (const layer of new Set(weights.map((w) => w.layer))) {
    if (!layer.trainable) continue;
    const entry = layerWeights(layer)!;
    entry.holder = holder;
    entry.version++;
    state.versions.set(layer, entry.version);
  }
}

/** WeightHolder.pull(): the device's values of the layers `holder` holds go to their host values. */
export async function pullHeld(holder: WeightHolder, weights: readonly ModelWeight[], state: DeviceState | undefined): Promise<void> {
  const held = [...new Set(weights.map((w) => w.layer))].filter((l) => layerWeights(l)?.holder === holder);
  if (held.length === 0) return;
  if (!state || state.engine.isDisposed) {
    throw new Error(`the weights of layer ${held[0]!.name} were last trained by model ${holder.name}, whose device memory is gone (disposed); they cannot be read`);
  }
  const all = new Float32Array(await state.engine.read(state.params, state.floats * 4));
  for (const layer of held) {
    const entry = layerWeights(layer)!;
    for (const w of weights) if (w.layer === layer) entry.values[w.index] = all.slice(w.offset, w.offset + w.size);
    entry.holder = undefined;
  }
}

/**
 * Bytes of one accumulator slot: a loss's (METRICS_BYTES) or a metric's, each at an offset a
 * storage binding accepts (minStorageBufferOffsetAlignment is at most 256).
 */
export const METRIC_SLOT_BYTES = 256;

/** Makes the accumulator buffer hold `slots` slots; a new buffer drops the plans bound to the old one. */
export function ensureMetricSlots(state: DeviceState, slots: number): void {
  const bytes = Math.max(1, slots) * METRIC_SLOT_BYTES;
  if (state.metrics.size >= bytes) return;
  state.engine.release(state.metrics.buffer);
  state.metrics = { buffer: state.engine.buffer(bytes, 'metrics'), offset: 0, size: bytes };
  for (const [key, plan] of state.plans) {
    if (plan.mode !== 'predict') {
      plan.dispose();
      state.plans.delete(key);
    }
  }
}

/** The per-row loss weights (f32 [batch]) that weighted train plans of `batch` rows read for output `output`, gathered beside its labels. */
export function lossWeightBuffer(state: DeviceState, batch: number, output: number): View {
  const key = `${batch}:${output}`;
  let view = state.lossWeights.get(key);
  if (!view) state.lossWeights.set(key, (view = { buffer: state.engine.buffer(batch * 4, `loss weights ${output}`), offset: 0, size: batch * 4 }));
  return view;
}

/** The view of accumulator slot `k`. */
export function metricSlot(state: DeviceState, k: number): View {
  return { buffer: state.metrics.buffer, offset: k * METRIC_SLOT_BYTES, size: METRIC_SLOT_BYTES };
}

/** Frees a state's GPU memory. */
export function releaseDeviceState(state: DeviceState): void {
  for (const plan of state.plans.values()) plan.dispose();
  for (const feed of state.feeds.values()) feed.dispose();
  for (const { dataset } of state.datasets.values()) dataset.dispose();
  for (const { view } of state.indices.values()) state.engine.release(view.buffer);
  for (const view of state.lossWeights.values()) state.engine.release(view.buffer);
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
 * A dataset on the GPU (one tensor per model input, one label set per output, optional loss
 * weights per output): uploaded once and kept while among the last few datasets used.
 */
export function deviceDataset(state: DeviceState, xs: readonly Tensor[], ys: readonly DatasetLabels[], weights: readonly (Float32Array | undefined)[] = []): DeviceDataset {
  const key = [...xs.map(datasetId), '|', ...ys.map((y) => `${datasetId(y.tensor)}:${y.layout}:${y.classes}`), '|', ...weights.map((w) => (w ? arrayId(w) : '-'))].join(',');
  const cached = state.datasets.get(key);
  if (cached) {
    state.datasets.delete(key);
    state.datasets.set(key, cached); // most recent last
    return cached.dataset;
  }
  const dataset = DeviceDataset.upload(state.engine, xs, ys, weights);
  state.datasets.set(key, { key: xs[0]!, dataset });
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
  return arrayId(t.values);
}

function arrayId(data: ArrayBufferView & { length: number }): string {
  let id = tensorIds.get(data.buffer);
  if (id === undefined) tensorIds.set(data.buffer, (id = nextTensorId++));
  return `${id}@${data.byteOffset}+${data.length}`;
}

