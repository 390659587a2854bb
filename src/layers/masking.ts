/**
 * Masking (TF.js's `layers.masking`, Keras's Masking): a position (a row of the last axis) whose
 * values all equal `maskValue` is padding. The layer zeroes those rows and its output carries
 * Keras's mask of them (src/ops/masking.ts), which recurrent layers after it honour (their state is
 * carried over the padded steps) and the loss leaves out.
 */
import { registerLayer } from './registry.ts';
import type { BufferView, Dispatch } from '../runtime/engine.ts';
import { maskingBackward, maskingForward, maskingGeometry, maskingMaskForward, type MaskingGeometry } from '../ops/masking.ts';
import { describeValue, kerasConfig } from './config.ts';
import { expectInputs, Layer, type BackwardContext, type ForwardContext, type LayerArgs, type MaskRole, type Shape } from './layer.ts';

export interface MaskingConfig extends LayerArgs {
  /** The value of a padded position's every element; default 0 (TF.js's and Keras's). */
  maskValue?: number;
}

export class Masking extends Layer {
  static override readonly className = 'Masking';
  readonly maskValue: number;

  constructor(config: MaskingConfig = {}) {
    if (typeof config !== 'object' || config === null) throw new Error(`Masking: expected a config object like { maskValue: 0 }, got ${describeValue(config)}`);
    super(config, 'masking');
    const value = config.maskValue ?? 0;
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`layer ${this.name} (Masking): maskValue must be a finite number, got ${describeValue(config.maskValue)}`);
    this.maskValue = value;
  }

  private geometry(batch: number, shape: Shape): MaskingGeometry {
    return maskingGeometry(batch, shape, this.maskValue, `layer ${this.name} (Masking)`);
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    this.geometry(1, inputShapes[0]!);
    return inputShapes[0]!;
  }

  override get supportsMasking(): boolean {
    return true;
  }

  /** Its own mask replaces any its input carries (Keras's compute_mask ignores the input's). */
  override computeMask(): MaskRole {
    return 'produce';
  }

  override maskForward(ctx: Omit<ForwardContext, 'output'>, mask: Required<BufferView>): Dispatch[] {
    return [maskingMaskForward(ctx.engine, this.geometry(ctx.batch, ctx.inputShapes[0]!), { x: ctx.inputs[0]!, mask })];
  }

  forward(ctx: ForwardContext): Dispatch[] {
    return [maskingForward(ctx.engine, this.geometry(ctx.batch, ctx.inputShapes[0]!), { x: ctx.inputs[0]!, y: ctx.output })];
  }

  /** dx = dy on the kept rows, 0 on the padded ones (the mask is a step function of x). */
  backward(ctx: BackwardContext): Dispatch[] {
    const dx = ctx.inputGrads[0];
    if (!dx) return [];
    return [maskingBackward(ctx.engine, this.geometry(ctx.batch, ctx.inputShapes[0]!), { x: ctx.inputs[0]!, dy: ctx.outputGrad, dx })];
  }

  override getConfig(): Record<string, unknown> {
    return {
      ...super.getConfig(),
      ...(this.batchInputShape ? { batch_input_shape: [...this.batchInputShape], dtype: 'float32' } : {}),
      mask_value: this.maskValue,
    };
  }

  /** From the Keras config in model.json (the constructor validates the value). */
  static fromConfig(config: unknown): Masking {
    const c = kerasConfig('Masking', config, ['mask_value']);
    return new Masking({ name: c.name as string | undefined, trainable: c.trainable as boolean | undefined, maskValue: (c.mask_value ?? undefined) as number | undefined });
  }
}

const maskingFactories = registerLayer(Masking, {
  masking: (config?: MaskingConfig) => new Masking(config),
});
type MaskingFactories = typeof maskingFactories;
declare module './registry.ts' {
  interface LayerFactories extends MaskingFactories {}
}
