/**
 * TF.js's shape layers: ZeroPadding2D, Cropping2D, UpSampling2D (tfjs-layers padding.ts,
 * convolutional.ts), Permute and RepeatVector (core.ts). Thin Keras wrappers over the shape ops
 * (src/ops/shape.ts), with TF.js's factory names, config fields and defaults, and the model.json
 * config TF.js 4.22 writes. The image layers are channels_last only: `dataFormat: 'channelsFirst'`
 * (model.json `data_format: 'channels_first'`) is an error.
 *
 * Where we are stricter than TF.js: paddings and croppings must be integers ≥ 0, a cropping must
 * leave at least one row and column, UpSampling2D's size integers ≥ 1 (a number n means [n, n],
 * as in Keras), Permute's dims must fit the input's rank and RepeatVector's n be an integer ≥ 1.
 */
import { registerLayer } from './registry.ts';
import type { Dispatch } from '../runtime/engine.ts';
import { formatShape } from '../runtime/tensor.ts';
import {
  INTERPOLATIONS,
  pad2dBackward,
  pad2dForward,
  pad2dGeometry,
  permuteBackward,
  permuteForward,
  permuteGeometry,
  repeatVectorGeometry,
  upSample2dBackward,
  upSample2dForward,
  upSample2dGeometry,
  type Interpolation,
  type Pad2DGeometry,
  type UpSample2DGeometry,
} from '../ops/shape.ts';
import { pair } from '../ops/window.ts';
import { describeValue, kerasConfig } from './config.ts';
import { expectInputs, Layer, type BackwardContext, type ForwardContext, type LayerArgs, type Shape } from './layer.ts';

export type { Interpolation };

/** TF.js's data formats; only channels_last is implemented. */
export type DataFormat = 'channelsLast' | 'channelsFirst';

function checkConfig<T>(className: string, config: unknown, required = false): T {
  if ((config === undefined || config === null) && !required) return {} as T;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new Error(`${className}: expected a config object, got ${describeValue(config)}`);
  return config as T;
}

function checkDataFormat(value: unknown, where: string): 'channelsLast' {
  if (value === undefined || value === null || value === 'channelsLast') return 'channelsLast';
  if (value === 'channelsFirst') {
    throw new Error(`${where}: dataFormat 'channelsFirst' is not supported, only 'channelsLast' (inputs [batch, height, width, channels]); a Permute({ dims: [2, 3, 1] }) before it turns channels-first images into channels-last ones`);
  }
  throw new Error(`${where}: dataFormat must be 'channelsLast', got ${describeValue(value)}`);
}

/** model.json's data_format as the constructor's dataFormat (which rejects channels_first). */
function dataFormatFromConfig(className: string, value: unknown): DataFormat | undefined {
  if (value === undefined || value === null || value === 'channels_last') return undefined;
  if (value === 'channels_first') return 'channelsFirst';
  throw new Error(`${className}: data_format must be 'channels_last', got ${describeValue(value)}`);
}

/** The fields TF.js's Layer.getConfig writes for every layer (batch_input_shape when declared). */
function baseConfig(layer: Layer): Record<string, unknown> {
  return {
    name: layer.name,
    trainable: layer.trainable,
    ...(layer.batchInputShape ? { batch_input_shape: [...layer.batchInputShape], dtype: 'float32' } : {}),
  };
}

/** The LayerArgs of a model.json config (name, trainable, batch_input_shape). */
function layerArgsFromConfig(c: Record<string, unknown>): LayerArgs {
  return {
    name: c.name as string | undefined,
    trainable: c.trainable as boolean | undefined,
    ...(Array.isArray(c.batch_input_shape) ? { batchInputShape: c.batch_input_shape as (number | null)[] } : {}),
  };
}

/**
 * `n`, `[h, w]` or `[[top, bottom], [left, right]]` of integers ≥ 0 as [[top, bottom], [left, right]]
 * (TF.js's ZeroPadding2D and Cropping2D arguments).
 */
function amounts2d(value: unknown, where: string, field: string): [[number, number], [number, number]] {
  const ok = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
  if (ok(value)) return [[value, value], [value, value]];
  if (Array.isArray(value) && value.length === 2) {
    const [a, b] = value as unknown[];
    if (ok(a) && ok(b)) return [[a, a], [b, b]];
    if (Array.isArray(a) && Array.isArray(b) && a.length === 2 && b.length === 2 && [...a, ...b].every(ok)) return [[a[0], a[1]], [b[0], b[1]]];
  }
  throw new Error(`${where}: ${field} must be an integer ≥ 0, [height, width] or [[top, bottom], [left, right]] of integers ≥ 0, got ${describeValue(value)}`);
}

