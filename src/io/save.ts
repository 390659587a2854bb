/**
 * A model → the TF.js layers format's artifacts: the Keras topology, the weights in TF.js's order
 * and, with `includeOptimizer`, the optimizer's iteration count and slots in TF.js's layout (group
 * 'optimizer': `iter` first, then each slot for every weight). It knows a model only as a
 * SavableModel, so that src/model.ts can import it for `save()` without an import cycle.
 */
import { version } from '../../package.json';
import { InputLayer } from '../layers/core.ts';
import type { GraphNode, Layer, SymbolicTensor } from '../layers/layer.ts';
import { optimizerConfig, tfjsSlotNames, type Optimizer } from '../optimizers.ts';
import { describe } from '../runtime/tensor.ts';
import { artifactsInfo, LAYERS_MODEL_FORMAT, type ModelArtifacts, type ModelTopology, type SaveOptions, type SaveResult, type SaveTarget, type WeightsManifestEntry } from './artifacts.ts';
import { inboundNodeEntry, type TensorReference } from './call-arguments.ts';
import { writeArtifacts } from './write.ts';

/** A weight or optimizer slot by name, as a model hands it over. */
export interface SavedWeight {
  name: string;
  shape: number[];
  values: Float32Array;
}

/**
 * What saving reads from a model (LayersModel has it all). Declared here, not imported from
 * src/model.ts, because model.ts imports this file for `save()`.
 */
export interface SavableModel {
  readonly name: string;
  /** Layers in graph order, the InputLayer first for functional models. */
  readonly layers: readonly Layer[];
  readonly inputs: readonly SymbolicTensor[];
  readonly outputs: readonly SymbolicTensor[];
  /** The model's nodes (a shared layer's are several; a layer may have nodes in other models too). */
  readonly nodes: readonly GraphNode[];
  /** Keras's class name of the model, which decides the topology's form. */
  readonly className: 'Sequential' | 'Model';
  readonly compileConfig: { loss: string | string[]; lossWeights: number[] | undefined; optimizer: Optimizer; metrics: string[] | string[][] } | undefined;
  getWeights(): Promise<SavedWeight[]>;
  getOptimizerState(): Promise<{ iterations: number; slots: readonly SavedWeight[] }>;
}

/** The model's artifacts as TF.js's `LayersModel.save()` hands them to an IOHandler. */
export async function modelArtifacts(model: SavableModel, options: SaveOptions = {}): Promise<ModelArtifacts> {
  if (options === null || typeof options !== 'object') throw new TypeError(`save(): options must be { includeOptimizer? }, got ${describe(options)}`);
  const includeOptimizer = options.includeOptimizer ?? false;
  if (typeof includeOptimizer !== 'boolean') throw new TypeError(`save(): includeOptimizer must be true or false, got ${describe(includeOptimizer)}`);
  const compiled = model.compileConfig;
  if (includeOptimizer && !compiled) throw new Error(`save(): includeOptimizer needs a compiled model (model ${model.name} has no optimizer yet)`);
  const modelTopology = topology(model);
  // getWeights() lists them in TF.js's order, with which its optimizers pair their saved slots.
  const weights = await model.getWeights();
  const entries: { spec: WeightsManifestEntry; data: Float32Array | Int32Array }[] = weights.map((w) => ({ spec: { name: w.name, shape: w.shape, dtype: 'float32' }, data: w.values }));
  if (includeOptimizer && compiled) {
    const state = await model.getOptimizerState();
    entries.push({ spec: { name: 'iter', shape: [], dtype: 'int32', group: 'optimizer' }, data: Int32Array.of(state.iterations) });
    const slots = new Map(state.slots.map((s) => [s.name, s.values]));
    for (const slot of tfjsSlotNames(compiled.optimizer)) {
      for (const w of weights) {
        const name = `${w.name}/${slot}`;
        // Slots TF.js keeps and we do not (RMSProp's momentum at momentum 0) are zeros.
        entries.push({ spec: { name, shape: w.shape, dtype: 'float32', group: 'optimizer' }, data: slots.get(name) ?? new Float32Array(w.values.length) });
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
      trainingConfig: {
        loss: typeof compiled.loss === 'string' ? snakeCase(compiled.loss) : compiled.loss.map(snakeCase),
        metrics: compiled.metrics,
        optimizer_config: optimizerConfig(compiled.optimizer),
      },
    }),
  };
}

/** The Keras topology: Sequential (the first layer carries batch_input_shape) or a functional 'Model'. */
function topology(model: SavableModel): ModelTopology {
  const layers = model.layers;
  const seen = new Set<string>();
  for (const layer of layers) {
    if (seen.has(layer.name)) throw new Error(`save(): model ${model.name} has two layers named '${layer.name}'; names must be unique to name the weights`);
    seen.add(layer.name);
  }
  const input = model.inputs[0]!;
  const meta = { keras_version: `webgpu-train ${version}`, backend: 'webgpu' };
  if (model.className === 'Sequential') {
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
  // Keras numbers a layer's nodes within the model: nodes of the layer in other models don't count.
  const inModel = new Set(model.nodes);
  const nodesOf = (l: Layer) => l.inboundNodes.filter((n) => inModel.has(n));
  const ref = (t: SymbolicTensor): TensorReference => [t.producer.layer.name, nodesOf(t.producer.layer).indexOf(t.producer), t.index];
  return {
    class_name: 'Model',
    config: {
      name: model.name,
      layers: layers.map((l) => ({
        name: l.name,
        class_name: l.className,
        config: l.getConfig(),
        inbound_nodes: nodesOf(l)
          .filter((n) => n.inputs.length > 0)
          .map((n) => inboundNodeEntry(l, n, ref)),
      })),
      input_layers: model.inputs.map(ref),
      output_layers: model.outputs.map(ref),
    },
    ...meta,
  };
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** `model.save(target, options)`. */
export async function saveModel(model: SavableModel, target: SaveTarget, options: SaveOptions = {}): Promise<SaveResult> {
  const artifacts = await modelArtifacts(model, options);
  await writeArtifacts(target, artifacts);
  return { modelArtifactsInfo: artifactsInfo(artifacts) };
}
