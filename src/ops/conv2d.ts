/**
 * The conv2d op (NHWC input, HWIO kernel, 'valid'/'same'/'causal' padding, dilation, fused ReLU and 2×2 max pool):
 * its geometry, its variants (direct, Winograd, per-tap, whole-patch; on GPUs implicit GEMMs on the
 * configurable tiled product, and the frozen-tile kernels) and their selection, and the
 * dispatches of its forward and backward. Layers wrap it (src/layers/conv2d.ts); so can anyone.
 */
import {
  conv2dForward as forwardKernel,
  conv2dInputGrad,
  conv2dTransposeKernel,
  defaultBlocks,
  mirroredGeometry,
  type Conv2DBlocks,
  type Conv2DGeometry,
  type ForwardStore,
} from '../../shaders/conv2d.ts';
import { conv2dBiasGrad, conv2dKernelGrad, conv2dReductionPlan, sumPartials } from '../../shaders/conv2d-grad.ts';
import { conv2dForwardTiled, conv2dInputGradTiled, conv2dKernelGradTiled } from '../../shaders/conv2d-tiled.ts';
import { conv2dGemmForward, conv2dGemmInputGrad, conv2dGemmKernelGrad, conv2dGemmPooledForward } from '../../shaders/conv2d-gemm.ts';
import { reduceLines } from '../../shaders/reduce.ts';
import { patchProduct, tapLayout, tapProduct, tapSlices, type TapMode, type TapRole } from '../../shaders/conv2d-taps.ts';
import { reluBackward } from '../../shaders/elementwise.ts';
import {
  winogradExtent,
  winogradInputTransform,
  winogradKernelTransform,
  winogradLayout,
  winogradProductLayout,
  winogradOutputTransform,
  winogradProduct,
} from '../../shaders/winograd.ts';
import { winogradGradTransform, winogradKernelGradLayout, winogradKernelGradOutput, winogradKernelGradProduct } from '../../shaders/winograd-grad.ts';
import { weightsOnly, type Dispatch, type Engine, type View } from '../runtime/engine.ts';
import type { Shape } from '../runtime/tensor.ts';
import { benchRun } from './bench-buffers.ts';
import {
  conv2dForwardNoScratchTable,
  conv2dForwardTable as forwardRows,
  conv2dInputGradTable as inputGradRows,
  conv2dKernelGradTable as kernelGradRows,
  conv2dPooledForwardTable as pooledForwardRows,
  CONV_GEMM_TILES,
  isGemmVariant,
  poolsBeforeStore,
  type Conv2DVariant,
} from './conv2d-variants.ts';
import { matmul, matmulScratchFloats, type TileConfig } from './matmul.ts';
import { poolArgmaxWords } from './pool.ts';
import { applicableNames, choose, type VariantHost, type VariantTable } from './variants.ts';
import { windowOutput, type Padding } from './window.ts';
import { zeros } from './elementwise.ts';

export type { Conv2DGeometry } from '../../shaders/conv2d.ts';
export type { Conv2DVariant } from './conv2d-variants.ts';


/**
 * The conv2d tables of src/ops/conv2d-variants.ts with their benches (VariantTable.bench): what
 * every choose() here runs on, so tuning on first use can time their variants on scratch buffers.
 * The no-scratch forward has no bench: one row applies on each profile.
 */
export const conv2dForwardTable: VariantTable<Conv2DGeometry> = { ...forwardRows, bench: (engine, g, name) => benchForward(engine, g, name, false) };
export const conv2dPooledForwardTable: VariantTable<Conv2DGeometry> = { ...pooledForwardRows, bench: (engine, g, name) => benchForward(engine, g, name, true) };
export const conv2dInputGradTable: VariantTable<Conv2DGeometry> = { ...inputGradRows, bench: benchInputGrad };
export const conv2dKernelGradTable: VariantTable<Conv2DGeometry> = { ...kernelGradRows, bench: benchKernelGrad };

/** A convolution's padding: TensorFlow's 'valid' and 'same', and Keras's 'causal' (Conv1D). */
export type ConvPadding = Padding | 'causal';

