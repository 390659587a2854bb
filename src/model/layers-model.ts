/**
 * The Keras-like model: a graph of layers (Sequential or Functional; several inputs and outputs, a
 * layer applied at several nodes), compile, the weights, and the plans its loops run (fit,
 * evaluate and predict: training-loop.ts; fitDataset: fit-dataset.ts; trainOnBatch and the other
 * on-batch calls: on-batch.ts). A layer's weights belong to the layer (shared-weights.ts), so a
 * model built on another's inner outputs trains the same weights; each model keeps them in one
 * flat GPU buffer (each weight at an aligned offset) so that an optimizer step is one dispatch.
 */
import { STEP_INFO_BYTES, stepInfoData } from '../../shaders/kernel.ts';
import type { DeviceDataset } from '../data/device-dataset.ts';
import type { DatasetSource } from '../data/stream.ts';
import { Plan, type ModelBinding, type PlanMode } from '../graph/plan.ts';
import { graphOrder } from '../graph/topology.ts';
import type { SaveOptions, SaveResult, SaveTarget } from '../io/artifacts.ts';
import { saveModel } from '../io/save.ts';
import { uniqueName, type GraphNode, type Layer, type SymbolicTensor } from '../layers/layer.ts';
import type { Optimizer } from '../optimizers.ts';
import { getDefaultEngine, type Dispatch, type Engine, type View } from '../runtime/engine.ts';
import { describeVariants, type VariantRow } from '../runtime/describe-variants.ts';
import { describe, sizeOf, type Tensor } from '../runtime/tensor.ts';
import { paramCount, summaryTable } from '../summary.ts';
import { WeightTensor, type CompileArgs, type EvaluateArgs, type FitArgs, type FitDatasetArgs, type History, type Logs, type ModelData, type NamedWeight, type TensorLike } from './args.ts';
import { resolveCompile, type Compiled } from './compile.ts';
import { checkAllTargets, checkInputs, checkInputValues } from './data-args.ts';
import { createDeviceState, deviceDataset, ensureMetricSlots, holdTrainedLayers, lossWeightBuffer, metricSlot, pullHeld, releaseDeviceState, resetOptimizerSlots, uploadStale, type DeviceState } from './device.ts';
import { checkOptimizerState, readOptimizerState, restoreSlots, saveSlots, writeOptimizerState, type OptimizerState, type SavedSlots } from './optimizer-state.ts';
import { evaluateDataset, fitDataset } from './fit-dataset.ts';
import { predictOnBatch, testOnBatch, trainOnBatch, type OnBatchWeights } from './on-batch.ts';
import type { Batches, ModelRuntime } from './runtime.ts';
import { layerWeights, pullFromHolders, type WeightHolder } from './shared-weights.ts';
import { evaluateArrays, fitArrays, predictArrays } from './training-loop.ts';
import { checkWeightValues, hostValue, inWeightOrder, isTrainable, layoutKey, modelWeights, setHostValues, type ModelWeight } from './weights.ts';

/** A model's graph: its inputs and outputs, the nodes in run order and its layers in TF.js's order. */
interface Graph {
  inputs: SymbolicTensor[];
  outputs: SymbolicTensor[];
  nodes: GraphNode[];
  layers: Layer[];
}

const DEFAULT_SEED = 1337;

export class LayersModel<Prediction = Tensor<Float32Array>> implements WeightHolder {
  readonly name: string;
  /** Set by a failed or disposed state; `stopTraining = true` from a callback ends fit after the batch. */
  stopTraining = false;
  protected graph: Graph | undefined;
  /** Every weight, layer by layer in `layers` order, each layer's in its weightSpecs order. */
  private graphWeights: ModelWeight[] = [];
  private compiled: Compiled | undefined;
  private device: DeviceState | undefined;
  private readonly seed: number;
  private disposed = false;
  /** Set by useEngine() (loadModel's `engine` option); compile({ engine }) takes precedence. */
  private boundEngine: Engine | undefined;
  /** predict() answers a list (outputs given as a list, or several); one tensor otherwise. */
  private outputsAsList = false;
  private runtimeView: ModelRuntime | undefined;

  constructor(config: { name?: string; seed?: number }, defaultPrefix: string) {
    this.name = config.name ?? uniqueName(defaultPrefix);
    this.seed = config.seed ?? DEFAULT_SEED;
  }

