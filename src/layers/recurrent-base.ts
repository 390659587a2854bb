/**
 * What SimpleRNN, LSTM and GRU share (TF.js's RNN and its cells): the config fields parsed and
 * checked once (units, activations, initializers with TF.js's defaults, regularizers and
 * constraints of kernel, recurrent_kernel and bias, dropouts, returnSequences, goBackwards, and the
 * options this engine cannot honour as Errors), the weights, the passes over the recurrent op
 * (src/ops/recurrent.ts), and the model.json fields they read and write.
 *
 * Final and initial states (Keras's return_state and initial_state): with `returnState` the layer
 * has several outputs, [output, h] (an LSTM's [output, h, c]), and apply() returns them as an
 * array, as TF.js's does; `apply(x, { initialState: [h, c] })` (or `apply([x, h, c])`, the form
 * model.json keeps) starts the sequence from those states instead of zeros, and trains through them.
 *
 * Not supported, as Errors: `stateful` (no state survives between batches), activations that are
 * not elementwise or that the cells do not implement (shaders/recurrent.ts CELL_ACTIVATIONS).
 * `unroll` is accepted and has no effect: the plan always holds the unrolled sequence.
 *
 * Masks (an Embedding with maskZero, a Masking layer): as TF.js's and Keras's RNN, a masked step
 * carries the state over unchanged and outputs the previous step's output (zeros before the first
 * kept step); the last output is the state after the last kept step. With returnSequences the
 * output carries the input's mask on, without it the mask ends here. Keras 3's
 * zero_output_for_mask true (zeros at masked steps of the sequence) is an Error when a mask arrives.
 */
import type { Dispatch } from '../runtime/engine.ts';
import { parseActivation, serializeActivation } from '../ops/activation.ts';
import { CELL_ACTIVATIONS, CELL_GATES, recurrentBackward, recurrentForward, recurrentGeometry, type CellActivation, type CellKind, type RecurrentGeometry } from '../ops/recurrent.ts';
import { activityFromConfig, describeValue, initializerConfig, initializerFromConfig, parseRegularization, regularizationFromConfig, regularized, type WeightRegularization } from './config.ts';
import { constraintConfig, type ConstraintIdentifier } from './constraints.ts';
import { parseRegularizer, regularizerConfig, type Regularizer, type RegularizerIdentifier } from './regularizers.ts';
import { parseInitializer, type Initializer } from './initializers.ts';
import { formatShape } from '../runtime/tensor.ts';
import { isSymbolicTensor, Layer, SymbolicTensor, type ActivationName, type BackwardContext, type ForwardContext, type LayerArgs, type MaskRole, type Shape, type TensorMask, type WeightSpec } from './layer.ts';

/** TF.js's config of SimpleRNN, LSTM and GRU (the gated ones add their own fields). */
export interface RNNBaseConfig extends LayerArgs {
  units: number;
  /** Default 'tanh'; null means linear (as in Keras). */
  activation?: ActivationName | null;
  useBias?: boolean;
  /** Default glorotNormal, as TF.js (Keras uses glorotUniform). */
  kernelInitializer?: Initializer | string;
  /** Default orthogonal. */
  recurrentInitializer?: Initializer | string;
  biasInitializer?: Initializer | string;
  kernelRegularizer?: RegularizerIdentifier | null;
  recurrentRegularizer?: RegularizerIdentifier | null;
  biasRegularizer?: RegularizerIdentifier | null;
  /** Penalizes the layer's output (Keras applies it; TF.js 4.22's recurrent layers ignore it). */
  activityRegularizer?: RegularizerIdentifier | null;
  kernelConstraint?: ConstraintIdentifier | null;
  recurrentConstraint?: ConstraintIdentifier | null;
  biasConstraint?: ConstraintIdentifier | null;
  /** Fraction of the inputs dropped in training, one mask per sample fixed over the timesteps. */
  dropout?: number;
  /** Fraction of the previous state dropped in the recurrent product in training, likewise fixed. */
  recurrentDropout?: number;
  /** Return every step's output ([time, units]) rather than the last ([units]). Default false. */
  returnSequences?: boolean;
  /** Also return the final states: apply() gives [output, h] ([output, h, c] for an LSTM). Default false. */
  returnState?: boolean;
  /** Process the sequence from its last step; the returned sequence is in processing order (Keras's). */
  goBackwards?: boolean;
  /** Only false: no state is kept between batches. */
  stateful?: boolean;
  /** Accepted, without effect: the plan always unrolls the sequence. */
  unroll?: boolean;
  /** The dropout masks' seed (Keras 3's field, not TF.js's); by default one derived from the layer's name. */
  seed?: number | null;
  /**
   * Keras 3's field (not TF.js's): zeros instead of the previous output at the masked steps of the
   * returned sequence. Only false with a mask (true is kept for model.json and is an Error once a
   * mask reaches the layer with returnSequences).
   */
  zeroOutputForMask?: boolean | null;
}

