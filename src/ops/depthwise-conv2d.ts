/**
 * The depthwise conv2d op (NHWC input, kernel [kH, kW, inC, multiplier], output channel c·multiplier + m;
 * strides, dilation, 'valid'/'same' padding, fused bias and ReLU): its geometry and the dispatches
 * of its forward and backward (kernels in shaders/depthwise-conv2d.ts). DepthwiseConv2D and
 * SeparableConv2D wrap it (src/layers/depthwise-conv2d.ts).
 */
import {
  depthwiseConv2dForward as forwardKernel,
  depthwiseConv2dInputGrad,
  depthwiseConv2dKernelGrad,
  depthwiseReductionPlan,
  inputGradPhases,
  type DepthwiseConv2DGeometry,
  type DepthwiseReductionPlan,
} from '../../shaders/depthwise-conv2d.ts';
import { sumPartials } from '../../shaders/conv2d-grad.ts';
import { reluBackward } from '../../shaders/elementwise.ts';
import type { Dispatch, Engine, View } from '../runtime/engine.ts';
import { formatShape, type Shape } from '../runtime/tensor.ts';
import { benchRun } from './bench-buffers.ts';
import { choose, kindFirst, paramsOf, type Variant, type VariantHost, type VariantTable } from './variants.ts';
import { pair, windowOutput, type Padding } from './window.ts';

export type { DepthwiseConv2DGeometry, DepthwiseReductionPlan };

export interface DepthwiseConv2DGeometryOptions {
  batch: number;
  /** [h, w, c] of one sample. */
  inputShape: Shape;
  kernelSize: readonly [number, number];
  /** Filters per input channel; default 1. */
  depthMultiplier?: number;
  strides?: readonly [number, number];
  dilationRate?: readonly [number, number];
  padding?: Padding;
  relu?: boolean;
  useBias?: boolean;
}

/**
 * Resolves output size and padding as TensorFlow does (a dilated window spans (k − 1)·d + 1
 * inputs); `who` names the caller in errors. Strides and dilation above 1 together are refused,
 * as TF.js's depthwise gradient and Keras refuse them.
 */
export function depthwiseConv2dGeometry(options: DepthwiseConv2DGeometryOptions, who = 'depthwiseConv2d'): DepthwiseConv2DGeometry {
  const { batch, inputShape, padding = 'valid', depthMultiplier = 1 } = options;
  if (inputShape.length !== 3 || !inputShape.every(isPositiveInteger)) {
    throw new Error(`${who}: expected an input of rank 3 [height, width, channels] with positive integer sizes, got ${formatShape(inputShape)}`);
  }
  if (!isPositiveInteger(batch)) throw new Error(`${who}: batch must be a positive integer, got ${batch}`);
  if (!isPositiveInteger(depthMultiplier)) throw new Error(`${who}: depthMultiplier must be a positive integer, got ${JSON.stringify(depthMultiplier)}`);
  const [kH, kW] = pair(options.kernelSize, `${who}: kernelSize`);
  const [strideH, strideW] = pair(options.strides ?? [1, 1], `${who}: strides`);
  const [dilationH, dilationW] = pair(options.dilationRate ?? [1, 1], `${who}: dilationRate`);
  if (Math.max(strideH, strideW) > 1 && Math.max(dilationH, dilationW) > 1) {
    throw new Error(`${who}: dilationRate [${dilationH}, ${dilationW}] cannot be combined with strides [${strideH}, ${strideW}]; strides must be 1 where dilationRate is above 1 (as in TF.js and Keras)`);
  }
  const [inH, inW, inC] = inputShape as [number, number, number];
  const spanH = (kH - 1) * dilationH + 1;
  const spanW = (kW - 1) * dilationW + 1;
  if (padding === 'valid' && (spanH > inH || spanW > inW)) {
    throw new Error(
      `${who}: the kernel's span [${spanH}, ${spanW}] (kernelSize [${kH}, ${kW}], dilationRate [${dilationH}, ${dilationW}]) is larger than the input [${inH}, ${inW}] ` +
        `with padding 'valid'; use a smaller kernel or padding 'same'`,
    );
  }
  const rows = windowOutput(inH, spanH, strideH, padding);
  const cols = windowOutput(inW, spanW, strideW, padding);
  return {
    batch,
    inH,
    inW,
    inC,
    multiplier: depthMultiplier,
    outH: rows.out,
    outW: cols.out,
    kH,
    kW,
    strideH,
    strideW,
    dilationH,
    dilationW,
    padTop: rows.padBefore,
    padLeft: cols.padBefore,
    relu: options.relu ?? false,
    bias: options.useBias ?? true,
  };
}