  /**
   * Wires the graph; layers that have no weights yet get them here (seeded, in layer order), the
   * others keep theirs: a model over another model's layers shares their weights.
   */
  protected setGraph(inputs: readonly SymbolicTensor[], outputs: readonly SymbolicTensor[], outputsAsList = outputs.length > 1): void {
    const { nodes, layers } = graphOrder(outputs);
    for (const t of inputs) {
      if (!nodes.some((n) => n.outputs.includes(t))) throw new Error(`model ${this.name}: the outputs do not depend on the input '${t.producer.layer.name}'`);
    }
    const missing = nodes.find((n) => n.inputs.length === 0 && !inputs.includes(n.output));
    if (missing) throw new Error(`model ${this.name}: the outputs depend on the input '${missing.layer.name}', which is not among the model's inputs (graph disconnected)`);
    if (new Set(inputs).size !== inputs.length) throw new Error(`model ${this.name}: an input is listed twice`);
    this.graph = { inputs: [...inputs], outputs: [...outputs], nodes, layers };
    this.outputsAsList = outputsAsList;
    this.graphWeights = modelWeights(layers, this.seed);
  }

  /** The weights in getWeights() order (TF.js's): trainable ones first, then the rest. */
  protected get weightsList(): ModelWeight[] {
    return inWeightOrder(this.graphWeights);
  }

  /** Keras's class name of the model ('Model' for functional ones), as model.json names it. */
  get className(): 'Sequential' | 'Model' {
    return 'Model';
  }

  get built(): boolean {
    return this.graph !== undefined;
  }

  /** Layers in TF.js's order (the InputLayers first for functional models, as Keras lists them). */
  get layers(): Layer[] {
    return [...this.requireGraph('layers').layers];
  }

  /** The nodes in run order (a shared layer appears once per node). */
  get nodes(): readonly GraphNode[] {
    return this.requireGraph('nodes').nodes;
  }

  /** A layer by name, or by its index in `layers` (TF.js's `getLayer(name?, index?)`). */
  getLayer(name?: string, index?: number): Layer {
    const list = this.layers;
    if (name !== undefined) {
      const found = list.find((l) => l.name === name);
      if (!found) throw new Error(`getLayer(): model ${this.name} has no layer named '${String(name)}'; its layers: ${list.map((l) => l.name).join(', ')}`);
      return found;
    }
    if (index === undefined || !Number.isInteger(index) || index < 0 || index >= list.length) {
      throw new Error(`getLayer(): pass a layer name or an index in [0, ${list.length}), got ${describe(index)}`);
    }
    return list[index]!;
  }

  get inputs(): SymbolicTensor[] {
    return [...this.requireGraph('inputs').inputs];
  }

  get outputs(): SymbolicTensor[] {
    return [...this.requireGraph('outputs').outputs];
  }

  /** Keras's input_names and output_names: the layers that make each input and output. */
  get inputNames(): string[] {
    return this.inputs.map((t) => t.producer.layer.name);
  }

  get outputNames(): string[] {
    return this.outputs.map((t) => t.producer.layer.name);
  }

  protected requireGraph(what: string): Graph {
    if (this.disposed) throw new Error(`model ${this.name} was disposed`);
    if (!this.graph) {
      throw new Error(
        `${what}: this model has not yet been built. Build the model first by calling \`build()\` or by calling ` +
          'the model on a batch of data (give the first layer an `inputShape`).',
      );
    }
    return this.graph;
  }

  countParams(): number {
    this.requireGraph('countParams()');
    return this.graphWeights.reduce((n, w) => n + w.size, 0);
  }

  /** Parameters the optimizer updates (Keras's "Trainable params"). */
  countTrainableParams(): number {
    this.requireGraph('countTrainableParams()');
    return this.graphWeights.filter(isTrainable).reduce((n, w) => n + w.size, 0);
  }

  /** Rows shown by summary(): Sequential models hide the InputLayer, functional ones show it. */
  protected summaryLayers(): Layer[] {
    return this.layers;
  }