export interface Conv2DGeometryOptions {
  batch: number;
  /** [h, w, c] of one sample. */
  inputShape: Shape;
  filters: number;
  kernelSize: readonly [number, number];
  strides?: readonly [number, number];
  /** Input rows/columns between neighbouring taps; default [1, 1]. Above 1 only with strides [1, 1]. */
  dilationRate?: readonly [number, number];
  /** 'causal' pads (k − 1)·dilation zeros before the input along each axis and none after. */
  padding?: ConvPadding;
  relu?: boolean;
  useBias?: boolean;
}

/**
 * Resolves output size and padding as TensorFlow does (a dilated window spans (k − 1)·d + 1
 * inputs); `who` names the caller in errors. Strides and dilation above 1 together are refused,
 * as TF.js refuses them.
 */
export function conv2dGeometry(options: Conv2DGeometryOptions, who = 'conv2d'): Conv2DGeometry {
  const { batch, inputShape, filters, kernelSize, strides = [1, 1], dilationRate = [1, 1], padding = 'valid' } = options;
  if (inputShape.length !== 3 || !inputShape.every(isPositiveInteger)) {
    throw new Error(`${who}: expected an input of rank 3 [height, width, channels] with positive integer sizes, got [${inputShape.join(', ')}]`);
  }
  if (!isPositiveInteger(batch)) throw new Error(`${who}: batch must be a positive integer, got ${batch}`);
  const [inH, inW, inC] = inputShape as [number, number, number];
  const [kH, kW] = kernelSize;
  const [strideH, strideW] = strides;
  const [dilationH, dilationW] = dilationRate;
  if (!isPositiveInteger(dilationH) || !isPositiveInteger(dilationW)) {
    throw new Error(`${who}: dilationRate must be two positive integers, got [${dilationRate.join(', ')}]`);
  }
  if (Math.max(strideH, strideW) > 1 && Math.max(dilationH, dilationW) > 1) {
    throw new Error(`${who}: dilationRate [${dilationH}, ${dilationW}] cannot be combined with strides [${strideH}, ${strideW}]; strides must be 1 where dilationRate is above 1 (as in TF.js)`);
  }
  const spanH = (kH - 1) * dilationH + 1;
  const spanW = (kW - 1) * dilationW + 1;
  if (padding === 'valid' && (spanH > inH || spanW > inW)) {
    throw new Error(
      dilationH === 1 && dilationW === 1
        ? `${who}: kernelSize [${kH}, ${kW}] is larger than the input [${inH}, ${inW}] with padding 'valid'; use a smaller kernel or padding 'same'`
        : `${who}: the kernel's span [${spanH}, ${spanW}] (kernelSize [${kH}, ${kW}], dilationRate [${dilationH}, ${dilationW}]) is larger than the input [${inH}, ${inW}] with padding 'valid'; use a smaller kernel or padding 'same'`,
    );
  }
  // 'causal': the window ends at the output's own position (Keras pads the start, then 'valid').
  const causal = (size: number, span: number, stride: number) => ({ out: Math.ceil(size / stride), padBefore: span - 1 });
  const rows = padding === 'causal' ? causal(inH, spanH, strideH) : windowOutput(inH, spanH, strideH, padding);
  const cols = padding === 'causal' ? causal(inW, spanW, strideW) : windowOutput(inW, spanW, strideW, padding);
  return {
    batch,
    inH,
    inW,
    inC,
    outH: rows.out,
    outW: cols.out,
    outC: filters,
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

type Scratch = (byteLength: number, label: string) => View;

export interface Conv2DForwardViews {
  x: View;
  w: View;
  /** Required when geometry.bias. */
  b?: View;
  y: View;
  /** Device memory for intermediate results; without it the forward runs as one direct kernel. */
  scratch?: Scratch;
  /** Where to keep results the backward can reuse (Winograd's transformed input). */
  saved?: Map<string, View>;
  /**
   * With Conv2DOptions.pooled: where each pooling window's first-max positions go (a u32 per
   * pooled pixel and group of 4 channels), for maxPoolBackwardFromArgmax in training.
   */
  argmax?: View;
}

/** The saved entry holding the forward's Winograd-transformed input. */
const SAVED_TRANSFORMED_INPUT = 'winograd transformed input';

export interface Conv2DOptions {
  /** Force a variant (tests and benchmarks compare them); by default the first of conv2dVariants(). */
  forward?: Conv2DVariant;
  inputGrad?: Conv2DVariant;
  kernelGrad?: Conv2DVariant;
  /**
   * Forward: store the 2×2 max pool (stride 2, 'valid') of the output, never the output itself,
   * views.y being the pooled tensor (pooledForwardVariant() picks the variant). Backward: the
   * forward was pooled, so dy is zero outside whole windows and `saved` holds what that forward
   * kept (its Winograd tiles cover only the windows: Conv2DGeometry.pooledOutput).
   */
  pooled?: boolean;
}

/**
 * The variants that apply to g on this engine's profile, the default first: the conv2d tables of
 * src/ops/conv2d-variants.ts (which say why each stands where it does). Takes anything with a
 * profile, so a synthetic profile shows another device's choices.
 */
export function conv2dVariants(host: Pick<VariantHost, 'profile'>, g: Conv2DGeometry): { forward: Conv2DVariant[]; inputGrad: Conv2DVariant[]; kernelGrad: Conv2DVariant[] } {
  const p = host.profile;
  return {
    forward: applicableNames(conv2dForwardTable, g, p) as Conv2DVariant[],
    inputGrad: applicableNames(conv2dInputGradTable, g, p) as Conv2DVariant[],
    kernelGrad: applicableNames(conv2dKernelGradTable, g, p) as Conv2DVariant[],
  };
}

/** One slice of a buffer of equal slices. */
function slice(view: View, index: number, floats: number): View {
  return { buffer: view.buffer, offset: view.offset + index * floats * 4, size: floats * 4 };
}

/**
 * The forward variant that runs with Conv2DOptions.pooled: the first (or the forced one) whose
 * kernels can pool before storing (conv2dPooledForwardTable: Winograd's output transform, the
 * direct pixel-block kernel, on GPUs the implicit GEMM's pooled epilogue); null where none can
 * (products over taps or patches, the by-rows kernel, the frozen-tile kernel), and the pool then
 * runs after the forward. A forced forward that does not
 * apply to g is an Error. `record`: the choice is the one a forward runs (recorded on the engine).
 */
export function pooledForwardVariant(host: VariantHost, g: Conv2DGeometry, options: Conv2DOptions = {}, record = false): Conv2DVariant | null {
  const pooled = pooledGeometry(g, true);
  const recorder = record ? host : { profile: host.profile };
  if (!poolsBeforeStore(pooled)) return null;
  if (options.forward) choose(conv2dForwardTable, pooled, { profile: host.profile }, options.forward);
  const names = applicableNames(conv2dPooledForwardTable, pooled, host.profile);
  if (options.forward ? !names.includes(options.forward) : names.length === 0) return null;
  return choose(conv2dPooledForwardTable, pooled, recorder, options.forward).name as Conv2DVariant;
}

/** g as a pooled forward (and its backward) see it: `pooled` sets Conv2DGeometry.pooledOutput. */
function pooledGeometry(g: Conv2DGeometry, pooled: boolean | undefined): Conv2DGeometry {
  return pooled ? { ...g, pooledOutput: true } : g;
}

/** The variant (conv2dVariants; direct without scratch) picks the kernels; `blocks` sizes the direct registers kernels. */
export function conv2dForward(engine: Engine, geometry: Conv2DGeometry, views: Conv2DForwardViews, blocks: Conv2DBlocks = defaultBlocks(geometry), options: Conv2DOptions = {}): Dispatch[] {
  const pooled = !!options.pooled;
  const g = pooledGeometry(geometry, pooled);
  const b = g.bias ? [required(views.b, 'b (the bias)')] : [];
  const store: ForwardStore = !pooled ? 'output' : views.argmax ? 'pooled+argmax' : 'pooled';
  const outputs = store === 'pooled+argmax' ? [views.y, views.argmax!] : [views.y];
  const variant = pooled
    ? pooledForwardVariant(engine, g, options, true)
    : views.scratch
      ? (choose(conv2dForwardTable, g, engine, options.forward).name as Conv2DVariant)
      : (choose(conv2dForwardNoScratchTable, g, engine).name as Conv2DVariant); // without scratch a forced variant is not taken, as ever
  if (!variant || (pooled && !views.scratch)) throw new Error('conv2d: this forward cannot pool its output (see pooledForwardVariant; it needs scratch memory)');
  if (isGemmVariant(variant)) {
    const tiles = CONV_GEMM_TILES[variant];
    const { geometry, loaders } = pooled ? conv2dGemmPooledForward(g, tiles, store === 'pooled+argmax') : conv2dGemmForward(g);
    return matmul(engine, geometry, { a: views.x, b: views.w, bias: b[0], c: views.y, argmax: views.argmax }, tiles, loaders);
  }
  if (variant === 'winograd') return winograd(engine, g, { x: views.x, w: views.w, b: b[0], outputs }, false, views.scratch!, views.saved, store);
  if (variant === 'taps') return byTaps(engine, g, 'forward', { src: views.x, w: views.w, b: b[0], dst: views.y }, views.scratch!);
  if (variant === 'patches') return [engine.kernel(patchProduct(g, engine.profile.boundsChecked), [views.x, views.w, views.y, ...b])];
  const kernel = variant === 'tiled' ? conv2dForwardTiled(g) : forwardKernel(g, blocks, store);
  return [engine.kernel(kernel, [views.x, views.w, ...b, ...outputs])];
}

/**
 * The convolution as a sum of per-tap slice products (shaders/conv2d-taps.ts): forward
 * y = act(b + Σ_t shift_t(x)·W_t), input gradient dx = Σ_t unshift_t(dy·W_tᵀ) into a zeroed dx.
 */
function byTaps(engine: Engine, g: Conv2DGeometry, mode: TapMode, views: { src: View; w: View; b?: View; dst: View }, scratch: Scratch): Dispatch[] {
  const checked = engine.profile.boundsChecked;
  const L = tapLayout(g, mode, checked);
  const slices = scratch(L.floats * 4, 'conv2d tap slices');
  const dispatches = [weightsOnly(engine.kernel(tapSlices(g, mode, checked), [views.w, slices]))];
  if (mode === 'inputGrad') dispatches.push(zeros(engine, views.dst));
  for (let tap = 0; tap < L.taps; tap++) {
    const role: TapRole = L.taps === 1 ? 'only' : tap === 0 ? 'first' : tap === L.taps - 1 ? 'last' : 'middle';
    const product = tapProduct(g, mode, role, checked);
    const bias = mode === 'forward' && g.bias && (role === 'last' || role === 'only') ? [views.b!] : [];
    for (let group = 0; group < L.groups; group++) {
      dispatches.push(engine.kernel(product, [views.src, slice(slices, tap * L.groups + group, L.slice), views.dst, ...bias]));
    }
  }
  return dispatches;
}

/**
 * y = conv(x, w) + b through Winograd's transforms (shaders/winograd.ts): kernel and input
 * transforms, one product per position and column group (each bound to its own slices), output
 * transform. `flipped`: w is the kernel of the convolution g mirrors (the input gradient's case).
 * `outputs`: y (pooled for a pooled `store`), then the argmax view for 'pooled+argmax'.
 */
function winograd(engine: Engine, g: Conv2DGeometry, views: { x: View; w: View; b?: View; outputs: View[] }, flipped: boolean, scratch: Scratch, saved?: Map<string, View>, store: ForwardStore = 'output'): Dispatch[] {
  const checked = engine.profile.boundsChecked;
  const L = winogradProductLayout(g, checked);
  const u = scratch(L.uFloats * 4, 'winograd transformed kernel');
  const v = scratch(L.vFloats * 4, SAVED_TRANSFORMED_INPUT);
  saved?.set(SAVED_TRANSFORMED_INPUT, v);
  const m = scratch(L.mFloats * 4, 'winograd products');
  const product = winogradProduct(g, checked);
  const dispatches = [weightsOnly(engine.kernel(winogradKernelTransform(g, flipped, checked), [views.w, u])), engine.kernel(winogradInputTransform(g), [views.x, v])];
  for (let p = 0; p < L.positions; p++) {
    for (let group = 0; group < L.groups; group++) {
      const s = p * L.groups + group;
      dispatches.push(engine.kernel(product, [slice(v, p, L.vSlice), slice(u, s, L.uSlice), slice(m, s, L.mSlice)]));
    }
  }
  dispatches.push(engine.kernel(winogradOutputTransform(g, store, checked), [m, ...(g.bias ? [views.b!] : []), ...views.outputs]));
  return dispatches;
}

/**
 * dW through Winograd's transforms (shaders/winograd.ts): V of x as in the forward, Y of dy,
 * the products over chunks of tiles, and their sum's transform back to taps.
 */
function winogradKernelGrad(engine: Engine, g: Conv2DGeometry, views: { x: View; dy: View; dw: View }, scratch: Scratch, saved?: Map<string, View>): Dispatch[] {
  const L = winogradLayout(g);
  const KG = winogradKernelGradLayout(g);
  // The forward's transformed input when it kept one (the same plan, so the same x and layout).
  const kept = saved?.get(SAVED_TRANSFORMED_INPUT);
  const v = kept ?? scratch(L.vFloats * 4, SAVED_TRANSFORMED_INPUT);
  const y = scratch(KG.yFloats * 4, 'winograd transformed dy');
  const partials = scratch(KG.partialFloats * 4, 'winograd dW partial sums');
  return [
    ...(kept ? [] : [engine.kernel(winogradInputTransform(g), [views.x, v])]),
    engine.kernel(winogradGradTransform(g), [views.dy, y]),
    engine.kernel(winogradKernelGradProduct(g), [v, y, partials]),
    engine.kernel(winogradKernelGradOutput(g), [partials, views.dw]),
  ];
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
  /** Device memory for the masked dy, the dW/db partial sums and the input gradient's transforms. */
  scratch: Scratch;
  /** What the forward kept (conv2dForward's `saved`), when it ran in the same plan. */
  saved?: Map<string, View>;
}

export function conv2dBackward(engine: Engine, geometry: Conv2DGeometry, views: Conv2DBackwardViews, blocks: Conv2DBlocks = defaultBlocks(geometry), options: Conv2DOptions = {}): Dispatch[] {
  const dispatches: Dispatch[] = [];
  let dy = views.dy;
  if (geometry.relu) {
    // Mask dy by the fused ReLU once: dx, dW and db would each read y beside dy (cost measured in bench/NOTES.md).
    const n = geometry.batch * geometry.outH * geometry.outW * geometry.outC;
    dy = views.scratch(n * 4, 'conv2d masked dy');
    dispatches.push(engine.kernel(reluBackward(n), [views.y, views.dy, dy]));
  }
  // The kernels below see dy after the ReLU: their geometry has none.
  const g: Conv2DGeometry = { ...pooledGeometry(geometry, options.pooled), relu: false };
  if (views.dx) dispatches.push(...conv2dInputGradient(engine, g, { dy, w: views.w, dx: views.dx, scratch: views.scratch }, blocks, options));
  dispatches.push(...conv2dWeightGradients(engine, g, { x: views.x, dy, dw: views.dw, db: views.db, scratch: views.scratch, saved: views.saved }, blocks, options));
  return dispatches;
}

/**
 * dx = the input gradient of g (relu false: dy is already masked; pooledOutput as the forward
 * ran) from dy, by the variant conv2dVariants picks (or options.inputGrad). It is also the
 * forward of the transposed convolution (src/ops/conv2d-transpose.ts).
 */
export function conv2dInputGradient(engine: Engine, g: Conv2DGeometry, views: { dy: View; w: View; dx: View; scratch: Scratch }, blocks: Conv2DBlocks = defaultBlocks(g), options: Conv2DOptions = {}): Dispatch[] {
  const variant = choose(conv2dInputGradTable, g, engine, options.inputGrad).name as Conv2DVariant;
  if (variant === 'winograd') {
    const mirrored = mirroredGeometry(g);
    const dispatches: Dispatch[] = [];
    // Outputs past the tiles' extent are zeros (a pooled forward's dy is zero past its windows).
    const { height, width } = winogradExtent(mirrored);
    if (height < mirrored.outH || width < mirrored.outW) dispatches.push(zeros(engine, views.dx, g.batch * g.inH * g.inW * g.inC));
    dispatches.push(...winograd(engine, mirrored, { x: views.dy, w: views.w, outputs: [views.dx] }, true, views.scratch));
    return dispatches;
  }
  if (variant === 'taps') return byTaps(engine, g, 'inputGrad', { src: views.dy, w: views.w, dst: views.dx }, views.scratch);
  if (variant === 'tiled') return [engine.kernel(conv2dInputGradTiled(g), [views.dy, views.w, views.dx])];
  if (isGemmVariant(variant)) {
    const { geometry, loaders } = conv2dGemmInputGrad(g);
    return matmul(engine, geometry, { a: views.dy, b: views.w, c: views.dx }, CONV_GEMM_TILES[variant], loaders);
  }
  const wt = views.scratch(g.kH * g.kW * g.inC * g.outC * 4, 'conv2d transposed kernel');
  return [engine.kernel(conv2dTransposeKernel(g), [views.w, wt]), engine.kernel(conv2dInputGrad(g, blocks), [views.dy, wt, views.dx])];
}

/**
 * dW (and db when g.bias) of g (relu false: dy is already masked) from x and dy, by the variant
 * conv2dVariants picks (or options.kernelGrad); `saved`: what a forward of the same x kept.
 */
export function conv2dWeightGradients(
  engine: Engine,
  g: Conv2DGeometry,
  views: { x: View; dy: View; dw: View; db?: View | null; scratch: Scratch; saved?: Map<string, View> },
  blocks: Conv2DBlocks = defaultBlocks(g),
  options: Conv2DOptions = {},
): Dispatch[] {
  const dispatches: Dispatch[] = [];
  const { dy } = views;
  const variant = choose(conv2dKernelGradTable, g, engine, options.kernelGrad).name as Conv2DVariant;
  if (isGemmVariant(variant)) return gemmWeightGradients(engine, g, views, CONV_GEMM_TILES[variant]);
  const tiled = variant === 'tiled';
  const dwByWinograd = variant === 'winograd';
  const kernelFloats = g.kH * g.kW * g.inC * g.outC;
  const plan = conv2dReductionPlan(g, tiled ? 'tiled' : 'registers', blocks);
  // The direct dW's and db's partials take turns in one scratch buffer (dispatches run in order).
  const dwPartials = !dwByWinograd && plan.dwChunks > 1 ? plan.dwChunks * kernelFloats : 0;
  const dbPartials = g.bias && plan.dbChunks > 1 ? plan.dbChunks * g.outC : 0;
  const partials = dwPartials || dbPartials ? views.scratch(Math.max(dwPartials, dbPartials) * 4, 'conv2d partial sums') : null;
  if (dwByWinograd) {
    dispatches.push(...winogradKernelGrad(engine, g, { x: views.x, dy, dw: views.dw }, views.scratch, views.saved));
  } else {
    const kernel = tiled ? conv2dKernelGradTiled(g) : conv2dKernelGrad(g, blocks);
    if (dwPartials && partials) {
      dispatches.push(engine.kernel(kernel, [dy, views.x, partials]), engine.kernel(sumPartials(kernelFloats, plan.dwChunks), [partials, views.dw]));
    } else {
      dispatches.push(engine.kernel(kernel, [dy, views.x, views.dw]));
    }
  }
  if (g.bias) dispatches.push(...biasGradient(engine, g, dy, required(views.db, 'db (the bias gradient)'), blocks, partials));
  return dispatches;
}

/**
 * dW as an implicit GEMM on the tiled product (split-K's partial sums in scratch, added by its
 * second kernel) and db as one column-sum pass over dy (an invocation per output channel).
 */
function gemmWeightGradients(engine: Engine, g: Conv2DGeometry, views: { x: View; dy: View; dw: View; db?: View | null; scratch: Scratch }, tiles: TileConfig): Dispatch[] {
  const { geometry, loaders } = conv2dGemmKernelGrad(g);
  const partialFloats = matmulScratchFloats(geometry, tiles);
  const partial = partialFloats ? views.scratch(partialFloats * 4, 'conv2d dW split-K partials') : undefined;
  const dispatches = matmul(engine, geometry, { a: views.x, b: views.dy, c: views.dw, partial }, tiles, loaders);
  if (g.bias) dispatches.push(engine.kernel(reduceLines('sum', { outer: 1, axis: g.batch * g.outH * g.outW, inner: g.outC }), [views.dy, required(views.db, 'db (the bias gradient)')]));
  return dispatches;
}

/**
 * db[c] = Σ over g's output pixels of dy[pixel, c]: g.bias's gradient; with a convolution whose
 * input and output swap places (a transposed one's), the bias gradient of its output.
 */
export function conv2dBiasGradient(engine: Engine, g: Conv2DGeometry, views: { dy: View; db: View; scratch: Scratch }, blocks: Conv2DBlocks = defaultBlocks(g)): Dispatch[] {
  const plan = conv2dReductionPlan(g, 'registers', blocks);
  const partials = plan.dbChunks > 1 ? views.scratch(plan.dbChunks * g.outC * 4, 'conv2d bias partial sums') : null;
  return biasGradient(engine, g, views.dy, views.db, blocks, partials);
}

/** db's dispatches: one, or partial sums into `partials` (room for every chunk) and their sum. */
function biasGradient(engine: Engine, g: Conv2DGeometry, dy: View, db: View, blocks: Conv2DBlocks, partials: View | null): Dispatch[] {
  const plan = conv2dReductionPlan(g, 'registers', blocks);
  if (plan.dbChunks > 1 && partials) {
    return [engine.kernel(conv2dBiasGrad(g, blocks), [dy, partials]), engine.kernel(sumPartials(g.outC, plan.dbChunks), [partials, db])];
  }
  return [engine.kernel(conv2dBiasGrad(g, blocks), [dy, db])];
}

function required<T>(value: T | null | undefined, what: string): T {
  if (value == null) throw new Error(`conv2d: ${what} is required with useBias`);
  return value;
}

// ---- benches (tuning) ----------------------------------------------------------------------

/** Floats of g's input, kernel and (unpooled) output. */
const floatsOf = (g: Conv2DGeometry) => ({ x: g.batch * g.inH * g.inW * g.inC, w: g.kH * g.kW * g.inC * g.outC, y: g.batch * g.outH * g.outW * g.outC });

/**
 * The forward variant `name` of g (as choose saw it: pooledOutput set for the pooled table) on
 * buffers of its own; pooled, it stores the argmax as a training plan's does.
 */
function benchForward(engine: Engine, g: Conv2DGeometry, name: string, pooled: boolean) {
  return benchRun(engine, (m) => {
    const n = floatsOf(g);
    const [pH, pW] = [g.outH >> 1, g.outW >> 1];
    const views: Conv2DForwardViews = {
      x: m.input(n.x, 'bench conv2d x'),
      w: m.input(n.w, 'bench conv2d w'),
      b: g.bias ? m.input(g.outC, 'bench conv2d b') : undefined,
      y: m.output(pooled ? g.batch * pH * pW * g.outC : n.y, 'bench conv2d y'),
      argmax: pooled ? m.output(poolArgmaxWords(g.batch, [pH, pW, g.outC]), 'bench conv2d argmax') : undefined,
      scratch: m.scratch,
    };
    return conv2dForward(engine, g, views, defaultBlocks(g), { forward: name as Conv2DVariant, pooled });
  });
}

/** The input-gradient variant `name` of g (relu false, pooledOutput as the forward ran) on buffers of its own. */
function benchInputGrad(engine: Engine, g: Conv2DGeometry, name: string) {
  return benchRun(engine, (m) => {
    const n = floatsOf(g);
    const views = { dy: m.input(n.y, 'bench conv2d dy'), w: m.input(n.w, 'bench conv2d w'), dx: m.output(n.x, 'bench conv2d dx'), scratch: m.scratch };
    return conv2dInputGradient(engine, g, views, defaultBlocks(g), { inputGrad: name as Conv2DVariant });
  });
}

/**
 * The kernel-gradient variant `name` of g with its bias gradient (as conv2dWeightGradients runs
 * them) on buffers of its own; Winograd transforms x itself, as without a forward's saved tiles.
 */
function benchKernelGrad(engine: Engine, g: Conv2DGeometry, name: string) {
  return benchRun(engine, (m) => {
    const n = floatsOf(g);
    const views = {
      x: m.input(n.x, 'bench conv2d x'),
      dy: m.input(n.y, 'bench conv2d dy'),
      dw: m.output(n.w, 'bench conv2d dw'),
      db: g.bias ? m.output(g.outC, 'bench conv2d db') : null,
      scratch: m.scratch,
    };
    return conv2dWeightGradients(engine, g, views, defaultBlocks(g), { kernelGrad: name as Conv2DVariant });
  });
}

// ---- the layer ---------------------------------------------------------------------------

function isPositiveInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}
