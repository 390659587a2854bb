/**
 * A plan is a model compiled for one batch size and one mode (train / evaluate / predict): every
 * buffer allocated, every bind group created, and the step's dispatches listed in order. Running a
 * step replays the list into one compute pass: nothing is created per step.
 *
 *   train:    gather → forward → a loss per output (+ metrics, gradient of the output) → backward → optimizer
 *   evaluate: gather → forward → a loss per output (metrics only)
 *   predict:  gather → forward → outputs
 *
 * A model may have several inputs and outputs, and a layer may be applied at several nodes (its
 * weights shared): the first node's backward writes the weights' gradients, the others' add to them.
 *
 * Keras masks (Layer.computeMask, SymbolicTensor.mask) get a buffer per producing node, written
 * by its layer's maskForward before its forward; a node whose input carries one reads it
 * (ForwardContext.mask), and a loss whose output carries one leaves the masked positions out.
 *
 * Evaluate and predict run the weights' own transforms (`setup`) once per call, not per batch.
 * The plan knows no concrete layer: what it fuses across layers it learns from the passes in
 * fusions.ts, and a layer's work from its forward and backward.
 */
import { flatDispatch, zeros } from '../ops/elementwise.ts';
import type { BackwardContext, ForwardContext, GraphNode, Layer, SymbolicTensor, TensorMask, WeightSpec } from '../layers/layer.ts';
import { activationBackward, activationForward } from '../ops/activation.ts';
import type { AccuracyKind, LabelLayout, LossGeometry, LossOp } from '../ops/losses/loss.ts';
import { POOL_ARGMAX, poolArgmaxWords } from '../ops/pool.ts';
import { activityPenalty, constraintProjection, penaltyGroups, penaltyIntoLoss, weightPenalty } from '../ops/regularizers.ts';
import type { Optimizer } from '../optimizers.ts';
import type { Dispatch, Engine, View } from '../runtime/engine.ts';
import { sizeOf, type Shape } from '../runtime/tensor.ts';
import { activationIntoLoss, affineIntoProducer, masksProducerRelu, poolIntoProducer, readersOf, splitActivation } from './fusions.ts';
import { PlanMemory } from './plan-memory.ts';
export type PlanMode = 'train' | 'evaluate' | 'predict';

/** A metric counted beside an output's loss (src/ops/metrics): it reads what the loss reads. */
export interface PlanMetric {
  /** Its name, for errors. */
  readonly name?: string;
  dispatches(
    engine: Engine,
    g: LossGeometry,
    views: { output: View; labels: View; accumulator: View; stepInfo: View },
    options: { fused?: 'softmax' | 'sigmoid'; labels: LabelLayout },
  ): Dispatch[];
}

/** What an output contributes to the training objective and the logs. */
export interface OutputLoss {
  op: LossOp;
  /** The accuracy the loss kernel counts (null: none). */
  accuracy: AccuracyKind | null;
  /** Its factor in the total loss (Keras's lossWeights); the output's gradient is scaled by it. */
  weight: number;
  /** The loss's accumulator (METRICS_BYTES). */
  accumulator: View;
  metrics: readonly { op: PlanMetric; accumulator: View }[];
  /** f32 [batch]: each row's loss weight (classWeight, sampleWeight), filled beside the labels; absent: unweighted. */
  sampleWeights?: View;
}

/** What a plan needs from its model: the graph, where each weight lives, and the shared buffers. */
export interface ModelBinding {
  engine: Engine;
  nodes: readonly GraphNode[];
  inputs: readonly SymbolicTensor[];
  outputs: readonly SymbolicTensor[];
  /** Views of a layer's weights (and of their gradients) in its weightSpecs order, trainable or not. */
  weightViews(layer: Layer): View[];
  gradViews(layer: Layer): View[];
  /** Whether the optimizer updates some weight of the layer (frozen layers and state need no gradient). */
  hasTrainableWeights(layer: Layer): boolean;
  stepInfo: View;
  /** One per output, in the outputs' order, when compiled. */
  losses?: readonly OutputLoss[];
  /** `size`: the floats of the trainable prefix of the flat buffers. */
  optimizer?: {
    optimizer: Optimizer;
    size: number;
    params: View;
    grads: View;
    slots: View[];
    hyper: View;
    /** Each trainable weight's range in the flat buffers, in floats (per-weight clipping, constraints). */
    segments: readonly { offset: number; size: number }[];
  };
}