/** A one-input layer over a shape op: the input gradient only, none when nobody needs it. */
abstract class ShapeLayer extends Layer {
  protected abstract run(ctx: ForwardContext): Dispatch[];
  protected abstract runBackward(ctx: BackwardContext, dx: NonNullable<BackwardContext['inputGrads'][number]>): Dispatch[];
  forward(ctx: ForwardContext): Dispatch[] {
    return this.run(ctx);
  }
  backward(ctx: BackwardContext): Dispatch[] {
    const dx = ctx.inputGrads[0];
    return dx ? this.runBackward(ctx, dx) : [];
  }
}

// ---- ZeroPadding2D and Cropping2D ----------------------------------------------------------

export interface ZeroPadding2DConfig extends LayerArgs {
  /** Rows and columns of zeros: n, [rows, columns] on both sides, or [[top, bottom], [left, right]]; default 1. */
  padding?: number | readonly [number, number] | readonly [readonly [number, number], readonly [number, number]];
  dataFormat?: DataFormat;
}

export interface Cropping2DConfig extends LayerArgs {
  /** Rows and columns removed: n, [rows, columns] from both sides, or [[top, bottom], [left, right]]. */
  cropping: number | readonly [number, number] | readonly [readonly [number, number], readonly [number, number]];
  dataFormat?: DataFormat;
}

/** Zero padding or cropping: one pad2d op, a cropping being a negative padding. */
abstract class PadCrop extends ShapeLayer {
  /** [[top, bottom], [left, right]], each ≥ 0. */
  protected abstract get amounts(): [[number, number], [number, number]];
  /** +1 pads, −1 crops. */
  protected abstract readonly sign: 1 | -1;
  protected geometry(batch: number, inputShape: Shape): Pad2DGeometry {
    const [[t, b], [l, r]] = this.amounts;
    const s = this.sign;
    return pad2dGeometry(batch, inputShape, [[s * t, s * b], [s * l, s * r]], `${this.className} ${this.name}`);
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    const g = this.geometry(1, inputShapes[0]!);
    return [g.outHeight, g.outWidth, g.channels];
  }
  protected run(ctx: ForwardContext): Dispatch[] {
    return pad2dForward(ctx.engine, this.geometry(ctx.batch, ctx.inputShapes[0]!), { x: ctx.inputs[0]!, y: ctx.output });
  }
  protected runBackward(ctx: BackwardContext, dx: NonNullable<BackwardContext['inputGrads'][number]>): Dispatch[] {
    return pad2dBackward(ctx.engine, this.geometry(ctx.batch, ctx.inputShapes[0]!), { dy: ctx.outputGrad, dx });
  }
}

/** Zeros around images [batch, height, width, channels]. */
export class ZeroPadding2D extends PadCrop {
  static override readonly className = 'ZeroPadding2D';
  readonly padding: [[number, number], [number, number]];
  readonly dataFormat: 'channelsLast';
  protected readonly sign = 1;
  constructor(config?: ZeroPadding2DConfig) {
    const c = checkConfig<ZeroPadding2DConfig>('ZeroPadding2D', config);
    super(c, 'zero_padding2d');
    const where = `ZeroPadding2D ${this.name}`;
    this.padding = amounts2d(c.padding ?? 1, where, 'padding');
    this.dataFormat = checkDataFormat(c.dataFormat, where);
  }
  protected get amounts(): [[number, number], [number, number]] {
    return this.padding;
  }
  override getConfig(): Record<string, unknown> {
    return { ...baseConfig(this), padding: this.padding.map((p) => [...p]), data_format: 'channels_last' };
  }
  static fromConfig(config: unknown): ZeroPadding2D {
    const c = kerasConfig('ZeroPadding2D', config, ['padding', 'data_format']);
    return new ZeroPadding2D({ ...layerArgsFromConfig(c), padding: (c.padding ?? undefined) as ZeroPadding2DConfig['padding'], dataFormat: dataFormatFromConfig('ZeroPadding2D', c.data_format) });
  }
}

