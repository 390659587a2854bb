/**
 * MaxPooling2D (Keras semantics, channels_last) and the op-level functions it wraps.
 */
import { maxPoolBackward as backwardKernel, maxPoolBackwardFromArgmax as backwardFromArgmaxKernel, maxPoolForward as forwardKernel, type PoolBackwardOptions, type PoolGeometry } from '../../shaders/pool.ts';
import type { BufferView, Dispatch, Engine } from '../runtime/engine.ts';
import { formatShape } from '../runtime/tensor.ts';
import { kerasConfig, pair, padding as parsePadding, windowOutput, type Padding } from './config.ts';
import { expectInputs, Layer, type BackwardContext, type ForwardContext, type Shape } from './layer.ts';

export type { PoolGeometry };

export interface MaxPooling2DConfig {
  /** Window [h, w]; default 2. */
  poolSize?: number | readonly [number, number];
  /** Default: the pool size. */
  strides?: number | readonly [number, number];
  padding?: Padding;
  name?: string;
  inputShape?: readonly number[];
  batchInputShape?: readonly (number | null)[];
}

/**
 * The geometry of pooling `[height, width, channels]` images; throws (naming `who`) when a 'valid'
 * window does not fit.
 */
export function poolGeometry(
  batch: number,
  inputShape: Shape,
  pool: readonly [number, number],
  strides: readonly [number, number],
  mode: Padding,
  who = 'max pooling',
): PoolGeometry {
  if (inputShape.length !== 3) {
    throw new Error(`${who} expects inputs of shape [height, width, channels] (rank 3 without the batch), got ${formatShape(inputShape)}`);
  }
  if (!inputShape.every((d) => Number.isInteger(d) && d > 0)) throw new Error(`${who}: input sizes must be positive integers, got ${formatShape(inputShape)}`);
  if (!Number.isInteger(batch) || batch <= 0) throw new Error(`${who}: batch must be a positive integer, got ${batch}`);
  pair([...pool], `${who}: pool size`);
  pair([...strides], `${who}: strides`);
  const [height, width, channels] = inputShape as [number, number, number];
  const rows = windowOutput(height, pool[0], strides[0], mode);
  const cols = windowOutput(width, pool[1], strides[1], mode);
  if (rows.out <= 0 || cols.out <= 0) {
    throw new Error(
      `${who}: pool size ${formatShape(pool)} is larger than the input ${formatShape(inputShape)} with padding 'valid'; ` +
        `use a smaller pool or padding 'same'`,
    );
  }
  return {
    batch,
    height,
    width,
    channels,
    poolH: pool[0],
    poolW: pool[1],
    strideH: strides[0],
    strideW: strides[1],
    padTop: rows.padBefore,
    padLeft: cols.padBefore,
    outHeight: rows.out,
    outWidth: cols.out,
  };
}

/** y = maxpool(x): x [batch, height, width, channels], y [batch, outHeight, outWidth, channels]. */
export function maxPoolForward(engine: Engine, g: PoolGeometry, views: { x: BufferView; y: BufferView }): Dispatch[] {
  return [engine.kernel(forwardKernel(g), [views.x, views.y])];
}

/** dx = gradient of maxpool routed to each window's first maximum; dx is fully overwritten. */
export function maxPoolBackward(engine: Engine, g: PoolGeometry, views: { x: BufferView; dy: BufferView; dx: BufferView }, options: PoolBackwardOptions = {}): Dispatch[] {
  return [engine.kernel(backwardKernel(g, options), [views.x, views.dy, views.dx])];
}

/**
 * dx of a 2×2/stride-2 'valid' pool from the first-max positions its producer saved while pooling
 * its own output (Layer.forwardPooled), and y, the pooled output; dx is fully overwritten.
 */
export function maxPoolBackwardFromArgmax(engine: Engine, g: PoolGeometry, views: { y: BufferView; argmax: BufferView; dy: BufferView; dx: BufferView }, options: PoolBackwardOptions = {}): Dispatch[] {
  return [engine.kernel(backwardFromArgmaxKernel(g, options), [views.y, views.argmax, views.dy, views.dx])];
}

/** The saved entry (ForwardContext.saved of the pool's node) holding the positions its producer recorded. */
export const POOL_ARGMAX = 'max pool argmax';

/** u32s of those positions for a batch of pooled outputs [h, w, c]: one per pixel and group of 4 channels. */
export function poolArgmaxWords(batch: number, pooledShape: readonly number[]): number {
  const [h, w, c] = pooledShape as [number, number, number];
  return batch * h * w * Math.ceil(c / 4);
}

export class MaxPooling2D extends Layer {
  readonly className = 'MaxPooling2D';
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
  fusesInto(inputShape: Shape, training: boolean): boolean {
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
