/**
 * The transposed 2-D convolution (Keras's Conv2DTranspose; NHWC input, kernel [kH, kW, filters,
 * inC]) as the conv2d op run backwards: its forward is the input gradient of the convolution whose
 * input is its output (that convolution's HWIO kernel is this kernel as it lies in memory), its
 * input gradient is that convolution's forward, and its kernel gradient that convolution's kernel
 * gradient with x and dy swapping roles. No kernels of its own: shaders/conv2d.ts generates them
 * (on GPUs the implicit GEMMs of shaders/conv2d-gemm.ts, or the frozen-tile kernel).
 */
import { conv2dTransposeForward as forwardKernel, conv2dTransposeKernel, defaultBlocks, type Conv2DBlocks, type Conv2DGeometry } from '../../shaders/conv2d.ts';
import { conv2dTransposeForwardTiled } from '../../shaders/conv2d-tiled.ts';
import { conv2dGemmTransposeForward } from '../../shaders/conv2d-gemm.ts';
import { reluBackward } from '../../shaders/elementwise.ts';
import { weightsOnly, type Dispatch, type Engine, type View } from '../runtime/engine.ts';
import { formatShape, type Shape } from '../runtime/tensor.ts';
import { conv2dBiasGradient, conv2dForward, conv2dGeometry, conv2dWeightGradients, type Conv2DVariant } from './conv2d.ts';
import { benchRun } from './bench-buffers.ts';
import { CONV_GEMM_TILES, conv2dTransposeForwardTable as forwardRows, isGemmVariant, type ConvGemmVariant } from './conv2d-variants.ts';
import { matmul } from './matmul.ts';
import { choose, type VariantTable } from './variants.ts';
import type { Padding } from './window.ts';

export interface Conv2DTransposeGeometryOptions {
  batch: number;
  /** [h, w, c] of one sample. */
  inputShape: Shape;
  filters: number;
  kernelSize: readonly [number, number];
  strides?: readonly [number, number];
  /** Above 1 only with strides [1, 1] (Keras's semantics; TF.js 4.22 ignores it). */
  dilationRate?: readonly [number, number];
  padding?: Padding;
  relu?: boolean;
  useBias?: boolean;
}

/**
 * The output length of a transposed convolution along one axis (TF.js's deconvLength, with the
 * kernel's dilated span as Keras's deconv_output_length takes it): 'valid' size·stride +
 * max(span − stride, 0), 'same' size·stride.
 */
export function deconvLength(size: number, stride: number, span: number, padding: Padding): number {
  return padding === 'valid' ? size * stride + Math.max(span - stride, 0) : size * stride;
}

/**
 * The geometry of the convolution whose input gradient the transposed convolution is: its input
 * [outH, outW, filters] is the transposed output, its output [inH, inW, inC] the transposed
 * input, with TensorFlow's padding for that input (conv2dGeometry). relu and bias apply to the
 * transposed output (g's input side). `who` names the caller in errors.
 */
export function conv2dTransposeGeometry(options: Conv2DTransposeGeometryOptions, who = 'conv2dTranspose'): Conv2DGeometry {
  const { batch, inputShape, filters, kernelSize, strides = [1, 1], dilationRate = [1, 1], padding = 'valid' } = options;
  if (inputShape.length !== 3 || !inputShape.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(`${who}: expected an input of rank 3 [height, width, channels] with positive integer sizes, got ${formatShape(inputShape)}`);
  }
  const [inH, inW, inC] = inputShape as [number, number, number];
  const outH = deconvLength(inH, strides[0], (kernelSize[0] - 1) * dilationRate[0] + 1, padding);
  const outW = deconvLength(inW, strides[1], (kernelSize[1] - 1) * dilationRate[1] + 1, padding);
  const g = conv2dGeometry({ batch, inputShape: [outH, outW, filters], filters: inC, kernelSize, strides, dilationRate, padding, relu: options.relu, useBias: options.useBias }, who);
  // deconvLength is the inverse of the convolution's output length: this holds for every size.
  if (g.outH !== inH || g.outW !== inW) throw new Error(`${who}: internal error: [${outH}, ${outW}] convolves back to [${g.outH}, ${g.outW}], not [${inH}, ${inW}]`);
  return g;
}

type Scratch = (byteLength: number, label: string) => View;

export interface Conv2DTransposeForwardViews {
  /** The transposed input: [batch, g.outH, g.outW, g.outC]. */
  x: View;
  /** [kH, kW, filters, inC]: g's HWIO kernel. */
  w: View;
  /** [filters]; required when g.bias. */
  b?: View | null;
  /** The transposed output: [batch, g.inH, g.inW, g.inC]. */
  y: View;
  /** Device memory for the kernel laid out for the registers kernel. */
  scratch: Scratch;
}

/**
 * The transposed forward's table (src/ops/conv2d-variants.ts) with its bench: variant `name` of g
 * on buffers of its own, for tuning on first use.
 */
