/**
 * The Keras-like model: a graph of layers (Sequential or Functional), its weights, and
 * compile / fit / evaluate / predict. Weights live on the host until the model first runs, then in
 * one flat GPU buffer (each weight at an aligned offset) so that an optimizer step is one dispatch.
 */
import { STEP_INFO_BYTES, stepInfoData } from '../../shaders/kernel.ts';
import type { DeviceDataset } from '../data/device-dataset.ts';
import { validateLabels } from '../data/labels.ts';
import { Plan, type ModelBinding, type PlanMode } from '../graph/plan.ts';
import { topologicalNodes } from '../graph/topology.ts';
import type { SaveOptions, SaveResult, SaveTarget } from '../io/artifacts.ts';
import { saveModel } from '../io/save.ts';
import { initialize, Random } from '../layers/initializers.ts';
import { uniqueName, type GraphNode, type Layer, type SymbolicTensor } from '../layers/layer.ts';
import { accuracyKind, resolveAccuracyRequest, resolveLoss } from '../ops/losses/index.ts';
import type { AccuracyKind, LossOp } from '../ops/losses/loss.ts';
import { METRICS_BYTES, METRICS_WORDS, readMetrics } from '../ops/losses/metrics.ts';
import { resolveOptimizer, type Optimizer } from '../optimizers.ts';
import { ProgressBar } from '../progress.ts';
import { getDefaultEngine, type Engine, type View } from '../runtime/engine.ts';
import { describe, formatShape, sizeOf, Tensor } from '../runtime/tensor.ts';
import { paramCount, summaryTable } from '../summary.ts';
import { asTensor, formatLogs, History, integerArg, isNodeTerminal, sliceRows, type CompileArgs, type EvaluateArgs, type FitArgs, type Logs, type NamedWeight, type TensorLike } from './args.ts';
import { createDeviceState, deviceDataset, indexBuffer, releaseDeviceState, resetOptimizerSlots, type DeviceState } from './device.ts';
import { inWeightOrder, isTrainable, layoutKey, type ModelWeight } from './weights.ts';

interface Compiled {
  optimizer: Optimizer;
  loss: LossOp;
  /** What the accuracy metric counts with this loss and output, when one was asked for. */
  accuracy: AccuracyKind | null;
  engine?: Engine;
}

const DEFAULT_SEED = 1337;

export class LayersModel {
  readonly name: string;
  /** Set by a failed or disposed state; `stopTraining = true` from a callback ends fit after the batch. */
  stopTraining = false;
  protected graph: { input: SymbolicTensor; output: SymbolicTensor; nodes: GraphNode[] } | undefined;
  /** Every weight in graph order (layer by layer, each layer's in its weightSpecs order). */
  private graphWeights: ModelWeight[] = [];
  private compiled: Compiled | undefined;
  private device: DeviceState | undefined;
  private readonly seed: number;
  private disposed = false;
  /** Set by useEngine() (loadModel's `engine` option); compile({ engine }) takes precedence. */
  private boundEngine: Engine | undefined;

  constructor(config: { name?: string; seed?: number }, defaultPrefix: string) {
    this.name = config.name ?? uniqueName(defaultPrefix);
    this.seed = config.seed ?? DEFAULT_SEED;
  }