/** Removes rows and columns at the edges of images [batch, height, width, channels]. */
export class Cropping2D extends PadCrop {
  static override readonly className = 'Cropping2D';
  readonly cropping: [[number, number], [number, number]];
  readonly dataFormat: 'channelsLast';
  protected readonly sign = -1;
  constructor(config: Cropping2DConfig) {
    const c = checkConfig<Cropping2DConfig>('Cropping2D', config, true);
    super(c, 'cropping2d');
    const where = `Cropping2D ${this.name}`;
    if (c.cropping === undefined || c.cropping === null) throw new Error(`${where}: cropping is required: an integer ≥ 0, [height, width] or [[top, bottom], [left, right]]`);
    this.cropping = amounts2d(c.cropping, where, 'cropping');
    this.dataFormat = checkDataFormat(c.dataFormat, where);
  }
  protected get amounts(): [[number, number], [number, number]] {
    return this.cropping;
  }
  override computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    const shape = inputShapes[0]!;
    const [[t, b], [l, r]] = this.cropping;
    if (shape.length === 3 && (t + b >= shape[0]! || l + r >= shape[1]!)) {
      throw new Error(
        `Cropping2D ${this.name}: cropping ${JSON.stringify(this.cropping)} removes ${t + b} of ${shape[0]} rows and ${l + r} of ${shape[1]} columns of the input ` +
          `${formatShape([null, ...shape])}; it must leave at least one of each`,
      );
    }
    return super.computeOutputShape(inputShapes);
  }
  override getConfig(): Record<string, unknown> {
    return { ...baseConfig(this), cropping: this.cropping.map((p) => [...p]), data_format: 'channels_last' };
  }
  static fromConfig(config: unknown): Cropping2D {
    const c = kerasConfig('Cropping2D', config, ['cropping', 'data_format']);
    return new Cropping2D({ ...layerArgsFromConfig(c), cropping: c.cropping as Cropping2DConfig['cropping'], dataFormat: dataFormatFromConfig('Cropping2D', c.data_format) });
  }
}

// ---- UpSampling2D ------------------------------------------------------------------------

export interface UpSampling2DConfig extends LayerArgs {
  /** [rows, columns] factors (or one for both); default [2, 2]. */
  size?: number | readonly [number, number];
  dataFormat?: DataFormat;
  /** 'nearest' (default) or 'bilinear' (TF.js's resizeBilinear, corners not aligned). */
  interpolation?: Interpolation;
}

/** Images [batch, height, width, channels] scaled up by whole factors. */
export class UpSampling2D extends ShapeLayer {
  static override readonly className = 'UpSampling2D';
  readonly size: [number, number];
  readonly dataFormat: 'channelsLast';
  readonly interpolation: Interpolation;
  constructor(config?: UpSampling2DConfig) {
    const c = checkConfig<UpSampling2DConfig>('UpSampling2D', config);
    super(c, 'up_sampling2d');
    const where = `UpSampling2D ${this.name}`;
    this.size = pair(c.size ?? [2, 2], `${where}: size`);
    this.dataFormat = checkDataFormat(c.dataFormat, where);
    const interpolation = c.interpolation ?? 'nearest';
    if (!(INTERPOLATIONS as readonly unknown[]).includes(interpolation)) {
      throw new Error(`${where}: interpolation must be ${INTERPOLATIONS.map((i) => `'${i}'`).join(' or ')}, got ${describeValue(interpolation)}`);
    }
    this.interpolation = interpolation;
  }
  private geometry(batch: number, inputShape: Shape): UpSample2DGeometry {
    return upSample2dGeometry(batch, inputShape, this.size, this.interpolation, `UpSampling2D ${this.name}`);
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    const g = this.geometry(1, inputShapes[0]!);
    return [g.height * g.sizeH, g.width * g.sizeW, g.channels];
  }
  protected run(ctx: ForwardContext): Dispatch[] {
    return upSample2dForward(ctx.engine, this.geometry(ctx.batch, ctx.inputShapes[0]!), { x: ctx.inputs[0]!, y: ctx.output });
  }
  protected runBackward(ctx: BackwardContext, dx: NonNullable<BackwardContext['inputGrads'][number]>): Dispatch[] {
    return upSample2dBackward(ctx.engine, this.geometry(ctx.batch, ctx.inputShapes[0]!), { dy: ctx.outputGrad, dx });
  }
  override getConfig(): Record<string, unknown> {
    return { ...baseConfig(this), size: [...this.size], data_format: 'channels_last', interpolation: this.interpolation };
  }
  static fromConfig(config: unknown): UpSampling2D {
    const c = kerasConfig('UpSampling2D', config, ['size', 'data_format', 'interpolation']);
    return new UpSampling2D({
      ...layerArgsFromConfig(c),
      size: (c.size ?? undefined) as [number, number] | undefined,
      dataFormat: dataFormatFromConfig('UpSampling2D', c.data_format),
      interpolation: (c.interpolation ?? undefined) as Interpolation | undefined,
    });
  }
}

// ---- Permute -------------------------------------------------------------------------------

export interface PermuteConfig extends LayerArgs {
  /** The new order of the sample axes, 1-based (0 is the batch): [2, 1] swaps the two axes of [batch, a, b]. */
  dims: readonly number[];
}