/** Words of a batch's labels in a loss's layout: one class index per position, or the output's values. */
export function labelWords(loss: LossOp, batch: number, outputShape: Shape): number {
  const width = sizeOf(outputShape);
  return loss.labels === 'sparse' ? (batch * width) / outputShape[outputShape.length - 1]! : batch * width;
}

export class Plan {
  /** The batch of each input, [batch, ...inputShape] float32; the gather kernels fill them. */
  readonly xs: View[];
  /** Labels for the batch per output (train/evaluate), in its loss's layout (labelWords). */
  readonly labels: View[] = [];
  /** The model's outputs for predict; for train and evaluate, what each loss reads (before an activation it fuses). */
  readonly outputs: View[];
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
    const training = mode === 'train';
    const outputs = model.outputs;
    const losses = mode === 'predict' ? undefined : model.losses;
    if (mode !== 'predict' && !losses) throw new Error(`a ${mode} plan needs a compiled loss`);
    losses?.forEach((l, i) => checkMaskedMetrics(outputs[i]!, l));
    this.memory = new PlanMemory(engine);
    const sizeOfTensor = (t: SymbolicTensor) => batch * sizeOf(t.shape);
    /** Rows and width of a tensor for row-wise ops (softmax normalizes over the last axis). */
    const rowsOf = (t: SymbolicTensor) => ({ rows: sizeOfTensor(t) / t.shape[t.shape.length - 1]!, width: t.shape[t.shape.length - 1]! });
    this.xs = model.inputs.map((t, i) => this.memory.take(sizeOfTensor(t), `batch-x${i}`));
    if (losses) losses.forEach((l, i) => this.labels.push(this.memory.take(labelWords(l.op, batch, outputs[i]!.shape), `batch-labels${i}`)));
    const readers = readersOf(model.nodes);
    /** A layer's passes run in its scope, so that the variant choices they make name it (Engine.withScope). */
    const scoped = <T>(node: GraphNode, build: () => T): T => engine.withScope(node.layer.name, build);