  /** The Keras summary table; `{ print: true }` also prints it (or hands each line to `printFn`). */
  summary(options: { print?: boolean; printFn?: (line: string) => void } = {}): string {
    const graph = this.requireGraph('summary()');
    const inModel = new Set(graph.nodes);
    const rows = this.summaryLayers().map((layer) => {
      const nodes = layer.inboundNodes.filter((n) => inModel.has(n));
      return { layer, nodes, params: paramCount(layer.weightSpecs(nodes[0]!.inputs.map((t) => t.shape)).map((s) => s.shape)) };
    });
    const allInputs = graph.nodes.flatMap((n) => n.inputs);
    const branching = graph.nodes.some((n) => n.inputs.length > 1) || new Set(allInputs).size < allInputs.length || graph.nodes.length > graph.layers.length;
    const trainable = this.countTrainableParams();
    const text = summaryTable(this.name, rows, branching, trainable, this.countParams() - trainable);
    if (options.print || options.printFn) {
      const print = options.printFn ?? ((line: string) => console.log(line));
      for (const line of text.split('\n')) print(line);
    }
    return text;
  }

  compile(args: CompileArgs): void {
    const graph = this.requireGraph('compile()');
    const compiled = resolveCompile(args, graph.outputs);
    this.compiled = compiled;
    if (this.device && this.device.slotOptimizer !== compiled.optimizer) this.resetOptimizerState(this.device);
  }

  get optimizer(): Optimizer | undefined {
    return this.compiled?.optimizer;
  }

  // ---- weights -------------------------------------------------------------------------

  async getWeights(): Promise<WeightTensor[]> {
    const graph = this.requireGraph('getWeights()');
    await pullFromHolders(graph.layers);
    return this.weightsList.map((w) => new WeightTensor(w.name, hostValue(w).slice(), w.shape, isTrainable(w)));
  }

  /**
   * WeightHolder: copies the device's values of the layers this model holds (it trained them last)
   * to their host values, and lets go of them.
   */
  async pull(): Promise<void> {
    await pullHeld(this, this.graphWeights, this.device);
  }

  /** Sets every weight, in getWeights() order; validated as a whole before anything changes. */
  setWeights(weights: readonly (TensorLike | NamedWeight)[]): void {
    this.requireGraph('setWeights()');
    const order = this.weightsList;
    setHostValues(order, checkWeightValues(order, weights));
    if (this.device) uploadStale(this.device, this.graphWeights);
  }

  /**
   * The optimizer's state for checkpoints: its iteration count and, per slot and weight, the slot
   * values (named `<weight>/<slot>`, e.g. `conv2d/kernel/rms`, as TF.js names optimizer weights).
   */
  async getOptimizerState(): Promise<OptimizerState> {
    const compiled = this.requireCompiled('getOptimizerState()');
    // With a device, its layout first follows any layer frozen or unfrozen since.
    return readOptimizerState(this.device && (await this.deviceState()), compiled.optimizer, this.trainableWeights);
  }

  /** Restores what getOptimizerState() returned (same optimizer kind and model), so training resumes exactly. */
  async setOptimizerState(saved: OptimizerState): Promise<void> {
    const compiled = this.requireCompiled('setOptimizerState()');
    const values = checkOptimizerState(saved, compiled.optimizer, this.trainableWeights);
    const state = await this.deviceState();
    if (state.slotOptimizer !== compiled.optimizer) this.resetOptimizerState(state);
    writeOptimizerState(state, compiled.optimizer, values, saved.iterations);
  }

  /** The weights the optimizer updates, in getWeights() order (its slots pair with these). */
  private get trainableWeights(): ModelWeight[] {
    return this.graphWeights.filter(isTrainable);
  }

  /**
   * The compiled losses, optimizer and metrics (for saving the training config). TF.js 4.22 can
   * neither save nor load loss_weights, so the saved config leaves them out (loadModel reads them).
   */
  get compileConfig(): { loss: string | string[]; lossWeights: number[] | undefined; optimizer: Optimizer; metrics: string[] | string[][] } | undefined {
    const c = this.compiled;
    if (!c) return undefined;
    const single = c.outputs.length === 1 && !this.outputsAsList;
    const weighted = c.outputs.some((o) => o.weight !== 1);
    return {
      loss: single ? c.outputs[0]!.lossName : c.outputs.map((o) => o.lossName),
      lossWeights: weighted ? c.outputs.map((o) => o.weight) : undefined,
      optimizer: c.optimizer,
      metrics: single ? c.metricNames[0]! : c.metricNames,
    };
  }

