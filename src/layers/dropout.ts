/** Dropout: active in training only; at inference it passes its input through as the same buffer. */
import { registerLayer } from './registry.ts';
import { dropoutBackward, dropoutForward } from '../../shaders/dropout.ts';
import type { Dispatch } from '../runtime/engine.ts';
import { sizeOf } from '../runtime/tensor.ts';
import { kerasConfig } from './config.ts';
import { expectInputs, Layer, type BackwardContext, type ForwardContext, type Shape, type LayerArgs } from './layer.ts';

export interface DropoutConfig extends LayerArgs {
  rate: number;
  seed?: number;
}

export class Dropout extends Layer {
  static override readonly className = 'Dropout';
  readonly rate: number;
  readonly seed: number;
  constructor(config: DropoutConfig) {
    super(config, 'dropout');
    const rate = config?.rate;
    if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) {
      throw new Error(`layer ${this.name}: dropout rate must be a number in [0, 1), got ${JSON.stringify(rate)}`);
    }
    this.rate = rate;
    // Distinct layers get distinct masks even with the same fit seed.
    this.seed = config.seed ?? [...this.name].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0, 2166136261);
  }
  override aliasesInput(training: boolean): boolean {
    return !training || this.rate === 0;
  }
  /** Elementwise: a mask on the input holds for the output. */
  override get supportsMasking(): boolean {
    return true;
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    return inputShapes[0]!;
  }
  forward(ctx: ForwardContext): Dispatch[] {
    if (this.aliasesInput(ctx.training)) return [];
    const n = ctx.batch * sizeOf(ctx.outputShape);
    return [ctx.engine.kernel(dropoutForward(n, this.rate, this.seed), [ctx.inputs[0]!, ctx.stepInfo, ctx.output])];
  }
  backward(ctx: BackwardContext): Dispatch[] {
    const dx = ctx.inputGrads[0];
    if (!dx || this.aliasesInput(true)) return [];
    const n = ctx.batch * sizeOf(ctx.outputShape);
    return [ctx.engine.kernel(dropoutBackward(n, this.rate, this.seed), [ctx.outputGrad, ctx.stepInfo, dx])];
  }
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), rate: this.rate, noise_shape: null, seed: this.seed };
  }

  /** From the Keras config in model.json; a null seed gets the name-derived one. */
  static fromConfig(config: unknown): Dropout {
    const c = kerasConfig('Dropout', config, ['rate', 'seed'], { noise_shape: [null] });
    const seed = c.seed ?? undefined;
    // The seed is written into the shader as a u32 literal.
    if (seed !== undefined && !(typeof seed === 'number' && Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) {
      throw new Error(`Dropout: seed must be null or an integer in [0, 2^32), got ${JSON.stringify(seed)}`);
    }
    return new Dropout({ name: c.name as string | undefined, rate: c.rate as number, seed });
  }
}

const dropoutFactories = registerLayer(Dropout, {
  dropout: (config: DropoutConfig) => new Dropout(config),
});
type DropoutFactories = typeof dropoutFactories;
declare module './registry.ts' {
  interface LayerFactories extends DropoutFactories {}
}
