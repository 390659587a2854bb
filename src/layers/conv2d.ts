/**
 * Conv2D: the Keras layer (NHWC, HWIO kernel, 'valid'/'same' padding, fused ReLU), and the
 * op-level functions it wraps, usable without a layer: conv2dGeometry, conv2dForward,
 * conv2dBackward.
 */
import {
  conv2dBiasGrad,
  conv2dForward as forwardKernel,
  conv2dInputGrad,
  conv2dKernelGrad,
  conv2dReductionPlan,
  DEFAULT_BLOCKS,
  sumPartials,
  type Conv2DBlocks,
  type Conv2DGeometry,
} from '../../shaders/conv2d.ts';
import type { BufferView, Dispatch, Engine } from '../runtime/engine.ts';
import { parseInitializer, type Initializer } from './initializers.ts';
import { expectInputs, Layer, type ActivationName, type BackwardContext, type ForwardContext, type Shape, type WeightSpec } from './layer.ts';

export type { Conv2DGeometry } from '../../shaders/conv2d.ts';

export type Padding = 'valid' | 'same';
type View = Required<BufferView>;

/** Output size along one axis, Keras/TF rules: 'same' gives ceil(in/stride), 'valid' ceil((in−k+1)/stride). */
export function convOutputSize(size: number, kernel: number, stride: number, padding: Padding): number {
  return padding === 'same' ? Math.ceil(size / stride) : Math.ceil((size - kernel + 1) / stride);
}

/** Zeros before the input along one axis: TF puts the odd one of 'same' padding at the end. */
function padBefore(size: number, kernel: number, stride: number, padding: Padding): number {
  if (padding === 'valid') return 0;
  const out = Math.ceil(size / stride);
  return Math.floor(Math.max((out - 1) * stride + kernel - size, 0) / 2);
}

export interface Conv2DGeometryOptions {
  batch: number;
  /** [h, w, c] of one sample. */
  inputShape: Shape;
  filters: number;
  kernelSize: readonly [number, number];
  strides?: readonly [number, number];
  padding?: Padding;
  relu?: boolean;
  useBias?: boolean;
}

/** Resolves output size and padding; `who` names the caller in errors. */
export function conv2dGeometry(options: Conv2DGeometryOptions, who = 'conv2d'): Conv2DGeometry {
  const { batch, inputShape, filters, kernelSize, strides = [1, 1], padding = 'valid' } = options;
  if (inputShape.length !== 3 || !inputShape.every(isPositiveInteger)) {
    throw new Error(`${who}: expected an input of rank 3 [height, width, channels] with positive integer sizes, got [${inputShape.join(', ')}]`);
  }
  if (!isPositiveInteger(batch)) throw new Error(`${who}: batch must be a positive integer, got ${batch}`);
  const [inH, inW, inC] = inputShape as [number, number, number];
  const [kH, kW] = kernelSize;
  const [strideH, strideW] = strides;
  if (padding === 'valid' && (kH > inH || kW > inW)) {
    throw new Error(`${who}: kernelSize [${kH}, ${kW}] is larger than the input [${inH}, ${inW}] with padding 'valid'; use a smaller kernel or padding 'same'`);
  }
  return {
    batch,
    inH,
    inW,
    inC,
    outH: convOutputSize(inH, kH, strideH, padding),
    outW: convOutputSize(inW, kW, strideW, padding),
    outC: filters,
    kH,
    kW,
    strideH,
    strideW,
    padTop: padBefore(inH, kH, strideH, padding),
    padLeft: padBefore(inW, kW, strideW, padding),
    relu: options.relu ?? false,
    bias: options.useBias ?? true,
  };
}

export interface Conv2DForwardViews {
  x: View;
  w: View;
  /** Required when geometry.bias. */
  b?: View;
  y: View;
}

export function conv2dForward(engine: Engine, g: Conv2DGeometry, views: Conv2DForwardViews, blocks: Conv2DBlocks = DEFAULT_BLOCKS): Dispatch[] {
  const b = g.bias ? [required(views.b, 'b (the bias)')] : [];
  return [engine.kernel(forwardKernel(g, blocks), [views.x, views.w, ...b, views.y])];
}

export interface Conv2DBackwardViews {
  x: View;
  w: View;
  /** The forward output (read only when the ReLU was fused). */
  y: View;
  dy: View;
  /** null when nobody needs the input gradient (the first layer). */
  dx: View | null;
  dw: View;
  /** Required when geometry.bias. */
  db?: View | null;
  /** Device memory for the partial sums of the dW/db reductions. */
  scratch: (byteLength: number, label: string) => View;
}

