/**
 * classWeight and sampleWeight, as fit takes them, turned into one float32 weight per sample and
 * output: the loss kernels multiply each row's loss and gradient by it and still divide by the
 * batch's size (TF.js's mean(loss · weight); Keras's sum over batch size). Class indices come from
 * the targets as TF.js's standardizeWeights reads them: a [N] tensor holds them, a [N, 1] one too,
 * [N, k > 1] rows are one-hot (argmax). Class and sample weights multiply, as in Keras.
 */
import { describe, formatShape, type Tensor } from '../runtime/tensor.ts';
import { asTensor, type TensorLike } from './args.ts';

/** Class index → weight (TF.js's ClassWeight); a class of the data missing here is an Error. */
export type ClassWeight = Readonly<Record<number, number>>;

/** One ClassWeight for a single-output model, or per output: a list in the outputs' order or an object by output name. */
export type ClassWeightArg = ClassWeight | readonly ClassWeight[] | Readonly<Record<string, ClassWeight>>;

/** A weight per sample ([N]) for every output, or per output: a list or an object by output name. */
export type SampleWeightArg = TensorLike | readonly TensorLike[] | Readonly<Record<string, TensorLike>>;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

function checkClassWeight(value: unknown, what: string): ClassWeight {
  if (!isPlainObject(value)) throw new Error(`${what}: expected an object mapping class indices to weights, e.g. { 0: 1, 1: 5 }, got ${describe(value)}`);
  for (const [key, weight] of Object.entries(value)) {
    if (!/^(0|[1-9]\d*)$/.test(key)) throw new Error(`${what}: key '${key}' is not a class index (an integer ≥ 0)`);
    if (typeof weight !== 'number' || !Number.isFinite(weight)) throw new Error(`${what}: the weight of class ${key} must be a finite number, got ${describe(weight)}`);
  }
  return value as ClassWeight;
}

/** Per output, its class weights or undefined (TF.js's standardizeClassWeights, with every entry checked). */
export function perOutputClassWeights(classWeight: unknown, outputNames: readonly string[], what = 'classWeight'): (ClassWeight | undefined)[] {
  if (classWeight === undefined || classWeight === null) return outputNames.map(() => undefined);
  const single = outputNames.length === 1;
  if (Array.isArray(classWeight)) {
    if (classWeight.length !== outputNames.length) {
      throw new Error(`${what}: a list needs one entry per output (${outputNames.join(', ')}), got ${classWeight.length}`);
    }
    return classWeight.map((c, i) => (c === null || c === undefined ? undefined : checkClassWeight(c, single ? what : `${what}['${outputNames[i]}']`)));
  }
  if (!isPlainObject(classWeight)) throw new Error(`${what}: expected an object mapping class indices to weights${single ? '' : ', or per output a list or an object by output name'}, got ${describe(classWeight)}`);
  const byName = Object.keys(classWeight).some((k) => outputNames.includes(k)) || Object.values(classWeight).some(isPlainObject);
  if (!byName) {
    if (!single) throw new Error(`${what}: the model has ${outputNames.length} outputs (${outputNames.join(', ')}): give a list of class weights or an object by output name`);
    return [checkClassWeight(classWeight, what)];
  }
  const unknown = Object.keys(classWeight).filter((k) => !outputNames.includes(k));
  if (unknown.length) throw new Error(`${what}: ${unknown.map((k) => `'${k}'`).join(', ')} is not an output of the model; its outputs: ${outputNames.join(', ')}`);
  return outputNames.map((n) => (classWeight[n] === undefined ? undefined : checkClassWeight(classWeight[n], `${what}['${n}']`)));
}

/** The class index of each sample of `y` (TF.js's rule: [N] or [N, 1] hold indices, [N, k] rows are one-hot). */
function classIndices(y: Tensor, outputShape: readonly number[], what: string): ArrayLike<number> {
  const s = y.shape;
  // [N, T] class indices would read as one-hot rows: Keras refuses class weights for such targets.
  if (outputShape.length > 1) throw new Error(`${what}: class weights need one class per sample, but the output ${formatShape([null, ...outputShape])} has a target per step; weight samples with sampleWeight instead`);
  if (s.length === 1 || (s.length === 2 && s[1] === 1)) return y.values;
  if (s.length === 2 && s[1]! > 1) {
    const k = s[1]!;
    return Int32Array.from({ length: s[0]! }, (_, r) => {
      let best = 0;
      for (let j = 1; j < k; j++) if (y.values[r * k + j]! > y.values[r * k + best]!) best = j;
      return best;
    });
  }
  throw new Error(`${what}: class weights need targets of rank 1 or 2 (class indices or one-hot rows), got shape ${formatShape(s)}`);
}