  /** Wires the graph and initializes weights (seeded). */
  protected setGraph(inputs: SymbolicTensor, outputs: SymbolicTensor): void {
    const nodes = topologicalNodes([outputs]);
    if (!nodes.some((n) => n.output === inputs)) {
      throw new Error(`model ${this.name}: the outputs do not depend on the given inputs`);
    }
    this.graph = { input: inputs, output: outputs, nodes };
    this.graphWeights = [];
    const random = new Random(this.seed);
    for (const node of nodes) {
      for (const spec of node.layer.weightSpecs(node.inputs.map((t) => t.shape))) {
        const shape = [...spec.shape];
        const host = initialize(spec.initializer, shape, random, `${node.layer.name}/${spec.name}`);
        this.graphWeights.push({ layer: node.layer, spec, name: `${node.layer.name}/${spec.name}`, shape, size: sizeOf(shape), offset: 0, host });
      }
    }
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

  /** Layers in graph order (the InputLayer first for functional models, as Keras lists them). */
  get layers(): Layer[] {
    return this.requireGraph('layers').nodes.map((n) => n.layer);
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
    return [this.requireGraph('inputs').input];
  }

  get outputs(): SymbolicTensor[] {
    return [this.requireGraph('outputs').output];
  }

  protected requireGraph(what: string): NonNullable<LayersModel['graph']> {
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
  protected summaryNodes(): GraphNode[] {
    return this.requireGraph('summary()').nodes;
  }

  /** The Keras summary table; `{ print: true }` also prints it (or hands each line to `printFn`). */
  summary(options: { print?: boolean; printFn?: (line: string) => void } = {}): string {
    const graph = this.requireGraph('summary()');
    const rows = this.summaryNodes().map((node) => ({ node, params: paramCount(node.layer.weightSpecs(node.inputs.map((t) => t.shape)).map((s) => s.shape)) }));
    const branching = graph.nodes.some((n) => n.inputs.length > 1) || new Set(graph.nodes.flatMap((n) => n.inputs)).size < graph.nodes.flatMap((n) => n.inputs).length;
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
    if (!args || typeof args !== 'object') throw new Error(`compile(): expected { optimizer, loss, metrics? }, got ${describe(args)}`);
    const loss = resolveLoss(args.loss);
    const optimizer = resolveOptimizer(args.optimizer);
    const accuracy = accuracyKind(loss, graph.output.shape, resolveAccuracyRequest(args.metrics));
    loss.checkOutput(graph.output.shape, `compile(): loss '${String(args.loss)}' on the output of layer ${graph.output.producer.layer.name}`);
    this.compiled = { optimizer, loss, accuracy, engine: args.engine };
    if (this.device && this.device.slotOptimizer !== optimizer) this.resetOptimizerState(this.device);
  }

  get optimizer(): Optimizer | undefined {
    return this.compiled?.optimizer;
  }

  // ---- weights -------------------------------------------------------------------------

  async getWeights(): Promise<NamedWeight[]> {
    this.requireGraph('getWeights()');
    if (this.device) await this.readDeviceWeights(this.device);
    return this.weightsList.map((w) => ({ name: w.name, shape: [...w.shape], data: w.host.slice(), trainable: isTrainable(w) }));
  }

  /** Copies the device's weights into the host values (offsets are still those of the state's layout). */
  private async readDeviceWeights(state: DeviceState): Promise<void> {
    const all = new Float32Array(await state.engine.read(state.params, state.floats * 4));
    for (const w of this.graphWeights) w.host = all.slice(w.offset, w.offset + w.size);
  }

  /** Sets every weight, in getWeights() order; validated as a whole before anything changes. */
  setWeights(weights: readonly (TensorLike | NamedWeight)[]): void {
    this.requireGraph('setWeights()');
    if (!Array.isArray(weights) || weights.length !== this.weightsList.length) {
      throw new Error(`setWeights(): expected a list of ${this.weightsList.length} weights (${this.weightsList.map((w) => w.name).join(', ')}), got ${describe(weights)}`);
    }
    const values = weights.map((given, i) => {
      const w = this.weightsList[i]!;
      const shape = (given as { shape?: readonly number[] })?.shape;
      const data = (given as { data?: unknown })?.data;
      if (!Array.isArray(shape) || shape.length !== w.shape.length || shape.some((d, k) => d !== w.shape[k])) {
        throw new Error(`setWeights(): weight ${i} (${w.name}) must have shape ${formatShape(w.shape)}, got ${shape ? formatShape(shape) : describe(given)}`);
      }
      if (!(data instanceof Float32Array) || data.length !== w.size) {
        throw new Error(`setWeights(): weight ${i} (${w.name}) needs a Float32Array of ${w.size} values, got ${describe(data)}`);
      }
      return data.slice();
    });
    const order = this.weightsList;
    order.forEach((w, i) => (w.host = values[i]!));
    if (this.device) this.uploadWeights(this.device);
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

  /** The compiled loss, optimizer and metrics (for saving the training config). */
  get compileConfig(): { loss: string; optimizer: Optimizer; metrics: string[] } | undefined {
    return this.compiled && { loss: this.compiled.loss.name, optimizer: this.compiled.optimizer, metrics: this.compiled.accuracy ? ['accuracy'] : [] };
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

  private async deviceState(): Promise<DeviceState> {
    if (this.disposed) throw new Error(`model ${this.name} was disposed`);
    const engine = this.compiled?.engine ?? this.boundEngine ?? (await getDefaultEngine());
    const layout = layoutKey(this.graphWeights);
    if (this.device && this.device.engine === engine && !engine.isDisposed && this.device.layout === layout) {
      engine.throwIfFailed();
      return this.device;
    }
    if (this.device) {
      // Moving to another engine, or a layer was frozen or unfrozen (the trainable weights must
      // stay one prefix of the flat buffers): the weights come along when the old device lives.
      const old = this.device;
      if (!old.engine.isDisposed) {
        try {
          await this.readDeviceWeights(old);
        } catch {
          // A lost device keeps nothing to copy: the host values (initial or last set) stand.
        }
      }
      this.releaseDevice();
    }
    engine.throwIfFailed();
    this.device = createDeviceState(engine, this.weightsList, layout);
    return this.device;
  }

  /** Frees the model's GPU memory. */
  private releaseDevice(): void {
    const state = this.device;
    if (!state) return;
    this.device = undefined;
    releaseDeviceState(state);
  }

  private uploadWeights(state: DeviceState): void {
    for (const w of this.graphWeights) state.engine.write(state.params, w.host, w.offset * 4);
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
    return {
      engine: state.engine,
      nodes: graph.nodes,
      input: graph.input,
      output: graph.output,
      hasTrainableWeights: (layer) => (byLayer.get(layer) ?? []).some(isTrainable),
      weightViews: views(state.params),
      gradViews: views(state.grads),
      stepInfo: { buffer: state.stepInfo, offset: 0, size: STEP_INFO_BYTES },
      metrics: state.metrics,
      loss: compiled && { op: compiled.loss, accuracy: compiled.accuracy },
      optimizer: compiled && { optimizer: compiled.optimizer, size: state.trainableFloats, params: state.params, grads: state.grads, slots: state.slots, hyper: state.hyper },
    };
  }

  private plan(state: DeviceState, batch: number, mode: PlanMode): Plan {
    const compiled = this.compiled;
    const key = mode === 'predict' ? `${mode}:${batch}` : `${mode}:${batch}:${compiled!.loss.name}:${compiled!.accuracy}`;
    let plan = state.plans.get(key);
    if (!plan) {
      if (mode === 'train' && state.slotOptimizer !== this.compiled!.optimizer) this.resetOptimizerState(state);
      plan = new Plan(this.binding(state), batch, mode);
      state.plans.set(key, plan);
    }
    return plan;
  }

  private dataset(state: DeviceState, x: Tensor, y: Tensor | undefined): DeviceDataset {
    return deviceDataset(state, x, y, y ? this.compiled!.loss.labels : undefined, sizeOf(this.graph!.output.shape));
  }

  // ---- training and inference ---------------------------------------------------------------

  private requireCompiled(what: string): Compiled {
    this.requireGraph(what);
    if (!this.compiled) throw new Error(`${what}: the model must be compiled first: model.compile({ optimizer, loss, metrics })`);
    return this.compiled;
  }

  async fit(x: TensorLike, y: TensorLike, args: FitArgs = {}): Promise<History> {
    const compiled = this.requireCompiled('fit()');
    const epochs = integerArg(args.epochs ?? 1, 'epochs', 0);
    const batchSize = integerArg(args.batchSize ?? 32, 'batchSize', 1);
    const initialEpoch = integerArg(args.initialEpoch ?? 0, 'initialEpoch', 0);
    const seed = args.seed ?? this.seed;
    const verbose = args.verbose ?? (isNodeTerminal() ? 1 : 0);
    let xs = this.checkX(x, 'x');
    let ys = this.checkY(y, xs, 'y');
    let validation: [Tensor, Tensor] | undefined;
    if (args.validationData) {
      if (!Array.isArray(args.validationData) || args.validationData.length !== 2) throw new Error(`fit(): validationData must be [x, y], got ${describe(args.validationData)}`);
      const vx = this.checkX(args.validationData[0], 'validationData[0]');
      validation = [vx, this.checkY(args.validationData[1], vx, 'validationData[1]')];
    } else if (args.validationSplit !== undefined) {
      const split = args.validationSplit;
      if (typeof split !== 'number' || !(split > 0 && split < 1)) throw new Error(`fit(): validationSplit must be a number in (0, 1), got ${describe(split)}`);
      // Keras takes the LAST fraction of the samples, before any shuffling.
      const n = xs.shape[0]!;
      const cut = Math.floor(n * (1 - split));
      if (cut < 1 || cut >= n) throw new Error(`fit(): validationSplit ${split} leaves no training or no validation samples out of ${n}`);
      validation = [sliceRows(xs, cut, n), sliceRows(ys, cut, n)];
      xs = sliceRows(xs, 0, cut);
      ys = sliceRows(ys, 0, cut);
    }
    const state = await this.deviceState();
    const engine = state.engine;
    const dataset = this.dataset(state, xs, ys);
    const n = dataset.count;
    const steps = Math.ceil(n / batchSize);
    // One plan for every step: the partial last batch runs through it too (see runBatches()); the
    // loss counts only its real rows, averages over them and gives the others a zero gradient.
    const plan = this.plan(state, Math.min(batchSize, n), 'train');
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
      engine.write(state.metrics, new Uint32Array(METRICS_WORDS));
      let logs: Logs & { size: number } = { loss: NaN, size: 0 };
      let lastRead = performance.now();
      let previousDone: Promise<void> | undefined;
      for (let step = 0; step < steps; step++) {
        const offset = step * batchSize;
        const size = Math.min(batchSize, n - offset);
        state.iterations++;
        engine.write(state.stepInfo, stepInfoData(offset, state.iterations, seed, size));
        engine.write(state.hyper, compiled.optimizer.hyperparameters(state.iterations));
        const gather = dataset.gather(plan.batch, indices, state.stepInfo, plan.x, plan.labels);
        engine.submit((encoder) => engine.encode(encoder, [...gather, ...plan.dispatches]));
        // Two steps in flight: the GPU works on this one while we wait for the previous.
        const done = engine.sync();
        done.catch(() => {}); // awaited below or next step; an early exit must not leave it unhandled
        if (previousDone) await previousDone;
        previousDone = done;
        const now = performance.now();
        const wantLogs = bar || callbacks.onBatchEnd;
        if (wantLogs && (now - lastRead >= logEvery || step === steps - 1)) {
          logs = { ...this.logsFrom(await engine.read(state.metrics, METRICS_BYTES), compiled), size };
          lastRead = performance.now();
          bar?.update(step + 1, logs);
        }
        await callbacks.onBatchEnd?.(step, { ...logs, size });
        if (this.stopTraining) break;
      }
      await previousDone;
      const epochLogs = this.logsFrom(await engine.read(state.metrics, METRICS_BYTES), compiled);
      if (validation) {
        const v = await this.evaluateTensors(state, validation[0], validation[1], batchSize);
        epochLogs.val_loss = v.loss;
        if (v.accuracy !== undefined) epochLogs.val_accuracy = v.accuracy;
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

  private logsFrom(bytes: ArrayBuffer, compiled: Compiled): Logs {
    const m = readMetrics(bytes);
    const logs: Logs = { loss: m.count ? m.lossSum / m.count : NaN };
    if (compiled.accuracy) logs.accuracy = m.accuracyCount ? m.correct / m.accuracyCount : NaN;
    return logs;
  }

  async evaluate(x: TensorLike, y: TensorLike, args: EvaluateArgs = {}): Promise<Logs> {
    this.requireCompiled('evaluate()');
    const xs = this.checkX(x, 'x');
    const ys = this.checkY(y, xs, 'y');
    const batchSize = integerArg(args.batchSize ?? 32, 'batchSize', 1);
    return this.evaluateTensors(await this.deviceState(), xs, ys, batchSize);
  }

  private async evaluateTensors(state: DeviceState, xs: Tensor, ys: Tensor, batchSize: number): Promise<Logs> {
    const engine = state.engine;
    engine.write(state.metrics, new Uint32Array(METRICS_WORDS));
    await this.runBatches(state, this.dataset(state, xs, ys), 'evaluate', batchSize);
    return this.logsFrom(await engine.read(state.metrics, METRICS_BYTES), this.compiled!);
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
        engine.encode(encoder, [...setup, ...dataset.gather(planBatch, indices, state.stepInfo, plan.x, plan.labels), ...plan.dispatches]);
        after?.(encoder, plan, offset, size);
      });
      if ((offset / batchSize) % 4 === 3) await engine.sync();
    }
  }

  /** Class probabilities for each row of x: `{ shape: [N, classes], data }`. */
  async predict(x: TensorLike, args: EvaluateArgs = {}): Promise<Tensor<Float32Array>> {
    const graph = this.requireGraph('predict()');
    const xs = this.checkX(x, 'x');
    const batchSize = integerArg(args.batchSize ?? 32, 'batchSize', 1);
    const state = await this.deviceState();
    const engine = state.engine;
    const dataset = this.dataset(state, xs, undefined);
    const width = sizeOf(graph.output.shape);
    const result = engine.buffer(dataset.count * width * 4, 'predictions');
    try {
      await this.runBatches(state, dataset, 'predict', batchSize, (encoder, plan, offset, size) =>
        encoder.copyBufferToBuffer(plan.output.buffer, plan.output.offset, result, offset * width * 4, size * width * 4),
      );
      const data = new Float32Array(await engine.read({ buffer: result, offset: 0, size: dataset.count * width * 4 }));
      return new Tensor(data, [dataset.count, ...graph.output.shape]);
    } finally {
      engine.release(result);
    }
  }

  // ---- input checks --------------------------------------------------------------------------

  private checkX(value: TensorLike, what: string): Tensor {
    const graph = this.requireGraph(what);
    const t = asTensor(value, what);
    const expected = graph.input.shape;
    if (t.shape.length !== expected.length + 1 || expected.some((d, i) => d !== t.shape[i + 1])) {
      throw new Error(`${what}: expected shape ${formatShape([null, ...expected])} (the model's input), got ${formatShape(t.shape)}`);
    }
    if (t.shape[0] === 0) throw new Error(`${what}: has no samples (shape ${formatShape(t.shape)})`);
    return t;
  }

  private checkY(value: TensorLike, x: Tensor, what: string): Tensor {
    const compiled = this.requireCompiled(what);
    const t = asTensor(value, what);
    const outputShape = this.graph!.output.shape;
    const loss = compiled.loss;
    if (t.shape[0] !== x.shape[0]) {
      throw new Error(`${what}: has ${t.shape[0]} samples but x has ${x.shape[0]}; they must match`);
    }
    if (loss.labels === 'sparse') {
      if (outputShape.length !== 1) {
        throw new Error(`${what}: loss '${loss.name}' on an output of shape ${formatShape([null, ...outputShape])} needs a class index per position, which fit() does not gather yet; only [batch, classes] outputs take sparse labels`);
      }
      if (t.shape.length !== 1 && !(t.shape.length === 2 && t.shape[1] === 1)) {
        throw new Error(`${what}: loss '${loss.name}' takes integer class labels of shape [N], got ${formatShape(t.shape)}; for one-hot labels compile with loss 'categoricalCrossentropy'`);
      }
      validateLabels(t, outputShape[0]!, 'sparse', what);
      return t;
    }
    if (loss.name === 'categoricalCrossentropy') {
      const classes = sizeOf(outputShape);
      if (t.shape.length !== 2 || t.shape[1] !== classes) {
        throw new Error(`${what}: loss '${loss.name}' takes one-hot labels of shape [N, ${classes}], got ${formatShape(t.shape)}; for integer labels compile with loss 'sparseCategoricalCrossentropy' or use toCategorical()`);
      }
      validateLabels(t, classes, 'onehot', what);
      return t;
    }
    // Targets of the output's shape; [N] also fits an output of one value per sample, as in Keras.
    const fits = (t.shape.length === outputShape.length + 1 && outputShape.every((d, i) => d === t.shape[i + 1])) || (sizeOf(outputShape) === 1 && t.shape.length === 1);
    if (!fits) throw new Error(`${what}: loss '${loss.name}' takes targets of the output's shape ${formatShape([null, ...outputShape])}, got ${formatShape(t.shape)}`);
    const bad = Array.prototype.findIndex.call(t.data, (v: number) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`${what}: target ${bad} is ${t.data[bad]}; targets must be finite numbers`);
    return t;
  }

  /** Frees the model's GPU memory (plans, datasets, weights). The host copy of the weights is dropped too. */
  dispose(): void {
    const engine = this.device?.engine;
    this.releaseDevice();
    // Disposing means the memory goes back to the device, not just to the engine's pool.
    if (engine && !engine.isDisposed) engine.trim();
    this.disposed = true;
  }
}
