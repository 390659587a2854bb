/**
 * fit/evaluate/predict's data (and each streamed batch) checked against a model: x per input and y
 * per output (a tensor, a list in the model's order, or an object by input / output name, as
 * Keras), every shape and label validated with an Error saying what was expected and what came,
 * before anything runs.
 */
import { validateLabels } from '../data/labels.ts';
import type { GraphNode, Shape, SymbolicTensor } from '../layers/layer.ts';
import type { LossOp } from '../ops/losses/loss.ts';
import { describe, formatShape, sizeOf, Tensor } from '../runtime/tensor.ts';
import { asTensor, type ModelData, type TensorLike } from './args.ts';
import type { Compiled } from './compile.ts';

/** Ours, `{ values: TypedArray, shape }`, or a TF.js tensor (`shape` and `dataSync()`); `{ data, shape }` too, so that asTensor can say what to rename. */
function isTensorLike(value: unknown): value is TensorLike {
  if (value instanceof Tensor) return true;
  const v = value as { values?: unknown; data?: unknown; shape?: unknown; dataSync?: unknown } | null;
  return !!v && typeof v === 'object' && Array.isArray(v.shape) && (ArrayBuffer.isView(v.values) || ArrayBuffer.isView(v.data) || typeof v.dataSync === 'function');
}

/** One tensor per name from `value`, with `what(i)` naming each in errors. */
export function perName(value: ModelData, names: readonly string[], what: string, kind: 'input' | 'output'): { tensor: Tensor; what: string }[] {
  const label = (i: number) => (names.length === 1 ? what : `${what}[${i}] ('${names[i]}')`);
  if (isTensorLike(value)) {
    if (names.length !== 1) throw new Error(`${what}: the model has ${names.length} ${kind}s (${names.join(', ')}); pass a list of ${names.length} tensors or an object by ${kind} name`);
    return [{ tensor: asTensor(value, what), what }];
  }
  const expected = `expected a tensor${names.length > 1 ? `, a list of ${names.length} tensors or an object by ${kind} name` : ''}`;
  if (Array.isArray(value) && !value.every(isTensorLike)) throw new Error(`${what}: ${expected}, got ${describe(value)}`);
  if (Array.isArray(value)) {
    if (value.length !== names.length) throw new Error(`${what}: expected ${names.length} tensor${names.length === 1 ? '' : 's'}, one per ${kind} (${names.join(', ')}), got a list of ${value.length}`);
    return value.map((v, i) => ({ tensor: asTensor(v as TensorLike, label(i)), what: label(i) }));
  }
  if (value && typeof value === 'object') {
    const record = value as Record<string, TensorLike>;
    const unknown = Object.keys(record).filter((k) => !names.includes(k));
    if (unknown.length) throw new Error(`${what}: ${unknown.map((k) => `'${k}'`).join(', ')} is not an ${kind} of the model; its ${kind}s: ${names.join(', ')}`);
    return names.map((n, i) => {
      if (!(n in record)) throw new Error(`${what}: no tensor for ${kind} '${n}'`);
      return { tensor: asTensor(record[n]!, label(i)), what: label(i) };
    });
  }
  throw new Error(`${what}: ${expected}, got ${describe(value)}`);
}

/** Checks a model input's tensor: [samples, ...shape] with at least one sample. */
export function checkInput(t: Tensor, shape: Shape, what: string): Tensor {
  if (t.shape.length !== shape.length + 1 || shape.some((d, i) => d !== t.shape[i + 1])) {
    throw new Error(`${what}: expected shape ${formatShape([null, ...shape])} (the model's input), got ${formatShape(t.shape)}`);
  }
  if (t.shape[0] === 0) throw new Error(`${what}: has no samples (shape ${formatShape(t.shape)})`);
  return t;
}