/** TF.js's config fields of the gated cells (LSTM, GRU). */
export interface GatedConfig extends RNNBaseConfig {
  /** The gates' activation; default 'hardSigmoid' (TF.js's; Keras 2's too; Keras 3 uses sigmoid). */
  recurrentActivation?: ActivationName | null;
  /** TF.js's implementation mode (1 or 2), accepted and ignored as TF.js does. */
  implementation?: number | null;
}

/** TF.js's regularizer/constraint field prefixes → the weights they apply to. */
export const RNN_REGULARIZED = { kernel: 'kernel', recurrent: 'recurrent_kernel', bias: 'bias' } as const;

/** The model.json keys every recurrent layer reads (beside those of its cell). */
export const RNN_KEYS = [
  'units',
  'activation',
  'use_bias',
  'kernel_initializer',
  'recurrent_initializer',
  'bias_initializer',
  'activity_regularizer',
  'dropout',
  'recurrent_dropout',
  'return_sequences',
  'return_state',
  'go_backwards',
  'stateful',
  'unroll',
  'seed',
  'zero_output_for_mask',
] as const;

/** Options we do not implement, at the values that make them no-ops (Keras 2's time_major). */
export const RNN_NEUTRAL: Readonly<Record<string, readonly unknown[]>> = { time_major: [false] };

/** A seed per layer name (FNV-1a), as the Dropout layer derives its own: distinct layers get distinct masks. */
function nameSeed(name: string): number {
  return [...name].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0, 2166136261);
}

/** apply()'s call arguments, as TF.js's RNN takes them. */
export interface RNNCallArgs {
  /** The states before the first step, [batch, units] each: [h] ([h, c] for an LSTM); zeros without. */
  initialState?: SymbolicTensor | readonly SymbolicTensor[];
}

/** What apply() returns: the output, or with returnState (S true) [output, ...final states]. */
type RNNOutput<S extends boolean> = S extends true ? SymbolicTensor[] : S extends false ? SymbolicTensor : SymbolicTensor | SymbolicTensor[];

/** `S`: the layer's returnState, so that apply()'s type says whether it returns an array. */
export abstract class RecurrentLayer<S extends boolean = boolean> extends Layer {
  readonly units: number;
  readonly returnState: S;
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly recurrentInitializer: Initializer;
  readonly biasInitializer: Initializer;
  readonly dropout: number;
  readonly recurrentDropout: number;
  readonly returnSequences: boolean;
  readonly goBackwards: boolean;
  readonly unroll: boolean;
  /** Keras 3's zero_output_for_mask (see RNNBaseConfig); only false works with a mask. */
  readonly zeroOutputForMask: boolean;
  /** The dropout masks' seed (the fit's seed and step are mixed in): Keras 3's `seed`, else from the name. */
  readonly seed: number;
  /** The weights' regularizers and constraints, by weight name. */
  readonly regularization: Readonly<Record<string, WeightRegularization>>;
  protected readonly activationName: CellActivation;
  private readonly activity: Regularizer | undefined;

