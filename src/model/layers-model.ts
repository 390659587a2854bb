/**
 * The Keras-like model: a graph of layers (Sequential or Functional; several inputs and outputs, a
 * layer applied at several nodes), compile / fit / evaluate / predict, and the weights. A layer's
 * weights belong to the layer (src/model/shared-weights.ts), so a model built on another's inner
 * outputs trains the same weights; each model keeps them in one flat GPU buffer (each weight at an
 * aligned offset) so that an optimizer step is one dispatch.
 */
import { STEP_INFO_BYTES, stepInfoData } from '../../shaders/kernel.ts';
import type { DeviceDataset } from '../data/device-dataset.ts';
import { Plan, type ModelBinding, type PlanMode } from '../graph/plan.ts';
import { graphOrder } from '../graph/topology.ts';
import type { SaveOptions, SaveResult, SaveTarget } from '../io/artifacts.ts';
import { saveModel } from '../io/save.ts';
import { initialize, Random } from '../layers/initializers.ts';
import { uniqueName, type GraphNode, type Layer, type SymbolicTensor } from '../layers/layer.ts';
import { METRICS_WORDS, readMetrics } from '../ops/losses/metrics.ts';
import type { Optimizer } from '../optimizers.ts';
import { ProgressBar } from '../progress.ts';
import { getDefaultEngine, type Engine, type View } from '../runtime/engine.ts';
import { describe, formatShape, sizeOf, Tensor } from '../runtime/tensor.ts';
import { paramCount, summaryTable } from '../summary.ts';
import { formatLogs, History, integerArg, isNodeTerminal, sliceRows, type CompileArgs, type EvaluateArgs, type FitArgs, type Logs, type ModelData, type NamedWeight, type TensorLike } from './args.ts';
import { resolveCompile, type Compiled } from './compile.ts';
import { checkInput, checkTargets, perName } from './data-args.ts';
import { createDeviceState, deviceDataset, ensureMetricSlots, holdTrainedLayers, indexBuffer, metricSlot, pullHeld, releaseDeviceState, resetOptimizerSlots, uploadStale, type DeviceState } from './device.ts';
import { layerWeights, pullFromHolders, type WeightHolder } from './shared-weights.ts';
import { checkWeightValues, hostValue, inWeightOrder, isTrainable, layoutKey, modelWeights, setHostValues, type ModelWeight } from './weights.ts';

/** A model's graph: its inputs and outputs, the nodes in run order and its layers in TF.js's order. */
interface Graph {
  inputs: SymbolicTensor[];
  outputs: SymbolicTensor[];
  nodes: GraphNode[];
  layers: Layer[];
}

/** The batches a model runs on: one tensor per input, and per output its targets (train, evaluate). */
interface Batches {
  xs: Tensor[];
  ys: Tensor[] | undefined;
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
      if (!nodes.some((n) => n.output === t)) throw new Error(`model ${this.name}: the outputs do not depend on the input '${t.producer.layer.name}'`);
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