export interface DepthwiseConv2DForwardViews {
  x: View;
  /** [kH, kW, inC, multiplier] */
  w: View;
  /** [inC · multiplier]; required when geometry.bias. */
  b?: View | null;
  y: View;
}

/** y = act(depthwise(x, w) + b) in one dispatch. */
export function depthwiseConv2dForward(engine: Engine, g: DepthwiseConv2DGeometry, views: DepthwiseConv2DForwardViews): Dispatch[] {
  const b = g.bias ? [required(views.b, 'b (the bias)')] : [];
  return [engine.kernel(forwardKernel(g), [views.x, views.w, ...b, views.y])];
}

export interface DepthwiseConv2DBackwardViews {
  x: View;
  w: View;
  /** The forward output; read only when the ReLU was fused (its mask). */
  y?: View | null;
  dy: View;
  /** null when nobody needs the input gradient (the model's first layer). */
  dx: View | null;
  dw: View;
  /** Required when geometry.bias. */
  db?: View | null;
  /** Plan-lifetime device memory: the masked dy and the reduction's partial sums. */
  scratch: (byteLength: number, label: string) => View;
}

export interface DepthwiseConv2DBackwardOptions {
  /** x is the output of a fused ReLU whose mask this backward applies to dx (Layer.masksReluInputGrad). */
  reluMaskInput?: boolean;
  /** Force the kernel gradient's number of partial sums (tests; clamped to the output rows). */
  chunks?: number;
  /** Force the kernel gradient's variant (a name in depthwiseKernelGradTable). */
  kernelGrad?: string;
}

/** A short key of a depthwise convolution's geometry for the variant records. */
export function depthwiseConv2dKey(g: DepthwiseConv2DGeometry): string {
  return `${g.batch}x${g.inH}x${g.inW}x${g.inC} k${g.kH}x${g.kW} s${g.strideH}x${g.strideW} m${g.multiplier} -> ${g.outH}x${g.outW}`;
}

/** The kernel gradient's variants: one kernel, its reduction over output rows cut for `invocations` invocations. */
type DepthwiseRow = Variant<DepthwiseConv2DGeometry, { invocations: number }>;

const CPU_CHUNKS: DepthwiseRow = {
  name: 'registers',
  applies: () => true,
  params: { invocations: 4096 },
  why: 'A CPU rasterizer has a few cores of 4–8 lanes: few partial sums keep it busy, and each costs a pass.',
};
const GPU_CHUNKS: DepthwiseRow = {
  name: 'tiled',
  applies: () => true,
  params: { invocations: 32768 },
  why: 'A GPU needs tens of thousands of invocations busy, so the reduction is cut into more partial sums.',
};

/** The depthwise kernel gradient's reduction: 'registers' (the CPU rasterizers' chunking) first on CPUs, 'tiled' (the GPUs') first on GPUs; either runs anywhere. */
export const depthwiseKernelGradTable: VariantTable<DepthwiseConv2DGeometry, { invocations: number }> = {
  op: 'depthwiseConv2d.kernelGrad',
  key: depthwiseConv2dKey,
  rows: kindFirst(CPU_CHUNKS, GPU_CHUNKS),
  bench: benchKernelGrad,
};

/**
 * The kernel-gradient variant `name` of g (relu false, as choose sees it) with its bias gradient,
 * as depthwiseConv2dBackward runs them without dx, on buffers of its own (tuning on first use).
 */
