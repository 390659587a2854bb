/**
 * The 2-D pooling ops (channels_last): their geometry and the dispatches of their forward and
 * backward passes. Max pooling, including the backward from the first-max positions a producer
 * saved while pooling its own output; average pooling; global average and max pooling. The 1-D
 * layers run these with images of height 1.
 */
import {
  globalAvgPoolBackward as globalAvgBackwardKernel,
  globalMaxPoolBackward as globalMaxBackwardKernel,
  globalPoolForward as globalForwardKernel,
  type GlobalPoolGeometry,
  type GlobalPoolMode,
} from '../../shaders/global-pool.ts';
import {
  avgPoolBackward as avgBackwardKernel,
  avgPoolForward as avgForwardKernel,
  maxPoolBackward as backwardKernel,
  maxPoolBackwardFromArgmax as backwardFromArgmaxKernel,
  maxPoolForward as forwardKernel,
  type PoolBackwardOptions,
  type PoolGeometry,
} from '../../shaders/pool.ts';
import type { BufferView, Dispatch, Engine } from '../runtime/engine.ts';
import { formatShape, type Shape } from '../runtime/tensor.ts';
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

/** y = maxpool(x): x [batch, height, width, channels], y [batch, outHeight, outWidth, channels]. */
export function maxPoolForward(engine: Engine, g: PoolGeometry, views: { x: BufferView; y: BufferView }): Dispatch[] {
  return [engine.kernel(forwardKernel(g), [views.x, views.y])];
}

/** dx = gradient of maxpool routed to each window's first maximum; dx is fully overwritten. */
export function maxPoolBackward(engine: Engine, g: PoolGeometry, views: { x: BufferView; dy: BufferView; dx: BufferView }, options: PoolBackwardOptions = {}): Dispatch[] {
  return [engine.kernel(backwardKernel(g, options), [views.x, views.dy, views.dx])];
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

/** y = average pool of x (TensorFlow's: each window's mean over its taps inside the image). */
export function avgPoolForward(engine: Engine, g: PoolGeometry, views: { x: BufferView; y: BufferView }): Dispatch[] {
  return [engine.kernel(avgForwardKernel(g), [views.x, views.y])];
}

/** dx of the average pool: each window's dy shared equally by its taps inside the image; dx is fully overwritten. */
export function avgPoolBackward(engine: Engine, g: PoolGeometry, views: { dy: BufferView; dx: BufferView }): Dispatch[] {
  return [engine.kernel(avgBackwardKernel(g), [views.dy, views.dx])];
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