/** Floats of scratch conv2dBackward asks for (0 when the reductions need no partials). */
export function conv2dScratchFloats(g: Conv2DGeometry, blocks: Conv2DBlocks = DEFAULT_BLOCKS): number {
  const plan = conv2dReductionPlan(g, blocks);
  const dw = plan.dwChunks > 1 ? plan.dwChunks * g.kH * g.kW * g.inC * g.outC : 0;
  const db = g.bias && plan.dbChunks > 1 ? plan.dbChunks * g.outC : 0;
  return Math.max(dw, db);
}

export function conv2dBackward(engine: Engine, g: Conv2DGeometry, views: Conv2DBackwardViews, blocks: Conv2DBlocks = DEFAULT_BLOCKS): Dispatch[] {
  const grad = g.relu ? [views.dy, views.y] : [views.dy];
  const plan = conv2dReductionPlan(g, blocks);
  const scratchFloats = conv2dScratchFloats(g, blocks);
  // dW's and db's partials take turns in one scratch buffer (dispatches run in order).
  const partials = scratchFloats > 0 ? views.scratch(scratchFloats * 4, 'conv2d partial sums') : null;
  const dispatches: Dispatch[] = [];
  if (views.dx) dispatches.push(engine.kernel(conv2dInputGrad(g, blocks), [...grad, views.w, views.dx]));
  const dwSize = g.kH * g.kW * g.inC * g.outC;
  if (plan.dwChunks > 1 && partials) {
    dispatches.push(engine.kernel(conv2dKernelGrad(g, blocks), [...grad, views.x, partials]));
    dispatches.push(engine.kernel(sumPartials(dwSize, plan.dwChunks), [partials, views.dw]));
  } else {
    dispatches.push(engine.kernel(conv2dKernelGrad(g, blocks), [...grad, views.x, views.dw]));
  }
  if (g.bias) {
    const db = required(views.db, 'db (the bias gradient)');
    if (plan.dbChunks > 1 && partials) {
      dispatches.push(engine.kernel(conv2dBiasGrad(g, blocks), [...grad, partials]));
      dispatches.push(engine.kernel(sumPartials(g.outC, plan.dbChunks), [partials, db]));
    } else {
      dispatches.push(engine.kernel(conv2dBiasGrad(g, blocks), [...grad, db]));
    }
  }
  return dispatches;
}

function required<T>(value: T | null | undefined, what: string): T {
  if (value == null) throw new Error(`conv2d: ${what} is required with useBias`);
  return value;
}

// ---- the layer ---------------------------------------------------------------------------

export interface Conv2DConfig {
  filters: number;
  kernelSize: number | readonly [number, number];
  strides?: number | readonly [number, number];
  padding?: Padding;
  activation?: ActivationName;
  useBias?: boolean;
  kernelInitializer?: Initializer | string;
  biasInitializer?: Initializer | string;
  name?: string;
  inputShape?: readonly number[];
  batchInputShape?: readonly (number | null)[];
}

const ACTIVATIONS: readonly ActivationName[] = ['linear', 'relu', 'softmax'];

/** Keras serialization of our initializers (class_name/config as model.json stores them). */
export function kerasInitializer(init: Initializer): { class_name: string; config: Record<string, unknown> } {
  if (typeof init === 'object') {
    if (init.kind === 'constant') return { class_name: 'Constant', config: { value: init.value } };
    if (init.kind === 'randomNormal') return { class_name: 'RandomNormal', config: { mean: init.mean ?? 0, stddev: init.stddev ?? 0.05, seed: null } };
    return { class_name: 'RandomUniform', config: { minval: init.minval ?? -0.05, maxval: init.maxval ?? 0.05, seed: null } };
  }
  const table = {
    glorotUniform: 'GlorotUniform',
    glorotNormal: 'GlorotNormal',
    heNormal: 'HeNormal',
    heUniform: 'HeUniform',
    zeros: 'Zeros',
    ones: 'Ones',
  } as const;
  return { class_name: table[init], config: init === 'zeros' || init === 'ones' ? {} : { seed: null } };
}

function isPositiveInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

