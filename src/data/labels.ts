/**
 * Label checks and conversions. TF.js trains silently on labels outside [0, classes) or on
 * non-integer class indices (the one-hot of 10 with 10 classes is all zeros, so such a sample just
 * contributes a wrong loss); we reject them up front, naming the first bad sample, because a model
 * that trains on garbage labels fails late and quietly.
 */
import { Tensor, describe, formatShape, sizeOf, type Shape } from '../runtime/tensor.ts';

/** Error for labels that do not fit the model (the message names the sample and value). */
export class LabelError extends Error {
  override name = 'LabelError';
}

function checkClasses(classes: number, what: string): void {
  if (!Number.isInteger(classes) || classes < 1 || classes > 2 ** 24) {
    // 2^24: class indices travel as float32 in one-hot form, which represents integers exactly only up to there.
    throw new RangeError(`${what}: the number of classes must be an integer in [1, 2^24], got ${describe(classes)}`);
  }
}

function valuesOf(labels: Tensor | ArrayLike<number>, what: string): ArrayLike<number> {
  if (labels instanceof Tensor) return labels.values;
  if (labels === null || typeof labels !== 'object' || typeof (labels as ArrayLike<number>).length !== 'number') {
    throw new TypeError(`${what}: expected a Tensor, typed array or array of class indices, got ${describe(labels)}`);
  }
  return labels;
}

/** Index (and value) of the first label that is not an integer in [0, classes), or -1. */
function firstBadSparse(values: ArrayLike<number>, classes: number): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // typeof guards plain arrays holding strings or undefined; `v >= 0 && v < classes` is false for NaN.
    if (typeof v !== 'number' || !(v >= 0 && v < classes) || !Number.isInteger(v)) return i;
  }
  return -1;
}

/** The sample and the position ([i, j, ...] inside `positions`) of flat label `index`. */
function positionOf(index: number, positions: Shape): { sample: number; at: string } {
  let rest = index % sizeOf(positions);
  const at = positions.map((_, k) => {
    const stride = sizeOf(positions.slice(k + 1));
    const i = Math.floor(rest / stride);
    rest -= i * stride;
    return i;
  });
  return { sample: Math.floor(index / sizeOf(positions)), at: `[${at.join(', ')}]` };
}

/** ' (sample s, position [i, j])' for label `index` of samples with `positions` labels each; '' for one label per sample. */
function whereIs(index: number, positions: Shape): string {
  if (positions.length === 0) return '';
  const { sample, at } = positionOf(index, positions);
  return ` (sample ${sample}, position ${at})`;
}

function badSparseMessage(what: string, values: ArrayLike<number>, index: number, classes: number, positions: Shape = []): string {
  const v = values[index];
  const why =
    typeof v !== 'number'
      ? 'is not a number'
      : !Number.isInteger(v)
        ? 'is not an integer'
        : `is outside [0, ${classes})`;
  return `${what}: label ${index}${whereIs(index, positions)} is ${typeof v === 'number' ? v : describe(v)}, which ${why}; class indices must be integers in [0, ${classes}) for ${classes} classes`;
}

/**
 * Sparse labels (class indices) must be integers in [0, classes), in a tensor of shape [N] or
 * [N, 1] (Keras accepts both), or a plain array. Throws a LabelError naming the first bad label.
 * `positions`: the output's shape without its class axis, for outputs with a class distribution per
 * position (e.g. [T] for [batch, T, classes]): the labels are then [N, ...positions] or
 * [N, ...positions, 1], one class index per position.
 */
export function validateSparseLabels(labels: Tensor | ArrayLike<number>, classes: number, what = 'labels', positions: Shape = []): void {
  checkClasses(classes, what);
  if (positions.length > 0) {
    if (!(labels instanceof Tensor)) throw new TypeError(`${what}: labels of an output with several positions must be a Tensor of shape [N, ${positions.join(', ')}], got ${describe(labels)}`);
    const s = labels.shape;
    const p = positions.length;
    const fits = (s.length === p + 1 || (s.length === p + 2 && s[p + 1] === 1)) && positions.every((d, i) => s[i + 1] === d);
    if (!fits) {
      const hint = s.length === p + 2 && s[p + 1] === classes ? ' This looks one-hot: use categoricalCrossentropy, or pass class indices.' : '';
      throw new LabelError(`${what}: sparse labels must have shape [N, ${positions.join(', ')}] or [N, ${positions.join(', ')}, 1] (a class index per position), got ${formatShape(s)}.${hint}`);
    }
  } else if (labels instanceof Tensor) {
    const s = labels.shape;
    if (!(s.length === 1 || (s.length === 2 && s[1] === 1))) {
      const hint =
        s.length === 2 && s[1] === classes
          ? ` This looks one-hot: use categoricalCrossentropy, or pass class indices.`
          : '';
      throw new LabelError(`${what}: sparse labels must have shape [N] or [N, 1], got ${formatShape(s)}.${hint}`);
    }
  }
  const values = valuesOf(labels, what);
  const bad = firstBadSparse(values, classes);
  if (bad >= 0) throw new LabelError(badSparseMessage(what, values, bad, classes, positions));
}

