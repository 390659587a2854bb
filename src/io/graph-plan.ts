/**
 * The Keras topology in model.json → a graph plan: the layers built from their configs and wired,
 * Sequential or functional, with the weights the model will have, checked before any model exists.
 */
import { graphOrder } from '../graph/topology.ts';
import { InputLayer, layerClass, layerClassNames } from '../layers/all.ts';
import { describeValue } from '../layers/config.ts';
import type { Layer, Shape, SymbolicTensor } from '../layers/layer.ts';
import { Functional, Sequential } from '../model/containers.ts';
import type { LayersModel } from '../model/layers-model.ts';
import { describe, type Tensor } from '../runtime/tensor.ts';
import { asObject, ModelFormatError } from './artifacts.ts';
import { applyStoredCall, storedCall, type StoredCall, type StoredReference } from './call-arguments.ts';

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
    const layer = cls.fromConfig(config);
    // Every layer's config may freeze it (kerasConfig accepts true or false); the base class owns the flag.
    const trainable = (config as Record<string, unknown>).trainable;
    if (typeof trainable === 'boolean') layer.trainable = trainable;
    return layer;
  } catch (err) {
    throw new ModelFormatError(`${where}: ${(err as Error).message}`);
  }
}

/** A model's graph read from the topology, not yet a model: the weights it will have, and how to build it. */
export interface GraphPlan {
  weights: { name: string; shape: Shape }[];
  build(): LayersModel<Tensor<Float32Array> | Tensor<Float32Array>[]>;
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

/**
 * [layerName, nodeIndex, tensorIndex(, {})]: a reference to the output of one node of a layer; with
 * `callArguments`, the 4th entry may hold the node's call arguments (src/io/call-arguments.ts).
 */
function tensorRef(value: unknown, where: string, callArguments = false): StoredReference & { kwargs?: Record<string, unknown> } {
  if (!Array.isArray(value) || typeof value[0] !== 'string' || !Number.isInteger(value[1]) || value[1] < 0 || !Number.isInteger(value[2]) || value[2] < 0 || value.length > 4) {
    throw new ModelFormatError(`${where} must be [layerName, nodeIndex, tensorIndex, {}], got ${describeValue(value)}`);
  }
  const kwargs = value[3];
  if (kwargs !== undefined && (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs) || (!callArguments && Object.keys(kwargs).length > 0))) {
    throw new ModelFormatError(`${where}: call arguments ${describeValue(kwargs)} are not supported`);
  }
  return { layer: value[0], node: value[1], tensor: value[2], kwargs: kwargs as Record<string, unknown> | undefined };
}

const refKey = (r: StoredReference) => `${r.layer}[${r.node}][${r.tensor}]`;

