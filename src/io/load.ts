/**
 * Loading a model saved in the TF.js layers format: the artifacts read from storage
 * (src/io/read.ts) become a model whose weights, training config and, when saved with
 * `includeOptimizer`, optimizer state match the file, which is what lets a loaded checkpoint resume
 * training exactly.
 *
 * Everything read is validated before anything is allocated from it: an Error (a ModelFormatError
 * for a malformed file) names what was wrong and where.
 */
import { describeValue } from '../layers/config.ts';
import type { Shape } from '../layers/layer.ts';
import type { NamedWeight } from '../model/args.ts';
import type { LayersModel } from '../model/layers-model.ts';
import { optimizerFromConfig, tfjsSlotNames } from '../optimizers.ts';
import { Engine } from '../runtime/engine.ts';
import { describe, formatShape, type Tensor } from '../runtime/tensor.ts';
import { asObject, LAYERS_MODEL_FORMAT, ModelFormatError, type LoadOptions, type LoadSource, type RawArtifacts } from './artifacts.ts';
import { graphPlan } from './graph-plan.ts';
import { readArtifacts } from './read.ts';
import { readWeights, type LoadedWeight } from './weights.ts';

/**
 * Loads a model saved in the TF.js layers format (by this engine or by TensorFlow.js): from
 * 'file://dir' or 'file://dir/model.json' (Node), 'indexeddb://name', an http(s) or relative URL of
 * model.json (weights are fetched relative to it), or a handler `{ load() }` returning artifacts.
 * The model is compiled from the file's training config when it has one, and its optimizer state
 * restored when saved with `includeOptimizer`, so that `fit({ initialEpoch })` continues exactly.
 */
export async function loadModel<Prediction = Tensor<Float32Array>>(source: LoadSource, options: LoadOptions = {}): Promise<LayersModel<Prediction>> {
  const where = typeof source === 'string' ? `loadModel('${source}')` : 'loadModel(handler)';
  try {
    if (options === null || typeof options !== 'object') throw new TypeError(`options must be { engine? }, got ${describe(options)}`);
    if (options.engine !== undefined && !(options.engine instanceof Engine)) throw new TypeError(`options.engine must be an Engine (createEngine()), got ${describe(options.engine)}`);
    return (await modelFromArtifacts(await readArtifacts(source), options.engine)) as LayersModel<never> as LayersModel<Prediction>;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const wrapped = err instanceof ModelFormatError ? new ModelFormatError(`${where}: ${message}`) : new Error(`${where}: ${message}`);
    wrapped.cause = err;
    throw wrapped;
  }
}

/** Model weights by name, checked against what the graph needs: none missing, none extra, every shape right. */
function matchWeights(expected: readonly { name: string; shape: Shape }[], loaded: readonly LoadedWeight[]): Map<string, Float32Array> {
  const byName = new Map(loaded.map((w) => [w.name, w]));
  const missing = expected.filter((e) => !byName.has(e.name)).map((e) => e.name);
  if (missing.length > 0) {
    throw new ModelFormatError(`the weights ${missing.join(', ')} are missing from the manifest (it has ${loaded.map((w) => w.name).join(', ') || 'none'})`);
  }
  const wanted = new Set(expected.map((e) => e.name));
  const extra = loaded.filter((w) => !wanted.has(w.name)).map((w) => w.name);
  if (extra.length > 0) throw new ModelFormatError(`the manifest has weights the model does not: ${extra.join(', ')} (the model's: ${[...wanted].join(', ') || 'none'})`);
  const out = new Map<string, Float32Array>();
  for (const e of expected) {
    const w = byName.get(e.name)!;
    if (w.dtype !== 'float32') throw new ModelFormatError(`weight '${e.name}' must be float32, got ${w.dtype}`);
    if (w.shape.length !== e.shape.length || w.shape.some((d, i) => d !== e.shape[i])) {
      throw new ModelFormatError(`weight '${e.name}' has shape ${formatShape(w.shape)} in the manifest but the layer needs ${formatShape(e.shape)}`);
    }
    out.set(e.name, w.values as Float32Array);
  }
  return out;
}

