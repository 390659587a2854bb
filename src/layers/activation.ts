/**
 * A standalone activation layer. Its own op is the identity (it aliases its input); the plan runs
 * its activation as an op after it (src/ops/activation.ts), or folds it into a loss that fuses it
 * (a final softmax into crossentropy), exactly as for a Dense layer's `activation`.
 */
import { registerLayer } from './registry.ts';
import type { Dispatch } from '../runtime/engine.ts';
import { parseActivation, serializeActivation } from '../ops/activation.ts';
import { kerasConfig } from './config.ts';
import { expectInputs, Layer, type ActivationName, type LayerArgs, type Shape } from './layer.ts';

export interface ActivationConfig extends LayerArgs {
  /** Any TF.js activation name ('relu', 'tanh', 'hardSigmoid', ...) or its Keras spelling ('hard_sigmoid'). */
  activation: ActivationName | (string & {});
}

export class Activation extends Layer {
  static override readonly className = 'Activation';
  readonly kind: ActivationName;
  constructor(config: ActivationConfig) {
    if (!config || typeof config !== 'object') throw new Error(`Activation: expected a config object like { activation: 'relu' }, got ${JSON.stringify(config)}`);
    super(config, 'activation');
    this.kind = parseActivation(config.activation, `layer ${this.name} (Activation)`);
  }
  /** Elementwise: a mask on the input holds for the output. */
  override get supportsMasking(): boolean {
    return true;
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    return inputShapes[0]!;
  }
  override aliasesInput(): boolean {
    return true;
  }
  override get activation(): ActivationName {
    return this.kind;
  }
  override get onlyActivation(): ActivationName {
    return this.kind;
  }
  forward(): Dispatch[] {
    return [];
  }
  backward(): Dispatch[] {
    return [];
  }
  /** The activation as TF.js writes it into model.json ('hard_sigmoid', 'log_softmax', 'relu', ...). */
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), activation: serializeActivation(this.kind) };
  }

  /** From the Keras config in model.json (the constructor validates the activation). */
  static fromConfig(config: unknown): Activation {
    const c = kerasConfig('Activation', config, ['activation']);
    return new Activation({ name: c.name as string | undefined, trainable: c.trainable as boolean | undefined, activation: c.activation as string });
  }
}

const activationFactories = registerLayer(Activation, {
  activation: (config: ActivationConfig) => new Activation(config),
});
type ActivationFactories = typeof activationFactories;
declare module './registry.ts' {
  interface LayerFactories extends ActivationFactories {}
}