function functionalPlan(config: unknown, where: string): GraphPlan {
  const c = asObject(config, where);
  if (c.name !== undefined && typeof c.name !== 'string') throw new ModelFormatError(`${where}.name must be a string, got ${describe(c.name)}`);
  if (!Array.isArray(c.layers) || c.layers.length === 0) throw new ModelFormatError(`${where}.layers must be a non-empty array, got ${describe(c.layers)}`);
  const layers = new Map<string, { layer: Layer; where: string }>();
  /** Every node to apply: a layer's k-th node reads the tensors `inputs` refer to. */
  const pending: { layer: Layer; index: number; inputs: StoredReference[]; call?: StoredCall; where: string }[] = [];
  c.layers.forEach((value, i) => {
    const at = `${where}.layers[${i}]`;
    const entry = asObject(value, at);
    if (typeof entry.name !== 'string' || entry.name === '') throw new ModelFormatError(`${at}: name must be a non-empty string, got ${describe(entry.name)}`);
    const named = `${at} (${describeValue(entry.class_name)} '${entry.name}')`;
    const layer = layerFromConfig(entry, named, entry.name);
    if (layer.name !== entry.name) throw new ModelFormatError(`${named}: its config names it '${layer.name}'`);
    if (layers.has(layer.name)) throw new ModelFormatError(`${named}: a second layer named '${layer.name}'`);
    layers.set(layer.name, { layer, where: named });
    const inbound = entry.inbound_nodes;
    if (!Array.isArray(inbound)) throw new ModelFormatError(`${named}: inbound_nodes must be an array, got ${describe(inbound)}`);
    const isInput = layer instanceof InputLayer;
    if (isInput && inbound.length !== 0) throw new ModelFormatError(`${named}: an InputLayer has no inbound nodes`);
    if (!isInput && inbound.length === 0) throw new ModelFormatError(`${named}: has no inbound nodes; every layer but an InputLayer must be applied`);
    inbound.forEach((inputs, k) => {
      if (!Array.isArray(inputs) || inputs.length === 0) throw new ModelFormatError(`${named}: inbound_nodes[${k}] must be a non-empty array of [layerName, nodeIndex, tensorIndex, {}]`);
      const refs = inputs.map((r, m) => tensorRef(r, `${named}.inbound_nodes[${k}][${m}]`, true));
      pending.push({ layer, index: k, inputs: refs, call: storedCall(refs.map((r) => r.kwargs), `${named}.inbound_nodes[${k}]`), where: `${named}.inbound_nodes[${k}]` });
    });
  });
  const declared = (key: 'input_layers' | 'output_layers'): StoredReference[] => {
    const list = c[key];
    if (!Array.isArray(list) || list.length === 0) throw new ModelFormatError(`${where}.${key} must list [layerName, nodeIndex, tensorIndex], got ${describeValue(list)}`);
    return list.map((r, i) => {
      const ref = tensorRef(r, `${where}.${key}[${i}]`);
      if (!layers.has(ref.layer)) throw new ModelFormatError(`${where}.${key}[${i}] names '${ref.layer}', which is not among the layers`);
      return ref;
    });
  };
  const inputRefs = declared('input_layers');
  const outputRefs = declared('output_layers');
  // Apply each node once its inputs exist (and the layer's earlier nodes); Keras lists them in order, but need not.
  const tensors = new Map<string, SymbolicTensor>();
  const inputs = inputRefs.map((ref, i) => {
    const layer = layers.get(ref.layer)!.layer;
    if (!(layer instanceof InputLayer) || ref.node !== 0 || ref.tensor !== 0) throw new ModelFormatError(`${where}.input_layers[${i}] names '${ref.layer}', which is not an InputLayer's node 0`);
    const t = layer.symbolicOutput();
    tensors.set(refKey(ref), t);
    return t;
  });
  for (const { layer } of layers.values()) {
    if (layer instanceof InputLayer && !tensors.has(refKey({ layer: layer.name, node: 0, tensor: 0 }))) {
      throw new ModelFormatError(`${layers.get(layer.name)!.where}: an InputLayer that ${where}.input_layers does not list`);
    }
  }
  let todo = pending;
  // A node needs its inputs and the tensors its call arguments name.
  const needs = (n: (typeof pending)[number]) => [...n.inputs, ...(n.call?.references ?? [])];
  while (todo.length > 0) {
    // A reference to a tensor index the producer lacks never resolves: the error below names it.
    const ready = todo.filter((n) => n.layer.inboundNodes.length === n.index && needs(n).every((r) => tensors.has(refKey(r))));
    if (ready.length === 0) {
      const stuck = todo[0]!;
      const unknown = needs(stuck).find((r) => !layers.has(r.layer));
      throw new ModelFormatError(
        unknown !== undefined ? `${stuck.where}: its input '${unknown.layer}' is not among the layers` : `${stuck.where}: its inputs ${stuck.inputs.map(refKey).join(', ')} never all exist (a cycle, or a node or tensor index out of range)`,
      );
    }
    for (const n of ready) {
      try {
        const inputs = n.inputs.map((r) => tensors.get(refKey(r))!);
        const outputs = n.call ? [applyStoredCall(n.layer, inputs, n.call, (r) => tensors.get(refKey(r))!)] : n.layer.applyAll(inputs);
        outputs.forEach((t, tensor) => tensors.set(refKey({ layer: n.layer.name, node: n.index, tensor }), t));
      } catch (err) {
        throw new ModelFormatError(`${n.where}: ${(err as Error).message}`);
      }
    }
    todo = todo.filter((n) => !ready.includes(n));
  }
  const outputs = outputRefs.map((ref, i) => {
    const t = tensors.get(refKey(ref));
    if (!t) {
      const nodes = layers.get(ref.layer)!.layer.inboundNodes;
      const node = nodes[ref.node];
      throw new ModelFormatError(
        node ? `${where}.output_layers[${i}] names output ${ref.tensor} of node ${ref.node} of '${ref.layer}', which has ${node.outputs.length}` : `${where}.output_layers[${i}] names node ${ref.node} of '${ref.layer}', which has ${nodes.length}`,
      );
    }
    return t;
  });
  const graph = graphOrder(outputs);
  const reachable = new Set(graph.layers);
  for (const { layer, where: at } of layers.values()) {
    if (!reachable.has(layer)) throw new ModelFormatError(`${at}: not connected to the outputs ${outputRefs.map((r) => `'${r.layer}'`).join(', ')}`);
  }
  const name = c.name as string | undefined;
  return {
    weights: graph.layers.flatMap((l) => layerWeights(l, l.inboundNodes[0]!.inputs.map((t) => t.shape))),
    build: () => new Functional({ inputs, outputs: outputRefs.length === 1 ? outputs[0]! : outputs, name }),
  };
}

/** The plan for model.json's `modelTopology` (TF.js's, or Keras's wrapped in model_config). */
export function graphPlan(value: unknown): GraphPlan {
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
