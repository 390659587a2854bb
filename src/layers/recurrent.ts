/**
 * SimpleRNN, LSTM and GRU: the Keras layers over the recurrent op (src/ops/recurrent.ts), their
 * shared config and passes in recurrent-base.ts. Inputs [batch, timesteps, features]; weights as
 * TF.js and Keras lay them out: kernel [features, gates·units], recurrent_kernel [units,
 * gates·units], bias [gates·units] (gates LSTM i, f, c, o; GRU z, r, h), a GRU with resetAfter's
 * bias [2, 3·units] (input bias, recurrent bias), so that Keras's GRUs load.
 */
import { registerLayer } from './registry.ts';
import { describeValue, kerasConfig, regularizationKeys } from './config.ts';
import { cellActivation, flag, RecurrentLayer, rnnArgsFromConfig, RNN_KEYS, RNN_NEUTRAL, RNN_REGULARIZED, type GatedConfig, type RNNBaseConfig, type RNNCallArgs } from './recurrent-base.ts';
import type { CellActivation, CellKind } from '../ops/recurrent.ts';
import type { ActivationName, WeightSpec } from './layer.ts';
import { serializeActivation } from '../ops/activation.ts';

export type { GatedConfig, RNNBaseConfig, RNNCallArgs };
export type SimpleRNNConfig = RNNBaseConfig;

/** A layer's config with its returnState as the type parameter S (what apply() returns depends on it). */
type WithReturnState<C, S extends boolean> = Omit<C, 'returnState'> & { returnState?: S };

/** The model.json keys of every recurrent layer's regularizers and constraints. */
const REGULARIZATION_KEYS = regularizationKeys(Object.keys(RNN_REGULARIZED));

/** `S`: returnState, which decides whether apply() returns an array (RecurrentLayer). */
export class SimpleRNN<S extends boolean = false> extends RecurrentLayer<S> {
  static override readonly className = 'SimpleRNN';

  constructor(config: WithReturnState<SimpleRNNConfig, S>) {
    super(config, 'simple_rnn', 'SimpleRNN({ units: 8 })');
  }

  protected get cell(): CellKind {
    return 'simpleRNN';
  }

  override getConfig(): Record<string, unknown> {
    return this.rnnConfig({}, {}, {});
  }

  /** From the Keras config in model.json (the constructor validates the values). */
  static fromConfig(config: unknown): SimpleRNN<boolean> {
    const c = kerasConfig('SimpleRNN', config, [...RNN_KEYS, ...REGULARIZATION_KEYS], RNN_NEUTRAL);
    return new SimpleRNN(rnnArgsFromConfig('SimpleRNN', c));
  }
}

/** What LSTM and GRU add: the gates' activation and TF.js's implementation mode. */
abstract class GatedLayer<S extends boolean> extends RecurrentLayer<S> {
  readonly recurrentActivation: CellActivation;
  /** TF.js's and Keras's implementation mode, kept for model.json; it changes nothing here. */
  readonly implementation: number | null;

  constructor(config: GatedConfig, prefix: string, example: string) {
    super(config, prefix, example);
    this.recurrentActivation = cellActivation(config.recurrentActivation === undefined ? 'hardSigmoid' : config.recurrentActivation, `${this.who}: recurrentActivation`);
    const implementation = config.implementation ?? null;
    if (implementation !== null && ![0, 1, 2].includes(implementation)) throw new Error(`${this.who}: implementation must be 1 or 2 (or null), got ${describeValue(implementation)}`);
    this.implementation = implementation;
  }

  protected override get gateActivation(): CellActivation {
    return this.recurrentActivation;
  }

  protected gatedConfig(): Record<string, unknown> {
    return { recurrent_activation: serializeActivation(this.recurrentActivation) };
  }
}

/** The TF.js config of a gated layer from its Keras config. */
function gatedArgsFromConfig(className: string, c: Record<string, unknown>): GatedConfig {
  return {
    ...rnnArgsFromConfig(className, c),
    recurrentActivation: c.recurrent_activation === undefined ? undefined : ((c.recurrent_activation ?? 'linear') as ActivationName),
    implementation: (c.implementation ?? undefined) as number | undefined,
  };
}

export interface LSTMConfig extends GatedConfig {
  /**
   * The forget gate's initial bias is ones, the other gates' from biasInitializer (TF.js's
   * default is off; Keras's on).
   */
  unitForgetBias?: boolean | null;
}