export const conv2dTransposeForwardTable: VariantTable<Conv2DGeometry> = {
  ...forwardRows,
  bench: (engine, g, name) =>
    benchRun(engine, (m) => {
      const views: Conv2DTransposeForwardViews = {
        x: m.input(g.batch * g.outH * g.outW * g.outC, 'bench conv2d-transpose x'),
        w: m.input(g.kH * g.kW * g.inC * g.outC, 'bench conv2d-transpose w'),
        b: g.bias ? m.input(g.inC, 'bench conv2d-transpose b') : null,
        y: m.output(g.batch * g.inH * g.inW * g.inC, 'bench conv2d-transpose y'),
        scratch: m.scratch,
      };
      return conv2dTransposeForward(engine, g, views, defaultBlocks(g), name as Conv2DTransposeForwardVariant);
    }),
};

/** A row of conv2dTransposeForwardTable. */
export type Conv2DTransposeForwardVariant = 'direct' | 'tiled' | Extract<ConvGemmVariant, 'gemm-64x64' | 'gemm-32x32'>;

/** y = act(conv2dTranspose(x, w) + b): g's input gradient of x, with the bias and ReLU fused; `variant` forces a row of conv2dTransposeForwardTable. */
export function conv2dTransposeForward(engine: Engine, g: Conv2DGeometry, views: Conv2DTransposeForwardViews, blocks: Conv2DBlocks = defaultBlocks(g), variant?: Conv2DTransposeForwardVariant): Dispatch[] {
  const b = g.bias ? [required(views.b, 'b (the bias)')] : [];
  const name = choose(conv2dTransposeForwardTable, g, engine, variant).name;
  if (isGemmVariant(name)) {
    const { geometry, loaders } = conv2dGemmTransposeForward(g);
    return matmul(engine, geometry, { a: views.x, b: views.w, bias: b[0], c: views.y }, CONV_GEMM_TILES[name], loaders);
  }
  if (name === 'tiled') return [engine.kernel(conv2dTransposeForwardTiled(g), [views.x, views.w, ...b, views.y])];
  const wt = views.scratch(g.kH * g.kW * g.inC * g.outC * 4, 'conv2d-transpose transposed kernel');
  return [weightsOnly(engine.kernel(conv2dTransposeKernel(g), [views.w, wt])), engine.kernel(forwardKernel(g, blocks), [views.x, wt, ...b, views.y])];
}

export interface Conv2DTransposeBackwardViews {
  x: View;
  w: View;
  /** The forward output (read only when the ReLU was fused). */
  y: View;
  dy: View;
  /** null when nobody needs the input gradient. */
  dx: View | null;
  dw: View;
  /** Required when g.bias. */
  db?: View | null;
  scratch: Scratch;
}

export interface Conv2DTransposeOptions {
  /** The variant of the input gradient, a conv2d forward (conv2dVariants(engine, g).forward; tests compare them). */
  inputGrad?: Conv2DVariant;
  kernelGrad?: Conv2DVariant;
}

/**
 * dx = conv2d(dy, w) (g's forward), dW = g's kernel gradient for input dy and output gradient x,
 * db = Σ dy per channel; dy masked by the fused ReLU first.
 */
export function conv2dTransposeBackward(engine: Engine, geometry: Conv2DGeometry, views: Conv2DTransposeBackwardViews, blocks?: Conv2DBlocks, options: Conv2DTransposeOptions = {}): Dispatch[] {
  const dispatches: Dispatch[] = [];
  let dy = views.dy;
  if (geometry.relu) {
    const n = geometry.batch * geometry.inH * geometry.inW * geometry.inC;
    dy = views.scratch(n * 4, 'conv2d-transpose masked dy');
    dispatches.push(engine.kernel(reluBackward(n), [views.y, views.dy, dy]));
  }
  // The convolution itself: no ReLU, and its bias (ours, on its input side) is not its own.
  const g: Conv2DGeometry = { ...geometry, relu: false, bias: false };
  const b = blocks ?? defaultBlocks(g);
  if (views.dx) dispatches.push(...conv2dForward(engine, g, { x: dy, w: views.w, y: views.dx, scratch: views.scratch }, b, { forward: options.inputGrad }));
  dispatches.push(...conv2dWeightGradients(engine, g, { x: dy, dy: views.x, dw: views.dw, scratch: views.scratch }, b, { kernelGrad: options.kernelGrad }));
  if (geometry.bias) dispatches.push(...conv2dBiasGradient(engine, outputSide(g), { dy, db: required(views.db, 'db (the bias gradient)'), scratch: views.scratch }));
  return dispatches;
}

/** g with input and output swapped, as the bias reduction over the transposed output reads it. */
function outputSide(g: Conv2DGeometry): Conv2DGeometry {
  return { ...g, inH: g.outH, inW: g.outW, inC: g.outC, outH: g.inH, outW: g.inW, outC: g.inC };
}

function required<T>(value: T | null | undefined, what: string): T {
  if (value == null) throw new Error(`conv2dTranspose: ${what} is required with useBias`);
  return value;
}
