/**
 * A plan is a model compiled for one batch size and one mode (train / evaluate / predict): every
 * buffer allocated, every bind group created, and the step's dispatches listed in order. Running a
 * step replays the list into one compute pass: nothing is created per step.
 *
 *   train:    gather → forward → softmax-crossentropy (+ metrics) → backward → optimizer
 *   evaluate: gather → forward → crossentropy metrics
 *   predict:  gather → forward (with the final softmax) → probabilities
 *
 * Evaluate and predict run the weights' own transforms (`setup`) once per call, not per batch.
 *
 * Fusions across layers: a layer whose output only a 2×2 max pool reads may pool it itself
 * (Layer.forwardPooled; in training it saves each window's first-max position for the pool's
 * backward), and a fused ReLU's mask moves into the max pool's backward.
 */
import { fill, sum } from '../../shaders/elementwise.ts';
import { Activation } from '../layers/activation.ts';
import { POOL_ARGMAX, poolArgmaxWords } from '../ops/pool.ts';
import type { BackwardContext, ForwardContext, GraphNode, Layer, SymbolicTensor } from '../layers/layer.ts';
import { lossDispatches, type LossName } from '../losses.ts';
import type { Optimizer } from '../optimizers.ts';
import type { Dispatch, Engine } from '../runtime/engine.ts';
import { sizeOf } from '../runtime/tensor.ts';

export type View = { buffer: GPUBuffer; offset: number; size: number };
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
  loss?: LossName;
  /** `size`: the floats of the trainable prefix of the flat buffers. */
  optimizer?: { optimizer: Optimizer; size: number; params: View; grads: View; slots: View[]; hyper: View };
}

/** Buffers for one plan; gradient buffers are recycled once their last reader has been recorded. */
class PlanMemory {
  private readonly owned: GPUBuffer[] = [];
  private readonly free = new Map<number, View[]>();
  constructor(private readonly engine: Engine) {}

  take(floats: number, label: string): View {
    const size = Math.max(4, floats * 4);
    const recycled = this.free.get(size)?.pop();
    if (recycled) return recycled;
    const buffer = this.engine.buffer(size, label);
    this.owned.push(buffer);
    return { buffer, offset: 0, size };
  }

  recycle(view: View): void {
    let list = this.free.get(view.size);
    if (!list) this.free.set(view.size, (list = []));
    list.push(view);
  }

  dispose(): void {
    for (const b of this.owned) this.engine.release(b);
    this.owned.length = 0;
    this.free.clear();
  }
}

export class Plan {
  /** The batch of inputs, [batch, ...inputShape] float32; the gather kernel fills it. */
  readonly x: View;
  /** Labels for the batch (train/evaluate): u32 [batch] or f32 [batch, classes]. */
  readonly labels: View | undefined;
  /** Model output: probabilities for predict, logits otherwise. */
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
    const sizeOfTensor = (t: SymbolicTensor) => batch * sizeOf(t.shape);
    this.x = this.memory.take(sizeOfTensor(model.input), 'batch-x');
    const classes = sizeOf(model.output.shape);
    if (mode !== 'predict') {
      const sparse = model.loss === 'sparseCategoricalCrossentropy';
      this.labels = this.memory.take(sparse ? batch : batch * classes, 'batch-labels');
    }