export class LSTM<S extends boolean = false> extends GatedLayer<S> {
  static override readonly className = 'LSTM';
  /** As given (TF.js writes null when it was not). */
  readonly unitForgetBias: boolean | null;

  constructor(config: WithReturnState<LSTMConfig, S>) {
    super(config, 'lstm', 'LSTM({ units: 8 })');
    const unitForgetBias = config.unitForgetBias ?? null;
    if (unitForgetBias !== null) flag(unitForgetBias, false, `${this.who}: unitForgetBias`);
    this.unitForgetBias = unitForgetBias;
  }

  /** With unitForgetBias, gates i, f, c, o start from [biasInitializer, ones, biasInitializer, biasInitializer] (TF.js's and Keras's). */
  protected override biasParts(): WeightSpec['parts'] {
    if (!this.unitForgetBias) return undefined;
    return [
      { initializer: this.biasInitializer, size: this.units },
      { initializer: 'ones', size: this.units },
      { initializer: this.biasInitializer, size: 2 * this.units },
    ];
  }

  protected get cell(): CellKind {
    return 'lstm';
  }

  override getConfig(): Record<string, unknown> {
    return this.rnnConfig(this.gatedConfig(), { unit_forget_bias: this.unitForgetBias }, { implementation: this.implementation });
  }

  /** From the Keras config in model.json. */
  static fromConfig(config: unknown): LSTM<boolean> {
    const c = kerasConfig('LSTM', config, [...RNN_KEYS, ...REGULARIZATION_KEYS, 'recurrent_activation', 'implementation', 'unit_forget_bias'], RNN_NEUTRAL);
    return new LSTM({ ...gatedArgsFromConfig('LSTM', c), unitForgetBias: (c.unit_forget_bias ?? undefined) as boolean | undefined });
  }
}

export interface GRUConfig extends GatedConfig {
  /**
   * The reset gate multiplies h·U_h + b_rh (Keras's default, cuDNN's) instead of h before the
   * product (TF.js's only mode, our default); the bias is then [2, 3·units].
   */
  resetAfter?: boolean;
}

export class GRU<S extends boolean = false> extends GatedLayer<S> {
  static override readonly className = 'GRU';
  readonly resetAfter: boolean;

  constructor(config: WithReturnState<GRUConfig, S>) {
    super(config, 'gru', 'GRU({ units: 8 })');
    this.resetAfter = flag(config.resetAfter, false, `${this.who}: resetAfter`);
  }

  protected get cell(): CellKind {
    return 'gru';
  }

  protected override get resetsAfterProduct(): boolean {
    return this.resetAfter;
  }

  override getConfig(): Record<string, unknown> {
    return this.rnnConfig(this.gatedConfig(), {}, { implementation: this.implementation, reset_after: this.resetAfter });
  }

  /** From the Keras config in model.json (reset_after true is Keras's default). */
  static fromConfig(config: unknown): GRU<boolean> {
    const c = kerasConfig('GRU', config, [...RNN_KEYS, ...REGULARIZATION_KEYS, 'recurrent_activation', 'implementation', 'reset_after'], RNN_NEUTRAL);
    return new GRU({ ...gatedArgsFromConfig('GRU', c), resetAfter: (c.reset_after ?? undefined) as boolean | undefined });
  }
}

// S is returnState as given, so that `lstm({ units, returnState: true }).apply(x)` is typed as an
// array; typed apart from registerLayer, whose inference would instantiate S with its default.
const recurrentFactories = {
  simpleRNN: <S extends boolean = false>(config: WithReturnState<SimpleRNNConfig, S>) => new SimpleRNN<S>(config),
  lstm: <S extends boolean = false>(config: WithReturnState<LSTMConfig, S>) => new LSTM<S>(config),
  gru: <S extends boolean = false>(config: WithReturnState<GRUConfig, S>) => new GRU<S>(config),
};
registerLayer(SimpleRNN, { simpleRNN: recurrentFactories.simpleRNN });
registerLayer(LSTM, { lstm: recurrentFactories.lstm });
registerLayer(GRU, { gru: recurrentFactories.gru });
type RecurrentFactories = typeof recurrentFactories;
declare module './registry.ts' {
  interface LayerFactories extends RecurrentFactories {}
}