  constructor(config: RNNBaseConfig, defaultPrefix: string, example: string) {
    if (!config || typeof config !== 'object') throw new Error(`${example.split('(')[0]}: expected a config object like ${example}, got ${describeValue(config)}`);
    super(config, defaultPrefix);
    const who = this.who;
    if (!(Number.isInteger(config.units) && config.units > 0)) throw new Error(`${who}: units must be a positive integer, got ${describeValue(config.units)}`);
    this.units = config.units;
    this.activationName = cellActivation(config.activation === undefined ? 'tanh' : config.activation, `${who}: activation`);
    this.useBias = flag(config.useBias, true, `${who}: useBias`);
    this.kernelInitializer = parseInitializer(config.kernelInitializer ?? 'glorotNormal', `${who}: kernelInitializer`);
    this.recurrentInitializer = parseInitializer(config.recurrentInitializer ?? 'orthogonal', `${who}: recurrentInitializer`);
    this.biasInitializer = parseInitializer(config.biasInitializer ?? 'zeros', `${who}: biasInitializer`);
    this.regularization = parseRegularization(config, RNN_REGULARIZED, who);
    this.activity = parseRegularizer(config.activityRegularizer, `${who}: activityRegularizer`);
    this.dropout = rate(config.dropout, `${who}: dropout`);
    this.recurrentDropout = rate(config.recurrentDropout, `${who}: recurrentDropout`);
    this.returnSequences = flag(config.returnSequences, false, `${who}: returnSequences`);
    this.goBackwards = flag(config.goBackwards, false, `${who}: goBackwards`);
    this.unroll = flag(config.unroll, false, `${who}: unroll`);
    this.zeroOutputForMask = flag(config.zeroOutputForMask, false, `${who}: zeroOutputForMask`);
    this.returnState = flag(config.returnState, false, `${who}: returnState`) as S;
    if (flag(config.stateful, false, `${who}: stateful`)) {
      throw new Error(`${who}: stateful true is not supported yet: this engine keeps no state between batches (every sequence starts from zeros). Use stateful: false.`);
    }
    const seed: unknown = config.seed;
    if (seed !== undefined && seed !== null && !(Number.isInteger(seed) && (seed as number) >= 0 && (seed as number) <= 0xffffffff)) {
      throw new Error(`${who}: seed must be null or an integer in [0, 2^32), got ${describeValue(seed)}`);
    }
    this.seed = typeof seed === 'number' ? seed : nameSeed(this.name);
  }

  /** Which cell the layer runs. */
  protected abstract get cell(): CellKind;

  /** The states a step carries (Keras's state_size count): an LSTM's h and c, the others' h. */
  get stateCount(): number {
    return this.cell === 'lstm' ? 2 : 1;
  }

  /**
   * Connects the layer (TF.js's RNN.apply): `x`, or `[x, ...initialState]`, or `x` with
   * `{ initialState }`; with returnState it returns [output, ...final states].
   */
  override apply(this: RecurrentLayer<false>, inputs: SymbolicTensor | readonly SymbolicTensor[], args?: RNNCallArgs): SymbolicTensor;
  override apply(this: RecurrentLayer<true>, inputs: SymbolicTensor | readonly SymbolicTensor[], args?: RNNCallArgs): SymbolicTensor[];
  override apply(inputs: SymbolicTensor | readonly SymbolicTensor[], args?: RNNCallArgs): RNNOutput<S>;
  override apply(inputs: SymbolicTensor | readonly SymbolicTensor[], args: RNNCallArgs = {}): SymbolicTensor | SymbolicTensor[] {
    if (!args || typeof args !== 'object') throw new TypeError(`${this.who}: apply()'s call arguments must be { initialState? }, got ${describeValue(args)}`);
    const list = isSymbolicTensor(inputs) ? [inputs] : [...(inputs ?? [])];
    const given = args.initialState;
    if (given !== undefined && given !== null) {
      const states = isSymbolicTensor(given) ? [given] : given;
      if (!Array.isArray(states) || !states.every(isSymbolicTensor)) throw new TypeError(`${this.who}: initialState must be a symbolic tensor or an array of them, got ${describeValue(given)}`);
      if (list.length > 1) throw new Error(`${this.who}: the initial state is given twice, as inputs after the first and as initialState`);
      list.push(...states);
    }
    const outputs = this.applyAll(list);
    return this.returnState ? outputs : outputs[0]!;
  }

