/**
 * A plan is a model compiled for one batch size and one mode (train / evaluate / predict): every
 * buffer allocated, every bind group created, and the step's dispatches listed in order. Running a
 * step replays the list into one compute pass: nothing is created per step.
 *
 *   train:    gather → forward → loss (+ metrics, gradient of the output) → backward → optimizer
 *   evaluate: gather → forward → loss (metrics only)
 *   predict:  gather → forward → output
 *
 * Evaluate and predict run the weights' own transforms (`setup`) once per call, not per batch.
 * The plan knows no concrete layer: what it fuses across layers it learns from the passes in
 * fusions.ts, and a layer's work from its forward and backward.
 */
import { fill, sum } from '../../shaders/elementwise.ts';
import type { BackwardContext, ForwardContext, GraphNode, Layer, SymbolicTensor } from '../layers/layer.ts';
import { activationBackward, activationForward } from '../ops/activation.ts';
import type { AccuracyKind, LossOp } from '../ops/losses/loss.ts';
import { POOL_ARGMAX, poolArgmaxWords } from '../ops/pool.ts';
import type { Optimizer } from '../optimizers.ts';
import type { Dispatch, Engine, View } from '../runtime/engine.ts';
import { sizeOf, type Shape } from '../runtime/tensor.ts';
import { activationIntoLoss, masksProducerRelu, poolIntoProducer, readersOf, splitActivation } from './fusions.ts';
import { PlanMemory } from './plan-memory.ts';
export type PlanMode = 'train' | 'evaluate' | 'predict';

/** What a plan needs from its model: the graph, where each weight lives, and the shared buffers. */
export interface ModelBinding {
  engine: Engine;
  nodes: readonly GraphNode[];
  input: SymbolicTensor;
  output: SymbolicTensor;
  /** Views of a layer's weights (and of their gradients) in its weightSpecs order, trainable or not. */
  weightViews(layer: Layer): View[];
  gradViews(layer: Layer): View[];
  /** Whether the optimizer updates some weight of the layer (frozen layers and state need no gradient). */
  hasTrainableWeights(layer: Layer): boolean;
  stepInfo: View;
  metrics: View;
  /** The compiled loss and the accuracy it counts (null: none). */
  loss?: { op: LossOp; accuracy: AccuracyKind | null };
  /** `size`: the floats of the trainable prefix of the flat buffers. */
  optimizer?: { optimizer: Optimizer; size: number; params: View; grads: View; slots: View[]; hyper: View };
}

/** Words of a batch's labels in a loss's layout: one class index per position, or the output's values. */
export function labelWords(loss: LossOp, batch: number, outputShape: Shape): number {
  const width = sizeOf(outputShape);
  return loss.labels === 'sparse' ? (batch * width) / outputShape[outputShape.length - 1]! : batch * width;
}

export class Plan {
  /** The batch of inputs, [batch, ...inputShape] float32; the gather kernel fills it. */
  readonly x: View;
  /** Labels for the batch (train/evaluate), in the loss's layout (labelWords). */
  readonly labels: View | undefined;
  /** The model's output for predict; for train and evaluate, what the loss reads (before an activation it fuses). */
  readonly output: View;
  readonly dispatches: Dispatch[] = [];
  /**
   * Evaluate and predict: the dispatches that depend on the weights alone (Dispatch.weightsOnly),
   * run once before a call's first batch; the weights stay put until the call returns. Training
   * changes the weights every step, so there they stay in `dispatches`.
   */
  readonly setup: Dispatch[] = [];
  private readonly memory: PlanMemory;