    // ---- forward ----
    const values = new Map<SymbolicTensor, View>([[model.input, this.x]]);
    /** Pre-softmax outputs of layers whose softmax the plan split out, and the softmax it added. */
    const softmaxes = new Map<GraphNode, { logits: View; softmax: Activation | null }>();
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
    const readers = new Map<SymbolicTensor, GraphNode[]>();
    for (const node of model.nodes) for (const t of node.inputs) readers.set(t, [...(readers.get(t) ?? []), node]);
    /** The 2×2 max pool that alone reads node's output, which node's forward may apply itself (Layer.forwardPooled). */
    const poolAfter = (node: GraphNode): GraphNode | undefined => {
      const next = readers.get(node.output);
      if (node.output === model.output || next?.length !== 1) return undefined;
      // Training never stores the unpooled output: the producer's backward must not need it for a ReLU mask.
      if (training && node.layer.activation === 'relu' && !node.layer.skipsMaskedRelu) return undefined;
      const pool = next[0]!;
      return pool.layer.poolsInProducer(node.output.shape, training) ? pool : undefined;
    };
    /** Pools whose producer applied them (forwardPooled). */
    const pooledByProducer = new Set<GraphNode>();
    for (const node of model.nodes) {
      const layer = node.layer;
      if (isSource(node) || pooledByProducer.has(node)) continue;
      const ctx = contextFor(node);
      if (layer.aliasesInput(training)) {
        values.set(node.output, ctx.inputs[0]!);
        continue;
      }
      const pool = poolAfter(node);
      if (pool) {
        const pooled = this.memory.take(sizeOfTensor(pool.output), `${layer.name}+${pool.layer.name}`);
        // Training: the first-max positions, for the pool's backward.
        const argmax = training ? this.memory.take(poolArgmaxWords(batch, pool.output.shape), `${pool.layer.name} argmax`) : undefined;
        const dispatches = layer.forwardPooled({ ...ctx, output: pooled, outputShape: pool.output.shape }, argmax);
        if (dispatches) {
          this.dispatches.push(...dispatches);
          values.set(pool.output, pooled);
          if (argmax) savedFor(pool).set(POOL_ARGMAX, argmax);
          pooledByProducer.add(pool);
          continue;
        }
        this.memory.recycle(pooled);
        if (argmax) this.memory.recycle(argmax);
      }
      const out = this.memory.take(sizeOfTensor(node.output), layer.name);
      this.dispatches.push(...layer.forward({ ...ctx, output: out }));
      if (layer.activation !== 'softmax') {
        values.set(node.output, out);
        continue;
      }
      // The loss fuses the model's final softmax; anywhere else it runs as its own op.
      const fusedIntoLoss = node.output === model.output && mode !== 'predict';
      if (fusedIntoLoss) {
        softmaxes.set(node, { logits: out, softmax: null });
        values.set(node.output, out);
      } else {
        const softmax = new Activation({ activation: 'softmax', name: `${layer.name}/softmax` });
        const probs = this.memory.take(sizeOfTensor(node.output), `${layer.name}/softmax`);
        this.dispatches.push(...softmax.forward({ ...ctx, inputs: [out], inputShapes: [node.output.shape], weights: [], output: probs }));
        softmaxes.set(node, { logits: out, softmax });
        values.set(node.output, probs);
      }
    }
    this.output = values.get(model.output)!;
    if (!training) {
      this.setup.push(...this.dispatches.filter((d) => d.weightsOnly));
      this.dispatches.splice(0, this.dispatches.length, ...this.dispatches.filter((d) => !d.weightsOnly));
    }
    if (mode === 'predict') return;

    // ---- loss ----
    const loss = model.loss!;
    const dlogits = training ? this.memory.take(batch * classes, 'dlogits') : null;
    this.dispatches.push(...lossDispatches(engine, { batch, classes, loss, withGradient: training }, { logits: this.output, labels: this.labels!, dlogits, metrics: model.metrics, stepInfo: model.stepInfo }));
    if (!training) return;

    // ---- backward ----
    const needsGrad = gradientNeeds(model.nodes, model.hasTrainableWeights);
    /** Gradient contributions per tensor, one per consumer; summed when a tensor fans out. */
    const contributions = new Map<SymbolicTensor, View[]>([[model.output, [dlogits!]]]);
    /** Views this plan allocated for gradients (aliases excluded), free for reuse after their last read. */
    const recyclable = new Set<View>([dlogits!]);
    const gradientOf = (t: SymbolicTensor): View | undefined => {
      const parts = contributions.get(t);
      if (!parts || parts.length === 0) return undefined;
      if (parts.length === 1) return parts[0];
      const total = this.memory.take(sizeOfTensor(t), 'grad-sum');
      this.dispatches.push(engine.kernel(sum(sizeOfTensor(t), parts.length), [...parts, total]));
      for (const p of parts) if (recyclable.delete(p)) this.memory.recycle(p);
      recyclable.add(total);
      return total;
    };
    // A fused ReLU's mask moves into the one layer reading its output when that layer can apply it for free (max pooling).
    const masksReluOf = (node: GraphNode): boolean => {
      const t = node.inputs[0];
      if (!t || node.inputs.length !== 1 || !node.layer.masksReluInputGrad || readers.get(t)?.length !== 1 || t === model.output) return false;
      const producer = t.producer.layer;
      return producer.activation === 'relu' && producer.skipsMaskedRelu;
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
      const split = softmaxes.get(node);
      if (split?.softmax) {
        const dlogitsOfLayer = this.memory.take(sizeOfTensor(node.output), 'grad');
        this.dispatches.push(
          ...split.softmax.backward({ ...ctx, inputs: [split.logits], inputShapes: [node.output.shape], weights: [], output: values.get(node.output)!, outputGrad: dy, inputGrads: [dlogitsOfLayer], weightGrads: [] }),
        );
        if (recyclable.delete(dy)) this.memory.recycle(dy);
        recyclable.add(dlogitsOfLayer);
        dy = dlogitsOfLayer;
      }
      const output = split ? split.logits : values.get(node.output)!;
      if (layer.aliasesInput(true)) {
        // Same bytes, other shape: the input's gradient is this gradient.
        const t = node.inputs[0]!;
        if (needsGrad(t)) push(contributions, t, dy);
        continue;
      }
      const inputGrads = node.inputs.map((t) => (needsGrad(t) ? this.memory.take(sizeOfTensor(t), 'grad') : null));
      const reluMaskInputGrad = inputGrads[0] != null && masksReluOf(node);
      if (reluMaskInputGrad) maskedOutputs.add(node.inputs[0]!);
      const backwardCtx: BackwardContext = {
        ...ctx,
        output,
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
      if (recyclable.delete(dy)) this.memory.recycle(dy);
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