  async getWeights(): Promise<NamedWeight[]> {
    const graph = this.requireGraph('getWeights()');
    await pullFromHolders(graph.layers);
    return this.weightsList.map((w) => ({ name: w.name, shape: [...w.shape], data: hostValue(w).slice(), trainable: isTrainable(w) }));
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
  async getOptimizerState(): Promise<{ iterations: number; slots: NamedWeight[] }> {
    const compiled = this.requireCompiled('getOptimizerState()');
    const state = this.device;
    if (!state || state.slotOptimizer !== compiled.optimizer) {
      return { iterations: 0, slots: compiled.optimizer.slotNames.flatMap((slot) => this.trainableWeights.map((w) => ({ name: `${w.name}/${slot}`, shape: [...w.shape], data: new Float32Array(w.size) }))) };
    }
    const slots: NamedWeight[] = [];
    for (const [k, slot] of compiled.optimizer.slotNames.entries()) {
      const all = new Float32Array(await state.engine.read(state.slots[k]!, state.floats * 4));
      for (const w of this.trainableWeights) slots.push({ name: `${w.name}/${slot}`, shape: [...w.shape], data: all.slice(w.offset, w.offset + w.size) });
    }
    return { iterations: state.iterations, slots };
  }

  /** Restores what getOptimizerState() returned (same optimizer kind and model), so training resumes exactly. */
  async setOptimizerState(saved: { iterations: number; slots: readonly NamedWeight[] }): Promise<void> {
    const compiled = this.requireCompiled('setOptimizerState()');
    const expected = compiled.optimizer.slotNames.flatMap((slot) => this.trainableWeights.map((w) => ({ name: `${w.name}/${slot}`, size: w.size, weight: w, slot })));
    if (!saved || !Number.isInteger(saved.iterations) || saved.iterations < 0 || !Array.isArray(saved.slots) || saved.slots.length !== expected.length) {
      throw new Error(`setOptimizerState(): expected { iterations, slots } with ${expected.length} slot arrays for ${compiled.optimizer.className}, got ${describe(saved?.slots)}`);
    }
    const byName = new Map(saved.slots.map((s) => [s.name, s]));
    for (const e of expected) {
      const s = byName.get(e.name);
      if (!s || !(s.data instanceof Float32Array) || s.data.length !== e.size) {
        throw new Error(`setOptimizerState(): slot ${e.name} is missing or does not hold ${e.size} float32 values`);
      }
    }
    const state = await this.deviceState();
    if (state.slotOptimizer !== compiled.optimizer) this.resetOptimizerState(state);
    for (const e of expected) {
      const k = compiled.optimizer.slotNames.indexOf(e.slot);
      state.engine.write(state.slots[k]!, byName.get(e.name)!.data, e.weight.offset * 4);
    }
    state.iterations = saved.iterations;
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
    if (this.device && !(this.device.engine === engine && !engine.isDisposed && this.device.layout === layout)) {
      // Moving to another engine, or a layer was frozen or unfrozen (the trainable weights must
      // stay one prefix of the flat buffers): the weights come along when the old device lives.
      try {
        await this.pull();
      } catch {
        // A lost device keeps nothing to copy: the host values (initial or last set) stand.
        for (const w of this.graphWeights) if (layerWeights(w.layer)!.holder === this) layerWeights(w.layer)!.holder = undefined;
      }
      this.releaseDevice();
    }
    engine.throwIfFailed();
    if (!this.device) {
      this.device = createDeviceState(engine, this.weightsList, layout);
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

  private binding(state: DeviceState): ModelBinding {
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
      losses: compiled?.outputs.map((o) => ({
        op: o.loss,
        accuracy: o.accuracy,
        weight: o.weight,
        accumulator: metricSlot(state, o.slot),
        metrics: o.metrics.map((m) => ({ op: m.op, accumulator: metricSlot(state, m.slot) })),
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

  private plan(state: DeviceState, batch: number, mode: PlanMode): Plan {
    const key = mode === 'predict' ? `${mode}:${batch}` : `${mode}:${batch}:${this.compiled!.key}`;
    let plan = state.plans.get(key);
    if (!plan) {
      if (mode === 'train' && state.slotOptimizer !== this.compiled!.optimizer) this.resetOptimizerState(state);
      plan = new Plan(this.binding(state), batch, mode);
      state.plans.set(key, plan);
    }
    return plan;
  }

  /** The batches on the GPU; layers reading a model input check its values first (Layer.checkInputData). */
  private dataset(state: DeviceState, data: Batches): DeviceDataset {
    const graph = this.graph!;
    graph.inputs.forEach((t, i) => {
      for (const node of graph.nodes) if (node.inputs.includes(t)) node.layer.checkInputData(data.xs[i]!.data, t.shape, 0);
    });
    const labels = data.ys?.map((y, i) => ({ tensor: y, layout: this.compiled!.outputs[i]!.loss.labels, classes: sizeOf(graph.outputs[i]!.shape) }));
    return deviceDataset(state, data.xs, labels ?? []);
  }

  // ---- training and inference ---------------------------------------------------------------

  private requireCompiled(what: string): Compiled {
    this.requireGraph(what);
    if (!this.compiled) throw new Error(`${what}: the model must be compiled first: model.compile({ optimizer, loss, metrics })`);
    return this.compiled;
  }

  async fit(x: ModelData, y: ModelData, args: FitArgs = {}): Promise<History> {
    const compiled = this.requireCompiled('fit()');
    const epochs = integerArg(args.epochs ?? 1, 'epochs', 0);
    const batchSize = integerArg(args.batchSize ?? 32, 'batchSize', 1);
    const initialEpoch = integerArg(args.initialEpoch ?? 0, 'initialEpoch', 0);
    const seed = args.seed ?? this.seed;
    const verbose = args.verbose ?? (isNodeTerminal() ? 1 : 0);
    let data = this.checkData(x, y, 'x', 'y');
    let validation: Batches | undefined;
    if (args.validationData) {
      if (!Array.isArray(args.validationData) || args.validationData.length !== 2) throw new Error(`fit(): validationData must be [x, y], got ${describe(args.validationData)}`);
      validation = this.checkData(args.validationData[0], args.validationData[1], 'validationData[0]', 'validationData[1]');
    } else if (args.validationSplit !== undefined) {
      const split = args.validationSplit;
      if (typeof split !== 'number' || !(split > 0 && split < 1)) throw new Error(`fit(): validationSplit must be a number in (0, 1), got ${describe(split)}`);
      // Keras takes the LAST fraction of the samples, before any shuffling.
      const n = data.xs[0]!.shape[0]!;
      const cut = Math.floor(n * (1 - split));
      if (cut < 1 || cut >= n) throw new Error(`fit(): validationSplit ${split} leaves no training or no validation samples out of ${n}`);
      const rows = (list: Tensor[], a: number, b: number) => list.map((t) => sliceRows(t, a, b));
      validation = { xs: rows(data.xs, cut, n), ys: rows(data.ys!, cut, n) };
      data = { xs: rows(data.xs, 0, cut), ys: rows(data.ys!, 0, cut) };
    }
    const state = await this.deviceState();
    const engine = state.engine;
    const dataset = this.dataset(state, data);
    const n = dataset.count;
    const steps = Math.ceil(n / batchSize);
    // One plan for every step: the partial last batch runs through it too (see runBatches()); the
    // loss counts only its real rows, averages over them and gives the others a zero gradient.
    const plan = this.plan(state, Math.min(batchSize, n), 'train');
    holdTrainedLayers(this, state, this.graphWeights);
    const history = new History();
    const callbacks = args.callbacks ?? {};
    const random = new Random(seed);
    // Resuming at initialEpoch (after loadModel) must shuffle as the uninterrupted run did.
    if (args.shuffle !== false) for (let e = 0; e < initialEpoch; e++) random.permutation(n);
    const logEvery = args.logEveryMs ?? 500;
    this.stopTraining = false;
    await callbacks.onTrainBegin?.();
    let lastLogs: Logs = { loss: NaN };
    for (let epoch = initialEpoch; epoch < epochs && !this.stopTraining; epoch++) {
      await callbacks.onEpochBegin?.(epoch);
      const bar = verbose === 1 ? new ProgressBar(steps, `Epoch ${epoch + 1}/${epochs}`) : undefined;
      const order = args.shuffle === false ? undefined : random.permutation(n);
      const indices = indexBuffer(state, 'train', n, order);
      this.resetMetrics(state);
      let logs: Logs & { size: number } = { loss: NaN, size: 0 };
      let lastRead = performance.now();
      let previousDone: Promise<void> | undefined;
      for (let step = 0; step < steps; step++) {
        const offset = step * batchSize;
        const size = Math.min(batchSize, n - offset);
        state.iterations++;
        engine.write(state.stepInfo, stepInfoData(offset, state.iterations, seed, size));
        engine.write(state.hyper, compiled.optimizer.hyperparameters(state.iterations));
        const gather = dataset.gather(plan.batch, indices, state.stepInfo, plan.xs, plan.labels);
        engine.submit((encoder) => engine.encode(encoder, [...gather, ...plan.dispatches]));
        // Two steps in flight: the GPU works on this one while we wait for the previous.
        const done = engine.sync();
        done.catch(() => {}); // awaited below or next step; an early exit must not leave it unhandled
        if (previousDone) await previousDone;
        previousDone = done;
        const now = performance.now();
        const wantLogs = bar || callbacks.onBatchEnd;
        if (wantLogs && (now - lastRead >= logEvery || step === steps - 1)) {
          logs = { ...(await this.readLogs(state)), size };
          lastRead = performance.now();
          bar?.update(step + 1, logs);
        }
        await callbacks.onBatchEnd?.(step, { ...logs, size });
        if (this.stopTraining) break;
      }
      await previousDone;
      const epochLogs = await this.readLogs(state);
      if (validation) {
        const v = await this.evaluateBatches(state, validation, batchSize);
        for (const [key, value] of Object.entries(v)) epochLogs[`val_${key}`] = value;
      }
      bar?.finish(epochLogs);
      if (verbose === 2) console.log(`Epoch ${epoch + 1}/${epochs} - ${formatLogs(epochLogs)}`);
      history.record(epoch, epochLogs);
      lastLogs = epochLogs;
      await callbacks.onEpochEnd?.(epoch, epochLogs);
    }
    await callbacks.onTrainEnd?.(lastLogs);
    return history;
  }

  private resetMetrics(state: DeviceState): void {
    state.engine.write(state.metrics, new Uint32Array(state.metrics.size / 4));
  }

  /**
   * The logs from the accumulators: with one output `loss`, `accuracy` and each metric under the
   * name it was given; with several, `loss` is the weighted total and each output adds
   * `<output>_loss`, `<output>_accuracy` and `<output>_<metric>`, as Keras.
   */
  private async readLogs(state: DeviceState): Promise<Logs> {
    const compiled = this.compiled!;
    const bytes = await state.engine.read(state.metrics, state.metrics.size);
    const single = compiled.outputs.length === 1;
    const logs: Logs = { loss: 0 };
    compiled.outputs.forEach((o) => {
      const m = readMetrics(new Uint8Array(bytes, metricSlot(state, o.slot).offset, METRICS_WORDS * 4));
      const loss = m.count ? m.lossSum / m.count : NaN;
      logs.loss += o.weight * loss;
      const prefix = single ? '' : `${o.name}_`;
      if (!single) logs[`${prefix}loss`] = loss;
      if (o.accuracy) logs[`${prefix}accuracy`] = m.accuracyCount ? m.correct / m.accuracyCount : NaN;
      for (const metric of o.metrics) logs[`${prefix}${metric.key}`] = metric.op.value(new Uint8Array(bytes, metricSlot(state, metric.slot).offset, metric.op.words * 4));
    });
    return logs;
  }

  async evaluate(x: ModelData, y: ModelData, args: EvaluateArgs = {}): Promise<Logs> {
    this.requireCompiled('evaluate()');
    const data = this.checkData(x, y, 'x', 'y');
    const batchSize = integerArg(args.batchSize ?? 32, 'batchSize', 1);
    return this.evaluateBatches(await this.deviceState(), data, batchSize);
  }

  private async evaluateBatches(state: DeviceState, data: Batches, batchSize: number): Promise<Logs> {
    this.resetMetrics(state);
    await this.runBatches(state, this.dataset(state, data), 'evaluate', batchSize);
    return this.readLogs(state);
  }

  /**
   * Runs an evaluate or predict plan over the dataset in batches, up to 4 in flight. One plan for
   * all batches: the last, partial one runs through it too (its rows past the end gather the last
   * sample again, gathers clamp positions to the permutation, StepInfo's `rows` leaves them out of
   * the metrics). A plan of its own would compile every pipeline again for one batch, seconds on a
   * CPU adapter; the rows are independent, so the results are the same. `after` encodes what
   * follows each batch's plan (predict's copy of its real rows).
   */
  private async runBatches(
    state: DeviceState,
    dataset: DeviceDataset,
    mode: 'evaluate' | 'predict',
    batchSize: number,
    after?: (encoder: GPUCommandEncoder, plan: Plan, offset: number, size: number) => void,
  ): Promise<void> {
    const engine = state.engine;
    const indices = indexBuffer(state, 'eval', dataset.count);
    const planBatch = Math.min(batchSize, dataset.count);
    const plan = this.plan(state, planBatch, mode);
    for (let offset = 0; offset < dataset.count; offset += batchSize) {
      const size = Math.min(batchSize, dataset.count - offset);
      engine.write(state.stepInfo, stepInfoData(offset, state.iterations, 0, size));
      engine.submit((encoder) => {
        const setup = offset === 0 ? plan.setup : [];
        engine.encode(encoder, [...setup, ...dataset.gather(planBatch, indices, state.stepInfo, plan.xs, plan.labels), ...plan.dispatches]);
        after?.(encoder, plan, offset, size);
      });
      if ((offset / batchSize) % 4 === 3) await engine.sync();
    }
  }

  /**
   * The model's outputs for each row of x: one tensor `[N, ...outputShape]`, or a list of them for
   * a model whose outputs were given as a list (TF.js's predict()).
   */
  async predict(x: ModelData, args: EvaluateArgs = {}): Promise<Prediction> {
    const graph = this.requireGraph('predict()');
    const xs = this.checkInputs(x, 'x');
    const batchSize = integerArg(args.batchSize ?? 32, 'batchSize', 1);
    const state = await this.deviceState();
    const engine = state.engine;
    const dataset = this.dataset(state, { xs, ys: undefined });
    const widths = graph.outputs.map((t) => sizeOf(t.shape));
    const results = widths.map((width, i) => engine.buffer(dataset.count * width * 4, `predictions ${i}`));
    try {
      await this.runBatches(state, dataset, 'predict', batchSize, (encoder, plan, offset, size) =>
        plan.outputs.forEach((out, i) => encoder.copyBufferToBuffer(out.buffer, out.offset, results[i]!, offset * widths[i]! * 4, size * widths[i]! * 4)),
      );
      const tensors: Tensor<Float32Array>[] = [];
      for (const [i, result] of results.entries()) {
        const data = new Float32Array(await engine.read({ buffer: result, offset: 0, size: dataset.count * widths[i]! * 4 }));
        tensors.push(new Tensor(data, [dataset.count, ...graph.outputs[i]!.shape]));
      }
      return (this.outputsAsList ? tensors : tensors[0]!) as Prediction;
    } finally {
      for (const result of results) engine.release(result);
    }
  }

  // ---- input checks --------------------------------------------------------------------------

  private checkInputs(value: ModelData, what: string): Tensor[] {
    const graph = this.requireGraph(what);
    const given = perName(value, this.inputNames, what, 'input');
    const xs = given.map(({ tensor, what: label }, i) => checkInput(tensor, graph.inputs[i]!.shape, label));
    const samples = xs[0]!.shape[0]!;
    given.forEach(({ what: label }, i) => {
      if (xs[i]!.shape[0] !== samples) throw new Error(`${label}: has ${xs[i]!.shape[0]} samples but ${given[0]!.what} has ${samples}; every input needs the same number`);
    });
    return xs;
  }

  private checkData(x: ModelData, y: ModelData, xWhat: string, yWhat: string): Batches {
    const compiled = this.requireCompiled(yWhat);
    const xs = this.checkInputs(x, xWhat);
    const samples = xs[0]!.shape[0]!;
    const ys = perName(y, compiled.outputs.map((o) => o.name), yWhat, 'output').map(({ tensor, what }, i) => checkTargets(tensor, samples, compiled.outputs[i]!.loss, this.graph!.outputs[i]!.shape, what));
    return { xs, ys };
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
