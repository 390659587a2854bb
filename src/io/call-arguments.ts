/**
 * Call arguments in model.json's inbound nodes. Keras (2, the form TF.js reads) writes the
 * arguments of a layer's call beyond its first one as a dict, the 4th entry of each of the node's
 * tensor references, a tensor among them as [layer name, node index, tensor index]:
 *
 *   "inbound_nodes": [[["query", 0, 0, {"value": ["context", 0, 0], "use_causal_mask": true}]]]
 *
 * Layers whose call takes such arguments (MultiHeadAttention) implement KerasCallLayer; every
 * other layer's references carry `{}`, and a node of theirs with arguments is an error on load.
 */
import { describeValue } from '../layers/keras-json.ts';
import { isSymbolicTensor, type GraphNode, type Layer, type SymbolicTensor } from '../layers/layer.ts';
import { ModelFormatError } from './artifacts.ts';

/** A call argument: a tensor, or a JSON value. */
export type CallArgument = SymbolicTensor | boolean | number | string | null;

/** A Keras call: the first argument's tensors and the other arguments by name. */
export interface KerasCall {
  inputs: SymbolicTensor[];
  kwargs: Record<string, CallArgument>;
}

/** A layer whose Keras call takes arguments beyond its first (MultiHeadAttention's value, key, attention_mask, use_causal_mask). */
export interface KerasCallLayer {
  /** How Keras calls this layer to make `node`. */
  kerasCall(node: GraphNode): KerasCall;
  /** Connects the layer as that call would (tensors resolved); throws naming an argument it cannot take. */
  applyKerasCall(call: KerasCall): SymbolicTensor;
}

/** Whether a layer's nodes are written and read with Keras's call arguments. */
export function isKerasCallLayer(layer: Layer): layer is Layer & KerasCallLayer {
  const l = layer as Partial<KerasCallLayer>;
  return typeof l.kerasCall === 'function' && typeof l.applyKerasCall === 'function';
}

/** A reference to a tensor: [layer name, node index, tensor index]. */
export type TensorReference = [string, number, number];

/** Node `node`'s entry in `layer`'s inbound_nodes, `ref` writing a tensor's reference. */
export function inboundNodeEntry(layer: Layer, node: GraphNode, ref: (t: SymbolicTensor) => TensorReference): unknown[] {
  if (!isKerasCallLayer(layer)) return node.inputs.map((t) => [...ref(t), {}]);
  const call = layer.kerasCall(node);
  const kwargs = Object.fromEntries(Object.entries(call.kwargs).map(([k, v]) => [k, isSymbolicTensor(v) ? ref(v) : v]));
  return call.inputs.map((t) => [...ref(t), kwargs]);
}

/** Whether a call argument read from model.json is a tensor reference ([name, node index, tensor index]). */
export function isTensorReference(value: unknown): value is TensorReference {
  return Array.isArray(value) && (value.length === 3 || value.length === 4) && typeof value[0] === 'string' && Number.isInteger(value[1]) && value[1] >= 0 && Number.isInteger(value[2]) && value[2] >= 0;
}

/** A tensor named in model.json: the output `tensor` of node `node` of a layer. */
export interface StoredReference {
  layer: string;
  node: number;
  tensor: number;
}

/** A node's call arguments as model.json holds them, and the tensors they reference. */
export interface StoredCall {
  kwargs: Record<string, unknown>;
  references: StoredReference[];
}

/**
 * The call arguments of a node from the 4th entries of its references (Keras repeats one dict on
 * each; a reference without one adds nothing), or undefined when there are none.
 */
export function storedCall(entries: readonly (Record<string, unknown> | undefined)[], where: string): StoredCall | undefined {
  const given = entries.filter((e): e is Record<string, unknown> => e !== undefined && Object.keys(e).length > 0);
  if (given.length === 0) return undefined;
  const first = given[0]!;
  if (given.some((e) => JSON.stringify(e) !== JSON.stringify(first))) throw new ModelFormatError(`${where}: its references carry different call arguments ${given.map((e) => describeValue(e)).join(' and ')}`);
  const references = Object.values(first)
    .filter(isTensorReference)
    .map((r) => ({ layer: r[0], node: r[1], tensor: r[2] }));
  return { kwargs: first, references };
}

/** Applies `layer` with stored call arguments, `resolve` giving the tensor a reference names. */
export function applyStoredCall(layer: Layer, inputs: SymbolicTensor[], call: StoredCall, resolve: (r: StoredReference) => SymbolicTensor): SymbolicTensor {
  if (!isKerasCallLayer(layer)) throw new Error(`call arguments ${describeValue(call.kwargs)} are not supported by ${layer.className} layers`);
  const kwargs: Record<string, CallArgument> = {};
  for (const [key, value] of Object.entries(call.kwargs)) {
    if (isTensorReference(value)) kwargs[key] = resolve({ layer: value[0], node: value[1], tensor: value[2] });
    else if (value === null || ['boolean', 'number', 'string'].includes(typeof value)) kwargs[key] = value as CallArgument;
    else throw new Error(`call argument '${key}' must be a tensor reference [layerName, nodeIndex, tensorIndex] or a plain value, got ${describeValue(value)}`);
  }
  return layer.applyKerasCall({ inputs, kwargs });
}