const TRAINING_KEYS = ['loss', 'metrics', 'optimizer_config', 'weighted_metrics', 'loss_weights', 'sample_weight_mode'];

function compileArgs(value: unknown): { loss: string | string[]; lossWeights?: number[]; metrics: string[] | string[][] | Record<string, string | string[]> | undefined; optimizer: ReturnType<typeof optimizerFromConfig> } {
  const tc = asObject(value, 'trainingConfig');
  for (const key of Object.keys(tc)) {
    if (!TRAINING_KEYS.includes(key)) throw new ModelFormatError(`trainingConfig: unknown key '${key}'; known: ${TRAINING_KEYS.join(', ')}`);
  }
  for (const key of ['weighted_metrics', 'sample_weight_mode']) {
    if (tc[key] != null) throw new ModelFormatError(`trainingConfig.${key} is not supported, got ${describeValue(tc[key])}`);
  }
  const isNames = (v: unknown): v is string[] => Array.isArray(v) && v.every((m) => typeof m === 'string');
  if (typeof tc.loss !== 'string' && !isNames(tc.loss)) throw new ModelFormatError(`trainingConfig.loss must be a loss name or a list of them (one per output), got ${describeValue(tc.loss)}`);
  const weights = tc.loss_weights ?? undefined;
  if (weights !== undefined && !(Array.isArray(weights) && weights.every((w) => typeof w === 'number'))) {
    throw new ModelFormatError(`trainingConfig.loss_weights must be a list of numbers (one per output), got ${describeValue(weights)}`);
  }
  let metrics = tc.metrics ?? undefined;
  // TF.js writes {} for a model compiled without metrics, and an object by output name otherwise.
  const isRecord = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  if (isRecord(metrics)) {
    const entries = Object.entries(metrics);
    if (!entries.every(([, m]) => typeof m === 'string' || isNames(m))) throw new ModelFormatError(`trainingConfig.metrics by output must map names to metric names, got ${describeValue(metrics)}`);
    metrics = entries.length === 0 ? undefined : metrics;
  } else if (metrics !== undefined && !isNames(metrics) && !(Array.isArray(metrics) && metrics.every(isNames))) {
    throw new ModelFormatError(`trainingConfig.metrics must be a list of names (or one list per output, or an object by output name), got ${describeValue(metrics)}`);
  }
  let optimizer;
  try {
    optimizer = optimizerFromConfig(tc.optimizer_config);
  } catch (err) {
    throw new ModelFormatError(`trainingConfig.${(err as Error).message}`);
  }
  return { loss: tc.loss, lossWeights: weights as number[] | undefined, metrics: metrics as string[] | string[][] | Record<string, string | string[]> | undefined, optimizer };
}

