/**
 * SimpleRNN, LSTM and GRU: the Keras layers over the recurrent op (src/ops/recurrent.ts), their
 * shared config and passes in recurrent-base.ts. Inputs [batch, timesteps, features]; weights as
 * TF.js and Keras lay them out: kernel [features, gates·units], recurrent_kernel [units,
 * gates·units], bias [gates·units] (gates LSTM i, f, c, o; GRU z, r, h), a GRU with resetAfter's
 * bias [2, 3·units] (input bias, recurrent bias), so that Keras's GRUs load.
 */
import { registerLayer } from './registry.ts';
import { describeValue, kerasConfig, regularizationKeys } from './config.ts';
import { cellActivation, flag, RecurrentLayer, rnnArgsFromConfig, RNN_KEYS, RNN_NEUTRAL, RNN_REGULARIZED, type GatedConfig, type RNNBaseConfig } from './recurrent-base.ts';
import type { CellActivation, CellKind } from '../ops/recurrent.ts';
import type { ActivationName } from './layer.ts';
import { serializeActivation } from '../ops/activation.ts';

export type { GatedConfig, RNNBaseConfig };
export type SimpleRNNConfig = RNNBaseConfig;

/** The model.json keys of every recurrent layer's regularizers and constraints. */
const REGULARIZATION_KEYS = regularizationKeys(Object.keys(RNN_REGULARIZED));

export class SimpleRNN extends RecurrentLayer {
  static override readonly className = 'SimpleRNN';

  constructor(config: SimpleRNNConfig) {
    super(config, 'simple_rnn', 'SimpleRNN({ units: 8 })');
  }

  protected get cell(): CellKind {
    return 'simpleRNN';
  }

  override getConfig(): Record<string, unknown> {
    return this.rnnConfig({}, {}, {});
  }

  /** From the Keras config in model.json (the constructor validates the values). */
  static fromConfig(config: unknown): SimpleRNN {
    const c = kerasConfig('SimpleRNN', config, [...RNN_KEYS, ...REGULARIZATION_KEYS], RNN_NEUTRAL);
    return new SimpleRNN(rnnArgsFromConfig('SimpleRNN', c));
  }
}

/** What LSTM and GRU add: the gates' activation and TF.js's implementation mode. */
abstract class GatedLayer extends RecurrentLayer {
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
   * Adds 1 to the forget gate's initial bias (TF.js's default is off; Keras's on). Only for a
   * model.json whose weights come with it: the engine's initializers cannot build TF.js's
   * [biasInitializer, ones, biasInitializer × 2] bias yet, so `true` is an Error here.
   */
  unitForgetBias?: boolean | null;
}

/** Marks a config read from model.json, whose weights replace the initial values (LSTM's unitForgetBias). */
const FROM_MODEL_JSON = Symbol('recurrent config from model.json');

export class LSTM extends GatedLayer {
  static override readonly className = 'LSTM';
  /** As given (TF.js writes null when it was not). */
  readonly unitForgetBias: boolean | null;

  constructor(config: LSTMConfig) {
    super(config, 'lstm', 'LSTM({ units: 8 })');
    const unitForgetBias = config.unitForgetBias ?? null;
    if (unitForgetBias !== null) flag(unitForgetBias, false, `${this.who}: unitForgetBias`);
    if (unitForgetBias && this.useBias && !(config as { [FROM_MODEL_JSON]?: boolean })[FROM_MODEL_JSON]) {
      throw new Error(
        `${this.who}: unitForgetBias true is not supported yet: the forget gate's initial bias of ones needs a per-gate bias initializer this engine does not have. ` +
          'Use unitForgetBias false (TF.js\'s default) and set the bias with setWeights() if you need it.',
      );
    }
    this.unitForgetBias = unitForgetBias;
  }

  protected get cell(): CellKind {
    return 'lstm';
  }

  override getConfig(): Record<string, unknown> {
    return this.rnnConfig(this.gatedConfig(), { unit_forget_bias: this.unitForgetBias }, { implementation: this.implementation });
  }

  /** From the Keras config in model.json (Keras writes unit_forget_bias true: the file's weights hold the bias). */
  static fromConfig(config: unknown): LSTM {
    const c = kerasConfig('LSTM', config, [...RNN_KEYS, ...REGULARIZATION_KEYS, 'recurrent_activation', 'implementation', 'unit_forget_bias'], RNN_NEUTRAL);
    return new LSTM({ ...gatedArgsFromConfig('LSTM', c), unitForgetBias: (c.unit_forget_bias ?? undefined) as boolean | undefined, [FROM_MODEL_JSON]: true } as LSTMConfig);
  }
}

export interface GRUConfig extends GatedConfig {
  /**
   * The reset gate multiplies h·U_h + b_rh (Keras's default, cuDNN's) instead of h before the
   * product (TF.js's only mode, our default); the bias is then [2, 3·units].
   */
  resetAfter?: boolean;
}

export class GRU extends GatedLayer {
  static override readonly className = 'GRU';
  readonly resetAfter: boolean;

  constructor(config: GRUConfig) {
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
  static fromConfig(config: unknown): GRU {
    const c = kerasConfig('GRU', config, [...RNN_KEYS, ...REGULARIZATION_KEYS, 'recurrent_activation', 'implementation', 'reset_after'], RNN_NEUTRAL);
    return new GRU({ ...gatedArgsFromConfig('GRU', c), resetAfter: (c.reset_after ?? undefined) as boolean | undefined });
  }
}

const recurrentFactories = {
  ...registerLayer(SimpleRNN, { simpleRNN: (config: SimpleRNNConfig) => new SimpleRNN(config) }),
  ...registerLayer(LSTM, { lstm: (config: LSTMConfig) => new LSTM(config) }),
  ...registerLayer(GRU, { gru: (config: GRUConfig) => new GRU(config) }),
};
type RecurrentFactories = typeof recurrentFactories;
declare module './registry.ts' {
  interface LayerFactories extends RecurrentFactories {}
}
