/**
 * The 2-D pooling ops (channels_last): their geometry and the dispatches of their forward and
 * backward passes. Max pooling, including the backward from the first-max positions a producer
 * saved while pooling its own output; average pooling; global average and max pooling. The 1-D
 * layers run these with images of height 1. The window ops choose their launch from variant
 * tables (src/ops/variants.ts): the CPU rasterizer's first on 'cpu' profiles, workgroups of 256
 * and a coalesced gather for the backward first on 'gpu' ones.
 */
import {
  globalAvgPoolBackward as globalAvgBackwardKernel,
  globalMaxPoolBackward as globalMaxBackwardKernel,
  globalPoolForward as globalForwardKernel,
  type GlobalPoolGeometry,
  type GlobalPoolMode,
} from '../../shaders/global-pool.ts';
import {
  avgPoolBackwardCells as avgCellsKernel,
  avgPoolBackwardGather as avgGatherKernel,
  avgPoolForward as avgForwardKernel,
  maxPoolBackwardCells as cellsKernel,
  maxPoolBackwardFromArgmax as backwardFromArgmaxKernel,
  maxPoolBackwardGather as gatherKernel,
  maxPoolForward as forwardKernel,
  type PoolBackwardOptions,
  type PoolGeometry,
} from '../../shaders/pool.ts';
import type { BufferView, Dispatch, Engine } from '../runtime/engine.ts';
import { formatShape, type Shape } from '../runtime/tensor.ts';
import type { BenchRun } from '../runtime/tuning.ts';
import { benchRun } from './bench-buffers.ts';
import { always, choose, onGpu, type Variant, type VariantTable } from './variants.ts';
import { pair, windowOutput, type Padding } from './window.ts';

export type { GlobalPoolGeometry, GlobalPoolMode, PoolGeometry };

/**
 * The geometry of pooling `[height, width, channels]` images; throws (naming `who`) when a 'valid'
 * window does not fit.
 */
export function poolGeometry(
  batch: number,
  inputShape: Shape,
  pool: readonly [number, number],
  strides: readonly [number, number],
  mode: Padding,
  who = 'max pooling',
): PoolGeometry {
  if (inputShape.length !== 3) {
    throw new Error(`${who} expects inputs of shape [height, width, channels] (rank 3 without the batch), got ${formatShape(inputShape)}`);
  }
  if (!inputShape.every((d) => Number.isInteger(d) && d > 0)) throw new Error(`${who}: input sizes must be positive integers, got ${formatShape(inputShape)}`);
  if (!Number.isInteger(batch) || batch <= 0) throw new Error(`${who}: batch must be a positive integer, got ${batch}`);
  pair([...pool], `${who}: pool size`);
  pair([...strides], `${who}: strides`);
  const [height, width, channels] = inputShape as [number, number, number];
  const rows = windowOutput(height, pool[0], strides[0], mode);
  const cols = windowOutput(width, pool[1], strides[1], mode);
  if (rows.out <= 0 || cols.out <= 0) {
    throw new Error(
      `${who}: pool size ${formatShape(pool)} is larger than the input ${formatShape(inputShape)} with padding 'valid'; ` +
        `use a smaller pool or padding 'same'`,
    );
  }
  return {
    batch,
    height,
    width,
    channels,
    poolH: pool[0],
    poolW: pool[1],
    strideH: strides[0],
    strideW: strides[1],
    padTop: rows.padBefore,
    padLeft: cols.padBefore,
    outHeight: rows.out,
    outWidth: cols.out,
  };
}

// ---- variant tables -------------------------------------------------------------------------

/** Invocations per workgroup of the GPU rows; the CPU rows keep the kernels' own 64. */
const GPU_WORKGROUP = 256;
const UNMEASURED = "GPU kernels' usual shape, unmeasured here (no bench/NOTES.md item yet)";

/** A short key of a pool's geometry for the variant records. */
export function poolKey(g: PoolGeometry): string {
  const pad = g.padTop || g.padLeft ? ` pad${g.padTop}x${g.padLeft}` : '';
  return `${g.batch}x${g.height}x${g.width}x${g.channels} pool${g.poolH}x${g.poolW} s${g.strideH}x${g.strideW}${pad} -> ${g.outHeight}x${g.outWidth}`;
}

/** Windows that do not overlap (pool ≤ stride): where a backward can write each window's cell. */
const disjoint = (g: PoolGeometry): boolean => g.poolH <= g.strideH && g.poolW <= g.strideW;

/** The workgroup size a forward or backward row launches with. */
type PoolParams = { workgroupSize: number };

