/**
 * The 2-D max pool op (channels_last): its geometry and the dispatches of its forward and backward,
 * including the backward from the first-max positions a producer saved while pooling its own output.
 */
import { maxPoolBackward as backwardKernel, maxPoolBackwardFromArgmax as backwardFromArgmaxKernel, maxPoolForward as forwardKernel, type PoolBackwardOptions, type PoolGeometry } from '../../shaders/pool.ts';
import type { BufferView, Dispatch, Engine } from '../runtime/engine.ts';
import { formatShape, type Shape } from '../runtime/tensor.ts';
import { pair, windowOutput, type Padding } from './window.ts';

export type { PoolGeometry };

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
