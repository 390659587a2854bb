/**
 * Saving and loading models in the TensorFlow.js layers format: model.json (the Keras topology, the
 * training config and a manifest of the weights) plus one binary file of little-endian weights, as
 * tfjs-layers 4.22 writes and reads them, so that models move both ways between this engine and
 * TF.js. With `includeOptimizer` the optimizer's iteration count and slots follow the weights, in
 * TF.js's layout (group 'optimizer': `iter` first, then each slot for every weight), which is what
 * lets a loaded checkpoint resume training exactly.
 *
 * Everything read is validated before anything is allocated from it: an Error (a ModelFormatError
 * for a malformed file) names what was wrong and where.
 */
import { version } from '../package.json';
import { InputLayer, layerClass, layerClassNames } from './layers/all.ts';
import { describeValue } from './layers/config.ts';
import type { Layer, Shape } from './layers/layer.ts';
import { topologicalNodes, type GraphNode, type SymbolicTensor } from './graph/symbolic.ts';
import { Functional, Sequential, type LayersModel, type NamedWeight } from './model.ts';
import { optimizerConfig, optimizerFromConfig, tfjsSlotNames, type OptimizerConfig } from './optimizers.ts';
import { Engine } from './runtime/engine.ts';
import { describe, formatShape, sizeOf } from './runtime/tensor.ts';

export const LAYERS_MODEL_FORMAT = 'layers-model';

/** One entry of model.json's weights manifest: the weights lie in this order in the data. */
export interface WeightsManifestEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  /** 'optimizer' for the optimizer's state; absent for model weights. */
  group?: 'optimizer';
}

export interface TrainingConfig {
  loss: string;
  metrics: string[];
  optimizer_config: OptimizerConfig;
}

export interface ModelTopology {
  class_name: 'Sequential' | 'Model';
  config: Record<string, unknown>;
  keras_version: string;
  backend: string;
}

/** What TF.js's IOHandlers exchange (its `ModelArtifacts`, for layers models). */
export interface ModelArtifacts {
  modelTopology: ModelTopology;
  weightSpecs: WeightsManifestEntry[];
  weightData: ArrayBuffer;
  format: string;
  generatedBy: string;
  convertedBy: string | null;
  trainingConfig?: TrainingConfig;
}

/** The model.json file. */
export interface ModelJSON {
  modelTopology: ModelTopology;
  format: string;
  generatedBy: string;
  convertedBy: string | null;
  weightsManifest: { paths: string[]; weights: WeightsManifestEntry[] }[];
  trainingConfig?: TrainingConfig;
}

export interface ModelArtifactsInfo {
  dateSaved: Date;
  modelTopologyType: 'JSON';
  modelTopologyBytes: number;
  weightSpecsBytes: number;
  weightDataBytes: number;
}

export interface SaveResult {
  modelArtifactsInfo: ModelArtifactsInfo;
}

/** A TF.js-style save handler, e.g. `tf.io.withSaveHandler(...)`. */
export interface SaveHandler {
  save(artifacts: ModelArtifacts): unknown;
}

/** A TF.js-style load handler, e.g. `tf.io.fromMemory(...)`; what it returns is validated. */
export interface LoadHandler {
  load(): unknown;
}

export type SaveTarget = string | SaveHandler;
export type LoadSource = string | LoadHandler;

export interface SaveOptions {
  /** Also save the optimizer's state (iterations and slots) so that training resumes exactly. */
  includeOptimizer?: boolean;
}

export interface LoadOptions {
  /** The engine to run the loaded model on; the default engine otherwise. */
  engine?: Engine;
}

/** A model file (model.json, its manifest or its weight data) that is malformed or that we cannot build. */
export class ModelFormatError extends Error {
  override name = 'ModelFormatError';
}

// ---- saving ----------------------------------------------------------------------------------

/** The model's artifacts as TF.js's `LayersModel.save()` hands them to an IOHandler. */
export async function modelArtifacts(model: LayersModel, options: SaveOptions = {}): Promise<ModelArtifacts> {
  if (options === null || typeof options !== 'object') throw new TypeError(`save(): options must be { includeOptimizer? }, got ${describe(options)}`);
  const includeOptimizer = options.includeOptimizer ?? false;
  if (typeof includeOptimizer !== 'boolean') throw new TypeError(`save(): includeOptimizer must be true or false, got ${describe(includeOptimizer)}`);
  const compiled = model.compileConfig;
  if (includeOptimizer && !compiled) throw new Error(`save(): includeOptimizer needs a compiled model (model ${model.name} has no optimizer yet)`);
  const modelTopology = topology(model);
  const weights = inTfjsOrder(model, await model.getWeights());
  const entries: { spec: WeightsManifestEntry; data: Float32Array | Int32Array }[] = weights.map((w) => ({ spec: { name: w.name, shape: w.shape, dtype: 'float32' }, data: w.data }));
  if (includeOptimizer && compiled) {
    const state = await model.getOptimizerState();
    entries.push({ spec: { name: 'iter', shape: [], dtype: 'int32', group: 'optimizer' }, data: Int32Array.of(state.iterations) });
    const slots = new Map(state.slots.map((s) => [s.name, s.data]));
    for (const slot of tfjsSlotNames(compiled.optimizer)) {
      for (const w of weights) {
        const name = `${w.name}/${slot}`;
        // Slots TF.js keeps and we do not (RMSProp's momentum at momentum 0) are zeros.
        entries.push({ spec: { name, shape: w.shape, dtype: 'float32', group: 'optimizer' }, data: slots.get(name) ?? new Float32Array(w.data.length) });
      }
    }
  }
  const weightData = new Uint8Array(entries.reduce((n, e) => n + e.data.byteLength, 0));
  let offset = 0;
  for (const e of entries) {
    weightData.set(new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength), offset);
    offset += e.data.byteLength;
  }
  return {
    modelTopology,
    weightSpecs: entries.map((e) => e.spec),
    weightData: weightData.buffer,
    format: LAYERS_MODEL_FORMAT,
    generatedBy: `webgpu-train v${version}`,
    convertedBy: null,
    // TF.js writes it only with includeOptimizer; Keras whenever the model is compiled, as here.
    ...(compiled && {
      trainingConfig: { loss: snakeCase(compiled.loss), metrics: compiled.metrics, optimizer_config: optimizerConfig(compiled.optimizer) },
    }),
  };
}

