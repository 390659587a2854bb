/**
 * The windowed pooling layers (channels_last) over the pool ops (src/ops/pool.ts): MaxPooling2D
 * and AveragePooling2D, and their 1-D forms MaxPooling1D and AveragePooling1D, which pool
 * `[steps, channels]` as images of height 1 (TF.js does the same). The global poolings are in
 * global-pooling.ts.
 */
import { registerLayer } from './registry.ts';
import type { Dispatch } from '../runtime/engine.ts';
import { avgPoolBackward, avgPoolForward, maxPoolBackward, maxPoolBackwardFromArgmax, maxPoolForward, poolGeometry, POOL_ARGMAX, type PoolGeometry } from '../ops/pool.ts';
import { formatShape } from '../runtime/tensor.ts';
import { pair, windowOutput, type Padding } from '../ops/window.ts';
import { describeValue, kerasConfig, padding as parsePadding } from './config.ts';
import { expectInputs, Layer, type BackwardContext, type ForwardContext, type Shape, type LayerArgs } from './layer.ts';

export interface Pooling2DConfig extends LayerArgs {
  /** Window [h, w]; default 2. */
  poolSize?: number | readonly [number, number];
  /** Default: the pool size. */
  strides?: number | readonly [number, number];
  padding?: Padding;
  /** Only 'channelsLast' (the default): channels-first inputs are not supported. */
  dataFormat?: 'channelsLast';
}
export type MaxPooling2DConfig = Pooling2DConfig;
export type AveragePooling2DConfig = Pooling2DConfig;

export interface Pooling1DConfig extends LayerArgs {
  /** Window length (a number or TF.js's [number]); default 2. */
  poolSize?: number | readonly [number];
  /** Default: the pool size. */
  strides?: number | readonly [number];
  padding?: Padding;
}
export type MaxPooling1DConfig = Pooling1DConfig;
export type AveragePooling1DConfig = Pooling1DConfig;

/** TF.js's dataFormat: only the default, channels last, is supported. */
function checkChannelsLast(value: unknown, what: string): void {
  if (value !== undefined && value !== null && value !== 'channelsLast') {
    throw new Error(`${what} must be 'channelsLast' (channels-first inputs are not supported), got ${describeValue(value)}`);
  }
}

/** A 1-D window size or stride: a positive integer, or TF.js's array of one. */
function single(value: unknown, what: string): number {
  const v = Array.isArray(value) && value.length === 1 ? (value[0] as unknown) : value;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new Error(`${what} must be a positive integer or an array of one positive integer, got ${describeValue(value)}`);
  }
  return v;
}

/** What every windowed pooling layer shares: its window, and the forward and backward of its mode. */
abstract class Pooling extends Layer {
  abstract readonly padding: Padding;
  /** The layer's geometry as an image pool (height 1 for the 1-D layers). */
  protected abstract geometry(batch: number, inputShape: Shape): PoolGeometry;
  protected abstract readonly mode: 'max' | 'average';

  protected what(field: string): string {
    return `${this.className} ${this.name}: ${field}`;
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes[0]!);
    const views = { x: ctx.inputs[0]!, y: ctx.output };
    return this.mode === 'max' ? maxPoolForward(ctx.engine, g, views) : avgPoolForward(ctx.engine, g, views);
  }

  backward(ctx: BackwardContext): Dispatch[] {
    const dx = ctx.inputGrads[0];
    if (!dx) return [];
    const g = this.geometry(ctx.batch, ctx.inputShapes[0]!);
    if (this.mode === 'average') return avgPoolBackward(ctx.engine, g, { dy: ctx.outputGrad, dx });
    // Pooled by its producer (the plan's fusion): the input was never stored, the positions were.
    const argmax = ctx.saved.get(POOL_ARGMAX);
    if (argmax) return maxPoolBackwardFromArgmax(ctx.engine, g, { y: ctx.output, argmax, dy: ctx.outputGrad, dx }, { reluMask: ctx.reluMaskInputGrad });
    return maxPoolBackward(ctx.engine, g, { x: ctx.inputs[0]!, dy: ctx.outputGrad, dx }, { reluMask: ctx.reluMaskInputGrad });
  }
}

/** MaxPooling2D and AveragePooling2D: `[height, width, channels]` pooled by a 2-D window. */
abstract class Pooling2D extends Pooling {
  readonly poolSize: [number, number];
  readonly strides: [number, number];
  readonly padding: Padding;

  constructor(config: Pooling2DConfig, defaultPrefix: string) {
    super(config, defaultPrefix);
    this.poolSize = pair(config.poolSize ?? 2, this.what('poolSize'));
    this.strides = pair(config.strides ?? this.poolSize, this.what('strides'));
    this.padding = parsePadding(config.padding, this.what('padding'));
    checkChannelsLast(config.dataFormat, this.what('dataFormat'));
  }

  protected geometry(batch: number, inputShape: Shape): PoolGeometry {
    return poolGeometry(batch, inputShape, this.poolSize, this.strides, this.padding, `layer ${this.name} (${this.className})`);
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    const g = this.geometry(1, inputShapes[0]!);
    return [g.outHeight, g.outWidth, g.channels];
  }

  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), pool_size: [...this.poolSize], padding: this.padding, strides: [...this.strides], data_format: 'channels_last' };
  }

  /** The constructor's config from a Keras config in model.json (the constructor validates the values). */
  protected static configFromKeras(className: string, config: unknown): Pooling2DConfig {
    const c = kerasConfig(className, config, ['pool_size', 'strides', 'padding'], { data_format: ['channels_last'] });
    return {
      name: c.name as string | undefined,
      poolSize: (c.pool_size ?? undefined) as [number, number] | undefined,
      strides: (c.strides ?? undefined) as [number, number] | undefined,
      padding: (c.padding ?? undefined) as Padding | undefined,
    };
  }
}