/** Checks one output's targets for its loss: the sample count, the label layout, the values. */
export function checkTargets(t: Tensor, samples: number, loss: LossOp, outputShape: Shape, what: string): Tensor {
  if (t.shape[0] !== samples) {
    throw new Error(`${what}: has ${t.shape[0]} samples but x has ${samples}; they must match`);
  }
  // An output [...positions, classes] has a class distribution per position (a sequence's steps):
  // Keras's losses and accuracy average over the batch and the positions.
  const classes = outputShape[outputShape.length - 1]!;
  const positions = outputShape.slice(0, -1);
  if (loss.labels === 'sparse') {
    const fits = positions.length === 0 ? t.shape.length === 1 || (t.shape.length === 2 && t.shape[1] === 1) : (t.shape.length === positions.length + 1 || (t.shape.length === positions.length + 2 && t.shape[t.shape.length - 1] === 1)) && positions.every((d, i) => t.shape[i + 1] === d);
    if (!fits) {
      const shape = positions.length === 0 ? '[N]' : `[N, ${positions.join(', ')}] (a class index per position; [N, ${positions.join(', ')}, 1] too)`;
      throw new Error(`${what}: loss '${loss.name}' on an output of shape ${formatShape([null, ...outputShape])} takes integer class labels of shape ${shape}, got ${formatShape(t.shape)}; for one-hot labels compile with loss 'categoricalCrossentropy'`);
    }
    validateLabels(t, classes, 'sparse', what, positions);
    return t;
  }
  if (loss.name === 'categoricalCrossentropy') {
    if (t.shape.length !== outputShape.length + 1 || outputShape.some((d, i) => t.shape[i + 1] !== d)) {
      throw new Error(`${what}: loss '${loss.name}' takes one-hot labels of the output's shape ${formatShape([null, ...outputShape])}, got ${formatShape(t.shape)}; for integer labels compile with loss 'sparseCategoricalCrossentropy' or use toCategorical()`);
    }
    validateLabels(t, classes, 'onehot', what, positions);
    return t;
  }
  // Targets of the output's shape; [N] also fits an output of one value per sample, as in Keras.
  const fits = (t.shape.length === outputShape.length + 1 && outputShape.every((d, i) => d === t.shape[i + 1])) || (sizeOf(outputShape) === 1 && t.shape.length === 1);
  if (!fits) throw new Error(`${what}: loss '${loss.name}' takes targets of the output's shape ${formatShape([null, ...outputShape])}, got ${formatShape(t.shape)}`);
  const bad = Array.prototype.findIndex.call(t.values, (v: number) => !Number.isFinite(v));
  if (bad >= 0) throw new Error(`${what}: target ${bad} is ${t.values[bad]}; targets must be finite numbers`);
  return t;
}

/** x checked against a model's inputs: a tensor per input (by position or name), shapes, and one sample count. */
export function checkInputs(inputs: readonly SymbolicTensor[], names: readonly string[], value: ModelData, what: string): Tensor[] {
  const given = perName(value, names, what, 'input');
  const xs = given.map(({ tensor, what: label }, i) => checkInput(tensor, inputs[i]!.shape, label));
  const samples = xs[0]!.shape[0]!;
  given.forEach(({ what: label }, i) => {
    if (xs[i]!.shape[0] !== samples) throw new Error(`${label}: has ${xs[i]!.shape[0]} samples but ${given[0]!.what} has ${samples}; every input needs the same number`);
  });
  return xs;
}

/** y checked against a compiled model's outputs: a tensor per output (by position or name) fit for its loss, `samples` rows each. */
export function checkAllTargets(compiled: Compiled, outputs: readonly SymbolicTensor[], samples: number, y: ModelData, what: string): Tensor[] {
  return perName(y, compiled.outputs.map((o) => o.name), what, 'output').map(({ tensor, what: label }, i) => checkTargets(tensor, samples, compiled.outputs[i]!.loss, outputs[i]!.shape, label));
}

/** Layers reading a model input check its values (Layer.checkInputData: an Embedding's indices). */
export function checkInputValues(graph: { inputs: readonly SymbolicTensor[]; nodes: readonly GraphNode[] }, xs: readonly Tensor[]): void {
  graph.inputs.forEach((t, i) => {
    for (const node of graph.nodes) if (node.inputs.includes(t)) node.layer.checkInputData(xs[i]!.values, t.shape, 0);
  });
}