/**
 * The weights in the order of TF.js's `model.trainableWeights`, with which its optimizers pair their
 * saved slots by position. TF.js's Container orders layers by decreasing longest distance to the
 * output, ties by a depth-first walk from the output that numbers each node before its inputs; for
 * a Sequential model (and any chain) that is our order.
 */
function inTfjsOrder(model: LayersModel, weights: NamedWeight[]): NamedWeight[] {
  const walk = new Map<GraphNode, number>();
  const postorder: GraphNode[] = [];
  const visit = (node: GraphNode) => {
    if (walk.has(node)) return;
    walk.set(node, walk.size);
    for (const t of node.inputs) visit(t.producer);
    postorder.push(node);
  };
  visit(model.outputs[0]!.producer);
  const depth = new Map<GraphNode, number>();
  // Reversed, the postorder lists every node before its inputs.
  for (const node of postorder.reverse()) {
    const d = depth.get(node) ?? 0;
    depth.set(node, d);
    for (const t of node.inputs) depth.set(t.producer, Math.max(d + 1, depth.get(t.producer) ?? 0));
  }
  const ordered = postorder.sort((a, b) => depth.get(b)! - depth.get(a)! || walk.get(a)! - walk.get(b)!);
  const rank = new Map(ordered.map((node, i) => [node.layer.name, i]));
  // Weight names are `<layer>/<kernel|bias>`; a stable sort keeps kernel before bias.
  const layerOf = (w: NamedWeight) => w.name.slice(0, w.name.lastIndexOf('/'));
  return [...weights].sort((a, b) => rank.get(layerOf(a))! - rank.get(layerOf(b))!);
}