  override computeOutputShapes(inputShapes: readonly Shape[]): Shape[] {
    const output = this.computeOutputShape(inputShapes);
    return this.returnState ? [output, ...Array.from({ length: this.stateCount }, () => [this.units])] : [output];
  }

  /** The sequence's shape; the initial states (inputs after the first), when given, checked. */
  private sequenceShape(inputShapes: readonly Shape[]): Shape {
    const states = inputShapes.length - 1;
    if (inputShapes.length === 0 || (states !== 0 && states !== this.stateCount)) {
      throw new Error(
        `${this.who} takes its input sequence${this.stateCount === 2 ? ', or the sequence and its initial states [h, c]' : ', or the sequence and its initial state [h]'}, got ${inputShapes.length} input${inputShapes.length === 1 ? '' : 's'}`,
      );
    }
    inputShapes.slice(1).forEach((shape, i) => {
      if (shape.length !== 1 || shape[0] !== this.units) throw new Error(`${this.who}: initial state ${i} must have shape [${this.units}] (units), got ${formatShape(shape)}`);
    });
    return inputShapes[0]!;
  }

  /** The gates' activation (a SimpleRNN has no gates: unused). */
  protected get gateActivation(): CellActivation {
    return 'hardSigmoid';
  }

  /** GRU: the reset gate acts after the recurrent product (its bias is then [2, 3·units]). */
  protected get resetsAfterProduct(): boolean {
    return false;
  }

  /** Names the layer in errors: `layer lstm_1 (LSTM)`. */
  protected get who(): string {
    return `layer ${this.name} (${this.className})`;
  }

  override get activityRegularizer(): Regularizer | undefined {
    return this.activity;
  }

  /** A mask on the input is read (ForwardContext.mask); with returnSequences the output carries it on. */
  override get supportsMasking(): boolean {
    return true;
  }

  override computeMask(inputMasks: readonly (TensorMask | null)[], inputShapes: readonly Shape[]): MaskRole {
    this.sequenceShape(inputShapes);
    if (inputMasks.slice(1).some((m) => m)) throw new Error(`${this.who}: an initial state carries a mask; states have no timesteps to mask`);
    const mask = inputMasks[0];
    if (!mask) return 'none';
    const time = inputShapes[0]![0]!;
    const from = `layer ${mask.node.layer.name} (${mask.node.layer.className})`;
    if (mask.shape.length !== 1 || mask.shape[0] !== time) {
      throw new Error(`${this.who}: the mask of its input (from ${from}) has shape ${formatShape(mask.shape)}, but a recurrent layer needs one value per timestep, [${time}]`);
    }
    if (this.returnSequences && this.zeroOutputForMask) {
      throw new Error(`${this.who}: zeroOutputForMask true is not supported: its input carries the mask of ${from}, and masked steps output the previous output here (TF.js's and Keras's default). Use zero_output_for_mask false.`);
    }
    return this.returnSequences ? 'propagate' : 'none';
  }

