/**
 * The shape ops, channels_last: zero padding and cropping of images (one op, pad2d, in which a
 * negative padding crops, so each one's backward is the other), nearest and bilinear upsampling
 * (RepeatVector is nearest upsampling of [batch, 1, 1, features] by [n, 1]), and permuting axes
 * (a transpose; its backward is the inverse permutation). Geometry and validation here, the
 * kernels in shaders/shape.ts. Every backward overwrites the whole input gradient.
 */
import * as kernels from '../../shaders/shape.ts';
import type { TransposeGeometry, UpsampleGeometry, WindowCopyGeometry } from '../../shaders/shape.ts';
import type { BufferView, Dispatch, Engine } from '../runtime/engine.ts';
import { formatShape, type Shape } from '../runtime/tensor.ts';

export type { TransposeGeometry, UpsampleGeometry, WindowCopyGeometry };

function checkBatch(batch: number, who: string): void {
  if (!Number.isInteger(batch) || batch <= 0) throw new Error(`${who}: batch must be a positive integer, got ${batch}`);
}

/** [height, width, channels] of a rank-3 per-sample shape (channels_last images). */
function imageShape(inputShape: Shape, who: string): [number, number, number] {
  if (inputShape.length !== 3 || !inputShape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`${who} expects inputs of shape [height, width, channels] (rank 3 without the batch, channels_last), got ${formatShape(inputShape)}`);
  }
  return inputShape as unknown as [number, number, number];
}

// ---- zero padding and cropping -------------------------------------------------------------

/** [[top, bottom], [left, right]]: rows added above and below, columns left and right. */
export type Padding2D = readonly [readonly [number, number], readonly [number, number]];

export interface Pad2DGeometry {
  batch: number;
  height: number;
  width: number;
  channels: number;
  /** Rows and columns added; negative values remove them (cropping). */
  padding: [[number, number], [number, number]];
  outHeight: number;
  outWidth: number;
}

/**
 * Padding (positive) or cropping (negative) `[batch, ...inputShape]`; throws, naming `who`, when
 * the amounts are not integers or leave no rows or columns.
 */
export function pad2dGeometry(batch: number, inputShape: Shape, padding: Padding2D, who = 'pad2d'): Pad2DGeometry {
  checkBatch(batch, who);
  const [height, width, channels] = imageShape(inputShape, who);
  const flat = Array.isArray(padding) && padding.length === 2 && padding.every((p) => Array.isArray(p) && p.length === 2) ? padding.flat() : [];
  if (flat.length !== 4 || !flat.every((v) => Number.isInteger(v))) {
    throw new Error(`${who}: padding must be [[top, bottom], [left, right]] of integers, got ${JSON.stringify(padding)}`);
  }
  const [[top, bottom], [left, right]] = padding;
  const outHeight = height + top + bottom;
  const outWidth = width + left + right;
  if (outHeight < 1 || outWidth < 1) {
    throw new Error(`${who}: padding ${JSON.stringify(padding)} leaves an empty ${outHeight} × ${outWidth} image of the input ${formatShape(inputShape)}`);
  }
  return { batch, height, width, channels, padding: [[top, bottom], [left, right]], outHeight, outWidth };
}

/** The copy of the forward (x → y) or the backward (dy → dx). */
function padWindow(g: Pad2DGeometry, backward: boolean): WindowCopyGeometry {
  const [[top], [left]] = g.padding;
  const input = { height: g.height, width: g.width };
  const output = { height: g.outHeight, width: g.outWidth };
  const [src, dst, sign] = backward ? [output, input, 1] : [input, output, -1];
  return {
    batch: g.batch,
    channels: g.channels,
    srcHeight: src.height,
    srcWidth: src.width,
    dstHeight: dst.height,
    dstWidth: dst.width,
    offsetH: sign * top,
    offsetW: sign * left,
  };
}

/** y = x padded with zeros (or cropped): x [batch, height, width, channels], y [batch, outHeight, outWidth, channels]. */
export function pad2dForward(engine: Engine, g: Pad2DGeometry, views: { x: BufferView; y: BufferView }): Dispatch[] {
  return [engine.kernel(kernels.windowCopy(padWindow(g, false)), [views.x, views.y])];
}

/** dx = dy cropped back to the input (or, for cropping, padded with zeros). */
export function pad2dBackward(engine: Engine, g: Pad2DGeometry, views: { dy: BufferView; dx: BufferView }): Dispatch[] {
  return [engine.kernel(kernels.windowCopy(padWindow(g, true)), [views.dy, views.dx])];
}

// ---- upsampling and RepeatVector -------------------------------------------------------------

export const INTERPOLATIONS = ['nearest', 'bilinear'] as const;
export type Interpolation = (typeof INTERPOLATIONS)[number];

export interface UpSample2DGeometry extends UpsampleGeometry {
  interpolation: Interpolation;
}

/** Upsampling `[batch, ...inputShape]` images by `size` = [rows, columns] (positive integers). */
export function upSample2dGeometry(batch: number, inputShape: Shape, size: readonly [number, number], interpolation: Interpolation, who = 'upSample2d'): UpSample2DGeometry {
  checkBatch(batch, who);
  const [height, width, channels] = imageShape(inputShape, who);
  if (!Array.isArray(size) || size.length !== 2 || !size.every((s) => Number.isInteger(s) && s > 0)) {
    throw new Error(`${who}: size must be [rows, columns] of positive integers, got ${JSON.stringify(size)}`);
  }
  if (!(INTERPOLATIONS as readonly string[]).includes(interpolation)) {
    throw new Error(`${who}: interpolation must be ${INTERPOLATIONS.map((i) => `'${i}'`).join(' or ')}, got ${JSON.stringify(interpolation)}`);
  }
  return { batch, height, width, channels, sizeH: size[0], sizeW: size[1], interpolation };
}