  constructor(
    readonly model: ModelBinding,
    readonly batch: number,
    readonly mode: PlanMode,
  ) {
    const engine = model.engine;
    this.memory = new PlanMemory(engine);
    const training = mode === 'train';
    const outputs = [model.output];
    const loss = mode === 'predict' ? undefined : model.loss;
    if (mode !== 'predict' && !loss) throw new Error(`a ${mode} plan needs a compiled loss`);
    const sizeOfTensor = (t: SymbolicTensor) => batch * sizeOf(t.shape);
    /** Rows and width of a tensor for row-wise ops (softmax normalizes over the last axis). */
    const rowsOf = (t: SymbolicTensor) => ({ rows: sizeOfTensor(t) / t.shape[t.shape.length - 1]!, width: t.shape[t.shape.length - 1]! });
    this.x = this.memory.take(sizeOfTensor(model.input), 'batch-x');
    if (loss) this.labels = this.memory.take(labelWords(loss.op, batch, model.output.shape), 'batch-labels');

    // ---- forward ----
    const values = new Map<SymbolicTensor, View>([[model.input, this.x]]);
    /** Each layer's own output where the plan applies its activation after it (splitActivation). */
    const preActivation = new Map<GraphNode, View>();
    const intoLoss = (node: GraphNode) => loss !== undefined && activationIntoLoss(node, outputs, loss.op);
    const scratch = (bytes: number, label: string) => this.memory.take(Math.ceil(bytes / 4), label);
    const savedByNode = new Map<GraphNode, Map<string, View>>();
    const savedFor = (node: GraphNode) => {
      let saved = savedByNode.get(node);
      if (!saved) savedByNode.set(node, (saved = new Map()));
      return saved;
    };
    const contextFor = (node: GraphNode): Omit<ForwardContext, 'output'> => ({
      engine,
      batch,
      inputs: node.inputs.map((t) => values.get(t)!),
      inputShapes: node.inputs.map((t) => t.shape),
      outputShape: node.output.shape,
      weights: model.weightViews(node.layer),
      training,
      stepInfo: model.stepInfo,
      scratch,
      saved: savedFor(node),
    });
    const readers = readersOf(model.nodes);
    /** Pools whose producer applied them (forwardPooled). */
    const pooledByProducer = new Set<GraphNode>();
    for (const node of model.nodes) {
      const layer = node.layer;
      if (isSource(node) || pooledByProducer.has(node)) continue;
      const ctx = contextFor(node);
      let own: View;
      if (layer.aliasesInput(training)) {
        own = ctx.inputs[0]!;
      } else {
        const pool = poolIntoProducer(node, readers, outputs, training);
        if (pool) {
          const pooled = this.memory.take(sizeOfTensor(pool.output), `${layer.name}+${pool.layer.name}`);
          // Training: the first-max positions, for the pool's backward.
          const argmax = training ? this.memory.take(poolArgmaxWords(batch, pool.output.shape), `${pool.layer.name} argmax`) : undefined;
          const dispatches = layer.forwardPooled({ ...ctx, output: pooled, outputShape: pool.output.shape }, argmax);
          if (dispatches) {
            // The unpooled output is never stored: the producer's backward gets no output view.
            this.dispatches.push(...dispatches);
            values.set(pool.output, pooled);
            if (argmax) savedFor(pool).set(POOL_ARGMAX, argmax);
            pooledByProducer.add(pool);
            continue;
          }
          this.memory.recycle(pooled);
          if (argmax) this.memory.recycle(argmax);
        }
        own = this.memory.take(sizeOfTensor(node.output), layer.name);
        this.dispatches.push(...layer.forward({ ...ctx, output: own }));
      }
      const activation = splitActivation(node);
      if (activation === undefined || intoLoss(node)) {
        values.set(node.output, own);
        if (activation !== undefined) preActivation.set(node, own);
        continue;
      }
      const out = this.memory.take(sizeOfTensor(node.output), `${layer.name}/${activation}`);
      this.dispatches.push(...activationForward(engine, activation, { x: own, y: out }, rowsOf(node.output)));
      preActivation.set(node, own);
      values.set(node.output, out);
    }
    this.output = values.get(model.output)!;
    if (!training) {
      this.setup.push(...this.dispatches.filter((d) => d.weightsOnly));
      this.dispatches.splice(0, this.dispatches.length, ...this.dispatches.filter((d) => !d.weightsOnly));
    }
    if (!loss) return;

    // ---- loss ----
    const dOutput = training ? this.memory.take(sizeOfTensor(model.output), 'grad-output') : null;
    this.dispatches.push(
      ...loss.op.dispatches(
        engine,
        { batch, outputShape: model.output.shape },
        { output: this.output, labels: this.labels!, grad: dOutput, metrics: model.metrics, stepInfo: model.stepInfo },
        { fused: intoLoss(model.output.producer), accuracy: loss.accuracy },
      ),
    );
    if (!training) return;

    // ---- backward ----
    const needsGrad = gradientNeeds(model.nodes, model.hasTrainableWeights);
    /** Gradient contributions per tensor, one per consumer; summed when a tensor fans out. */
    const contributions = new Map<SymbolicTensor, View[]>([[model.output, [dOutput!]]]);
    /** Views this plan allocated for gradients (aliases excluded), free for reuse after their last read. */
    const recyclable = new Set<View>([dOutput!]);
    const release = (view: View) => {
      if (recyclable.delete(view)) this.memory.recycle(view);
    };
    const gradientOf = (t: SymbolicTensor): View | undefined => {
      const parts = contributions.get(t);
      if (!parts || parts.length === 0) return undefined;
      if (parts.length === 1) return parts[0];
      const total = this.memory.take(sizeOfTensor(t), 'grad-sum');
      this.dispatches.push(engine.kernel(sum(sizeOfTensor(t), parts.length), [...parts, total]));
      for (const p of parts) release(p);
      recyclable.add(total);
      return total;
    };
    const maskedOutputs = new Set<SymbolicTensor>();
    for (const node of [...model.nodes].reverse()) {
      const layer = node.layer;
      if (isSource(node)) continue;
      let dy = gradientOf(node.output);
      if (!dy) {
        // Not on the path to the loss: its weights get no gradient, so zero them for the optimizer.
        if (model.hasTrainableWeights(layer)) for (const g of model.gradViews(layer)) this.dispatches.push(engine.kernel(fill(g.size / 4, 0), [g]));
        continue;
      }
      const ctx = contextFor(node);
      const own = preActivation.get(node) ?? values.get(node.output)!;
      const activation = splitActivation(node);
      if (activation !== undefined && !intoLoss(node)) {
        const dOwn = this.memory.take(sizeOfTensor(node.output), 'grad');
        this.dispatches.push(...activationBackward(engine, activation, { x: own, y: values.get(node.output)!, dy, dx: dOwn }, rowsOf(node.output)));
        release(dy);
        recyclable.add(dOwn);
        dy = dOwn;
      }
      if (layer.aliasesInput(true)) {
        // Same bytes, other shape: the input's gradient is this gradient.
        const t = node.inputs[0]!;
        if (needsGrad(t)) push(contributions, t, dy);
        continue;
      }
      const inputGrads = node.inputs.map((t) => (needsGrad(t) ? this.memory.take(sizeOfTensor(t), 'grad') : null));
      const reluMaskInputGrad = inputGrads[0] != null && masksProducerRelu(node, readers, outputs);
      if (reluMaskInputGrad) maskedOutputs.add(node.inputs[0]!);
      const backwardCtx: BackwardContext = {
        ...ctx,
        output: own,
        outputGrad: dy,
        inputGrads,
        weightGrads: model.gradViews(layer),
        reluMaskInputGrad,
        outputGradMasked: maskedOutputs.has(node.output),
        forwardPooled: readers.get(node.output)?.some((reader) => pooledByProducer.has(reader)),
      };
      this.dispatches.push(...layer.backward(backwardCtx));
      node.inputs.forEach((t, i) => {
        const g = inputGrads[i];
        if (g) {
          push(contributions, t, g);
          recyclable.add(g);
        }
      });
      release(dy);
    }

    // ---- optimizer: one dispatch over every trainable parameter (a prefix of the flat buffers) ----
    const opt = model.optimizer!;
    if (opt.size > 0) this.dispatches.push(opt.optimizer.update(engine, opt.size, { params: opt.params, grads: opt.grads, slots: opt.slots, hyper: opt.hyper }));
  }

  dispose(): void {
    this.memory.dispose();
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** A model input: the node that produces a tensor from nothing. */
function isSource(node: GraphNode): boolean {
  return node.inputs.length === 0;
}

/** A tensor needs a gradient when some trainable weight lies upstream of it. */
function gradientNeeds(nodes: readonly GraphNode[], hasTrainableWeights: (layer: Layer) => boolean): (t: SymbolicTensor) => boolean {
  const memo = new Map<SymbolicTensor, boolean>();
  for (const node of nodes) {
    const upstream = !isSource(node) && (hasTrainableWeights(node.layer) || node.inputs.some((t) => memo.get(t)));
    memo.set(node.output, upstream);
  }
  return (t) => memo.get(t) ?? false;
}
