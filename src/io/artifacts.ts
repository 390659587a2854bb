/**
 * The TensorFlow.js layers format itself, as tfjs-layers 4.22 writes and reads it: the types of
 * model.json, its weights manifest and the artifacts TF.js's IOHandlers exchange, the options and
 * results of save and load, and the conversions between artifacts and model.json. Nothing here
 * knows a model or a storage back end, so every other file of src/io/ can import it.
 */
import type { OptimizerConfig } from '../optimizers.ts';
import type { Engine } from '../runtime/engine.ts';
import { describe } from '../runtime/tensor.ts';

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
  /** One loss name, or one per output. */
  loss: string | string[];
  /** The metrics of every output, or per output. */
  metrics: string[] | string[][];
  loss_weights?: number[];
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

/** The sizes TF.js reports after a save (`SaveResult.modelArtifactsInfo`). */
export function artifactsInfo(artifacts: ModelArtifacts): ModelArtifactsInfo {
  const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length;
  return {
    dateSaved: new Date(),
    modelTopologyType: 'JSON',
    modelTopologyBytes: bytes(artifacts.modelTopology),
    weightSpecsBytes: bytes(artifacts.weightSpecs),
    weightDataBytes: artifacts.weightData.byteLength,
  };
}

/** Artifacts as a handler returns them: not yet validated. */
export interface RawArtifacts {
  modelTopology?: unknown;
  weightSpecs?: unknown;
  weightData?: unknown;
  format?: unknown;
  trainingConfig?: unknown;
}

/** `value` as a plain object, or a ModelFormatError naming `what` it should have been. */
export function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ModelFormatError(`${what} must be an object, got ${describe(value)}`);
  return value as Record<string, unknown>;
}

/** model.json's text → the artifacts without weight data, and the weight files' paths in order. */
export function parseModelJSON(text: string): { artifacts: RawArtifacts; paths: string[] } {
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