export class Conv2D extends Layer {
  readonly className = 'Conv2D';
  readonly filters: number;
  readonly kernelSize: readonly [number, number];
  readonly strides: readonly [number, number];
  readonly padding: Padding;
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  private readonly activationName: ActivationName;

  constructor(config: Conv2DConfig) {
    super(config, 'conv2d');
    const who = `layer ${this.name} (Conv2D)`;
    if (!isPositiveInteger(config.filters)) throw new Error(`${who}: filters must be a positive integer, got ${JSON.stringify(config.filters)}`);
    this.filters = config.filters;
    this.kernelSize = pair(config.kernelSize, `${who}: kernelSize`);
    this.strides = pair(config.strides ?? 1, `${who}: strides`);
    const padding = config.padding ?? 'valid';
    if (padding !== 'valid' && padding !== 'same') throw new Error(`${who}: padding must be 'valid' or 'same', got ${JSON.stringify(padding)}`);
    this.padding = padding;
    const activation = config.activation ?? 'linear';
    if (!ACTIVATIONS.includes(activation)) throw new Error(`${who}: activation must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(activation)}`);
    this.activationName = activation;
    const useBias = config.useBias ?? true;
    if (typeof useBias !== 'boolean') throw new Error(`${who}: useBias must be true or false, got ${JSON.stringify(useBias)}`);
    this.useBias = useBias;
    this.kernelInitializer = parseInitializer(config.kernelInitializer ?? 'glorotUniform', `${who}: kernelInitializer`);
    this.biasInitializer = parseInitializer(config.biasInitializer ?? 'zeros', `${who}: biasInitializer`);
  }

  /** The configured activation; only ReLU is fused, the graph appends softmax as its own layer. */
  override get activation(): ActivationName {
    return this.activationName;
  }

  private geometry(batch: number, inputShapes: readonly Shape[]): Conv2DGeometry {
    expectInputs(this, inputShapes, 1);
    return conv2dGeometry(
      {
        batch,
        inputShape: inputShapes[0]!,
        filters: this.filters,
        kernelSize: this.kernelSize,
        strides: this.strides,
        padding: this.padding,
        relu: this.activationName === 'relu',
        useBias: this.useBias,
      },
      `layer ${this.name} (Conv2D)`,
    );
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const g = this.geometry(1, inputShapes);
    return [g.outH, g.outW, g.outC];
  }

  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    const g = this.geometry(1, inputShapes);
    const specs: WeightSpec[] = [{ name: 'kernel', shape: [g.kH, g.kW, g.inC, g.outC], initializer: this.kernelInitializer }];
    if (this.useBias) specs.push({ name: 'bias', shape: [g.outC], initializer: this.biasInitializer });
    return specs;
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes);
    return conv2dForward(ctx.engine, g, { x: ctx.inputs[0]!, w: ctx.weights[0]!, b: ctx.weights[1], y: ctx.output });
  }

  backward(ctx: BackwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes);
    return conv2dBackward(ctx.engine, g, {
      x: ctx.inputs[0]!,
      w: ctx.weights[0]!,
      y: ctx.output,
      dy: ctx.outputGrad,
      dx: ctx.inputGrads[0] ?? null,
      dw: ctx.weightGrads[0]!,
      db: ctx.weightGrads[1] ?? null,
      scratch: ctx.scratch,
    });
  }

  override getConfig(): Record<string, unknown> {
    return {
      name: this.name,
      trainable: true,
      ...(this.batchInputShape ? { batch_input_shape: this.batchInputShape, dtype: 'float32' } : {}),
      filters: this.filters,
      kernel_size: [...this.kernelSize],
      strides: [...this.strides],
      padding: this.padding,
      data_format: 'channels_last',
      dilation_rate: [1, 1],
      activation: this.activationName,
      use_bias: this.useBias,
      kernel_initializer: kerasInitializer(this.kernelInitializer),
      bias_initializer: kerasInitializer(this.biasInitializer),
      kernel_regularizer: null,
      bias_regularizer: null,
      activity_regularizer: null,
      kernel_constraint: null,
      bias_constraint: null,
    };
  }
}

/** A positive integer or a pair of them, as [h, w]. */
function pair(value: number | readonly [number, number], argument: string): readonly [number, number] {
  const p = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(p) || p.length !== 2 || !p.every(isPositiveInteger)) {
    throw new Error(`${argument} must be a positive integer or a pair [height, width] of them, got ${JSON.stringify(value)}`);
  }
  return [p[0], p[1]];
}