/** The Keras topology: Sequential (the first layer carries batch_input_shape) or a functional 'Model'. */
function topology(model: LayersModel): ModelTopology {
  const layers = model.layers;
  const seen = new Set<string>();
  for (const layer of layers) {
    if (seen.has(layer.name)) throw new Error(`save(): model ${model.name} has two layers named '${layer.name}'; names must be unique to name the weights`);
    seen.add(layer.name);
  }
  const input = model.inputs[0]!;
  const output = model.outputs[0]!;
  const meta = { keras_version: `webgpu-train ${version}`, backend: 'webgpu' };
  if (model instanceof Sequential) {
    const stack = layers.filter((l) => !(l instanceof InputLayer));
    return {
      class_name: 'Sequential',
      config: {
        name: model.name,
        layers: stack.map((l, i) => ({ class_name: l.className, config: i === 0 ? { ...l.getConfig(), batch_input_shape: input.batchShape, dtype: 'float32' } : l.getConfig() })),
      },
      ...meta,
    };
  }
  const ref = (t: SymbolicTensor) => [t.producer.layer.name, 0, 0];
  return {
    class_name: 'Model',
    config: {
      name: model.name,
      layers: layers.map((l) => ({
        name: l.name,
        class_name: l.className,
        config: l.getConfig(),
        inbound_nodes: l.node && l.node.inputs.length > 0 ? [l.node.inputs.map((t) => [...ref(t), {}])] : [],
      })),
      input_layers: [ref(input)],
      output_layers: [ref(output)],
    },
    ...meta,
  };
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** model.json for artifacts whose weight data is stored at `paths` (TF.js's key order). */
export function modelJSON(artifacts: ModelArtifacts, paths: string[]): ModelJSON {
  return {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    weightsManifest: [{ paths, weights: artifacts.weightSpecs }],
    ...(artifacts.trainingConfig && { trainingConfig: artifacts.trainingConfig }),
  };
}

function artifactsInfo(artifacts: ModelArtifacts): ModelArtifactsInfo {
  const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length;
  return {
    dateSaved: new Date(),
    modelTopologyType: 'JSON',
    modelTopologyBytes: bytes(artifacts.modelTopology),
    weightSpecsBytes: bytes(artifacts.weightSpecs),
    weightDataBytes: artifacts.weightData.byteLength,
  };
}

const SAVE_TARGETS = "'file://dir' (Node), 'indexeddb://name', 'downloads://name' (pages) or a handler { save(artifacts) }";

/** `model.save(target, options)`. */
export async function saveModel(model: LayersModel, target: SaveTarget, options: SaveOptions = {}): Promise<SaveResult> {
  const artifacts = await modelArtifacts(model, options);
  if (typeof target === 'string') {
    const [scheme, rest] = splitScheme(target);
    if (scheme === 'file') await saveFiles(rest, artifacts);
    else if (scheme === 'indexeddb') await saveIndexedDB(rest, artifacts);
    else if (scheme === 'downloads') await saveDownloads(rest || 'model', artifacts);
    else throw new Error(`save(): unknown target '${target}'; use ${SAVE_TARGETS}`);
  } else if (target && typeof (target as SaveHandler).save === 'function') {
    await target.save(artifacts);
  } else {
    throw new TypeError(`save(): expected ${SAVE_TARGETS}, got ${describe(target)}`);
  }
  return { modelArtifactsInfo: artifactsInfo(artifacts) };
}

/** ['file', 'dir'] for 'file://dir'; [undefined, s] without a scheme. */
function splitScheme(s: string): [string | undefined, string] {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/is.exec(s);
  return m ? [m[1]!.toLowerCase(), m[2]!] : [undefined, s];
}

/**
 * Node modules by variable names, imported when used, so that bundlers building this file for a
 * page neither follow nor stub them.
 */
async function nodeFs(): Promise<{ fs: typeof import('node:fs/promises'); path: typeof import('node:path') }> {
  const fsName = 'node:fs/promises';
  const pathName = 'node:path';
  try {
    const fs = (await import(/* @vite-ignore */ fsName)) as typeof import('node:fs/promises');
    const path = (await import(/* @vite-ignore */ pathName)) as typeof import('node:path');
    return { fs, path };
  } catch (err) {
    throw new Error(`file:// needs Node.js (its fs module); in a page use 'indexeddb://', 'downloads://' or a URL: ${(err as Error).message}`);
  }
}

const WEIGHTS_FILE = 'weights.bin';

/** As tfjs-node's file:// handler: dir/model.json and dir/weights.bin. */
async function saveFiles(dir: string, artifacts: ModelArtifacts): Promise<void> {
  if (!dir) throw new Error("save(): 'file://' needs a directory, e.g. 'file://weights/my-model'");
  const { fs, path } = await nodeFs();
  await fs.mkdir(dir, { recursive: true });
  // The weights first: a model.json on disk then always has its weights beside it.
  await fs.writeFile(path.join(dir, WEIGHTS_FILE), new Uint8Array(artifacts.weightData));
  await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(modelJSON(artifacts, [WEIGHTS_FILE])));
}

/** As TF.js's browserDownloads: `name.json` and `name.weights.bin`. */
async function saveDownloads(name: string, artifacts: ModelArtifacts): Promise<void> {
  if (typeof document === 'undefined' || typeof URL.createObjectURL !== 'function') {
    throw new Error("save(): 'downloads://' needs a page (document); in Node use 'file://dir'");
  }
  const weightsName = `${name}.weights.bin`;
  const json = JSON.stringify(modelJSON(artifacts, [`./${weightsName}`]));
  const files: [string, Blob][] = [
    [`${name}.json`, new Blob([json], { type: 'application/json' })],
    [weightsName, new Blob([artifacts.weightData], { type: 'application/octet-stream' })],
  ];
  for (const [fileName, blob] of files) {
    const url = URL.createObjectURL(blob);
    const anchor = document.createElement('a');
    anchor.download = fileName;
    anchor.href = url;
    anchor.click();
    // Browsers start the download on click; one task later the URL may go (Firefox keeps only the last of synchronous clicks otherwise).
    await new Promise((resolve) => setTimeout(resolve, 0));
    URL.revokeObjectURL(url);
  }
}

// IndexedDB, laid out as TF.js's 'indexeddb://' handler keeps models, so that each reads the other's.
const IDB_DATABASE = 'tensorflowjs';
const IDB_VERSION = 1;
const IDB_MODELS = 'models_store';
const IDB_INFO = 'model_info_store';

function openDatabase(): Promise<IDBDatabase> {
  const factory = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!factory) throw new Error("'indexeddb://' needs IndexedDB (a page or a worker); in Node use 'file://dir'");
  return new Promise((resolve, reject) => {
    const request = factory.open(IDB_DATABASE, IDB_VERSION);
    request.onupgradeneeded = () => {
      request.result.createObjectStore(IDB_MODELS, { keyPath: 'modelPath' });
      request.result.createObjectStore(IDB_INFO, { keyPath: 'modelPath' });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(new Error(`cannot open IndexedDB database '${IDB_DATABASE}': ${request.error?.message}`));
  });
}

async function saveIndexedDB(modelPath: string, artifacts: ModelArtifacts): Promise<void> {
  if (!modelPath) throw new Error("save(): 'indexeddb://' needs a name, e.g. 'indexeddb://my-model'");
  const db = await openDatabase();
  try {
    const modelArtifactsInfo = artifactsInfo(artifacts);
    await new Promise<void>((resolve, reject) => {
      // One transaction over both stores: the info entry and the model land together or not at all.
      const tx = db.transaction([IDB_INFO, IDB_MODELS], 'readwrite');
      tx.objectStore(IDB_INFO).put({ modelPath, modelArtifactsInfo });
      tx.objectStore(IDB_MODELS).put({ modelPath, modelArtifacts: artifacts, modelArtifactsInfo });
      tx.oncomplete = () => resolve();
      tx.onerror = tx.onabort = () => reject(new Error(`cannot save '${modelPath}' to IndexedDB: ${tx.error?.message}`));
    });
  } finally {
    db.close();
  }
}

async function loadIndexedDB(modelPath: string): Promise<unknown> {
  if (!modelPath) throw new Error("'indexeddb://' needs a name, e.g. 'indexeddb://my-model'");
  const db = await openDatabase();
  try {
    return await new Promise((resolve, reject) => {
      const request = db.transaction(IDB_MODELS, 'readonly').objectStore(IDB_MODELS).get(modelPath);
      request.onsuccess = () => {
        const entry = request.result as { modelArtifacts?: unknown } | undefined;
        if (!entry) reject(new Error(`no model named '${modelPath}' in IndexedDB`));
        else resolve(entry.modelArtifacts);
      };
      request.onerror = () => reject(new Error(`cannot read '${modelPath}' from IndexedDB: ${request.error?.message}`));
    });
  } finally {
    db.close();
  }
}

// ---- loading ---------------------------------------------------------------------------------

/**
 * Loads a model saved in the TF.js layers format (by this engine or by TensorFlow.js): from
 * 'file://dir' or 'file://dir/model.json' (Node), 'indexeddb://name', an http(s) or relative URL of
 * model.json (weights are fetched relative to it), or a handler `{ load() }` returning artifacts.
 * The model is compiled from the file's training config when it has one, and its optimizer state
 * restored when saved with `includeOptimizer`, so that `fit({ initialEpoch })` continues exactly.
 */
export async function loadModel(source: LoadSource, options: LoadOptions = {}): Promise<LayersModel> {
  const where = typeof source === 'string' ? `loadModel('${source}')` : 'loadModel(handler)';
  try {
    if (options === null || typeof options !== 'object') throw new TypeError(`options must be { engine? }, got ${describe(options)}`);
    if (options.engine !== undefined && !(options.engine instanceof Engine)) throw new TypeError(`options.engine must be an Engine (createEngine()), got ${describe(options.engine)}`);
    return await modelFromArtifacts(await readArtifacts(source), options.engine);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const wrapped = err instanceof ModelFormatError ? new ModelFormatError(`${where}: ${message}`) : new Error(`${where}: ${message}`);
    wrapped.cause = err;
    throw wrapped;
  }
}

/** Artifacts as a handler returns them: not yet validated. */
interface RawArtifacts {
  modelTopology?: unknown;
  weightSpecs?: unknown;
  weightData?: unknown;
  format?: unknown;
  trainingConfig?: unknown;
}

async function readArtifacts(source: LoadSource): Promise<RawArtifacts> {
  if (typeof source === 'string') {
    const [scheme, rest] = splitScheme(source);
    if (scheme === 'file') return readFiles(rest);
    if (scheme === 'indexeddb') return asObject(await loadIndexedDB(rest), 'the stored artifacts');
    if (scheme === undefined || scheme === 'http' || scheme === 'https') return readURL(source);
    throw new Error(`unknown source scheme '${scheme}://'; use 'file://', 'indexeddb://', an http(s) URL or a handler { load() }`);
  }
  if (!source || typeof (source as LoadHandler).load !== 'function') {
    throw new TypeError(`expected a URL string or a handler { load() }, got ${describe(source)}`);
  }
  let artifacts: unknown;
  try {
    artifacts = await source.load();
  } catch (err) {
    throw new Error(`handler.load() failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  return asObject(artifacts, 'the artifacts handler.load() returned');
}

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ModelFormatError(`${what} must be an object, got ${describe(value)}`);
  return value as Record<string, unknown>;
}

/** model.json's text → the artifacts without weight data, and the weight files' paths in order. */
function parseModelJSON(text: string): { artifacts: RawArtifacts; paths: string[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ModelFormatError(`model.json is not valid JSON: ${(err as Error).message}`);
  }
  const json = asObject(parsed, 'model.json');
  if (json.modelTopology === undefined) throw new ModelFormatError('model.json has no modelTopology');
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest)) throw new ModelFormatError(`model.json: weightsManifest must be an array of { paths, weights }, got ${describe(manifest)}`);
  const paths: string[] = [];
  const weightSpecs: unknown[] = [];
  manifest.forEach((group, g) => {
    const entry = asObject(group, `weightsManifest[${g}]`);
    if (!Array.isArray(entry.paths) || !entry.paths.every((p) => typeof p === 'string' && p !== '')) {
      throw new ModelFormatError(`weightsManifest[${g}].paths must be an array of file names, got ${describe(entry.paths)}`);
    }
    if (!Array.isArray(entry.weights)) throw new ModelFormatError(`weightsManifest[${g}].weights must be an array, got ${describe(entry.weights)}`);
    paths.push(...(entry.paths as string[]));
    weightSpecs.push(...entry.weights);
  });
  return { artifacts: { modelTopology: json.modelTopology, weightSpecs, format: json.format, trainingConfig: json.trainingConfig }, paths };
}

async function readFiles(target: string): Promise<RawArtifacts> {
  if (!target) throw new Error("'file://' needs a path, e.g. 'file://weights/my-model' or 'file://weights/my-model/model.json'");
  const { fs, path } = await nodeFs();
  let file = target;
  if (!target.endsWith('.json')) {
    const stat = await fs.stat(target).catch((err: Error) => {
      throw new Error(`cannot read ${target}: ${err.message}`);
    });
    if (stat.isDirectory()) file = path.join(target, 'model.json');
  }
  const text = await fs.readFile(file, 'utf8').catch((err: Error) => {
    throw new Error(`cannot read ${file}: ${err.message}`);
  });
  const { artifacts, paths } = parseModelJSON(text);
  const dir = path.resolve(path.dirname(file));
  const buffers = await Promise.all(
    paths.map(async (p, i) => {
      const full = path.resolve(dir, p);
      const relative = path.relative(dir, full);
      // Weight paths are relative to model.json; a file must not reach outside its folder.
      if (relative.startsWith('..') || path.isAbsolute(relative)) throw new ModelFormatError(`weight path ${i} '${p}' points outside the model's folder ${dir}`);
      const bytes = await fs.readFile(full).catch((err: Error) => {
        throw new Error(`cannot read the weights file '${p}' listed in ${file}: ${err.message}`);
      });
      return bytes;
    }),
  );
  return { ...artifacts, weightData: buffers };
}

