/**
 * The fusion passes of a plan. Each decides from what layers and losses declare about themselves
 * (Layer.poolsInProducer, forwardPooled, masksReluInputGrad, skipsMaskedRelu, activation,
 * fusedActivations; LossOp.fuses), never from a layer's class:
 *
 *  - pool into producer: a layer whose output only a fusable 2×2 max pool reads may pool it itself;
 *  - ReLU mask into consumer: a fused ReLU's mask moves into the one layer reading its output, when
 *    that layer applies it for free (max pooling's backward);
 *  - affine into producer (inference): a per-channel affine map (BatchNormalization) that alone
 *    reads a linear producer's output folds into the producer's weights, and an activation alone
 *    after it into the producer's kernels (Layer.inferenceAffine, forwardAffine, onlyActivation);
 *  - activation split: an activation the layer's kernels do not apply runs as an op after it;
 *  - activation into loss: the model output's split activation folds into a loss that fuses it.
 */
import type { GraphNode, SymbolicTensor } from '../layers/layer.ts';
import type { ActivationName } from '../ops/activation.ts';
import type { LossOp } from '../ops/losses/loss.ts';

export type Readers = ReadonlyMap<SymbolicTensor, readonly GraphNode[]>;

/** Which nodes read each tensor. */
export function readersOf(nodes: readonly GraphNode[]): Map<SymbolicTensor, GraphNode[]> {
  const readers = new Map<SymbolicTensor, GraphNode[]>();
  for (const node of nodes) for (const t of node.inputs) readers.set(t, [...(readers.get(t) ?? []), node]);
  return readers;
}

/**
 * The max pool that alone reads node's output and that node's forward may apply itself
 * (Layer.forwardPooled, which may still decline), or undefined.
 */
export function poolIntoProducer(node: GraphNode, readers: Readers, outputs: readonly SymbolicTensor[], training: boolean): GraphNode | undefined {
  const next = readers.get(node.output);
  if (outputs.includes(node.output) || next?.length !== 1) return undefined;
  if (splitActivation(node) !== undefined) return undefined;
  // Training never stores the unpooled output: the producer's backward must not need it for a ReLU mask.
  if (training && node.layer.activation === 'relu' && !node.layer.skipsMaskedRelu) return undefined;
  const pool = next[0]!;
  return pool.layer.poolsInProducer(node.output.shape, training) ? pool : undefined;
}

/** Whether node's backward applies the mask of the fused ReLU of its (single) input's producer. */
export function masksProducerRelu(node: GraphNode, readers: Readers, outputs: readonly SymbolicTensor[]): boolean {
  const t = node.inputs[0];
  if (!t || node.inputs.length !== 1 || !node.layer.masksReluInputGrad || readers.get(t)?.length !== 1 || outputs.includes(t)) return false;
  const producer = t.producer.layer;
  return producer.activation === 'relu' && producer.skipsMaskedRelu;
}

/** The activation the plan runs as an op after node's layer (one its kernels do not apply), or undefined. */
export function splitActivation(node: GraphNode): ActivationName | undefined {
  const activation = node.layer.activation;
  return node.layer.fusedActivations.includes(activation) ? undefined : activation;
}

/**
 * Whether the loss of the model output node produces takes it before its split activation (the
 * loss applies it itself); never when a layer also reads that output, since it needs the activation.
 */
export function activationIntoLoss(node: GraphNode, outputs: readonly SymbolicTensor[], readers: Readers, loss: LossOp | undefined): boolean {
  const activation = splitActivation(node);
  return loss !== undefined && activation !== undefined && outputs.includes(node.output) && loss.fuses === activation && !readers.get(node.output)?.length;
}

/**
 * Inference: the affine layer (and the activation after it) that node's forward may fold into
 * itself, when node's linear output feeds nothing else; whether the layers agree is up to their
 * inferenceAffine and forwardAffine, which may still decline.
 */
export function affineIntoProducer(node: GraphNode, readers: Readers, outputs: readonly SymbolicTensor[]): { affine: GraphNode; activation?: GraphNode } | undefined {
  if (outputs.includes(node.output) || node.layer.activation !== 'linear' || splitActivation(node) !== undefined) return undefined;
  const next = readers.get(node.output);
  if (next?.length !== 1) return undefined;
  const affine = next[0]!;
  if (affine.inputs.length !== 1 || affine.layer.activation !== 'linear') return undefined;
  const after = readers.get(affine.output);
  if (!outputs.includes(affine.output) && after?.length === 1) {
    const activation = after[0]!;
    const kind = activation.layer.onlyActivation;
    if (kind !== undefined && kind !== 'linear' && activation.inputs.length === 1 && node.layer.fusedActivations.includes(kind)) return { affine, activation };
  }
  return { affine };
}
