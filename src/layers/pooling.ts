/** MaxPooling2D: the Keras layer (channels_last) over the max pool op (src/ops/pool.ts). */
import { registerLayer } from './registry.ts';
import type { Dispatch } from '../runtime/engine.ts';
import { maxPoolBackward, maxPoolBackwardFromArgmax, maxPoolForward, poolGeometry, POOL_ARGMAX, type PoolGeometry } from '../ops/pool.ts';
import { pair, type Padding } from '../ops/window.ts';
import { kerasConfig, padding as parsePadding } from './config.ts';
import { expectInputs, Layer, type BackwardContext, type ForwardContext, type Shape, type LayerArgs } from './layer.ts';

export interface MaxPooling2DConfig extends LayerArgs {
  /** Window [h, w]; default 2. */
  poolSize?: number | readonly [number, number];
  /** Default: the pool size. */
  strides?: number | readonly [number, number];
  padding?: Padding;
}

export class MaxPooling2D extends Layer {
  static override readonly className = 'MaxPooling2D';
  readonly poolSize: [number, number];
  readonly strides: [number, number];
  readonly padding: Padding;

  constructor(config: MaxPooling2DConfig = {}) {
    super(config, 'max_pooling2d');
    const what = (arg: string) => `MaxPooling2D ${this.name}: ${arg}`;
    this.poolSize = pair(config.poolSize ?? 2, what('poolSize'));
    this.strides = pair(config.strides ?? this.poolSize, what('strides'));
    this.padding = parsePadding(config.padding, what('padding'));
  }

  private geometry(batch: number, inputShape: Shape): PoolGeometry {
    return poolGeometry(batch, inputShape, this.poolSize, this.strides, this.padding, `layer ${this.name} (MaxPooling2D)`);
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    const g = this.geometry(1, inputShapes[0]!);
    return [g.outHeight, g.outWidth, g.channels];
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes[0]!);
    return maxPoolForward(ctx.engine, g, { x: ctx.inputs[0]!, y: ctx.output });
  }

  backward(ctx: BackwardContext): Dispatch[] {
    const dx = ctx.inputGrads[0];
    if (!dx) return [];
    const g = this.geometry(ctx.batch, ctx.inputShapes[0]!);
    // Pooled by its producer (the plan's fusion): the input was never stored, the positions were.
    const argmax = ctx.saved.get(POOL_ARGMAX);
    if (argmax) return maxPoolBackwardFromArgmax(ctx.engine, g, { y: ctx.output, argmax, dy: ctx.outputGrad, dx }, { reluMask: ctx.reluMaskInputGrad });
    return maxPoolBackward(ctx.engine, g, { x: ctx.inputs[0]!, dy: ctx.outputGrad, dx }, { reluMask: ctx.reluMaskInputGrad });
  }

  /**
   * Whether a preceding layer's forwardPooled() may apply this pool: a 2×2 window at stride 2
   * without padding, and in training channels in groups of 4 (the backward from saved positions).
   */
  override poolsInProducer(inputShape: Shape, training: boolean): boolean {
    const halves = this.poolSize.every((d) => d === 2) && this.strides.every((d) => d === 2) && this.padding === 'valid';
    return halves && (!training || inputShape[2]! % 4 === 0);
  }

  /** The gradient reaches only window maxima, where [x > 0] is one comparison with a value at hand. */
  override get masksReluInputGrad(): boolean {
    return true;
  }

  override getConfig(): Record<string, unknown> {
    return {
      ...super.getConfig(),
      pool_size: [...this.poolSize],
      padding: this.padding,
      strides: [...this.strides],
      data_format: 'channels_last',
    };
  }

  /** From the Keras config in model.json (the constructor validates the values). */
  static fromConfig(config: unknown): MaxPooling2D {
    const c = kerasConfig('MaxPooling2D', config, ['pool_size', 'strides', 'padding'], { data_format: ['channels_last'] });
    return new MaxPooling2D({
      name: c.name as string | undefined,
      poolSize: (c.pool_size ?? undefined) as [number, number] | undefined,
      strides: (c.strides ?? undefined) as [number, number] | undefined,
      padding: (c.padding ?? undefined) as Padding | undefined,
    });
  }
}

const maxPooling2DFactories = registerLayer(MaxPooling2D, {
  maxPooling2d: (config: MaxPooling2DConfig = {}) => new MaxPooling2D(config),
  maxPool2d: (config: MaxPooling2DConfig = {}) => new MaxPooling2D(config),
});
type MaxPooling2DFactories = typeof maxPooling2DFactories;
declare module './registry.ts' {
  interface LayerFactories extends MaxPooling2DFactories {}
}