/** Permutes the axes after the batch. */
export class Permute extends ShapeLayer {
  static override readonly className = 'Permute';
  readonly dims: readonly number[];
  constructor(config: PermuteConfig) {
    const c = checkConfig<PermuteConfig>('Permute', config, true);
    super(c, 'permute');
    const dims = c.dims;
    if (!Array.isArray(dims) || dims.length === 0 || [...dims].sort((a, b) => a - b).some((d, k) => d !== k + 1)) {
      throw new Error(`Permute ${this.name}: dims must be a permutation of 1..k (the sample axes, 1-based; 0 is the batch), like [2, 1], got ${describeValue(dims)}`);
    }
    this.dims = [...dims];
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    const shape = inputShapes[0]!;
    if (shape.length !== this.dims.length) {
      throw new Error(`Permute ${this.name}: dims ${JSON.stringify(this.dims)} order ${this.dims.length} axes, but the input ${formatShape([null, ...shape])} has ${shape.length} after the batch`);
    }
    return permuteGeometry(1, shape, this.dims, `Permute ${this.name}`).outputShape;
  }
  protected run(ctx: ForwardContext): Dispatch[] {
    return permuteForward(ctx.engine, permuteGeometry(ctx.batch, ctx.inputShapes[0]!, this.dims, `Permute ${this.name}`), { x: ctx.inputs[0]!, y: ctx.output });
  }
  protected runBackward(ctx: BackwardContext, dx: NonNullable<BackwardContext['inputGrads'][number]>): Dispatch[] {
    return permuteBackward(ctx.engine, permuteGeometry(ctx.batch, ctx.inputShapes[0]!, this.dims, `Permute ${this.name}`), { dy: ctx.outputGrad, dx });
  }
  override getConfig(): Record<string, unknown> {
    return { ...baseConfig(this), dims: [...this.dims] };
  }
  static fromConfig(config: unknown): Permute {
    const c = kerasConfig('Permute', config, ['dims']);
    return new Permute({ ...layerArgsFromConfig(c), dims: c.dims as number[] });
  }
}

// ---- RepeatVector --------------------------------------------------------------------------

export interface RepeatVectorConfig extends LayerArgs {
  /** How many times: [batch, features] → [batch, n, features]. */
  n: number;
}

/** Repeats each sample's vector n times along a new axis. */
export class RepeatVector extends ShapeLayer {
  static override readonly className = 'RepeatVector';
  readonly n: number;
  constructor(config: RepeatVectorConfig) {
    const c = checkConfig<RepeatVectorConfig>('RepeatVector', config, true);
    super(c, 'repeat_vector');
    if (!Number.isInteger(c.n) || c.n < 1) throw new Error(`RepeatVector ${this.name}: n must be an integer ≥ 1, got ${describeValue(c.n)}`);
    this.n = c.n;
  }
  private geometry(batch: number, inputShape: Shape): UpSample2DGeometry {
    return repeatVectorGeometry(batch, inputShape, this.n, `RepeatVector ${this.name}`);
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    const g = this.geometry(1, inputShapes[0]!);
    return [this.n, g.channels];
  }
  protected run(ctx: ForwardContext): Dispatch[] {
    return upSample2dForward(ctx.engine, this.geometry(ctx.batch, ctx.inputShapes[0]!), { x: ctx.inputs[0]!, y: ctx.output });
  }
  protected runBackward(ctx: BackwardContext, dx: NonNullable<BackwardContext['inputGrads'][number]>): Dispatch[] {
    return upSample2dBackward(ctx.engine, this.geometry(ctx.batch, ctx.inputShapes[0]!), { dy: ctx.outputGrad, dx });
  }
  override getConfig(): Record<string, unknown> {
    return { ...baseConfig(this), n: this.n };
  }
  static fromConfig(config: unknown): RepeatVector {
    const c = kerasConfig('RepeatVector', config, ['n']);
    return new RepeatVector({ ...layerArgsFromConfig(c), n: c.n as number });
  }
}

const shapeFactories = {
  ...registerLayer(ZeroPadding2D, { zeroPadding2d: (config?: ZeroPadding2DConfig) => new ZeroPadding2D(config) }),
  ...registerLayer(Cropping2D, { cropping2D: (config: Cropping2DConfig) => new Cropping2D(config) }),
  ...registerLayer(UpSampling2D, { upSampling2d: (config?: UpSampling2DConfig) => new UpSampling2D(config) }),
  ...registerLayer(Permute, { permute: (config: PermuteConfig) => new Permute(config) }),
  ...registerLayer(RepeatVector, { repeatVector: (config: RepeatVectorConfig) => new RepeatVector(config) }),
};
type ShapeFactories = typeof shapeFactories;
declare module './registry.ts' {
  interface LayerFactories extends ShapeFactories {}
}