async function readURL(url: string): Promise<RawArtifacts> {
  let modelURL: URL;
  try {
    modelURL = new URL(url, (globalThis as { location?: { href: string } }).location?.href);
  } catch {
    throw new Error(`'${url}' is not a URL; a relative URL needs a page to resolve against (in Node use 'file://dir' or an http(s) URL)`);
  }
  if (typeof fetch !== 'function') throw new Error('loading from a URL needs fetch()');
  const get = async (target: URL, what: string): Promise<Response> => {
    let response: Response;
    try {
      response = await fetch(target);
    } catch (err) {
      throw new Error(`cannot fetch ${what} ${target.href}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!response.ok) throw new Error(`fetching ${what} ${target.href} failed: HTTP ${response.status} ${response.statusText}`);
    return response;
  };
  const { artifacts, paths } = parseModelJSON(await (await get(modelURL, 'model.json')).text());
  const buffers = await Promise.all(paths.map(async (p) => (await get(new URL(p, modelURL), 'the weights file')).arrayBuffer()));
  return { ...artifacts, weightData: buffers };
}

// ---- artifacts → model --------------------------------------------------------------------------

interface LoadedWeight {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  optimizer: boolean;
  data: Float32Array | Int32Array;
}

/** One ArrayBuffer from what TF.js handlers hand over: an ArrayBuffer, a list of them (sharded), or views. */
function joinWeightData(value: unknown): ArrayBuffer {
  const parts = Array.isArray(value) ? value : [value];
  const bytes = parts.map((p, i) => {
    if (p instanceof ArrayBuffer) return new Uint8Array(p);
    if (ArrayBuffer.isView(p)) return new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
    throw new ModelFormatError(`weightData${Array.isArray(value) ? `[${i}]` : ''} must be an ArrayBuffer, got ${describe(p)}`);
  });
  const out = new Uint8Array(bytes.reduce((n, b) => n + b.byteLength, 0));
  let offset = 0;
  for (const b of bytes) {
    out.set(b, offset);
    offset += b.byteLength;
  }
  return out.buffer;
}

/** Validates the manifest's entries against the data and cuts the data into weights. */
function readWeights(specs: unknown, weightData: unknown): LoadedWeight[] {
  if (!Array.isArray(specs)) throw new ModelFormatError(`weightSpecs (the manifest's weights) must be an array, got ${describe(specs)}`);
  const data = joinWeightData(weightData ?? new ArrayBuffer(0));
  const weights: LoadedWeight[] = [];
  const names = new Set<string>();
  let offset = 0;
  specs.forEach((value, i) => {
    const spec = asObject(value, `weight ${i} of the manifest`);
    const name = spec.name;
    if (typeof name !== 'string' || name === '') throw new ModelFormatError(`weight ${i} of the manifest: name must be a non-empty string, got ${describe(name)}`);
    const where = `weight ${i} '${name}'`;
    const shape = spec.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new ModelFormatError(`${where}: shape must be an array of non-negative integers, got ${describeValue(shape)}`);
    }
    if (spec.dtype !== 'float32' && spec.dtype !== 'int32') throw new ModelFormatError(`${where}: dtype ${describeValue(spec.dtype)} is not supported (float32, int32)`);
    if (spec.quantization != null) throw new ModelFormatError(`${where}: quantized weights are not supported`);
    if (spec.group != null && typeof spec.group !== 'string') throw new ModelFormatError(`${where}: group must be a string, got ${describe(spec.group)}`);
    const optimizer = spec.group === 'optimizer';
    const key = `${optimizer ? 'optimizer:' : ''}${name}`;
    if (names.has(key)) throw new ModelFormatError(`${where}: the manifest names two ${optimizer ? 'optimizer ' : ''}weights '${name}'`);
    names.add(key);
    const bytes = sizeOf(shape) * 4;
    if (offset + bytes > data.byteLength) {
      throw new ModelFormatError(`${where} (${spec.dtype} ${formatShape(shape)}) needs bytes ${offset}..${offset + bytes} but the weight data has ${data.byteLength} bytes`);
    }
    const slice = data.slice(offset, offset + bytes);
    weights.push({ name, shape, dtype: spec.dtype, optimizer, data: spec.dtype === 'int32' ? new Int32Array(slice) : new Float32Array(slice) });
    offset += bytes;
  });
  if (offset !== data.byteLength) {
    throw new ModelFormatError(`the weight data has ${data.byteLength} bytes but the manifest's ${specs.length} weights take ${offset}; the data and model.json do not belong together`);
  }
  return weights;
}

function layerFromConfig(value: unknown, where: string, nameFallback?: string): Layer {
  const entry = asObject(value, where);
  const className = entry.class_name;
  const cls = typeof className === 'string' ? layerClass(className) : undefined;
  if (!cls) throw new ModelFormatError(`${where}: unknown layer class ${describeValue(className)}; known: ${layerClassNames().join(', ')}`);
  let config = entry.config;
  // Functional entries carry the name beside the config; TF.js repeats it inside.
  if (nameFallback !== undefined && config && typeof config === 'object' && !Array.isArray(config) && (config as Record<string, unknown>).name === undefined) {
    config = { ...config, name: nameFallback };
  }
  try {
    return cls.fromConfig(config);
  } catch (err) {
    throw new ModelFormatError(`${where}: ${(err as Error).message}`);
  }
}

/** A model's graph read from the topology, not yet a model: the weights it will have, and how to build it. */
interface GraphPlan {
  weights: { name: string; shape: Shape }[];
  build(): LayersModel;
}

function batchInputShape(value: unknown, where: string): (number | null)[] {
  if (!Array.isArray(value) || value.length < 2 || !(value[0] === null || (Number.isInteger(value[0]) && value[0] > 0)) || !value.slice(1).every((d) => Number.isInteger(d) && d > 0)) {
    throw new ModelFormatError(`${where}: batch_input_shape must be [batch, ...shape] of positive integers (batch may be null), got ${describeValue(value)}`);
  }
  return value as (number | null)[];
}

function layerWeights(layer: Layer, inputShapes: readonly Shape[]): { name: string; shape: Shape }[] {
  return layer.weightSpecs(inputShapes).map((s) => ({ name: `${layer.name}/${s.name}`, shape: s.shape }));
}

function sequentialPlan(config: unknown, where: string): GraphPlan {
  const list = Array.isArray(config) ? config : asObject(config, where).layers;
  const name = Array.isArray(config) ? undefined : (config as Record<string, unknown>).name;
  if (name !== undefined && typeof name !== 'string') throw new ModelFormatError(`${where}.name must be a string, got ${describe(name)}`);
  if (!Array.isArray(list) || list.length === 0) throw new ModelFormatError(`${where}.layers must be a non-empty array, got ${describe(list)}`);
  const entries = list.map((value, i) => ({ value: asObject(value, `${where}.layers[${i}]`), where: `${where}.layers[${i}]` }));
  // Keras (Python) lists the InputLayer; TF.js puts batch_input_shape on the first layer.
  const first = entries[0]!;
  const shapeFrom = first.value.config && typeof first.value.config === 'object' ? (first.value.config as Record<string, unknown>).batch_input_shape : undefined;
  const batchShape = batchInputShape(shapeFrom, `${first.where} (the first layer)`);
  const listsInput = first.value.class_name === 'InputLayer';
  if (listsInput) layerFromConfig(first.value, `${first.where} (InputLayer)`);
  const stack = listsInput ? entries.slice(1) : entries;
  if (stack.length === 0) throw new ModelFormatError(`${where}.layers has only an InputLayer`);
  const layers = stack.map((e) => {
    const layer = layerFromConfig(e.value, `${e.where} (${describeValue(e.value.class_name)})`);
    if (layer instanceof InputLayer) throw new ModelFormatError(`${e.where}: an InputLayer can only come first in a Sequential model`);
    return layer;
  });
  // Shapes and weights layer by layer, before the model allocates any weights.
  const weights: GraphPlan['weights'] = [];
  let shape: Shape = batchShape.slice(1) as number[];
  layers.forEach((layer, i) => {
    try {
      const next = layer.computeOutputShape([shape]);
      weights.push(...layerWeights(layer, [shape]));
      shape = next;
    } catch (err) {
      throw new ModelFormatError(`${stack[i]!.where} (${layer.className} '${layer.name}'): ${(err as Error).message}`);
    }
  });
  return {
    weights,
    build: () => {
      const model = new Sequential({ layers, name });
      model.build(batchShape);
      return model;
    },
  };
}

/** [layerName, 0, 0(, {})]: a reference to a layer's only output (no shared layers, single outputs). */
function tensorRef(value: unknown, where: string): string {
  if (!Array.isArray(value) || typeof value[0] !== 'string' || value[1] !== 0 || value[2] !== 0 || value.length > 4) {
    throw new ModelFormatError(`${where} must be [layerName, 0, 0, {}], got ${describeValue(value)}`);
  }
  const kwargs = value[3];
  if (kwargs !== undefined && (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs) || Object.keys(kwargs).length > 0)) {
    throw new ModelFormatError(`${where}: call arguments ${describeValue(kwargs)} are not supported`);
  }
  return value[0];
}

function functionalPlan(config: unknown, where: string): GraphPlan {
  const c = asObject(config, where);
  if (c.name !== undefined && typeof c.name !== 'string') throw new ModelFormatError(`${where}.name must be a string, got ${describe(c.name)}`);
  if (!Array.isArray(c.layers) || c.layers.length === 0) throw new ModelFormatError(`${where}.layers must be a non-empty array, got ${describe(c.layers)}`);
  const nodes = new Map<string, { layer: Layer; inputs: string[]; where: string }>();
  c.layers.forEach((value, i) => {
    const at = `${where}.layers[${i}]`;
    const entry = asObject(value, at);
    if (typeof entry.name !== 'string' || entry.name === '') throw new ModelFormatError(`${at}: name must be a non-empty string, got ${describe(entry.name)}`);
    const named = `${at} (${describeValue(entry.class_name)} '${entry.name}')`;
    const layer = layerFromConfig(entry, named, entry.name);
    if (layer.name !== entry.name) throw new ModelFormatError(`${named}: its config names it '${layer.name}'`);
    if (nodes.has(layer.name)) throw new ModelFormatError(`${named}: a second layer named '${layer.name}'`);
    const inbound = entry.inbound_nodes;
    if (!Array.isArray(inbound)) throw new ModelFormatError(`${named}: inbound_nodes must be an array, got ${describe(inbound)}`);
    const isInput = layer instanceof InputLayer;
    if (isInput && inbound.length !== 0) throw new ModelFormatError(`${named}: an InputLayer has no inbound nodes`);
    if (!isInput && inbound.length !== 1) {
      throw new ModelFormatError(`${named}: has ${inbound.length} inbound nodes; a layer must be applied exactly once (shared layers are not supported)`);
    }
    const inputs = isInput ? [] : inbound[0];
    if (!Array.isArray(inputs) || (!isInput && inputs.length === 0)) throw new ModelFormatError(`${named}: inbound_nodes[0] must be a non-empty array of [layerName, 0, 0, {}]`);
    nodes.set(layer.name, { layer, inputs: inputs.map((r, k) => tensorRef(r, `${named}.inbound_nodes[0][${k}]`)), where: named });
  });
  const inputEntries = [...nodes.values()].filter((n) => n.layer instanceof InputLayer);
  if (inputEntries.length !== 1) throw new ModelFormatError(`${where}: the model needs exactly one InputLayer (multi-input models are not supported), found ${inputEntries.length}`);
  const declared = (key: 'input_layers' | 'output_layers'): string => {
    const list = c[key];
    if (!Array.isArray(list) || list.length !== 1) throw new ModelFormatError(`${where}.${key} must list one [layerName, 0, 0] (multi-input/output models are not supported), got ${describeValue(list)}`);
    const name = tensorRef(list[0], `${where}.${key}[0]`);
    if (!nodes.has(name)) throw new ModelFormatError(`${where}.${key} names '${name}', which is not among the layers`);
    return name;
  };
  const inputName = declared('input_layers');
  const outputName = declared('output_layers');
  if (!(nodes.get(inputName)!.layer instanceof InputLayer)) throw new ModelFormatError(`${where}.input_layers names '${inputName}', which is not an InputLayer`);
  // Apply each layer once its inputs exist; Keras lists them in order, but need not.
  const tensors = new Map<string, SymbolicTensor>();
  const input = (nodes.get(inputName)!.layer as InputLayer).symbolicOutput();
  tensors.set(inputName, input);
  let pending = [...nodes.values()].filter((n) => !(n.layer instanceof InputLayer));
  while (pending.length > 0) {
    const ready = pending.filter((n) => n.inputs.every((name) => tensors.has(name)));
    if (ready.length === 0) {
      const stuck = pending[0]!;
      const unknown = stuck.inputs.find((name) => !nodes.has(name));
      throw new ModelFormatError(unknown !== undefined ? `${stuck.where}: its input '${unknown}' is not among the layers` : `${stuck.where}: its inputs form a cycle`);
    }
    for (const n of ready) {
      try {
        tensors.set(n.layer.name, n.layer.apply(n.inputs.map((name) => tensors.get(name)!)));
      } catch (err) {
        throw new ModelFormatError(`${n.where}: ${(err as Error).message}`);
      }
    }
    pending = pending.filter((n) => !ready.includes(n));
  }
  const output = tensors.get(outputName)!;
  const graph = topologicalNodes([output]);
  const reachable = new Set(graph.map((n) => n.layer.name));
  for (const n of nodes.values()) {
    if (!reachable.has(n.layer.name)) throw new ModelFormatError(`${n.where}: not connected to the output '${outputName}'`);
  }
  const name = c.name as string | undefined;
  return {
    weights: graph.flatMap((n) => layerWeights(n.layer, n.inputs.map((t) => t.shape))),
    build: () => new Functional({ inputs: input, outputs: output, name }),
  };
}

function graphPlan(value: unknown): GraphPlan {
  if (value instanceof ArrayBuffer) throw new ModelFormatError('modelTopology is binary (a graph model); only layers models can be loaded');
  let topology = asObject(value, 'modelTopology');
  let where = 'modelTopology';
  // Keras (Python) wraps the model in model_config.
  if (topology.model_config !== undefined) {
    topology = asObject(topology.model_config, 'modelTopology.model_config');
    where = 'modelTopology.model_config';
  }
  const className = topology.class_name;
  if (className === 'Sequential') return sequentialPlan(topology.config, `${where}.config`);
  if (className === 'Model' || className === 'Functional') return functionalPlan(topology.config, `${where}.config`);
  throw new ModelFormatError(`${where}.class_name: unknown model class ${describeValue(className)}; known: Sequential, Model, Functional`);
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
    out.set(e.name, w.data as Float32Array);
  }
  return out;
}

const TRAINING_KEYS = ['loss', 'metrics', 'optimizer_config', 'weighted_metrics', 'loss_weights', 'sample_weight_mode'];

function compileArgs(value: unknown): { loss: string; metrics: string[] | undefined; optimizer: ReturnType<typeof optimizerFromConfig> } {
  const tc = asObject(value, 'trainingConfig');
  for (const key of Object.keys(tc)) {
    if (!TRAINING_KEYS.includes(key)) throw new ModelFormatError(`trainingConfig: unknown key '${key}'; known: ${TRAINING_KEYS.join(', ')}`);
  }
  for (const key of ['weighted_metrics', 'loss_weights', 'sample_weight_mode']) {
    if (tc[key] != null) throw new ModelFormatError(`trainingConfig.${key} is not supported, got ${describeValue(tc[key])}`);
  }
  if (typeof tc.loss !== 'string') throw new ModelFormatError(`trainingConfig.loss must be a loss name, got ${describeValue(tc.loss)}`);
  const metrics = tc.metrics ?? undefined;
  if (metrics !== undefined && !(Array.isArray(metrics) && metrics.every((m) => typeof m === 'string'))) {
    throw new ModelFormatError(`trainingConfig.metrics must be a list of names, got ${describeValue(metrics)}`);
  }
  let optimizer;
  try {
    optimizer = optimizerFromConfig(tc.optimizer_config);
  } catch (err) {
    throw new ModelFormatError(`trainingConfig.${(err as Error).message}`);
  }
  return { loss: tc.loss, metrics: metrics as string[] | undefined, optimizer };
}

/** The optimizer state in the manifest (group 'optimizer'), checked against the compiled optimizer. */
function optimizerState(model: LayersModel, weights: readonly NamedWeight[], loaded: readonly LoadedWeight[]): { iterations: number; slots: NamedWeight[] } {
  const optimizer = model.optimizer!;
  const byName = new Map(loaded.map((w) => [w.name, w]));
  const iter = byName.get('iter');
  if (!iter) throw new ModelFormatError(`the optimizer weights have no 'iter' (the iteration count) among ${loaded.map((w) => w.name).join(', ')}`);
  const iterations = iter.data[0];
  if (iter.shape.length !== 0 || iterations === undefined || !Number.isInteger(iterations) || iterations < 0) {
    throw new ModelFormatError(`optimizer weight 'iter' must be a scalar non-negative integer, got ${iter.dtype} ${formatShape(iter.shape)} ${describeValue(Array.from(iter.data.slice(0, 4)))}`);
  }
  const slotOf = new Map<string, { slot: string; weight: NamedWeight }>();
  for (const slot of tfjsSlotNames(optimizer)) for (const w of weights) slotOf.set(`${w.name}/${slot}`, { slot, weight: w });
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
      slots.push({ name, shape: [...w.shape], data: found.data as Float32Array });
    }
  }
  return { iterations, slots };
}

async function modelFromArtifacts(artifacts: RawArtifacts, engine: Engine | undefined): Promise<LayersModel> {
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
  let model: LayersModel;
  try {
    model = plan.build();
  } catch (err) {
    throw new ModelFormatError(`modelTopology: ${(err as Error).message}`);
  }
  try {
    const current = await model.getWeights();
    model.setWeights(current.map((w) => ({ name: w.name, shape: w.shape, data: modelWeights.get(w.name)! })));
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