/** The optimizer state in the manifest (group 'optimizer'), checked against the compiled optimizer. */
function optimizerState(model: LayersModel<unknown>, weights: readonly NamedWeight[], manifest: readonly LoadedWeight[]): { iterations: number; slots: NamedWeight[] } {
  let loaded = [...manifest];
  const optimizer = model.optimizer!;
  const iter = loaded.find((w) => w.name === 'iter');
  if (!iter) throw new ModelFormatError(`the optimizer weights have no 'iter' (the iteration count) among ${loaded.map((w) => w.name).join(', ')}`);
  const iterations = iter.values[0];
  if (iter.shape.length !== 0 || iterations === undefined || !Number.isInteger(iterations) || iterations < 0) {
    throw new ModelFormatError(`optimizer weight 'iter' must be a scalar non-negative integer, got ${iter.dtype} ${formatShape(iter.shape)} ${describeValue(Array.from(iter.values.slice(0, 4)))}`);
  }
  const slotOf = new Map<string, { slot: string; weight: NamedWeight }>();
  for (const slot of tfjsSlotNames(optimizer)) for (const w of weights) slotOf.set(`${w.name}/${slot}`, { slot, weight: w });
  // TF.js names slots after its variables, which it numbers when a layer name repeats in a process
  // (`dense/kernel_3/m`); it restores them by position: so do we when the names do not match.
  const saved = loaded.filter((w) => w.name !== 'iter');
  if (saved.some((w) => !slotOf.has(w.name)) && saved.length === slotOf.size) {
    const expected = [...slotOf.keys()];
    loaded = [...loaded.filter((w) => w.name === 'iter'), ...saved.map((w, i) => ({ ...w, name: expected[i]! }))];
  }
  const byName = new Map(loaded.map((w) => [w.name, w]));
  for (const w of loaded) {
    if (w.name === 'iter') continue;
    const known = slotOf.get(w.name);
    if (!known) {
      throw new ModelFormatError(`unexpected optimizer weight '${w.name}' for ${optimizer.className}; expected 'iter' and <weight>/<slot> for the slots ${tfjsSlotNames(optimizer).join(', ') || '(none)'}`);
    }
    if (w.dtype !== 'float32' || w.shape.length !== known.weight.shape.length || w.shape.some((d, i) => d !== known.weight.shape[i])) {
      throw new ModelFormatError(`optimizer weight '${w.name}' is ${w.dtype} ${formatShape(w.shape)} but its weight is float32 ${formatShape(known.weight.shape)}`);
    }
  }
  const slots: NamedWeight[] = [];
  for (const slot of optimizer.slotNames) {
    for (const w of weights) {
      const name = `${w.name}/${slot}`;
      const found = byName.get(name);
      if (!found) throw new ModelFormatError(`optimizer weight '${name}' is missing (${optimizer.className} keeps the slots ${optimizer.slotNames.join(', ')})`);
      slots.push({ name, shape: [...w.shape], values: found.values as Float32Array });
    }
  }
  return { iterations, slots };
}

async function modelFromArtifacts(artifacts: RawArtifacts, engine: Engine | undefined): Promise<LayersModel<unknown>> {
  const raw = asObject(artifacts, 'the artifacts');
  if (raw.format !== undefined && raw.format !== null && raw.format !== LAYERS_MODEL_FORMAT) {
    throw new ModelFormatError(`format ${describeValue(raw.format)} is not supported; only '${LAYERS_MODEL_FORMAT}' (TF.js layers models)`);
  }
  const weights = readWeights(raw.weightSpecs, raw.weightData);
  const plan = graphPlan(raw.modelTopology);
  const modelWeights = matchWeights(
    plan.weights,
    weights.filter((w) => !w.optimizer),
  );
  const optimizerWeights = weights.filter((w) => w.optimizer);
  const training = raw.trainingConfig == null ? undefined : compileArgs(raw.trainingConfig);
  if (optimizerWeights.length > 0 && !training) throw new ModelFormatError('the manifest has optimizer weights but model.json has no trainingConfig naming the optimizer');
  let model: LayersModel<unknown>;
  try {
    model = plan.build();
  } catch (err) {
    throw new ModelFormatError(`modelTopology: ${(err as Error).message}`);
  }
  try {
    const current = await model.getWeights();
    model.setWeights(current.map((w) => ({ name: w.name, shape: w.shape, values: modelWeights.get(w.name)! })));
    if (engine) model.useEngine(engine);
    if (training) {
      try {
        model.compile({ ...training, engine });
      } catch (err) {
        throw new ModelFormatError(`trainingConfig: ${(err as Error).message}`);
      }
      if (optimizerWeights.length > 0) await model.setOptimizerState(optimizerState(model, current, optimizerWeights));
    }
    return model;
  } catch (err) {
    model.dispose();
    throw err;
  }
}