  private geometry(batch: number, inputShapes: readonly Shape[], training: boolean, masked = false): RecurrentGeometry {
    const inputShape = this.sequenceShape(inputShapes);
    return recurrentGeometry(
      {
        cell: this.cell,
        batch,
        inputShape,
        units: this.units,
        activation: this.activationName,
        recurrentActivation: this.gateActivation,
        bias: this.useBias,
        resetAfter: this.resetsAfterProduct,
        goBackwards: this.goBackwards,
        returnSequences: this.returnSequences,
        dropout: training ? this.dropout : 0,
        recurrentDropout: training ? this.recurrentDropout : 0,
        seed: this.seed,
        masked,
        initialState: inputShapes.length > 1,
        returnState: this.returnState,
      },
      this.who,
    );
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const g = this.geometry(1, inputShapes, false);
    return this.returnSequences ? [g.time, this.units] : [this.units];
  }

  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    const g = this.geometry(1, inputShapes, false);
    const cols = CELL_GATES[this.cell] * this.units;
    const specs: WeightSpec[] = [
      { name: 'kernel', shape: [g.inputs, cols], initializer: this.kernelInitializer },
      { name: 'recurrent_kernel', shape: [this.units, cols], initializer: this.recurrentInitializer },
    ];
    if (this.useBias) specs.push({ name: 'bias', shape: this.resetsAfterProduct ? [2, cols] : [cols], initializer: this.biasInitializer, parts: this.biasParts() });
    return regularized(specs, this.regularization, this.who);
  }

  /** The bias's initial values piece by piece, when not one initializer over it all (LSTM's unitForgetBias). */
  protected biasParts(): WeightSpec['parts'] {
    return undefined;
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes, ctx.training, ctx.mask !== undefined);
    const [kernel, recurrentKernel, bias] = ctx.weights;
    const mask = ctx.mask ? { mask: ctx.mask } : {};
    return recurrentForward(ctx.engine, g, { x: ctx.inputs[0]!, kernel: kernel!, recurrentKernel: recurrentKernel!, bias, y: ctx.output, stepInfo: ctx.stepInfo, ...mask, ...this.stateViews(ctx) }, ctx);
  }

  /** The initial states (inputs after the first) and final states (outputs after the first) of a pass. */
  private stateViews(ctx: ForwardContext) {
    const outputs = ctx.outputs ?? [ctx.output];
    if (this.returnState && outputs.length !== 1 + this.stateCount) throw new Error(`${this.who}: the plan gave ${outputs.length} output views for its ${1 + this.stateCount} outputs`);
    return { h0: ctx.inputs[1], c0: ctx.inputs[2], hn: outputs[1], cn: outputs[2] };
  }

  backward(ctx: BackwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes, true, ctx.mask !== undefined);
    const [kernel, recurrentKernel, bias] = ctx.weights;
    const [dKernel, dRecurrentKernel, dBias] = ctx.weightGrads;
    const mask = ctx.mask ? { mask: ctx.mask } : {};
    return recurrentBackward(
      ctx.engine,
      g,
      {
        x: ctx.inputs[0]!,
        kernel: kernel!,
        recurrentKernel: recurrentKernel!,
        bias,
        y: ctx.output,
        stepInfo: ctx.stepInfo,
        ...mask,
        dy: ctx.outputGrad,
        dx: ctx.inputGrads[0] ?? null,
        dKernel: dKernel!,
        dRecurrentKernel: dRecurrentKernel!,
        dBias,
        ...this.stateViews(ctx),
        dhn: ctx.outputGrads?.[1],
        dcn: ctx.outputGrads?.[2],
        dh0: ctx.inputGrads[1] ?? null,
        dc0: ctx.inputGrads[2] ?? null,
      },
      ctx,
    );
  }

  /**
   * The model.json config in TF.js's field order; `gated` are the fields TF.js writes after the
   * activation (recurrent_activation), `cell` those after the bias initializer (unit_forget_bias),
   * `tail` those after the dropouts (implementation, reset_after).
   */
  protected rnnConfig(gated: Record<string, unknown>, cell: Record<string, unknown>, tail: Record<string, unknown>): Record<string, unknown> {
    const r = this.regularization;
    return {
      ...super.getConfig(),
      ...(this.batchInputShape ? { batch_input_shape: [...this.batchInputShape], dtype: 'float32' } : {}),
      units: this.units,
      activation: serializeActivation(this.activationName),
      ...gated,
      use_bias: this.useBias,
      kernel_initializer: initializerConfig(this.kernelInitializer),
      recurrent_initializer: initializerConfig(this.recurrentInitializer),
      bias_initializer: initializerConfig(this.biasInitializer),
      ...cell,
      kernel_regularizer: regularizerConfig(r.kernel?.regularizer),
      recurrent_regularizer: regularizerConfig(r.recurrent_kernel?.regularizer),
      bias_regularizer: regularizerConfig(r.bias?.regularizer),
      activity_regularizer: regularizerConfig(this.activity),
      kernel_constraint: constraintConfig(r.kernel?.constraint),
      recurrent_constraint: constraintConfig(r.recurrent_kernel?.constraint),
      bias_constraint: constraintConfig(r.bias?.constraint),
      dropout: this.dropout,
      recurrent_dropout: this.recurrentDropout,
      ...tail,
      return_sequences: this.returnSequences,
      return_state: this.returnState,
      go_backwards: this.goBackwards,
      stateful: false,
      unroll: this.unroll,
      // Keras 3's field, written only when set (TF.js has none).
      ...(this.zeroOutputForMask ? { zero_output_for_mask: true } : {}),
    };
  }
}