/** One weight per sample of `y` from its class (TF.js's standardizeWeights). */
export function classSampleWeights(y: Tensor, classWeight: ClassWeight, outputShape: readonly number[], what: string): Float32Array {
  const classes = classIndices(y, outputShape, what);
  const out = new Float32Array(classes.length);
  for (let i = 0; i < classes.length; i++) {
    const weight = classWeight[classes[i]!];
    if (weight === undefined) {
      throw new Error(`${what}: sample ${i} is of class ${classes[i]}, which classWeight does not list; classWeight must give every class in the data a weight (it has ${Object.keys(classWeight).join(', ') || 'none'})`);
    }
    out[i] = weight;
  }
  return out;
}

/** Per output, the sample weights given (one tensor for all outputs, a list, or an object by output name), checked. */
export function perOutputSampleWeights(sampleWeight: unknown, outputNames: readonly string[], samples: number, what = 'sampleWeight'): (Float32Array | undefined)[] {
  if (sampleWeight === undefined || sampleWeight === null) return outputNames.map(() => undefined);
  const check = (value: unknown, label: string): Float32Array => {
    const t = asTensor(value as TensorLike, label);
    if (!(t.shape.length === 1 || (t.shape.length === 2 && t.shape[1] === 1)) || t.shape[0] !== samples) {
      throw new Error(`${label}: expected one weight per sample, shape [${samples}], got ${formatShape(t.shape)}`);
    }
    const bad = Array.prototype.findIndex.call(t.values, (v: number) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`${label}: the weight of sample ${bad} is ${t.values[bad]}; weights must be finite`);
    return Float32Array.from(t.values);
  };
  if (Array.isArray(sampleWeight)) {
    if (sampleWeight.length !== outputNames.length) throw new Error(`${what}: a list needs one tensor per output (${outputNames.join(', ')}), got ${sampleWeight.length}`);
    return sampleWeight.map((w, i) => (w == null ? undefined : check(w, `${what}[${i}]`)));
  }
  if (isPlainObject(sampleWeight) && !('shape' in sampleWeight)) {
    const unknown = Object.keys(sampleWeight).filter((k) => !outputNames.includes(k));
    if (unknown.length) throw new Error(`${what}: ${unknown.map((k) => `'${k}'`).join(', ')} is not an output of the model; its outputs: ${outputNames.join(', ')}`);
    return outputNames.map((n) => (sampleWeight[n] == null ? undefined : check(sampleWeight[n], `${what}['${n}']`)));
  }
  const all = check(sampleWeight, what);
  return outputNames.map(() => all);
}

/**
 * Each output's per-sample loss weights from classWeight and sampleWeight (multiplied where both
 * apply), or undefined when neither weights anything.
 */
export function lossWeightsPerSample(ys: readonly Tensor[], outputShapes: readonly (readonly number[])[], outputNames: readonly string[], args: { classWeight?: unknown; sampleWeight?: unknown }, what: string): (Float32Array | undefined)[] | undefined {
  const classes = perOutputClassWeights(args.classWeight, outputNames, `${what}: classWeight`);
  const samples = perOutputSampleWeights(args.sampleWeight, outputNames, ys[0]!.shape[0]!, `${what}: sampleWeight`);
  const weights = ys.map((y, i) => {
    const byClass = classes[i] && classSampleWeights(y, classes[i]!, outputShapes[i]!, `${what}: classWeight${outputNames.length > 1 ? ` of output '${outputNames[i]}'` : ''}`);
    const bySample = samples[i];
    if (byClass && bySample) return byClass.map((w, k) => w * bySample[k]!);
    return byClass ?? bySample;
  });
  return weights.some((w) => w !== undefined) ? weights : undefined;
}