const FORWARD_ROWS: readonly Variant<PoolGeometry, PoolParams>[] = [
  { name: 'direct-wg256', applies: onGpu, params: { workgroupSize: GPU_WORKGROUP }, why: `GPUs: one output element (or vec4 of channels) per invocation in workgroups of 256, enough of them at batch 64: ${UNMEASURED}.` },
  { name: 'direct', applies: always, params: { workgroupSize: 64 }, why: 'One output element (or vec4) per invocation, unrolled window, workgroups of 64: what CPU rasterizers run.' },
];

const BACKWARD_ROWS: readonly Variant<PoolGeometry, PoolParams>[] = [
  {
    name: 'gather-wg256',
    applies: onGpu,
    params: { workgroupSize: GPU_WORKGROUP },
    why: `GPUs: one dx element (or vec4) per invocation, coalesced stores, workgroups of 256, non-overlapping windows too: ${UNMEASURED}.`,
  },
  { name: 'cells', applies: (g) => disjoint(g), params: { workgroupSize: 64 }, why: "Non-overlapping windows: each invocation finds its window's maximum once and writes its whole cell, a quarter of the gather's work at pool 2." },
  { name: 'gather', applies: always, params: { workgroupSize: 64 }, why: 'Every dx element visits the windows containing it: any pool and stride, overlapping windows included.' },
];

/** Max pooling's forward variants: workgroups of 256 first on 'gpu' profiles, the CPU rasterizer's launch everywhere. */
export const maxPoolForwardTable: VariantTable<PoolGeometry, PoolParams> = { op: 'maxPool.forward', key: poolKey, rows: FORWARD_ROWS, bench: (e, g, name) => poolBench(e, g, name, 'maxForward') };
/** Max pooling's backward variants (from x): the gather at 256 first on 'gpu' profiles, then cells where windows do not overlap, then the gather. */
export const maxPoolBackwardTable: VariantTable<PoolGeometry, PoolParams> = { op: 'maxPool.backward', key: poolKey, rows: BACKWARD_ROWS, bench: (e, g, name) => poolBench(e, g, name, 'maxBackward') };
/** Average pooling's forward variants (as max pooling's). */
export const avgPoolForwardTable: VariantTable<PoolGeometry, PoolParams> = { op: 'avgPool.forward', key: poolKey, rows: FORWARD_ROWS, bench: (e, g, name) => poolBench(e, g, name, 'avgForward') };
/** Average pooling's backward variants (as max pooling's). */
export const avgPoolBackwardTable: VariantTable<PoolGeometry, PoolParams> = { op: 'avgPool.backward', key: poolKey, rows: BACKWARD_ROWS, bench: (e, g, name) => poolBench(e, g, name, 'avgBackward') };

/** A pool variant on scratch buffers (random x and dy), for the tuner to time. */
function poolBench(engine: Engine, g: PoolGeometry, name: string, which: 'maxForward' | 'maxBackward' | 'avgForward' | 'avgBackward'): BenchRun {
  const nx = g.batch * g.height * g.width * g.channels;
  const ny = g.batch * g.outHeight * g.outWidth * g.channels;
  return benchRun(engine, (m) => {
    if (which === 'maxForward') return maxPoolForward(engine, g, { x: m.input(nx, 'pool bench x'), y: m.output(ny, 'pool bench y') }, name);
    if (which === 'avgForward') return avgPoolForward(engine, g, { x: m.input(nx, 'pool bench x'), y: m.output(ny, 'pool bench y') }, name);
    const dy = m.input(ny, 'pool bench dy');
    const dx = m.output(nx, 'pool bench dx');
    if (which === 'avgBackward') return avgPoolBackward(engine, g, { dy, dx }, name);
    return maxPoolBackward(engine, g, { x: m.input(nx, 'pool bench x'), dy, dx }, {}, name);
  });
}

/** The workgroup size of the row of `table` that runs g on the engine (`variant` forces one). */
function workgroupOf(table: VariantTable<PoolGeometry, PoolParams>, engine: Engine, g: PoolGeometry, variant?: string): { name: string; workgroupSize: number } {
  const row = choose(table, g, engine, variant);
  return { name: row.name, workgroupSize: row.params!.workgroupSize };
}

/** y = maxpool(x): x [batch, height, width, channels], y [batch, outHeight, outWidth, channels]; `variant` forces a row of maxPoolForwardTable. */
export function maxPoolForward(engine: Engine, g: PoolGeometry, views: { x: BufferView; y: BufferView }, variant?: string): Dispatch[] {
  return [engine.kernel(forwardKernel(g, workgroupOf(maxPoolForwardTable, engine, g, variant).workgroupSize), [views.x, views.y])];
}