    // ---- forward ----
    const values = new Map<SymbolicTensor, View>(model.inputs.map((t, i) => [t, this.xs[i]!]));
    /** Each layer's own output where the plan applies its activation after it (splitActivation). */
    const preActivation = new Map<GraphNode, View>();
    const lossOf = (node: GraphNode) => losses?.[outputs.indexOf(node.output)]?.op;
    // An activity regularizer reads the layer's output after its activation: in training that output is stored.
    const intoLoss = (node: GraphNode) => !(training && activityOf(node.layer)) && activationIntoLoss(node, outputs, readers, lossOf(node));
    const scratch = (bytes: number, label: string) => this.memory.take(Math.ceil(bytes / 4), label);
    /** Each mask's buffer (f32 [batch, ...mask.shape]), written by its node's maskForward. */
    const masks = new Map<TensorMask, View>();
    const maskOf = (node: GraphNode) => {
      const mask = node.inputs.find((t) => t.mask)?.mask;
      return mask ? { mask: masks.get(mask)! } : {};
    };
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
      outputShapes: node.outputs.map((t) => t.shape),
      weights: model.weightViews(node.layer),
      training,
      stepInfo: model.stepInfo,
      scratch,
      saved: savedFor(node),
      ...maskOf(node),
    });
    /** Pools whose producer applied them (forwardPooled). */
    const pooledByProducer = new Set<GraphNode>();
    /** Affine layers and activations their producer folded into itself (inference). */
    const foldedIntoProducer = new Set<GraphNode>();
    for (const node of model.nodes) {
      const layer = node.layer;
      if (isSource(node) || pooledByProducer.has(node) || foldedIntoProducer.has(node)) continue;
      const ctx = contextFor(node);
      const made = node.output.mask;
      if (made?.node === node) {
        const view = this.memory.take(batch * sizeOf(made.shape), `${layer.name} mask`);
        masks.set(made, view);
        this.dispatches.push(...scoped(node, () => layer.maskForward(ctx, view)));
      }
      if (node.outputs.length > 1) {
        // Several outputs (a recurrent layer's final states): no fusion pass applies to them.
        if (splitActivation(node) !== undefined) throw new Error(`layer ${layer.name} (${layer.className}) has ${node.outputs.length} outputs and an activation its kernels do not apply`);
        const views = node.outputs.map((t, i) => this.memory.take(sizeOfTensor(t), `${layer.name} output ${i}`));
        this.dispatches.push(...scoped(node, () => layer.forward({ ...ctx, output: views[0]!, outputs: views })));
        node.outputs.forEach((t, i) => values.set(t, views[i]!));
        continue;
      }
      const fold = training ? undefined : affineIntoProducer(node, readers, outputs);
      if (fold) {
        const channels = node.output.shape[node.output.shape.length - 1]!;
        const affine = { scale: this.memory.take(channels, `${fold.affine.layer.name} scale`), shift: this.memory.take(channels, `${fold.affine.layer.name} shift`) };
        const last = fold.activation ?? fold.affine;
        const out = this.memory.take(sizeOfTensor(last.output), `${layer.name}+${fold.affine.layer.name}`);
        const affineDispatches = scoped(fold.affine, () => fold.affine.layer.inferenceAffine({ ...contextFor(fold.affine), output: out }, affine));
        const forward = affineDispatches && scoped(node, () => layer.forwardAffine({ ...ctx, output: out }, affine, fold.activation?.layer.onlyActivation ?? 'linear'));
        if (affineDispatches && forward) {
          // The producer's own output is never stored: the affine layer's (and activation's) is.
          this.dispatches.push(...affineDispatches, ...forward);
          for (const folded of [fold.affine, fold.activation]) {
            if (!folded) continue;
            values.set(folded.output, out);
            foldedIntoProducer.add(folded);
          }
          continue;
        }
        for (const view of [out, affine.scale, affine.shift]) this.memory.recycle(view);
      }
      let own: View;
      if (layer.aliasesInput(training)) {
        own = ctx.inputs[0]!;
      } else {
        // An activity regularizer reads the unpooled output, which a pooled forward never stores.
        const pool = training && activityOf(layer) ? undefined : poolIntoProducer(node, readers, outputs, training);
        if (pool) {
          const pooled = this.memory.take(sizeOfTensor(pool.output), `${layer.name}+${pool.layer.name}`);
          // Training: the first-max positions, for the pool's backward.
          const argmax = training ? this.memory.take(poolArgmaxWords(batch, pool.output.shape), `${pool.layer.name} argmax`) : undefined;
          const dispatches = scoped(node, () => layer.forwardPooled({ ...ctx, output: pooled, outputShape: pool.output.shape }, argmax));
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
        this.dispatches.push(...scoped(node, () => layer.forward({ ...ctx, output: own, outputs: [own] })));
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
    this.outputs = outputs.map((t) => values.get(t)!);
    if (!training) {
      this.setup.push(...this.dispatches.filter((d) => d.weightsOnly));
      this.dispatches.splice(0, this.dispatches.length, ...this.dispatches.filter((d) => !d.weightsOnly));
    }
    if (!losses) return;

    // ---- losses ----
    /** Gradient contributions per tensor, one per consumer; summed when a tensor fans out. */
    const contributions = new Map<SymbolicTensor, View[]>();
    /** Views this plan allocated for gradients (aliases excluded), free for reuse after their last read. */
    const recyclable = new Set<View>();
    losses.forEach((l, i) => {
      const t = outputs[i]!;
      // Keras: an output's mask weights its per-position losses, and the mean is over the kept ones.
      const mask = t.mask ? { mask: masks.get(t.mask)! } : {};
      const g = { batch, outputShape: t.shape, ...(t.mask ? { maskShape: t.mask.shape } : {}) };
      const fused = intoLoss(t.producer);
      const grad = training ? this.memory.take(sizeOfTensor(t), `grad-output${i}`) : null;
      const views = { output: this.outputs[i]!, labels: this.labels[i]!, stepInfo: model.stepInfo };
      const sampleWeights = l.sampleWeights ? { sampleWeights: l.sampleWeights } : {};
      this.dispatches.push(...scoped(t.producer, () => l.op.dispatches(engine, g, { ...views, grad, metrics: l.accumulator, scratch, ...sampleWeights, ...mask }, { fused, accuracy: l.accuracy })));
      for (const m of l.metrics) {
        this.dispatches.push(...m.op.dispatches(engine, g, { ...views, accumulator: m.accumulator }, { fused: fused ? l.op.fuses : undefined, labels: l.op.labels }));
      }
      if (!grad) return;
      let dy = grad;
      if (l.weight !== 1) {
        // The objective is Σ weight · loss: each output's gradient carries its weight.
        dy = this.memory.take(sizeOfTensor(t), `grad-output${i} × weight`);
        this.dispatches.push(scoped(t.producer, () => flatDispatch(engine, { op: { kind: 'scale', factor: l.weight }, n: sizeOfTensor(t) }, [grad, dy])));
        this.memory.recycle(grad);
      }
      push(contributions, t, dy);
      recyclable.add(dy);
    });
    if (!training) return;

    // ---- regularization (1 of 3): each penalty's partial sums, in one buffer (src/ops/regularizers.ts) ----
    const penalties = penaltyLayout(model, batch);
    const partials = penalties.count > 0 ? this.memory.take(penalties.count, 'penalty partials') : undefined;

    // ---- backward ----
    const needsGrad = gradientNeeds(model.nodes, model.hasTrainableWeights);
    const release = (view: View) => {
      if (recyclable.delete(view)) this.memory.recycle(view);
    };
    const gradientOf = (t: SymbolicTensor): View | undefined => {
      const parts = contributions.get(t);
      if (!parts || parts.length === 0) return undefined;
      if (parts.length === 1) return parts[0];
      const total = this.memory.take(sizeOfTensor(t), 'grad-sum');
      this.dispatches.push(scoped(t.producer, () => flatDispatch(engine, { op: { kind: 'sum', inputs: parts.length }, n: sizeOfTensor(t) }, [...parts, total])));
      for (const p of parts) release(p);
      recyclable.add(total);
      return total;
    };
    const maskedOutputs = new Set<SymbolicTensor>();
    /** Layers whose weight gradients a node's backward wrote already: a shared layer's other nodes add to them. */
    const gradsWritten = new Set<Layer>();
    for (const node of [...model.nodes].reverse()) {
      const layer = node.layer;
      if (isSource(node)) continue;
      let dy = gradientOf(node.output);
      const activity = penalties.activities.get(node);
      if (activity) {
        // Before the layer's backward reads it: the output's gradient gets the penalty's.
        const views = { output: values.get(node.output)!, grad: dy ?? null, stepInfo: model.stepInfo };
        this.dispatches.push(activityPenalty(engine, activity.regularizer, { batch, sampleShape: node.output.shape }, views, { partials: partials!, base: activity.base }));
      }
      // A node with several outputs gets every output's gradient, zeros for those nothing reads.
      const others = node.outputs.slice(1).map(gradientOf);
      if (!dy && others.every((g) => !g)) continue;
      const zeroGradient = (t: SymbolicTensor) => {
        const view = this.memory.take(sizeOfTensor(t), `${layer.name} zero gradient`);
        this.dispatches.push(scoped(node, () => zeros(engine, view, sizeOfTensor(t))));
        recyclable.add(view);
        return view;
      };
      dy ??= zeroGradient(node.output);
      const otherGrads = others.map((g, i) => g ?? zeroGradient(node.outputs[i + 1]!));
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
      const weightGrads = model.gradViews(layer);
      // A shared layer's second node onwards: its gradients go to scratch, then into the first's.
      const adding = gradsWritten.has(layer) && model.hasTrainableWeights(layer);
      const nodeGrads = adding ? weightGrads.map((g) => this.memory.take(g.size / 4, `${layer.name} grad (shared)`)) : weightGrads;
      gradsWritten.add(layer);
      const backwardCtx: BackwardContext = {
        ...ctx,
        output: own,
        outputs: [own, ...node.outputs.slice(1).map((t) => values.get(t)!)],
        outputGrad: dy,
        outputGrads: [dy, ...otherGrads],
        inputGrads,
        weightGrads: nodeGrads,
        reluMaskInputGrad,
        outputGradMasked: maskedOutputs.has(node.output),
        forwardPooled: readers.get(node.output)?.some((reader) => pooledByProducer.has(reader)),
      };
      this.dispatches.push(...scoped(node, () => layer.backward(backwardCtx)));
      if (adding) {
        nodeGrads.forEach((g, k) => {
          this.dispatches.push(scoped(node, () => flatDispatch(engine, { op: { kind: 'accumulate' }, n: g.size / 4 }, [g, weightGrads[k]!])));
          this.memory.recycle(g);
        });
      }
      node.inputs.forEach((t, i) => {
        const g = inputGrads[i];
        if (g) {
          push(contributions, t, g);
          recyclable.add(g);
        }
      });
      release(dy);
      otherGrads.forEach(release);
    }

    // Layers off every path to a loss get no gradient: zero theirs for the optimizer.
    for (const node of model.nodes) {
      const layer = node.layer;
      if (!gradsWritten.has(layer) && model.hasTrainableWeights(layer)) {
        gradsWritten.add(layer);
        for (const g of model.gradViews(layer)) this.dispatches.push(scoped(node, () => zeros(engine, g)));
      }
    }

    // ---- regularization (2 of 3): the weights' penalties into their gradients, and every penalty into the loss ----
    for (const w of penalties.weights) {
      const grad = w.trainable ? model.gradViews(w.layer)[w.index]! : null;
      this.dispatches.push(weightPenalty(engine, w.regularizer, w.size, { value: model.weightViews(w.layer)[w.index]!, grad }, { partials: partials!, base: w.base }));
    }
    // The logged loss is the outputs' weighted total: the penalties go to the first output that counts in it.
    const logged = losses.findIndex((l) => l.weight !== 0);
    if (partials && logged >= 0) {
      const shape = outputs[logged]!.shape;
      const positions = sizeOf(shape) / shape[shape.length - 1]!;
      const views = { partials, metrics: losses[logged]!.accumulator, stepInfo: model.stepInfo };
      this.dispatches.push(penaltyIntoLoss(engine, penalties.count, positions, 1 / losses[logged]!.weight, views));
    }

    // ---- optimizer: one update over every trainable parameter (a prefix of the flat buffers), after clipping's sums and the step's scalars when it needs them ----
    const opt = model.optimizer!;
    if (opt.size > 0) {
      const views = { params: opt.params, grads: opt.grads, slots: opt.slots, hyper: opt.hyper, stepInfo: model.stepInfo, segments: opt.segments };
      this.dispatches.push(...opt.optimizer.dispatches(engine, opt.size, { ...views, scratch: (floats, label) => this.memory.take(floats, label) }));
    }

    // ---- regularization (3 of 3): each constraint projects its weight after the step, as Keras does ----
    for (const c of penalties.constraints) {
      this.dispatches.push(constraintProjection(engine, c.constraint, c.shape, model.weightViews(c.layer)[c.index]!, `layer ${c.layer.name}: the ${c.name}'s constraint`));
    }
  }

  dispose(): void {
    this.memory.dispose();
  }
}

/** Metrics beside the loss cannot leave an output's masked positions out (the loss and its accuracy do): an Error. */
function checkMaskedMetrics(output: SymbolicTensor, loss: OutputLoss): void {
  if (!output.mask || loss.metrics.length === 0) return;
  const from = output.mask.node.layer;
  throw new Error(
    `output ${output.producer.layer.name} carries the mask of layer ${from.name} (${from.className}): its loss and accuracy leave the masked steps out, ` +
      `but metric ${loss.metrics.map((m) => m.op.name ?? 'metric').join(', ')} would count them. Compile this output with its loss and accuracy only.`,
  );
}

/** What a training plan regularizes: the penalties (each with its first partial slot) and the constraints. */
interface PenaltyLayout {
  count: number;
  weights: { layer: Layer; index: number; size: number; trainable: boolean; regularizer: NonNullable<WeightSpec['regularizer']>; base: number }[];
  activities: Map<GraphNode, { regularizer: NonNullable<WeightSpec['regularizer']>; base: number }>;
  constraints: { layer: Layer; index: number; name: string; shape: Shape; constraint: NonNullable<WeightSpec['constraint']> }[];
}

/**
 * Each layer's regularized and constrained weights (once per layer, however many nodes share it)
 * and each node's activity regularizer. A frozen weight's penalty counts in the loss but gets no
 * gradient; only weights the optimizer updates are projected.
 */
function penaltyLayout(model: ModelBinding, batch: number): PenaltyLayout {
  const layout: PenaltyLayout = { count: 0, weights: [], activities: new Map(), constraints: [] };
  const seen = new Set<Layer>();
  for (const node of model.nodes) {
    const layer = node.layer;
    if (isSource(node)) continue;
    const activity = activityOf(layer);
    if (activity) {
      layout.activities.set(node, { regularizer: activity, base: layout.count });
      layout.count += penaltyGroups(batch * sizeOf(node.output.shape));
    }
    if (seen.has(layer)) continue;
    seen.add(layer);
    const trainable = model.hasTrainableWeights(layer);
    layer.weightSpecs(node.inputs.map((t) => t.shape)).forEach((spec, index) => {
      const size = sizeOf(spec.shape);
      const updated = trainable && spec.trainable !== false;
      if (spec.regularizer && !spec.regularizer.isZero) {
        layout.weights.push({ layer, index, size, trainable: updated, regularizer: spec.regularizer, base: layout.count });
        layout.count += penaltyGroups(size);
      }
      if (spec.constraint && updated) layout.constraints.push({ layer, index, name: spec.name, shape: spec.shape, constraint: spec.constraint });
    });
  }
  return layout;
}

/** The layer's activity regularizer, unless it has none or its penalty is always zero. */
function activityOf(layer: Layer): WeightSpec['regularizer'] {
  const r = layer.activityRegularizer;
  return r && !r.isZero ? r : undefined;
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
    for (const t of node.outputs) memo.set(t, upstream);
  }
  return (t) => memo.get(t) ?? false;
}