/**
 * The TF.js config of a recurrent layer from its Keras config (`c`, checked by kerasConfig); the
 * constructor validates the values. `className` names the layer in errors.
 */
export function rnnArgsFromConfig(className: string, c: Record<string, unknown>): RNNBaseConfig {
  const opt = <T>(key: string) => (c[key] ?? undefined) as T | undefined;
  return {
    name: opt<string>('name'),
    units: c.units as number,
    // null in Keras's JSON means linear; absent means the default.
    activation: c.activation === undefined ? undefined : ((c.activation ?? 'linear') as ActivationName),
    useBias: opt<boolean>('use_bias'),
    kernelInitializer: initializerFromConfig(c.kernel_initializer, `${className}: kernel_initializer`),
    recurrentInitializer: initializerFromConfig(c.recurrent_initializer, `${className}: recurrent_initializer`),
    biasInitializer: initializerFromConfig(c.bias_initializer, `${className}: bias_initializer`),
    ...regularizationFromConfig(c, Object.keys(RNN_REGULARIZED), className),
    activityRegularizer: activityFromConfig(c, className),
    dropout: opt<number>('dropout'),
    recurrentDropout: opt<number>('recurrent_dropout'),
    returnSequences: opt<boolean>('return_sequences'),
    returnState: opt<boolean>('return_state'),
    goBackwards: opt<boolean>('go_backwards'),
    stateful: opt<boolean>('stateful'),
    unroll: opt<boolean>('unroll'),
    seed: opt<number>('seed'),
    zeroOutputForMask: opt<boolean>('zero_output_for_mask'),
  };
}

/** An activation the cells run (TF.js's names and spellings; null is linear); `what` names the field in errors. */
export function cellActivation(value: unknown, what: string): CellActivation {
  const name = parseActivation(value, what);
  if (!(CELL_ACTIVATIONS as readonly string[]).includes(name)) {
    throw new Error(`${what}: '${name}' is not supported inside a recurrent cell; supported: ${CELL_ACTIVATIONS.join(', ')}`);
  }
  return name as CellActivation;
}

/** A boolean field (undefined or null: `fallback`); `what` names it in errors. */
export function flag(value: unknown, fallback: boolean, what: string): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw new Error(`${what} must be true or false, got ${describeValue(value)}`);
  return value;
}

/** A dropout rate in [0, 1) (undefined or null: 0); `what` names it in errors. */
function rate(value: unknown, what: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) throw new Error(`${what} must be a number in [0, 1), got ${describeValue(value)}`);
  return value;
}