/** dx = gradient of maxpool routed to each window's first maximum; dx is fully overwritten; `variant` forces a row of maxPoolBackwardTable. */
export function maxPoolBackward(engine: Engine, g: PoolGeometry, views: { x: BufferView; dy: BufferView; dx: BufferView }, options: PoolBackwardOptions = {}, variant?: string): Dispatch[] {
  const { name, workgroupSize } = workgroupOf(maxPoolBackwardTable, engine, g, variant);
  const kernel = name === 'cells' ? cellsKernel(g, options) : gatherKernel(g, options, workgroupSize);
  return [engine.kernel(kernel, [views.x, views.dy, views.dx])];
}

/**
 * dx of a 2×2/stride-2 'valid' pool from the first-max positions its producer saved while pooling
 * its own output (Layer.forwardPooled), and y, the pooled output; dx is fully overwritten.
 */
export function maxPoolBackwardFromArgmax(engine: Engine, g: PoolGeometry, views: { y: BufferView; argmax: BufferView; dy: BufferView; dx: BufferView }, options: PoolBackwardOptions = {}): Dispatch[] {
  return [engine.kernel(backwardFromArgmaxKernel(g, options), [views.y, views.argmax, views.dy, views.dx])];
}

/** The saved entry (ForwardContext.saved of the pool's node) holding the positions its producer recorded. */
export const POOL_ARGMAX = 'max pool argmax';

/** u32s of those positions for a batch of pooled outputs [h, w, c]: one per pixel and group of 4 channels. */
export function poolArgmaxWords(batch: number, pooledShape: readonly number[]): number {
  const [h, w, c] = pooledShape as [number, number, number];
  return batch * h * w * Math.ceil(c / 4);
}

/** y = average pool of x (TensorFlow's: each window's mean over its taps inside the image); `variant` forces a row of avgPoolForwardTable. */
export function avgPoolForward(engine: Engine, g: PoolGeometry, views: { x: BufferView; y: BufferView }, variant?: string): Dispatch[] {
  return [engine.kernel(avgForwardKernel(g, workgroupOf(avgPoolForwardTable, engine, g, variant).workgroupSize), [views.x, views.y])];
}

/** dx of the average pool: each window's dy shared equally by its taps inside the image; dx is fully overwritten; `variant` forces a row of avgPoolBackwardTable. */
export function avgPoolBackward(engine: Engine, g: PoolGeometry, views: { dy: BufferView; dx: BufferView }, variant?: string): Dispatch[] {
  const { name, workgroupSize } = workgroupOf(avgPoolBackwardTable, engine, g, variant);
  return [engine.kernel(name === 'cells' ? avgCellsKernel(g) : avgGatherKernel(g, workgroupSize), [views.dy, views.dx])];
}

/** The geometry of global pooling `[height, width, channels]` images to `[channels]`; throws (naming `who`) on other shapes. */
export function globalPoolGeometry(batch: number, inputShape: Shape, who = 'global pooling'): GlobalPoolGeometry {
  if (inputShape.length !== 3) {
    throw new Error(`${who} expects inputs of shape [height, width, channels] (rank 3 without the batch), got ${formatShape(inputShape)}`);
  }
  if (!inputShape.every((d) => Number.isInteger(d) && d > 0)) throw new Error(`${who}: input sizes must be positive integers, got ${formatShape(inputShape)}`);
  if (!Number.isInteger(batch) || batch <= 0) throw new Error(`${who}: batch must be a positive integer, got ${batch}`);
  const [height, width, channels] = inputShape as [number, number, number];
  return { batch, height, width, channels };
}

/** y[n, c] = the mean or the maximum of x[n, :, :, c]: x [batch, height, width, channels], y [batch, channels]. */
export function globalPoolForward(engine: Engine, g: GlobalPoolGeometry, mode: GlobalPoolMode, views: { x: BufferView; y: BufferView }): Dispatch[] {
  return [engine.kernel(globalForwardKernel(g, mode), [views.x, views.y])];
}

/**
 * dx of global pooling, fully overwritten: dy / (height · width) everywhere for the mean; for the
 * maximum, dy at each map's first maximum (row-major) and 0 elsewhere (x is read only then).
 */
export function globalPoolBackward(engine: Engine, g: GlobalPoolGeometry, mode: GlobalPoolMode, views: { x: BufferView; dy: BufferView; dx: BufferView }): Dispatch[] {
  if (mode === 'average') return [engine.kernel(globalAvgBackwardKernel(g), [views.dy, views.dx])];
  return [engine.kernel(globalMaxBackwardKernel(g), [views.x, views.dy, views.dx])];
}
