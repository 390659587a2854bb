/**
 * The global pooling layers (channels_last) over the global pool ops (src/ops/pool.ts): the mean
 * or the maximum of each channel over a sample's positions, `[height, width, channels]` (2-D) or
 * `[steps, channels]` (1-D, run as a map of height 1) to `[channels]`.
 *
 * GlobalMaxPooling's gradient goes to each map's first maximum in row-major order, as
 * MaxPooling2D's does. At tied maxima TF.js's gradient differs (it gives every tied maximum the
 * whole gradient; TensorFlow splits it between them); ties with a nonzero gradient need exactly
 * equal values, and after a ReLU those are zeros, whose gradient the ReLU masks in every case.
 */
import { registerLayer } from './registry.ts';
import type { Dispatch } from '../runtime/engine.ts';
import { globalPoolBackward, globalPoolForward, globalPoolGeometry, type GlobalPoolGeometry, type GlobalPoolMode } from '../ops/pool.ts';
import { formatShape } from '../runtime/tensor.ts';
import { describeValue, kerasConfig } from './config.ts';
import { expectInputs, Layer, type BackwardContext, type ForwardContext, type LayerArgs, type Shape } from './layer.ts';

export interface GlobalPooling2DConfig extends LayerArgs {
  /** Only 'channelsLast' (the default): channels-first inputs are not supported. */
  dataFormat?: 'channelsLast';
}
export type GlobalPooling1DConfig = LayerArgs;

abstract class GlobalPooling extends Layer {
  /** 2 for `[height, width, channels]` inputs, 1 for `[steps, channels]`. */
  readonly dims: 1 | 2;
  readonly mode: GlobalPoolMode;

  constructor(config: GlobalPooling2DConfig, defaultPrefix: string, dims: 1 | 2, mode: GlobalPoolMode) {
    super(config, defaultPrefix);
    this.dims = dims;
    this.mode = mode;
    const format = config.dataFormat as unknown;
    if (dims === 2 && format !== undefined && format !== null && format !== 'channelsLast') {
      throw new Error(`${this.className} ${this.name}: dataFormat must be 'channelsLast' (channels-first inputs are not supported), got ${describeValue(format)}`);
    }
  }

  private geometry(batch: number, inputShape: Shape): GlobalPoolGeometry {
    const who = `layer ${this.name} (${this.className})`;
    if (this.dims === 2) return globalPoolGeometry(batch, inputShape, who);
    if (inputShape.length !== 2) throw new Error(`${who} expects inputs of shape [steps, channels] (rank 2 without the batch), got ${formatShape(inputShape)}`);
    return globalPoolGeometry(batch, [1, ...inputShape], who);
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    return [this.geometry(1, inputShapes[0]!).channels];
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes[0]!);
    return globalPoolForward(ctx.engine, g, this.mode, { x: ctx.inputs[0]!, y: ctx.output });
  }

  backward(ctx: BackwardContext): Dispatch[] {
    const dx = ctx.inputGrads[0];
    if (!dx) return [];
    const g = this.geometry(ctx.batch, ctx.inputShapes[0]!);
    return globalPoolBackward(ctx.engine, g, this.mode, { x: ctx.inputs[0]!, dy: ctx.outputGrad, dx });
  }

  /** TF.js writes data_format for the 2-D layers only. */
  override getConfig(): Record<string, unknown> {
    return this.dims === 2 ? { ...super.getConfig(), data_format: 'channels_last' } : super.getConfig();
  }

  /**
   * The constructor's config from a Keras config in model.json: Keras (Python) also writes
   * data_format for the 1-D layers, and keepdims, which TF.js 4.22 does not have.
   */
  protected static configFromKeras(className: string, config: unknown): GlobalPooling2DConfig {
    const c = kerasConfig(className, config, [], { data_format: ['channels_last'], keepdims: [false] });
    return { name: c.name as string | undefined };
  }
}

export class GlobalAveragePooling2D extends GlobalPooling {
  static override readonly className = 'GlobalAveragePooling2D';
  constructor(config: GlobalPooling2DConfig = {}) {
    super(config, 'global_average_pooling2d', 2, 'average');
  }
  static fromConfig(config: unknown): GlobalAveragePooling2D {
    return new GlobalAveragePooling2D(GlobalPooling.configFromKeras('GlobalAveragePooling2D', config));
  }
}

export class GlobalMaxPooling2D extends GlobalPooling {
  static override readonly className = 'GlobalMaxPooling2D';
  constructor(config: GlobalPooling2DConfig = {}) {
    super(config, 'global_max_pooling2d', 2, 'max');
  }
  static fromConfig(config: unknown): GlobalMaxPooling2D {
    return new GlobalMaxPooling2D(GlobalPooling.configFromKeras('GlobalMaxPooling2D', config));
  }
}

export class GlobalAveragePooling1D extends GlobalPooling {
  static override readonly className = 'GlobalAveragePooling1D';
  constructor(config: GlobalPooling1DConfig = {}) {
    super(config, 'global_average_pooling1d', 1, 'average');
  }
  static fromConfig(config: unknown): GlobalAveragePooling1D {
    return new GlobalAveragePooling1D(GlobalPooling.configFromKeras('GlobalAveragePooling1D', config));
  }
}

export class GlobalMaxPooling1D extends GlobalPooling {
  static override readonly className = 'GlobalMaxPooling1D';
  constructor(config: GlobalPooling1DConfig = {}) {
    super(config, 'global_max_pooling1d', 1, 'max');
  }
  static fromConfig(config: unknown): GlobalMaxPooling1D {
    return new GlobalMaxPooling1D(GlobalPooling.configFromKeras('GlobalMaxPooling1D', config));
  }
}

// TF.js has no globalAvgPool aliases; its globalMaxPool1d and globalMaxPool2d are here.
const globalPoolingFactories = {
  ...registerLayer(GlobalAveragePooling2D, {
    globalAveragePooling2d: (config: GlobalPooling2DConfig = {}) => new GlobalAveragePooling2D(config),
  }),
  ...registerLayer(GlobalMaxPooling2D, {
    globalMaxPooling2d: (config: GlobalPooling2DConfig = {}) => new GlobalMaxPooling2D(config),
    globalMaxPool2d: (config: GlobalPooling2DConfig = {}) => new GlobalMaxPooling2D(config),
  }),
  ...registerLayer(GlobalAveragePooling1D, {
    globalAveragePooling1d: (config: GlobalPooling1DConfig = {}) => new GlobalAveragePooling1D(config),
  }),
  ...registerLayer(GlobalMaxPooling1D, {
    globalMaxPooling1d: (config: GlobalPooling1DConfig = {}) => new GlobalMaxPooling1D(config),
    globalMaxPool1d: (config: GlobalPooling1DConfig = {}) => new GlobalMaxPooling1D(config),
  }),
};
type GlobalPoolingFactories = typeof globalPoolingFactories;
declare module './registry.ts' {
  interface LayerFactories extends GlobalPoolingFactories {}
}