  /**
   * Which kernel variant each layer runs in the plan for `batchSize` and `mode` (train when
   * compiled, else predict): a plan is built for the purpose and freed. With tuning on, measured
   * choices show as they will run (src/ops/variants.ts, src/runtime/tuning.ts).
   */
  async describeVariants(options: { batchSize?: number; mode?: PlanMode } = {}): Promise<VariantRow[]> {
    const mode = options.mode ?? (this.compiled ? 'train' : 'predict');
    const batch = options.batchSize ?? 32;
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`describeVariants(): batchSize must be a positive integer, got ${String(options.batchSize)}`);
    if (mode !== 'predict' && !this.compiled) throw new Error(`describeVariants(): a ${mode} plan needs compile() first`);
    const state = await this.deviceState();
    return describeVariants(state.engine, () => new Plan(this.binding(state, batch), batch, mode).dispose());
  }

  /** The engine this model runs on (or will: compile's, useEngine's), if one is chosen yet. */
  get engine(): Engine | undefined {
    return this.compiled?.engine ?? this.boundEngine ?? this.device?.engine;
  }

  /** Runs this model on `engine` unless compile({ engine }) names another; only before it runs elsewhere. */
  useEngine(engine: Engine): void {
    if (this.device && this.device.engine !== engine) throw new Error(`useEngine(): model ${this.name} already runs on another engine`);
    this.boundEngine = engine;
  }

  /**
   * Saves in the TensorFlow.js layers format (model.json + weights): to 'file://dir' (Node),
   * 'indexeddb://name', 'downloads://name' (pages) or a handler `{ save(artifacts) }`.
   * `includeOptimizer` adds the optimizer's state so that loadModel() + fit() resume exactly.
   */
  async save(target: SaveTarget, options: SaveOptions = {}): Promise<SaveResult> {
    return saveModel(this, target, options);
  }

  // ---- device state ----------------------------------------------------------------------

  /** The model's device state, with every weight current: pulled from other holders, stale ones uploaded. */
  private async deviceState(): Promise<DeviceState> {
    if (this.disposed) throw new Error(`model ${this.name} was disposed`);
    const graph = this.requireGraph('deviceState');
    const engine = this.compiled?.engine ?? this.boundEngine ?? (await getDefaultEngine());
    const layout = layoutKey(this.graphWeights);
    // Another model may have trained some of these layers since: its values come to the host.
    await pullFromHolders(graph.layers, this);
    let slots: SavedSlots | undefined;
    if (this.device && !(this.device.engine === engine && !engine.isDisposed && this.device.layout === layout)) {
      // Moving to another engine, or a layer was frozen or unfrozen (the trainable weights must
      // stay one prefix of the flat buffers): the weights come along when the old device lives,
      // and on the same engine the optimizer's slots of the weights that still train too.
      try {
        await this.pull();
        if (this.device.engine === engine) slots = await saveSlots(this.device, this.graphWeights);
      } catch {
        // A lost device keeps nothing to copy: the host values (initial or last set) stand.
        for (const w of this.graphWeights) if (layerWeights(w.layer)!.holder === this) layerWeights(w.layer)!.holder = undefined;
      }
      this.releaseDevice();
    }
    engine.throwIfFailed();
    if (!this.device) {
      this.device = createDeviceState(engine, this.weightsList, layout);
      restoreSlots(this.device, slots, this.compiled?.optimizer);
    }
    uploadStale(this.device, this.graphWeights);
    return this.device;
  }

  /** Frees the model's GPU memory. */
  private releaseDevice(): void {
    const state = this.device;
    if (!state) return;
    this.device = undefined;
    releaseDeviceState(state);
  }

  private resetOptimizerState(state: DeviceState): void {
    resetOptimizerSlots(state, this.compiled!.optimizer);
  }

  /** What a plan of `batch` rows binds; `weighted[i]`: output i's loss reads per-row weights. */
  private binding(state: DeviceState, batch: number, weighted: readonly boolean[] = []): ModelBinding {
    const graph = this.graph!;
    const byLayer = new Map<Layer, ModelWeight[]>();
    for (const w of this.graphWeights) {
      const list = byLayer.get(w.layer) ?? [];
      list.push(w);
      byLayer.set(w.layer, list);
    }
    const views = (flat: View) => (layer: Layer) => (byLayer.get(layer) ?? []).map((w) => ({ buffer: flat.buffer, offset: w.offset * 4, size: w.size * 4 }));
    const compiled = this.compiled;
    if (compiled) ensureMetricSlots(state, compiled.slots);
    return {
      engine: state.engine,
      nodes: graph.nodes,
      inputs: graph.inputs,
      outputs: graph.outputs,
      hasTrainableWeights: (layer) => (byLayer.get(layer) ?? []).some(isTrainable),
      weightViews: views(state.params),
      gradViews: views(state.grads),
      stepInfo: { buffer: state.stepInfo, offset: 0, size: STEP_INFO_BYTES },
      losses: compiled?.outputs.map((o, i) => ({
        op: o.loss,
        accuracy: o.accuracy,
        weight: o.weight,
        accumulator: metricSlot(state, o.slot),
        metrics: o.metrics.map((m) => ({ op: m.op, accumulator: metricSlot(state, m.slot) })),
        ...(weighted[i] ? { sampleWeights: lossWeightBuffer(state, batch, i) } : {}),
      })),
      optimizer: compiled && {
        optimizer: compiled.optimizer,
        size: state.trainableFloats,
        params: state.params,
        grads: state.grads,
        slots: state.slots,
        hyper: state.hyper,
        segments: this.trainableWeights.map((w) => ({ offset: w.offset, size: w.size })),
      },
    };
  }

  private planKey(batch: number, mode: PlanMode, weighted?: readonly boolean[]): string {
    const weights = weighted?.some((w) => w) ? `:weighted=${weighted.map((w) => (w ? 1 : 0)).join('')}` : '';
    return mode === 'predict' ? `${mode}:${batch}` : `${mode}:${batch}:${this.compiled!.key}${mode === 'train' ? weights : ''}`;
  }

  /**
   * The plan for (batch, mode), built on first use. With tuning on (EngineOptions.tune), the
   * geometries its ops asked about are measured before it runs, and it is built again when a
   * measured choice differs from the hand policy's it was built with.
   */
  private async plan(state: DeviceState, batch: number, mode: PlanMode, weighted?: readonly boolean[]): Promise<Plan> {
    const key = this.planKey(batch, mode, weighted);
    let plan = state.plans.get(key);
    if (!plan) {
      if (mode === 'train' && state.slotOptimizer !== this.compiled!.optimizer) this.resetOptimizerState(state);
      const build = () => new Plan(this.binding(state, batch, mode === 'train' ? weighted : undefined), batch, mode);
      plan = build();
      if ((await state.engine.tunePending()).length > 0) {
        plan.dispose();
        plan = build();
      }
      state.plans.set(key, plan);
    }
    return plan;
  }

  /**
   * One optimizer step: the step's uniforms (StepInfo: the batch's `offset` in the index buffer and
   * its `size` real rows), then `gather` (the batch into the plan's inputs) and the plan, in one
   * submit. The device copy of the trained layers becomes the newest at every step, so a callback
   * that read the weights in between (pulling them to the host) does not leave them stale.
   */
  private trainStep(state: DeviceState, plan: Plan, gather: readonly Dispatch[], offset: number, size: number, seed: number): void {
    const engine = state.engine;
    const compiled = this.compiled!;
    holdTrainedLayers(this, state, this.graphWeights);
    state.iterations++;
    engine.write(state.stepInfo, stepInfoData(offset, state.iterations, seed, size));
    compiled.optimizer.prepareStep(engine, state.hyper, state.iterations);
    engine.submit((encoder) => engine.encode(encoder, [...gather, ...plan.dispatches]));
  }

  /** The batches on the GPU; layers reading a model input check its values first (Layer.checkInputData). */
  private dataset(state: DeviceState, data: Batches): DeviceDataset {
    const graph = this.graph!;
    checkInputValues(graph, data.xs);
    const labels = data.ys?.map((y, i) => ({ tensor: y, layout: this.compiled!.outputs[i]!.loss.labels, classes: sizeOf(graph.outputs[i]!.shape) }));
    return deviceDataset(state, data.xs, labels ?? [], data.weights ?? []);
  }

  /** The loops' view of this model (src/model/runtime.ts). */
  private get runtime(): ModelRuntime {
    const self = this;
    return (this.runtimeView ??= {
      model: this,
      seed: this.seed,
      graph: (what) => this.requireGraph(what),
      compiled: (what) => this.requireCompiled(what),
      get outputNames() {
        return self.outputNames;
      },
      deviceState: () => this.deviceState(),
      plan: (state, batch, mode, weighted) => this.plan(state, batch, mode, weighted),
      plans: (state, mode, weighted) => [...state.plans.entries()].filter(([key, p]) => p.mode === mode && key === this.planKey(p.batch, mode, weighted)).map(([, p]) => p),
      trainStep: (state, plan, gather, offset, size, seed) => this.trainStep(state, plan, gather, offset, size, seed),
      checkData: (x, y, xWhat, yWhat) => this.checkData(x, y, xWhat, yWhat),
      checkInputs: (x, what) => this.checkInputs(x, what),
      checkInputValues: (xs) => checkInputValues(this.graph!, xs),
      dataset: (state, data) => this.dataset(state, data),
    });
  }

  // ---- training and inference ---------------------------------------------------------------

  private requireCompiled(what: string): Compiled {
    this.requireGraph(what);
    if (!this.compiled) throw new Error(`${what}: the model must be compiled first: model.compile({ optimizer, loss, metrics })`);
    return this.compiled;
  }

  /** Trains on arrays kept on the GPU for the whole run (TF.js's fit; classWeight and sampleWeight as Keras). */
  async fit(x: ModelData, y: ModelData, args: FitArgs = {}): Promise<History> {
    return fitArrays(this.runtime, x, y, args);
  }

  /**
   * Trains on batches streamed from a dataset (TF.js's fitDataset): an iterable or async iterable of
   * `{ xs, ys }`, a function returning one per epoch, or a tf.data-style object with iterator().
   */
  async fitDataset(dataset: DatasetSource, args: FitDatasetArgs = {}): Promise<History> {
    return fitDataset(this.runtime, dataset, args);
  }

  /** The loss and metrics over (x, y), by the names fit logs them under. */
  async evaluate(x: ModelData, y: ModelData, args: EvaluateArgs = {}): Promise<Logs> {
    return evaluateArrays(this.runtime, x, y, args);
  }

  /** The loss and metrics over a dataset's batches (all, or the first `batches`). */
  async evaluateDataset(dataset: DatasetSource, args: { batches?: number } = {}): Promise<Logs> {
    return evaluateDataset(this.runtime, dataset, args);
  }

  /**
   * The model's outputs for each row of x: one tensor `[N, ...outputShape]`, or a list of them for
   * a model whose outputs were given as a list (TF.js's predict()).
   */
  async predict(x: ModelData, args: EvaluateArgs = {}): Promise<Prediction> {
    const tensors = await predictArrays(this.runtime, x, args);
    return (this.outputsAsList ? tensors : tensors[0]!) as Prediction;
  }

  /**
   * One optimizer step on this batch (custom training loops): the batch's loss, or [loss, ...metrics]
   * in TF.js's order. Keras's optional `{ classWeight, sampleWeight }` weight its losses.
   */
  async trainOnBatch(x: ModelData, y: ModelData, weights: OnBatchWeights = {}): Promise<number | number[]> {
    return trainOnBatch(this.runtime, x, y, weights);
  }

  /** The loss (and metrics) on this batch without training: a number or [loss, ...metrics]. */
  async testOnBatch(x: ModelData, y: ModelData): Promise<number | number[]> {
    return testOnBatch(this.runtime, x, y);
  }

  /** The model's outputs for one batch, as predict() gives them. */
  async predictOnBatch(x: ModelData): Promise<Prediction> {
    const tensors = await predictOnBatch(this.runtime, x);
    return (this.outputsAsList ? tensors : tensors[0]!) as Prediction;
  }

  // ---- input checks --------------------------------------------------------------------------

  private checkInputs(value: ModelData, what: string): Tensor[] {
    return checkInputs(this.requireGraph(what).inputs, this.inputNames, value, what);
  }

  private checkData(x: ModelData, y: ModelData, xWhat: string, yWhat: string): Batches {
    const compiled = this.requireCompiled(yWhat);
    const xs = this.checkInputs(x, xWhat);
    return { xs, ys: checkAllTargets(compiled, this.graph!.outputs, xs[0]!.shape[0]!, y, yWhat) };
  }

  /** Frees the model's GPU memory (plans, datasets, weights). Weights it trained last are lost with it. */
  dispose(): void {
    const engine = this.device?.engine;
    this.releaseDevice();
    // Disposing means the memory goes back to the device, not just to the engine's pool.
    if (engine && !engine.isDisposed) engine.trim();
    this.disposed = true;
  }
}