/**
 * One-hot (or soft, e.g. label-smoothed) labels: a tensor [N, classes] of finite numbers. Rows need
 * not sum to 1 (Keras does not require it either), but NaN or Inf would poison the loss.
 * `positions`: as for validateSparseLabels; the labels are then [N, ...positions, classes].
 */
export function validateOneHotLabels(labels: Tensor, classes: number, what = 'labels', positions: Shape = []): void {
  checkClasses(classes, what);
  const expected = `[N, ${[...positions, classes].join(', ')}]`;
  if (!(labels instanceof Tensor)) {
    throw new TypeError(`${what}: one-hot labels must be a Tensor of shape ${expected}, got ${describe(labels)}`);
  }
  const s = labels.shape;
  if (positions.length > 0) {
    const p = positions.length;
    if (s.length !== p + 2 || s[p + 1] !== classes || positions.some((d, i) => s[i + 1] !== d)) {
      const hint = s.length === p + 1 || (s.length === p + 2 && s[p + 1] === 1) ? ' These look like class indices: use sparseCategoricalCrossentropy.' : '';
      throw new LabelError(`${what}: one-hot labels must have shape ${expected} for ${classes} classes at each position, got ${formatShape(s)}.${hint}`);
    }
  } else if (s.length !== 2 || s[1] !== classes) {
    const hint =
      s.length === 1 || (s.length === 2 && s[1] === 1)
        ? ` These look like class indices: use sparseCategoricalCrossentropy, or toCategorical(labels, ${classes}).`
        : '';
    throw new LabelError(`${what}: one-hot labels must have shape [N, ${classes}] for ${classes} classes, got ${formatShape(s)}.${hint}`);
  }
  const d = labels.dataSync();
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i]!)) {
      const row = Math.floor(i / classes);
      const where = positions.length > 0 ? positionOf(row, positions) : undefined;
      const label = where ? `the label of sample ${where.sample} at position ${where.at}` : `label ${row}`;
      throw new LabelError(`${what}: ${label} has ${d[i]} in column ${i % classes}; one-hot labels must be finite`);
    }
  }
}

/** Checks labels for a loss: `sparse` for class indices, `onehot` for [N, classes] rows; `positions` as for validateSparseLabels. */
export function validateLabels(labels: Tensor, classes: number, kind: 'sparse' | 'onehot', what = 'labels', positions: Shape = []): void {
  if (kind === 'sparse') validateSparseLabels(labels, classes, what, positions);
  else validateOneHotLabels(labels, classes, what, positions);
}

/**
 * Validated sparse labels as u32, the form the GPU gather reads (`gatherLabels(..., 'sparse')`):
 * WGSL has no int8/int64, and class indices are never negative once validated.
 */
export function sparseLabelsToU32(labels: Tensor | ArrayLike<number>, classes: number, what = 'labels', positions: Shape = []): Uint32Array {
  validateSparseLabels(labels, classes, what, positions);
  return Uint32Array.from(valuesOf(labels, what));
}

/** Class indices → float32 one-hot rows [N, numClasses] (Keras's `to_categorical`). */
export function toCategorical(labels: Tensor | ArrayLike<number>, numClasses: number, what = 'labels'): Tensor<Float32Array> {
  validateSparseLabels(labels, numClasses, what);
  const values = valuesOf(labels, what);
  const n = values.length;
  if (n * numClasses > 2 ** 31) {
    throw new RangeError(`${what}: ${n} labels × ${numClasses} classes is too many one-hot values for one array`);
  }
  const out = new Float32Array(n * numClasses);
  for (let i = 0; i < n; i++) out[i * numClasses + values[i]!] = 1;
  return new Tensor(out, [n, numClasses]);
}