function benchKernelGrad(engine: Engine, g: DepthwiseConv2DGeometry, name: string) {
  return benchRun(engine, (m) => {
    const outC = g.inC * g.multiplier;
    const views: DepthwiseConv2DBackwardViews = {
      x: m.input(g.batch * g.inH * g.inW * g.inC, 'bench depthwise x'),
      w: m.input(g.kH * g.kW * outC, 'bench depthwise w'),
      dy: m.input(g.batch * g.outH * g.outW * outC, 'bench depthwise dy'),
      dx: null,
      dw: m.output(g.kH * g.kW * outC, 'bench depthwise dw'),
      db: g.bias ? m.output(outC, 'bench depthwise db') : null,
      scratch: m.scratch,
    };
    return depthwiseConv2dBackward(engine, { ...g, relu: false }, views, { kernelGrad: name });
  });
}

/** The kernel gradient's reduction plan for g on this engine (`variant` forces a row of depthwiseKernelGradTable; `chunks` a count). */
export function depthwiseConv2dReductionPlan(host: VariantHost, g: DepthwiseConv2DGeometry, chunks?: number, variant?: string): DepthwiseReductionPlan {
  const row = choose(depthwiseKernelGradTable, g, host, variant);
  return depthwiseReductionPlan(g, paramsOf(row, depthwiseKernelGradTable.op).invocations, chunks);
}

/**
 * dx (skipped when views.dx is null), dW and db, each overwritten. Under a fused ReLU, dy is
 * masked by [y > 0] once into scratch for all three.
 */
export function depthwiseConv2dBackward(engine: Engine, geometry: DepthwiseConv2DGeometry, views: DepthwiseConv2DBackwardViews, options: DepthwiseConv2DBackwardOptions = {}): Dispatch[] {
  const dispatches: Dispatch[] = [];
  let dy = views.dy;
  if (geometry.relu) {
    const n = geometry.batch * geometry.outH * geometry.outW * geometry.inC * geometry.multiplier;
    dy = views.scratch(n * 4, 'depthwise conv2d masked dy');
    dispatches.push(engine.kernel(reluBackward(n), [required(views.y, 'y (the forward output) with a fused relu'), views.dy, dy]));
  }
  // The kernels below see dy after the ReLU.
  const g: DepthwiseConv2DGeometry = { ...geometry, relu: false };
  if (views.dx) {
    const mask = options.reluMaskInput ?? false;
    // One dispatch per stride phase, each unrolling only the taps that reach its inputs.
    for (const phase of inputGradPhases(g)) {
      dispatches.push(engine.kernel(depthwiseConv2dInputGrad(g, phase, { reluMask: mask }), [dy, views.w, ...(mask ? [views.x] : []), views.dx]));
    }
  }
  const plan = depthwiseConv2dReductionPlan(engine, g, options.chunks, options.kernelGrad);
  const outC = g.inC * g.multiplier;
  const kernelFloats = g.kH * g.kW * outC;
  const kernel = depthwiseConv2dKernelGrad(g, plan);
  const db = g.bias ? required(views.db, 'db (the bias gradient)') : null;
  if (plan.chunks === 1) {
    dispatches.push(engine.kernel(kernel, [views.x, dy, views.dw, ...(db ? [db] : [])]));
    return dispatches;
  }
  const dwPartials = views.scratch(plan.chunks * kernelFloats * 4, 'depthwise conv2d dW partial sums');
  const dbPartials = db ? views.scratch(plan.chunks * outC * 4, 'depthwise conv2d db partial sums') : null;
  dispatches.push(engine.kernel(kernel, [views.x, dy, dwPartials, ...(dbPartials ? [dbPartials] : [])]));
  dispatches.push(engine.kernel(sumPartials(kernelFloats, plan.chunks), [dwPartials, views.dw]));
  if (db && dbPartials) dispatches.push(engine.kernel(sumPartials(outC, plan.chunks), [dbPartials, db]));
  return dispatches;
}

function required<T>(value: T | null | undefined, what: string): T {
  if (value == null) throw new Error(`depthwiseConv2d: ${what} is required`);
  return value;
}

function isPositiveInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}