export class MaxPooling2D extends Pooling2D {
  static override readonly className = 'MaxPooling2D';
  protected readonly mode = 'max';

  constructor(config: MaxPooling2DConfig = {}) {
    super(config, 'max_pooling2d');
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

  static fromConfig(config: unknown): MaxPooling2D {
    return new MaxPooling2D(Pooling2D.configFromKeras('MaxPooling2D', config));
  }
}

/** TensorFlow's average pooling: a window's mean over its taps inside the input ('same' padding included). */
export class AveragePooling2D extends Pooling2D {
  static override readonly className = 'AveragePooling2D';
  protected readonly mode = 'average';

  constructor(config: AveragePooling2DConfig = {}) {
    super(config, 'average_pooling2d');
  }

  static fromConfig(config: unknown): AveragePooling2D {
    return new AveragePooling2D(Pooling2D.configFromKeras('AveragePooling2D', config));
  }
}

/** MaxPooling1D and AveragePooling1D: `[steps, channels]`, pooled as a `[1, steps, channels]` image. */
abstract class Pooling1D extends Pooling {
  readonly poolSize: number;
  readonly strides: number;
  readonly padding: Padding;

  constructor(config: Pooling1DConfig, defaultPrefix: string) {
    super(config, defaultPrefix);
    this.poolSize = single(config.poolSize ?? 2, this.what('poolSize'));
    this.strides = single(config.strides ?? this.poolSize, this.what('strides'));
    this.padding = parsePadding(config.padding, this.what('padding'));
  }

  protected geometry(batch: number, inputShape: Shape): PoolGeometry {
    const who = `layer ${this.name} (${this.className})`;
    if (inputShape.length !== 2) throw new Error(`${who} expects inputs of shape [steps, channels] (rank 2 without the batch), got ${formatShape(inputShape)}`);
    if (inputShape.every((d) => Number.isInteger(d) && d > 0) && windowOutput(inputShape[0]!, this.poolSize, this.strides, this.padding).out <= 0) {
      throw new Error(`${who}: pool size ${this.poolSize} is longer than the input's ${inputShape[0]} steps with padding 'valid'; use a smaller pool or padding 'same'`);
    }
    return poolGeometry(batch, [1, ...inputShape], [1, this.poolSize], [1, this.strides], this.padding, who);
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    const g = this.geometry(1, inputShapes[0]!);
    return [g.outWidth, g.channels];
  }

  /** TF.js writes the window as arrays of one and no data_format. */
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), pool_size: [this.poolSize], padding: this.padding, strides: [this.strides] };
  }

  /** The constructor's config from a Keras config in model.json (Keras writes a data_format too). */
  protected static configFromKeras(className: string, config: unknown): Pooling1DConfig {
    const c = kerasConfig(className, config, ['pool_size', 'strides', 'padding'], { data_format: ['channels_last'] });
    return {
      name: c.name as string | undefined,
      poolSize: (c.pool_size ?? undefined) as [number] | undefined,
      strides: (c.strides ?? undefined) as [number] | undefined,
      padding: (c.padding ?? undefined) as Padding | undefined,
    };
  }
}

export class MaxPooling1D extends Pooling1D {
  static override readonly className = 'MaxPooling1D';
  protected readonly mode = 'max';

  constructor(config: MaxPooling1DConfig = {}) {
    super(config, 'max_pooling1d');
  }

  static fromConfig(config: unknown): MaxPooling1D {
    return new MaxPooling1D(Pooling1D.configFromKeras('MaxPooling1D', config));
  }
}

export class AveragePooling1D extends Pooling1D {
  static override readonly className = 'AveragePooling1D';
  protected readonly mode = 'average';

  constructor(config: AveragePooling1DConfig = {}) {
    super(config, 'average_pooling1d');
  }

  static fromConfig(config: unknown): AveragePooling1D {
    return new AveragePooling1D(Pooling1D.configFromKeras('AveragePooling1D', config));
  }
}

const poolingFactories = {
  ...registerLayer(MaxPooling2D, {
    maxPooling2d: (config: MaxPooling2DConfig = {}) => new MaxPooling2D(config),
    maxPool2d: (config: MaxPooling2DConfig = {}) => new MaxPooling2D(config),
  }),
  ...registerLayer(AveragePooling2D, {
    averagePooling2d: (config: AveragePooling2DConfig = {}) => new AveragePooling2D(config),
    avgPool2d: (config: AveragePooling2DConfig = {}) => new AveragePooling2D(config),
    avgPooling2d: (config: AveragePooling2DConfig = {}) => new AveragePooling2D(config),
  }),
  ...registerLayer(MaxPooling1D, {
    maxPooling1d: (config: MaxPooling1DConfig = {}) => new MaxPooling1D(config),
    maxPool1d: (config: MaxPooling1DConfig = {}) => new MaxPooling1D(config),
  }),
  ...registerLayer(AveragePooling1D, {
    averagePooling1d: (config: AveragePooling1DConfig = {}) => new AveragePooling1D(config),
    avgPool1d: (config: AveragePooling1DConfig = {}) => new AveragePooling1D(config),
    avgPooling1d: (config: AveragePooling1DConfig = {}) => new AveragePooling1D(config),
  }),
};
type PoolingFactories = typeof poolingFactories;
declare module './registry.ts' {
  interface LayerFactories extends PoolingFactories {}
}
