/**
 * compile()'s arguments resolved against a model's outputs: a loss per output (one name for all,
 * a list in the outputs' order, or an object by output name, as Keras), each output's weight in
 * the total loss (`lossWeights`), and what each output counts beside its loss (the accuracy its
 * loss kernel counts; other metrics run as their own ops).
 */
import type { SymbolicTensor } from '../layers/layer.ts';
import { accuracyKind, resolveAccuracyRequest, resolveLoss } from '../ops/losses/index.ts';
import type { AccuracyKind, LossOp } from '../ops/losses/loss.ts';
import { isMetricName, metricNames as knownMetricNames, resolveMetric, type MetricOp } from '../ops/metrics/index.ts';
import { resolveOptimizer, type Optimizer } from '../optimizers.ts';
import type { Engine } from '../runtime/engine.ts';
import { describe } from '../runtime/tensor.ts';
import type { CompileArgs } from './args.ts';

export interface CompiledOutput {
  /** The output's name: its producing layer's (Keras's output_names), the prefix of its log keys. */
  name: string;
  /** The loss name as given (saved in the training config). */
  lossName: string;
  loss: LossOp;
  weight: number;
  accuracy: AccuracyKind | null;
  /** The accuracy's log keys: the accuracy names given, as Keras logs them ('acc' as 'acc'). */
  accuracyKeys: string[];
  /** The accumulator slot of its loss (and accuracy). */
  slot: number;
  /** The metrics it counts beside its loss, each with its log key (the name as given) and slot. */
  metrics: { key: string; op: MetricOp; slot: number }[];
}

export interface Compiled {
  optimizer: Optimizer;
  outputs: CompiledOutput[];
  /** The metric names as given, per output (saved in the training config). */
  metricNames: string[][];
  engine?: Engine;
  /** Identifies what plans depend on (losses, weights, what they count). */
  key: string;
  /** Accumulator slots the losses and metrics use. */
  slots: number;
}

/** The output names of a model: its output tensors' producing layers. */
export function outputNames(outputs: readonly SymbolicTensor[]): string[] {
  return outputs.map((t) => t.producer.layer.name);
}

/** One value per output from `value`: shared, a list in the outputs' order, or an object by output name. */
function perOutput<T>(value: unknown, names: readonly string[], what: string, isOne: (v: unknown) => v is T): T[] {
  if (isOne(value)) return names.map(() => value);
  if (Array.isArray(value)) {
    if (value.length !== names.length || !value.every(isOne)) {
      throw new Error(`compile(): ${what} as a list needs one entry per output (${names.join(', ')}), got ${describe(value)}`);
    }
    return value;
  }
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const unknown = Object.keys(record).filter((k) => !names.includes(k));
    if (unknown.length) throw new Error(`compile(): ${what} names ${unknown.map((k) => `'${k}'`).join(', ')}, not an output of the model; its outputs: ${names.join(', ')}`);
    return names.map((n) => {
      const v = record[n];
      if (!isOne(v)) throw new Error(`compile(): ${what} for output '${n}' is missing or invalid, got ${describe(v)}`);
      return v;
    });
  }
  throw new Error(`compile(): ${what} must be given once for all outputs, as a list in the outputs' order, or as an object by output name (${names.join(', ')}); got ${describe(value)}`);
}

/** Keras lets an object of metrics skip outputs: they count none. */
function metricsOrNone(value: unknown, names: readonly string[]): unknown {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries([...names.map((n) => [n, []]), ...Object.entries(value)]);
}

/** The accuracy family's names, which the loss kernels count (src/ops/losses). */
const ACCURACY_NAMES = ['accuracy', 'acc', 'binaryAccuracy', 'binary_accuracy', 'categoricalAccuracy', 'categorical_accuracy', 'sparseCategoricalAccuracy', 'sparse_categorical_accuracy'];
const isAccuracyName = (name: unknown): name is string => typeof name === 'string' && ACCURACY_NAMES.includes(name);

const isString = (v: unknown): v is string => typeof v === 'string';
const isWeight = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isNameList = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);

/** Resolves compile()'s arguments for a model with these outputs; throws before anything changes. */
export function resolveCompile(args: CompileArgs, outputs: readonly SymbolicTensor[]): Compiled {
  if (!args || typeof args !== 'object') throw new Error(`compile(): expected { optimizer, loss, metrics? }, got ${describe(args)}`);
  const names = outputNames(outputs);
  const lossNames = perOutput(args.loss, names, 'loss', isString);
  const weights = args.lossWeights === undefined ? names.map(() => 1) : perOutput(args.lossWeights, names, 'lossWeights', isWeight);
  // A flat list of metric names applies to every output, as in Keras.
  const metricsValue = args.metrics === undefined || args.metrics === null ? [] : args.metrics;
  const metricNames =
    typeof metricsValue === 'string'
      ? names.map(() => [metricsValue])
      : isNameList(metricsValue)
        ? names.map(() => metricsValue)
        : perOutput(metricsOrNone(metricsValue, names), names, 'metrics', (v: unknown): v is string[] | string => isString(v) || isNameList(v)).map((m) => (isString(m) ? [m] : m));
  const optimizer = resolveOptimizer(args.optimizer);
  let slots = 0;
  const compiledOutputs = outputs.map((t, i): CompiledOutput => {
    const loss = resolveLoss(lossNames[i]);
    const of = names.length === 1 ? '' : ` of output '${names[i]}'`;
    loss.checkOutput(t.shape, `compile(): loss '${lossNames[i]}'${of} on the output of layer ${t.producer.layer.name}`);
    const given = metricNames[i]!;
    for (const m of given) {
      if (!isMetricName(m) && !isAccuracyName(m)) throw new Error(`compile(): unknown metric '${String(m)}'${of}; known: ${[...ACCURACY_NAMES, ...knownMetricNames()].join(', ')}`);
    }
    if (new Set(given).size !== given.length) throw new Error(`compile(): metrics${of} list a name twice: ${given.join(', ')}`);
    const accuracy = accuracyKind(loss, t.shape, resolveAccuracyRequest(given.filter(isAccuracyName)));
    const slot = slots++;
    const metrics = given.filter(isMetricName).map((key) => {
      const op = resolveMetric(key, { loss: loss.name, outputShape: t.shape });
      op.check(t.shape, loss.labels, `compile(): metric '${key}'${of} with loss '${lossNames[i]}'`);
      return { key, op, slot: slots++ };
    });
    return { name: names[i]!, lossName: lossNames[i]!, loss, weight: weights[i]!, accuracy, accuracyKeys: accuracy ? given.filter(isAccuracyName) : [], slot, metrics };
  });
  const key = compiledOutputs.map((o) => `${o.loss.name}*${o.weight}:${o.accuracy}:${o.metrics.map((m) => m.op.name).join(',')}`).join('|');
  return { optimizer, outputs: compiledOutputs, metricNames, engine: args.engine, key, slots };
}