/** [batch, features] repeated n times: [batch, n, features], nearest upsampling of [batch, 1, 1, features] by [n, 1]. */
export function repeatVectorGeometry(batch: number, inputShape: Shape, n: number, who = 'repeatVector'): UpSample2DGeometry {
  checkBatch(batch, who);
  if (inputShape.length !== 1 || !Number.isInteger(inputShape[0]) || inputShape[0]! <= 0) {
    throw new Error(`${who} expects inputs of shape [features] (rank 1 without the batch), got ${formatShape(inputShape)}`);
  }
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${who}: n must be a positive integer, got ${JSON.stringify(n)}`);
  return upSample2dGeometry(batch, [1, 1, inputShape[0]!], [n, 1], 'nearest', who);
}

/** y [batch, height·sizeH, width·sizeW, channels] from x [batch, height, width, channels]. */
export function upSample2dForward(engine: Engine, g: UpSample2DGeometry, views: { x: BufferView; y: BufferView }): Dispatch[] {
  const source = g.interpolation === 'nearest' ? kernels.upsampleNearest(g) : kernels.upsampleBilinear(g);
  return [engine.kernel(source, [views.x, views.y])];
}

/** dx: dy summed over each pixel's block (nearest) or tent-weighted over the pixels that read it (bilinear). */
export function upSample2dBackward(engine: Engine, g: UpSample2DGeometry, views: { dy: BufferView; dx: BufferView }): Dispatch[] {
  const source = g.interpolation === 'nearest' ? kernels.upsampleNearestGrad(g) : kernels.upsampleBilinearGrad(g);
  return [engine.kernel(source, [views.dy, views.dx])];
}

// ---- permute (transpose) ----------------------------------------------------------------------

/**
 * The simplest transpose equal to permuting `shape` by `perm` (output axis k = input axis
 * perm[k]): size-1 axes dropped, and axes that stay neighbours, in order, merged into one.
 */
export function simplifyTranspose(shape: Shape, perm: readonly number[]): TransposeGeometry {
  const rank = shape.length;
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, k) => p !== k)) {
    throw new Error(`transpose: perm must be a permutation of 0..${rank - 1}, got ${JSON.stringify(perm)} for shape ${formatShape(shape)}`);
  }
  // Without size-1 axes (renumbered).
  const kept = shape.map((_, a) => a).filter((a) => shape[a] !== 1);
  const renumber = new Map(kept.map((a, k) => [a, k]));
  const sizes = kept.map((a) => shape[a]!);
  const order = perm.filter((a) => shape[a] !== 1).map((a) => renumber.get(a)!);
  if (sizes.length === 0) return { shape: [1], perm: [0] };
  // Runs of output axes reading consecutive input axes become one axis.
  const runs: number[][] = [];
  for (const a of order) {
    const run = runs[runs.length - 1];
    if (run && run[run.length - 1] === a - 1) run.push(a);
    else runs.push([a]);
  }
  const byInput = [...runs].sort((p, q) => p[0]! - q[0]!);
  return {
    shape: byInput.map((run) => run.reduce((s, a) => s * sizes[a]!, 1)),
    perm: runs.map((run) => byInput.indexOf(run)),
  };
}

/** y = x with its axes permuted (g from simplifyTranspose). */
export function transposeForward(engine: Engine, g: TransposeGeometry, views: { x: BufferView; y: BufferView }): Dispatch[] {
  return [engine.kernel(kernels.transpose(g), [views.x, views.y])];
}

export interface PermuteGeometry {
  batch: number;
  inputShape: Shape;
  /** Keras's dims: 1-based over the sample axes (0 is the batch). */
  dims: readonly number[];
  outputShape: Shape;
  forward: TransposeGeometry;
  backward: TransposeGeometry;
}

/**
 * Permuting the sample axes of `[batch, ...inputShape]`: output axis i (1-based) is input axis
 * dims[i − 1]. Throws, naming `who`, unless dims is a permutation of 1..rank.
 */
export function permuteGeometry(batch: number, inputShape: Shape, dims: readonly number[], who = 'permute'): PermuteGeometry {
  checkBatch(batch, who);
  if (inputShape.length < 1 || !inputShape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`${who}: input sizes must be positive integers, got ${formatShape(inputShape)}`);
  }
  const rank = inputShape.length;
  if (!Array.isArray(dims) || dims.length !== rank || [...dims].sort((a, b) => a - b).some((d, k) => d !== k + 1)) {
    throw new Error(`${who}: dims must be a permutation of 1..${rank} (the input ${formatShape([null, ...inputShape])} has ${rank} axes after the batch), got ${JSON.stringify(dims)}`);
  }
  const full = [0, ...dims];
  const inverse = new Array<number>(full.length);
  full.forEach((a, k) => (inverse[a] = k));
  const outputShape = dims.map((d) => inputShape[d - 1]!);
  return {
    batch,
    inputShape: [...inputShape],
    dims: [...dims],
    outputShape,
    forward: simplifyTranspose([batch, ...inputShape], full),
    backward: simplifyTranspose([batch, ...outputShape], inverse),
  };
}

export function permuteForward(engine: Engine, g: PermuteGeometry, views: { x: BufferView; y: BufferView }): Dispatch[] {
  return transposeForward(engine, g.forward, views);
}

/** dx = dy permuted back (the inverse permutation). */
export function permuteBackward(engine: Engine, g: PermuteGeometry, views: { dy: BufferView; dx: BufferView }): Dispatch[] {
  return transposeForward(engine, g.backward, { x: views.dy, y: views.dx });
}
