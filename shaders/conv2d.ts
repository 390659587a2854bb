/**
 * 2-D convolution, NHWC activations and HWIO kernels, strides or dilation: forward (bias and ReLU
 * fused), input gradient dx, kernel gradient dW, bias gradient db, and the small reduction that
 * sums dW/db partials; the transposed convolution's forward is dx with a bias and ReLU. The
 * backward kernels take dy after the fused ReLU (dy·[y > 0]): conv2dBackward
 * (src/ops/conv2d.ts) masks it once for all three, which costs less than each reading y.
 *
 * `registers` kernels (CPU adapters such as SwiftShader): every invocation computes a block of
 * outputs held in named vec4 accumulators (SwiftShader spills indexed private arrays to memory),
 * reads 4 channels per load along the innermost axis, and runs straight-line code without
 * barriers. Channel counts that are not multiples of 4 read zeros past the end (`read_*` helpers,
 * channelReader in shaders/wgsl.ts) and store only real channels; pixel blocks past the end
 * recompute the last pixel and skip the store. Per-lane conditions combine with `&`, not `&&`:
 * short-circuits become branches, and a few dozen of them made SwiftShader's compile time explode
 * (bench/NOTES.md item 50).
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { BindingKind, KernelSource, KernelStyle } from './kernel.ts';
import { POOL_WINDOW_WGSL } from './pool.ts';
import { channelReader, channelWriter, constants, each, each2, flatIndex, grid } from './wgsl.ts';

/** Everything a conv kernel bakes in. Output sizes and padding are resolved (see conv2dGeometry). */
export interface Conv2DGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  /**
   * Input rows/columns between neighbouring taps (TF.js's dilationRate; 1: adjacent). Only the
   * direct kernels take dilation above 1 (conv2dVariants); with 1 every kernel is unchanged.
   */
  dilationH: number;
  dilationW: number;
  /** Rows/columns of zeros above/left of the input ('same' padding); the rest falls off the end. */
  padTop: number;
  padLeft: number;
  /** ReLU fused into the forward (the backward kernels ignore it: they take dy already masked). */
  relu: boolean;
  bias: boolean;
  /**
   * Only a 2×2 max pool (stride 2, 'valid') fused into the forward reads the output: a last odd row
   * or column lies under no window, so Winograd's tiles leave it out, and its gradient is zero.
   */
  pooledOutput?: boolean;
  /**
   * The input is zero from this row and column on (the input gradient's input, when it is the dy
   * of a pooledOutput forward): outputs past their reach are zeros, which Winograd's tiles leave
   * out and the caller writes.
   */
  zeroInputFrom?: { row: number; col: number };
}

/** Register-block sizes (invocation = block of outputs); tuned on SwiftShader, see bench/conv2d-kernels.ts. */
export interface Conv2DBlocks {
  /** forward: output pixels (by rows: of an output row, at most; rows split evenly) × vec4 groups of output channels */
  forwardPixels: number;
  forwardGroups: number;
  /** dx: pixels of an input row (at most; rows split evenly) × vec4 groups of input channels */
  dxPixels: number;
  dxGroups: number;
  /** Row-correlation kernels (dx, the forward by rows): images per invocation (default: 4 for rows under 8 pixels, else 2). */
  rowImages?: number;
  /** dW: taps × vec4 groups of input channels (1 scalar channel when inC % 4 ≠ 0) × vec4 groups of output channels */
  dwTaps: number;
  dwInGroups: number;
  dwOutGroups: number;
}

/**
 * Block sizes for this geometry. On SwiftShader every per-invocation load is a gather costing far
 * more than a multiply-add, so bigger blocks (more multiply-adds per load) win until spills and
 * compile time (seconds for the biggest) catch up: 32 vec4 accumulators measured best
 * (bench/conv2d-kernels.ts). Blocks never exceed the channels there are.
 */
export function defaultBlocks(g: Conv2DGeometry): Conv2DBlocks {
  const co4s = Math.ceil(g.outC / 4);
  // The first layer (taps unrolled) with up to 32 output channels: all of them in one block, so
  // its weights are read with constant indices (conv2dForward); at most 32 accumulators.
  const allChannels = g.inC < 4 && co4s <= 8;
  return {
    // Vector inputs: long runs of pixels share each weight read (conv3: 16×2 against 8×4, bench/NOTES.md item 51).
    forwardPixels: g.inC % 4 === 0 ? 16 : allChannels && co4s > 4 ? 4 : 8,
    forwardGroups: allChannels ? co4s : Math.min(g.inC % 4 === 0 ? 2 : 4, co4s),
    dxPixels: 16,
    dxGroups: Math.min(2, Math.ceil(g.inC / 4)),
    // dW reads two vectors of dy and y per 4 output channels but one of x per 4 input channels:
    // blocks long in input channels. Few input channels (scalar reads): all taps share each dy read.
    dwTaps: slidesAlongRows(g) ? g.kW : g.inC % 4 === 0 ? 1 : g.kH * g.kW,
    dwInGroups: slidesAlongRows(g) ? 1 : ([4, 2, 1].find((groups) => g.inC % (4 * groups) === 0) ?? 1),
    // Short rows (conv3's 3 columns) fill the window of taps for few steps: more output groups per
    // window (faster with bounds checks, the same without: bench/NOTES.md item 29).
    dwOutGroups: Math.min(g.inC % 4 === 0 && !(slidesAlongRows(g) && g.outW < 8) ? 2 : 4, co4s),
  };
}

const WG = 64;
/** Invocations the reductions (dW, db) aim for, so both cores of a CPU adapter get work. */
const REDUCTION_INVOCATIONS = 4096;
/** Workgroups the tiled dW aims for, so a GPU's many cores get work despite dW's few output tiles. */
const TILED_WORKGROUPS = 256;
const MIN_PIXELS_PER_CHUNK = 128;
/** Output columns up to which dW walks a row in straight-line code. */
const MAX_UNROLLED_COLUMNS = 32;

function geometryKey(g: Conv2DGeometry): string {
  return (
    `n${g.batch}-in${g.inH}x${g.inW}x${g.inC}-k${g.kH}x${g.kW}-s${g.strideH}x${g.strideW}${dilated(g) ? `-d${g.dilationH}x${g.dilationW}` : ''}-p${g.padTop}x${g.padLeft}` +
    `-out${g.outH}x${g.outW}x${g.outC}${g.relu ? '-relu' : ''}${g.bias ? '-bias' : ''}`
  );
}

/** Whether taps are spread apart (dilation above 1 along either axis). */
export function dilated(g: Conv2DGeometry): boolean {
  return g.dilationH !== 1 || g.dilationW !== 1;
}

/** Rows and columns of input one window spans: (k − 1)·dilation + 1. */
export function kernelSpan(g: Conv2DGeometry): { height: number; width: number } {
  return { height: (g.kH - 1) * g.dilationH + 1, width: (g.kW - 1) * g.dilationW + 1 };
}

/**
 * The input offset of tap `k` along an axis of dilation `d` as WGSL (k a number or a u32
 * expression), `i32` for an i32: `k` itself without dilation, so undilated kernels keep their text.
 */
function tapOffset(k: number | string, d: number, constant: string, i32 = false): string {
  if (typeof k === 'number') return `${k * d}`;
  const scaled = d === 1 ? k : `${k} * ${constant}`;
  return i32 ? `i32(${scaled})` : scaled;
}

/** `const DILATION_H = …; const DILATION_W = …;` after a line of constants, only for a dilated g. */
function dilationConstants(g: Conv2DGeometry): string {
  return dilated(g) ? `\n${constants({ DILATION_H: g.dilationH, DILATION_W: g.dilationW })}` : '';
}

/** True when every tap of every output pixel lies inside the input (no padding checks needed). */
function tapsInBounds(g: Conv2DGeometry): boolean {
  const span = kernelSpan(g);
  return g.padTop === 0 && g.padLeft === 0 && (g.outH - 1) * g.strideH + span.height <= g.inH && (g.outW - 1) * g.strideW + span.width <= g.inW;
}

/** The output gradient dy at binding 0 (after the fused ReLU: conv2dBackward masks it first), and `fn read_dy(pixel, c4)`. */
function gradReader(g: Conv2DGeometry): string {
  return channelReader('dy', 0, g.batch * g.outH * g.outW, g.outC);
}

// ---- forward -----------------------------------------------------------------------------

/** The output of a 2×2 max pool at stride 2 without padding, which a forward may apply before storing. */
export function pooledSize(g: Conv2DGeometry): { height: number; width: number } {
  return { height: Math.floor(g.outH / 2), width: Math.floor(g.outW / 2) };
}

/** How a forward stores its output: as is, 2×2-max-pooled, or pooled with each window's first-max position (for the backward). */
export type ForwardStore = 'output' | 'pooled' | 'pooled+argmax';

/**
 * y[n,oy,ox,co] = act(Σ_{ky,kx,ci} x[n, oy·sh+ky−padTop, ox·sw+kx−padLeft, ci] · w[ky,kx,ci,co] + b[co]).
 * Pooled stores: y is the 2×2 max pool (stride 2, 'valid') of that, and the convolution's own
 * output is never stored; blocks are then whole pooling windows; with argmax, binding argmax gets
 * each window's first-max positions (POOL_WINDOW_WGSL). Bindings: x, w, (b), y, (argmax).
 */
export function conv2dForward(g: Conv2DGeometry, blocks: Conv2DBlocks = defaultBlocks(g), store: ForwardStore = 'output'): KernelSource {
  const pooled = store !== 'output';
  const withArgmax = store === 'pooled+argmax';
  if (forwardByRows(g) && !pooled) return conv2dForwardRows(g, blocks);
  const P = pooled ? Math.max(4, blocks.forwardPixels - (blocks.forwardPixels % 4)) : blocks.forwardPixels;
  const G = blocks.forwardGroups;
  const pixels = g.batch * g.outH * g.outW;
  const pool = pooledSize(g);
  // What one block's pixels are counted in: output pixels, or pooling windows of 4.
  const units = pooled ? g.batch * pool.height * pool.width : pixels;
  const unitsPerBlock = pooled ? P / 4 : P;
  const co4s = Math.ceil(g.outC / 4);
  const coBlocks = Math.ceil(co4s / G);
  const invocations = coBlocks * Math.ceil(units / unitsPerBlock);
  const { workgroups, rowStride } = grid(invocations, WG);
  const vecIn = g.inC % 4 === 0;
  const masked = !tapsInBounds(g);
  const unit = vecIn ? g.inC / 4 : g.inC; // x elements (vec4 or scalar) per pixel
  // One block of every output channel, with the taps unrolled (the first layer): every weight
  // index is a constant, so each weight is one broadcast load instead of a per-lane gather
  // (conv1 + pool, with and without bounds checks: bench/NOTES.md item 33).
  const constantWeights = g.inC < 4 && coBlocks === 1 && g.outC % 4 === 0;
  // Taps' input offsets as WGSL expressions: numbers when unrolled, from 'ky'/'kx' inside the tap loops.
  const tapY = (v: number | string) => tapOffset(v, g.dilationH, 'DILATION_H', true);
  const tapX = (v: number | string) => tapOffset(v, g.dilationW, 'DILATION_W', true);
  // Whether tap (ky, kx) of output pixel p lies inside the input (padding otherwise).
  const inside = (p: number, ky: number | string, kx: number | string) =>
    `(u32(top${p} + ${tapY(ky)}) < IN_H) & (u32(left${p} + ${tapX(kx)}) < IN_W)`;
  // First element of the pixel under the tap; in the padding, pixel 0 (read, then zeroed).
  const xIndex = (p: number, ky: number | string, kx: number | string) => {
    const index = `u32(base${p} + ${tapY(ky)} * ${g.inW} + ${tapX(kx)}) * X_PER_PIXEL`;
    return masked ? `select(0u, ${index}, ${inside(p, ky, kx)})` : index;
  };
  return {
    key: `conv2d-forward:registers:${geometryKey(g)}:p${P}g${G}${pooled ? ':pool2' : ''}${withArgmax ? ':argmax' : ''}`,
    bindings: ['read', 'read', ...(g.bias ? ['read' as const] : []), 'write', ...(withArgmax ? ['write' as const] : [])],
    workgroups,
    code: wgsl`
@group(0) @binding(0) var<storage, read> x: array<${vecIn ? 'vec4f' : 'f32'}>;
#if ${constantWeights}
@group(0) @binding(1) var<storage, read> w: array<vec4f, ${g.kH * g.kW * g.inC * co4s}>;
#else
${channelReader('w', 1, g.kH * g.kW * g.inC, g.outC)}
#endif
#if ${g.bias}
${channelReader('b', 2, 1, g.outC)}
#endif
${channelWriter('y', g.bias ? 3 : 2, g.outC)}
#if ${withArgmax}
@group(0) @binding(${g.bias ? 4 : 3}) var<storage, read_write> argmax: array<u32>;
#endif
#if ${pooled}
${POOL_WINDOW_WGSL}
${constants({ POOLED_H: pool.height, POOLED_W: pool.width })}
#endif
${constants({ IN_H: g.inH, IN_W: g.inW, IN_C: g.inC, ...(vecIn ? { IN_C4: g.inC / 4 } : {}), OUT_H: g.outH, OUT_W: g.outW })}
${constants({ K_H: g.kH, K_W: g.kW, STRIDE_H: g.strideH, STRIDE_W: g.strideW })}${dilationConstants(g)}
${constants({ PAD_TOP: g.padTop, PAD_LEFT: g.padLeft }, 'abstract')}
// x elements (vec4s or floats) per pixel.
${constants({ X_PER_PIXEL: unit })}

// Each invocation: ${P} output pixels × ${G} groups of 4 output channels.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, invocations, 't')}
  // Channel groups vary fastest, so neighbouring invocations read the same input pixels.
  let m = (t / ${coBlocks}u) * ${unitsPerBlock}u;
  let c4 = (t % ${coBlocks}u) * ${G}u;
  ${each(G, (j) => `let c4_${j} = min(c4 + ${j}u, ${co4s - 1}u);`)}
#if ${pooled}
  // Pooling window k of the block (past the end: the last one again), and its 4 output pixels.
  ${each(P / 4, (k) => `let q${k} = min(m + ${k}u, ${units - 1}u);
  let corner${k} = (q${k} / ${pool.height * pool.width}u * OUT_H + q${k} / POOLED_W % POOLED_H * 2u) * OUT_W + q${k} % POOLED_W * 2u;`)}
  ${each(P, (p) => `let m${p} = corner${p >> 2} + ${(p & 2 ? g.outW : 0) + (p & 1)}u;`)}
#else
  ${each(P, (p) => `let m${p} = min(m + ${p}u, ${pixels - 1}u);`)}
#endif
  // Input pixel under each output pixel's top-left tap (negative inside the padding).
  ${each(P, (p) => `let top${p} = i32((m${p} / OUT_W) % OUT_H * STRIDE_H) - PAD_TOP;
  let left${p} = i32(m${p} % OUT_W * STRIDE_W) - PAD_LEFT;
  let base${p} = i32(m${p} / ${g.outH * g.outW}u * ${g.inH * g.inW}u) + top${p} * ${g.inW} + left${p};`)}
  ${each2(P, G, (p, j) => `var acc${p}_${j} = vec4f(0.0);`)}
#if ${vecIn}
  // Taps in loops here: unrolling them (3× or 9× the body) measured slower on SwiftShader (bench/NOTES.md items 6, 52).
  for (var ky = 0u; ky < K_H; ky++) {
    for (var kx = 0u; kx < K_W; kx++) {
      ${each(P, (p) => `let xi${p} = ${xIndex(p, 'ky', 'kx')};`, '\n      ')}
      let row = (ky * K_W + kx) * IN_C;
      for (var c = 0u; c < IN_C4; c++) {
        let r = row + c * 4u;
        ${each2(G, 4, (j, k) => `let w${j}${k} = read_w(r + ${k}u, c4_${j});`, '\n        ')}
        ${each(P, (p) => `let x${p} = ${masked ? `select(vec4f(0.0), x[xi${p} + c], ${inside(p, 'ky', 'kx')})` : `x[xi${p} + c]`};`, '\n        ')}
        ${each2(P, G, (p, j) => `acc${p}_${j} += x${p}.x * w${j}0 + x${p}.y * w${j}1 + x${p}.z * w${j}2 + x${p}.w * w${j}3;`, '\n        ')}
      }
    }
  }
#elif ${g.inC < 4}
  // A few input channels (the first layer's 1 or 3): every tap unrolled, no loop at all (faster: bench/NOTES.md items 6, 52).
  ${each(g.kH * g.kW, (t) => { const ky = Math.floor(t / g.kW); const kx = t % g.kW; return each(g.inC, (c) => `{
    ${each(G, (j) => (constantWeights ? `let w${j} = w[${((ky * g.kW + kx) * g.inC + c) * co4s + j}u];` : `let w${j} = read_w(${(ky * g.kW + kx) * g.inC + c}u, c4_${j});`), '\n    ')}
    ${each(P, (p) => `let x${p} = ${masked ? `select(0.0, x[${xIndex(p, ky, kx)} + ${c}u], ${inside(p, ky, kx)})` : `x[${xIndex(p, ky, kx)} + ${c}u]`};`, '\n    ')}
    ${each2(P, G, (p, j) => `acc${p}_${j} += x${p} * w${j};`, '\n    ')}
  }`, '\n  '); })}
#else
  for (var ky = 0u; ky < K_H; ky++) {
    for (var kx = 0u; kx < K_W; kx++) {
      ${each(P, (p) => `let xi${p} = ${xIndex(p, 'ky', 'kx')};`, '\n      ')}
      let row = (ky * K_W + kx) * IN_C;
      for (var c = 0u; c < IN_C; c++) {
        ${each(G, (j) => `let w${j} = read_w(row + c, c4_${j});`, '\n        ')}
        ${each(P, (p) => `let x${p} = ${masked ? `select(0.0, x[xi${p} + c], ${inside(p, 'ky', 'kx')})` : `x[xi${p} + c]`};`, '\n        ')}
        ${each2(P, G, (p, j) => `acc${p}_${j} += x${p} * w${j};`, '\n        ')}
      }
    }
  }
#endif
  ${each(G, (j) => `let bias${j} = ${g.bias ? `read_b(0u, c4_${j})` : 'vec4f(0.0)'};`)}
#if ${pooled}
  // The bias and ReLU are monotonic: they apply to the window's maximum.
  ${each2(P / 4, G, (k, j) => {
    const z = `window${k}_${j}.value + bias${j}`;
    return `let window${k}_${j} = poolWindow(acc${4 * k}_${j}, acc${4 * k + 1}_${j}, acc${4 * k + 2}_${j}, acc${4 * k + 3}_${j});
  if ((m + ${k}u < ${units}u) & (c4 + ${j}u < ${co4s}u)) {
    store_y(q${k}, c4_${j}, ${g.relu ? `max(${z}, vec4f(0.0))` : z});${withArgmax ? `
    argmax[q${k} * ${co4s}u + c4_${j}] = window${k}_${j}.arg;` : ''}
  }`;
  })}
#else
  ${each2(P, G, (p, j) => `if ((m + ${p}u < ${pixels}u) & (c4 + ${j}u < ${co4s}u)) { store_y(m${p}, c4_${j}, ${g.relu ? `max(acc${p}_${j} + bias${j}, vec4f(0.0))` : `acc${p}_${j} + bias${j}`}); }`)}
#endif
}`,
  };
}

// ---- input gradient ----------------------------------------------------------------------

/**
 * dx[n,iy,ix,ci] = Σ_{ky,kx,co} dy[n,oy,ox,co] · w[ky,kx,ci,co] over the (oy, ox) with
 * oy·sh + ky − padTop = iy (and likewise for x). Bindings: dy, wt (the kernel as
 * conv2dTransposeKernel lays it out), dx.
 */
export function conv2dInputGrad(g: Conv2DGeometry, blocks: Conv2DBlocks = defaultBlocks(g)): KernelSource {
  return rowCorrelation({
    key: `conv2d-input-grad:registers:${geometryKey(g)}`,
    g,
    flipTaps: false,
    bias: false,
    relu: false,
    maxPixels: blocks.dxPixels,
    groups: blocks.dxGroups,
    images: blocks.rowImages,
  });
}

/**
 * The transposed convolution of g (g's input gradient as a layer's forward: it reads what g
 * outputs and writes what g reads), with g.bias added per channel of what it writes and g.relu
 * applied: conv2dInputGrad's sum with an epilogue. Bindings: x, wt (conv2dTransposeKernel), (b), y.
 */
export function conv2dTransposeForward(g: Conv2DGeometry, blocks: Conv2DBlocks = defaultBlocks(g)): KernelSource {
  return rowCorrelation({
    key: `conv2d-transpose-forward:registers:${geometryKey(g)}`,
    g,
    flipTaps: false,
    bias: g.bias,
    relu: g.relu,
    maxPixels: blocks.dxPixels,
    groups: blocks.dxGroups,
    images: blocks.rowImages,
  });
}

/**
 * The forward runs as rowCorrelation at stride 1, with enough input channels for vector reads.
 * Short rows (conv3's 3 pixels) take several images per invocation so that each weight read
 * still serves a dozen pixels, which beat pixel blocks of 16 with and without bounds checks
 * (bench/NOTES.md item 28).
 */
export function forwardByRows(g: Conv2DGeometry): boolean {
  return g.strideH === 1 && g.strideW === 1 && g.inC >= 4;
}

/**
 * The stride-1 convolution whose forward is g's input gradient (and whose input gradient is g's
 * forward): it reads g's output, writes g's input, with g's taps reversed and its channel axes
 * swapped, padded by the rest of the kernel's span.
 */
export function mirroredGeometry(g: Conv2DGeometry): Conv2DGeometry {
  if (g.strideH !== 1 || g.strideW !== 1) throw new Error('mirroredGeometry: stride 1 only');
  return {
    batch: g.batch,
    inH: g.outH,
    inW: g.outW,
    inC: g.outC,
    outH: g.inH,
    outW: g.inW,
    outC: g.inC,
    kH: g.kH,
    kW: g.kW,
    strideH: 1,
    strideW: 1,
    dilationH: g.dilationH,
    dilationW: g.dilationW,
    padTop: kernelSpan(g).height - 1 - g.padTop,
    padLeft: kernelSpan(g).width - 1 - g.padLeft,
    relu: false,
    bias: false,
    // A pooled forward's dy is zero past its last whole window.
    ...(g.pooledOutput ? { zeroInputFrom: { row: 2 * pooledSize(g).height, col: 2 * pooledSize(g).width } } : {}),
  };
}

/**
 * conv2dForward for forwardByRows geometries. A stride-1 convolution is the input gradient of
 * the mirrored one: y is what dx would be for a layer whose output is x, whose kernel is w with
 * its taps reversed, and whose padding is the rest of the kernel. Bindings: x, w, (b), y.
 */
function conv2dForwardRows(g: Conv2DGeometry, blocks: Conv2DBlocks): KernelSource {
  const mirrored = mirroredGeometry(g);
  return rowCorrelation({
    key: `conv2d-forward:rows:${geometryKey(g)}`,
    g: mirrored,
    flipTaps: true,
    bias: g.bias,
    relu: g.relu,
    maxPixels: blocks.forwardPixels,
    groups: blocks.forwardGroups,
    images: blocks.rowImages,
  });
}

interface RowCorrelationSpec {
  key: string;
  /** In input-gradient terms: `out*` is what the kernel reads (dy), `in*` what it writes (dx). */
  g: Conv2DGeometry;
  /** Read tap kH·kW − 1 − t where tap t is meant (the forward through its mirrored geometry). */
  flipTaps: boolean;
  /** Epilogue: add a bias (binding 2) and apply a ReLU before the store. */
  bias: boolean;
  relu: boolean;
  maxPixels: number;
  groups: number;
  /** Images per invocation (the same dst row of each): every weight read serves them all. Default: see Conv2DBlocks.rowImages. */
  images?: number;
}

/**
 * dst[n,iy,ix,ci] = Σ_{ky,kx,co} src[n,oy,ox,co] · weights[tap(ky,kx), co, ci] over the (oy, ox)
 * with oy·sh + ky·dh − padTop = iy (and likewise for x): the input gradient's sum, which is also a
 * stride-1 forward (conv2dForwardRows). Bindings: src, weights ([tap, co, ci]), (bias), dst.
 *
 * A block is a run of P neighbouring pixels of one dst row, P a multiple of the horizontal
 * stride: then which (pixel, kx) pairs meet a src column, and which column, is the same for
 * every block, and each src read serves every pair that meets it (up to kW instead of one:
 * on SwiftShader loads cost more than multiply-adds). A block takes that row in `images`
 * images, so each weight read serves their pairs too.
 */
function rowCorrelation(spec: RowCorrelationSpec): KernelSource {
  const { g, flipTaps } = spec;
  const G = spec.groups;
  const sw = g.strideW;
  const segments = Math.ceil(g.inW / spec.maxPixels);
  const P = Math.ceil(Math.ceil(g.inW / segments) / sw) * sw;
  const segs = Math.ceil(g.inW / P);
  const ci4s = Math.ceil(g.inC / 4);
  const co4s = Math.ceil(g.outC / 4);
  const ciBlocks = Math.ceil(ci4s / G);
  // Each weight read serves the same row of several images: 4 for rows under 8 pixels (conv3's
  // input gradient, bench/NOTES.md item 28), else 2 (conv2's, item 38).
  const B = Math.min(spec.images ?? (P < 8 ? 4 : 2), g.batch);
  const imageBlocks = Math.ceil(g.batch / B);
  const invocations = ciBlocks * imageBlocks * g.inH * segs;
  const { workgroups, rowStride } = grid(invocations, WG);
  const dstBinding = spec.bias ? 3 : 2;
  // Channel co + k of src; past the last one (outC % 4 ≠ 0) any in-bounds row will do: its src value is 0.
  const channel = (k: number) => (g.outC % 4 === 0 ? `co + ${k}u` : `min(co + ${k}u, ${g.outC - 1}u)`);
  const tap = (kx: number) => (flipTaps ? `(${g.kH - 1}u - ky) * K_W + ${g.kW - 1 - kx}u` : `ky * K_W + ${kx}u`);
  // Pixel ix0 + p meets src column ix0/sw + a/sw through tap kx when a = padLeft + p − kx·dw is
  // a multiple of sw; the block reads columns ix0/sw + aMin .. ix0/sw + aMax.
  const aMin = Math.ceil((g.padLeft - (g.kW - 1) * g.dilationW) / sw);
  const aMax = Math.floor((g.padLeft + P - 1) / sw);
  const columns = aMax - aMin + 1;
  // With one block per row (ix0 = 0) which columns exist is known here: the others are left out
  // (conv3's input gradient reads 3 of 7 columns and multiplies 9 of 15 pairs).
  const fixed = segs === 1;
  const live = (j: number) => !fixed || (aMin + j >= 0 && aMin + j < g.outW);
  const pairs = (kx: number) =>
    Array.from({ length: P }, (_, p) => ({ p, a: g.padLeft + p - kx * g.dilationW }))
      .filter(({ a }) => ((a % sw) + sw) % sw === 0)
      .map(({ p, a }) => ({ p, j: a / sw - aMin }))
      .filter(({ j }) => live(j));
  const liveColumns = Array.from({ length: columns }, (_, j) => j).filter(live);
  const liveTaps = Array.from({ length: g.kW }, (_, kx) => kx).filter((kx) => pairs(kx).length > 0);
  const images = Array.from({ length: B }, (_, i) => i);
  const result = (i: number, p: number, j: number) => {
    const z = spec.bias ? `acc${i}_${p}_${j} + bias${j}` : `acc${i}_${p}_${j}`;
    return spec.relu ? `max(${z}, vec4f(0.0))` : z;
  };
  return {
    key: `${spec.key}:p${P}g${G}${B > 1 ? `i${B}` : ''}`,
    bindings: spec.bias ? ['read', 'read', 'read', 'write'] : ['read', 'read', 'write'],
    workgroups,
    code: wgsl`
${channelReader('src', 0, g.batch * g.outH * g.outW, g.outC)}
${channelReader('weights', 1, g.kH * g.kW * g.outC, g.inC)}
#if ${spec.bias}
${channelReader('b', 2, 1, g.inC)}
#endif
${channelWriter('dst', dstBinding, g.inC)}
// src is n × SRC_H × SRC_W pixels of SRC_C channels, dst n × DST_H × DST_W.
${constants({ BATCH: g.batch, SRC_H: g.outH, SRC_W: g.outW, SRC_C: g.outC, SRC_C4: co4s, DST_H: g.inH, DST_W: g.inW })}
${constants({ K_H: g.kH, K_W: g.kW, STRIDE_H: g.strideH, STRIDE_W: sw })}${dilationConstants(g)}
${constants({ PAD_TOP: g.padTop }, 'abstract')}

// Each invocation: ${P} pixels of a dst row in each of ${B} image(s) × ${G} groups of 4 dst channels.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, invocations, 't')}
  let cb = (t % ${ciBlocks}u) * ${G}u;
  let ix0 = (t / ${ciBlocks}u % ${segs}u) * ${P}u;
  let iy = t / ${ciBlocks * segs}u % DST_H;
  let firstImage = t / ${ciBlocks * segs * g.inH}u * ${B}u;
  // Images past the batch recompute the last one and skip the store.
  ${images.map((i) => `let n${i} = min(firstImage + ${i}u, ${g.batch - 1}u);`).join('\n  ')}
  ${each(G, (j) => `let ci4_${j} = min(cb + ${j}u, ${ci4s - 1}u);`)}
#if ${!fixed}
  // The src columns the block reads (values scaled by 0 where there is no column).
  ${each(columns, (j) => `let ox${j} = i32(ix0 / STRIDE_W) + ${aMin + j};
  let dm${j} = select(0.0, 1.0, u32(ox${j}) < SRC_W);`)}
#endif
  ${images.map((i) => each2(P, G, (p, j) => `var acc${i}_${p}_${j} = vec4f(0.0);`)).join('\n  ')}
  for (var ky = 0u; ky < K_H; ky++) {
    // The src row this dst row meets through ky, if any.
    let sy = u32(i32(iy) + PAD_TOP - ${tapOffset('ky', g.dilationH, 'DILATION_H', true)});
    if ((sy < ${g.outH * g.strideH}u) & (sy % STRIDE_H == 0u)) {
      ${images.map((i) => `let srcRow${i} = (n${i} * SRC_H + sy / STRIDE_H) * SRC_W;
      ${liveColumns.map((j) => (fixed ? `let d${i}_${j} = srcRow${i} + ${aMin + j}u;` : `let d${i}_${j} = select(0u, srcRow${i} + u32(ox${j}), dm${j} > 0.0);`)).join('\n      ')}`).join('\n      ')}
      for (var c4 = 0u; c4 < SRC_C4; c4++) {
        let co = c4 * 4u;
        ${images.map((i) => liveColumns.map((j) => `let s${i}_${j} = read_src(d${i}_${j}, c4)${fixed ? '' : ` * dm${j}`};`).join('\n        ')).join('\n        ')}
        ${liveTaps.map((kx) => `${each2(G, 4, (j, k) => `let w${kx}_${j}${k} = read_weights((${tap(kx)}) * SRC_C + ${channel(k)}, ci4_${j});`, '\n        ')}
        ${images.map((i) => pairs(kx).map(({ p, j }) => each(G, (gr) => `acc${i}_${p}_${gr} += s${i}_${j}.x * w${kx}_${gr}0 + s${i}_${j}.y * w${kx}_${gr}1 + s${i}_${j}.z * w${kx}_${gr}2 + s${i}_${j}.w * w${kx}_${gr}3;`, '\n        ')).join('\n        ')).join('\n        ')}`).join('\n        ')}
      }
    }
  }
  ${each(G, (j) => (spec.bias ? `let bias${j} = read_b(0u, ci4_${j});` : ''))}
  ${images.map((i) => each2(P, G, (p, j) => `if (${B > 1 ? `(firstImage + ${i}u < BATCH) & ` : ''}(ix0 + ${p}u < DST_W) & (cb + ${j}u < ${ci4s}u)) { store_dst((n${i} * DST_H + iy) * DST_W + ix0 + ${p}u, cb + ${j}u, ${result(i, p, j)}); }`)).join('\n  ')}
}`,
  };
}

/** wt[tap, co, ci] = w[tap, ci, co], for conv2dInputGrad's vector reads. Bindings: w, wt. */
export function conv2dTransposeKernel(g: Conv2DGeometry): KernelSource {
  const n = g.kH * g.kW * g.inC * g.outC;
  const { workgroups, rowStride } = grid(n, WG);
  return {
    key: `conv2d-transpose-kernel:${g.kH * g.kW}x${g.inC}x${g.outC}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read_write> wt: array<f32>;
${constants({ IN_C: g.inC, OUT_C: g.outC })}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, n)}
  let tap = i / ${g.inC * g.outC}u;
  let co = i / IN_C % OUT_C;
  let ci = i % IN_C;
  wt[i] = w[(tap * IN_C + ci) * OUT_C + co];
}`,
  };
}

// ---- kernel gradient ---------------------------------------------------------------------

/** How the dW and db reductions over N·OH·OW are split into chunks (one partial result each). */
export interface Conv2DReductionPlan {
  dwChunks: number;
  /** Output rows (n, oy) per dW chunk. */
  dwRowsPerChunk: number;
  dbChunks: number;
  /** Output pixels per db chunk. */
  dbPixelsPerChunk: number;
}

function dwBlockCounts(g: Conv2DGeometry, blocks: Conv2DBlocks) {
  const taps = g.kH * g.kW;
  // Row blocks (conv2dKernelGradRows) always hold one whole row of taps.
  const tapsPerBlock = slidesAlongRows(g) ? g.kW : Math.min(blocks.dwTaps, taps);
  const ciPerBlock = g.inC % 4 === 0 ? 4 * blocks.dwInGroups : 1;
  return {
    taps,
    tapsPerBlock,
    tapBlocks: Math.ceil(taps / tapsPerBlock),
    ciPerBlock,
    ciBlocks: Math.ceil(g.inC / ciPerBlock),
    coBlocks: Math.ceil(Math.ceil(g.outC / 4) / blocks.dwOutGroups),
  };
}

export function conv2dReductionPlan(g: Conv2DGeometry, style: KernelStyle = 'registers', blocks: Conv2DBlocks = defaultBlocks(g)): Conv2DReductionPlan {
  const rows = g.batch * g.outH;
  const pixels = rows * g.outW;
  let dwWanted: number;
  if (style === 'tiled') {
    const tiles = Math.ceil((g.kH * g.kW * g.inC) / TILE) * Math.ceil(g.outC / TILE);
    dwWanted = Math.min(Math.ceil(TILED_WORKGROUPS / tiles), Math.ceil(pixels / MIN_PIXELS_PER_CHUNK), rows);
  } else {
    const { tapBlocks, ciBlocks, coBlocks } = dwBlockCounts(g, blocks);
    dwWanted = Math.min(Math.ceil(REDUCTION_INVOCATIONS / (tapBlocks * ciBlocks * coBlocks)), Math.ceil(pixels / MIN_PIXELS_PER_CHUNK), rows);
  }
  const dwRowsPerChunk = Math.ceil(rows / Math.max(1, dwWanted));
  const co4s = Math.ceil(g.outC / 4);
  const dbWanted = Math.min(Math.ceil(REDUCTION_INVOCATIONS / co4s), Math.ceil(pixels / MIN_PIXELS_PER_CHUNK));
  const dbPixelsPerChunk = Math.ceil(pixels / Math.max(1, dbWanted));
  return {
    dwChunks: Math.ceil(rows / dwRowsPerChunk),
    dwRowsPerChunk,
    dbChunks: Math.ceil(pixels / dbPixelsPerChunk),
    dbPixelsPerChunk,
  };
}

/**
 * Partial kernel gradients: out[chunk, ky, kx, ci, co] = Σ over the output rows of `chunk` of
 * x[n, oy·sh+ky·dh−padTop, ox·sw+kx·dw−padLeft, ci] · dy[n,oy,ox,co]. With one chunk, `out` is dW itself.
 * Bindings: dy, x, out.
 */
export function conv2dKernelGrad(g: Conv2DGeometry, blocks: Conv2DBlocks = defaultBlocks(g)): KernelSource {
  if (slidesAlongRows(g)) return conv2dKernelGradRows(g, blocks);
  const { dwChunks: chunks, dwRowsPerChunk: chunkRows } = conv2dReductionPlan(g, 'registers', blocks);
  const { taps, tapsPerBlock: T, tapBlocks, ciPerBlock: C, ciBlocks, coBlocks } = dwBlockCounts(g, blocks);
  const vecIn = g.inC % 4 === 0;
  const X = vecIn ? C / 4 : 1;
  const G = blocks.dwOutGroups;
  const co4s = Math.ceil(g.outC / 4);
  const invocations = chunks * tapBlocks * ciBlocks * coBlocks;
  const { workgroups, rowStride } = grid(invocations, WG);
  const xBinding = 1;
  const rows = g.batch * g.outH;
  const masked = !tapsInBounds(g);
  const unit = vecIn ? g.inC / 4 : g.inC; // x elements (vec4 or scalar) per pixel
  // A block running past inC reads (clamped) neighbours into accumulators that are never stored.
  const clampX = vecIn && g.inC % C !== 0;
  const xLast = g.batch * g.inH * g.inW * unit - 1;
  // Input channel c of the block for tap i: component c % 4 of vector c / 4, or the scalar itself.
  const xc = (i: number, c: number) => (vecIn ? `x${i}_${Math.floor(c / 4)}.${'xyzw'[c % 4]}` : `x${i}_0`);
  return {
    key: `conv2d-kernel-grad:registers:${geometryKey(g)}:t${T}x${X}g${G}:chunks${chunks}x${chunkRows}`,
    bindings: ['read', 'read', 'write'],
    workgroups,
    code: wgsl`
${gradReader(g)}
@group(0) @binding(${xBinding}) var<storage, read> x: array<${vecIn ? 'vec4f' : 'f32'}>;
${channelWriter('out', xBinding + 1, g.outC)}
${constants({ IN_H: g.inH, IN_W: g.inW, IN_C: g.inC, OUT_H: g.outH, OUT_W: g.outW, K_W: g.kW, STRIDE_H: g.strideH, STRIDE_W: g.strideW })}${dilationConstants(g)}
${constants({ PAD_TOP: g.padTop, PAD_LEFT: g.padLeft }, 'abstract')}
// x elements (vec4s or floats) per pixel.
${constants({ X_PER_PIXEL: unit })}

// Each invocation: ${T} taps × ${C} input channels × ${G} groups of 4 output channels, summed over
// ${chunkRows} output rows (n, oy); the taps share each dy read.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, invocations, 't')}
  // Output-channel groups vary fastest: neighbouring invocations read the same x.
  let c4 = (t % ${coBlocks}u) * ${G}u;
  let ci = (t / ${coBlocks}u % ${ciBlocks}u) * ${C}u;
  let tb = (t / ${coBlocks * ciBlocks}u % ${tapBlocks}u) * ${T}u;
  let chunk = t / ${coBlocks * ciBlocks * tapBlocks}u;
  ${each(G, (j) => `let c4_${j} = min(c4 + ${j}u, ${co4s - 1}u);`)}
  ${each(T, (i) => `let tap${i} = min(tb + ${i}u, ${taps - 1}u);
  let offY${i} = i32(${tapOffset(`tap${i} / K_W`, g.dilationH, 'DILATION_H')}) - PAD_TOP;
  let offX${i} = i32(${tapOffset(`tap${i} % K_W`, g.dilationW, 'DILATION_W')}) - PAD_LEFT;`)}
  ${each(T, (i) => each2(C, G, (c, j) => `var acc${i}_${c}_${j} = vec4f(0.0);`))}
  let rowEnd = min((chunk + 1u) * ${chunkRows}u, ${rows}u);
  for (var r = chunk * ${chunkRows}u; r < rowEnd; r++) {
    let top = i32(r % OUT_H * STRIDE_H);
    let image = r / OUT_H * IN_H;
    ${each(T, (i) => `let iy${i} = top + offY${i};
    let xRow${i} = (image + u32(iy${i})) * IN_W;`, '\n    ')}
    for (var ox = 0u; ox < OUT_W; ox++) {
      let left = i32(ox * STRIDE_W);
      ${each(G, (j) => `let g${j} = read_dy(r * OUT_W + ox, c4_${j});`, '\n      ')}
#if ${masked}
      // Taps in the padding read element 0 and scale it by 0.
      ${each(T, (i) => `let in${i} = (u32(iy${i}) < IN_H) & (u32(left + offX${i}) < IN_W);
      let xi${i} = select(0u, (xRow${i} + u32(left + offX${i})) * X_PER_PIXEL + ci${vecIn ? ' / 4u' : ''}, in${i});
      let xm${i} = select(0.0, 1.0, in${i});`, '\n      ')}
#else
      ${each(T, (i) => `let xi${i} = (xRow${i} + u32(left + offX${i})) * X_PER_PIXEL + ci${vecIn ? ' / 4u' : ''};`, '\n      ')}
#endif
      ${each2(T, X, (i, k) => `let x${i}_${k} = x[${clampX ? `min(xi${i} + ${k}u, ${xLast}u)` : `xi${i} + ${k}u`}]${masked ? ` * xm${i}` : ''};`, '\n      ')}
      ${each(T, (i) => each2(C, G, (c, j) => `acc${i}_${c}_${j} += ${xc(i, c)} * g${j};`, '\n      '), '\n      ')}
    }
  }
  ${each(T, (i) => each2(C, G, (c, j) => `if ((tb + ${i}u < ${taps}u) & (ci + ${c}u < IN_C) & (c4 + ${j}u < ${co4s}u)) { store_out((chunk * ${taps}u + tap${i}) * IN_C + ci + ${c}u, c4_${j}, acc${i}_${c}_${j}); }`))}
}`,
  };
}

/**
 * dW by rows of taps applies: 4-channel vectors of x, neighbouring output columns one input
 * column apart, and neighbouring taps too (no dilation).
 */
function slidesAlongRows(g: Conv2DGeometry): boolean {
  return g.inC % 4 === 0 && g.strideW === 1 && !dilated(g);
}

/**
 * conv2dKernelGrad for slidesAlongRows geometries. A block is one row of taps (ky, all kx) × 4·X
 * input channels × G groups of 4 output channels. Walking along an output row, the input columns
 * under the taps slide by one: each step loads one new column of x into a window of kW registers
 * and one dy vector per group, for kW·4·X·G vector multiply-adds.
 */
function conv2dKernelGradRows(g: Conv2DGeometry, blocks: Conv2DBlocks): KernelSource {
  const { dwChunks: chunks, dwRowsPerChunk: chunkRows } = conv2dReductionPlan(g, 'registers', blocks);
  const { taps, tapBlocks, ciPerBlock: C, ciBlocks, coBlocks } = dwBlockCounts(g, blocks);
  const X = C / 4;
  const K = g.kW;
  const G = blocks.dwOutGroups;
  const co4s = Math.ceil(g.outC / 4);
  const ci4s = g.inC / 4;
  const invocations = chunks * tapBlocks * ciBlocks * coBlocks;
  const { workgroups, rowStride } = grid(invocations, WG);
  const rows = g.batch * g.outH;
  // Input columns the window holds before the first step: −padLeft .. kW − 2 − padLeft.
  const column = (i: number | string) => `i32(${i}) - PAD_LEFT`;
  const maskedColumns = g.padLeft > 0 || g.outW - 1 + g.kW - g.padLeft > g.inW;
  const load = (name: string, col: string) =>
    each(X, (k) => {
      // Past the last channel group (X not dividing inC / 4): a clamped read, never stored.
      const index = `xRow + u32(${col}) * IN_C4 + ${ci4s % X === 0 ? `ci4 + ${k}u` : `min(ci4 + ${k}u, ${ci4s - 1}u)`}`;
      return maskedColumns
        ? `${name}_${k} = select(vec4f(0.0), x[select(0u, ${index}, u32(${col}) < IN_W)], u32(${col}) < IN_W);`
        : `${name}_${k} = x[${index}];`;
    }, '\n      ');
  const step = (ox: string) => `${each(K - 1, (kx) => each(X, (k) => `w${kx}_${k} = w${kx + 1}_${k};`, '\n      '), '\n      ')}
      ${load(`w${K - 1}`, column(`${ox} + ${K - 1}u`))}
      ${each(G, (j) => `let g${j} = read_dy(r * OUT_W + ${ox}, c4_${j});`, '\n      ')}
      ${each(K, (kx) => each2(C, G, (c, j) => `acc${kx}_${c}_${j} += w${kx}_${Math.floor(c / 4)}.${'xyzw'[c % 4]} * g${j};`, '\n      '), '\n      ')}`;
  // Straight-line steps: a loop costs SwiftShader more than the multiply-adds in its body (bench/NOTES.md).
  const unrolled = g.outW <= MAX_UNROLLED_COLUMNS;
  return {
    key: `conv2d-kernel-grad:rows${unrolled ? '-unrolled' : ''}:${geometryKey(g)}:x${X}g${G}:chunks${chunks}x${chunkRows}`,
    bindings: ['read', 'read', 'write'],
    workgroups,
    code: wgsl`
${gradReader(g)}
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
${channelWriter('out', 2, g.outC)}
${constants({ IN_H: g.inH, IN_W: g.inW, IN_C: g.inC, IN_C4: ci4s, OUT_H: g.outH, OUT_W: g.outW, K_H: g.kH, K_W: g.kW, STRIDE_H: g.strideH })}
${constants({ PAD_TOP: g.padTop, PAD_LEFT: g.padLeft }, 'abstract')}

// Each invocation: the ${K} taps of kernel row ky × ${C} input channels × ${G} groups of 4 output
// channels, summed over ${chunkRows} output rows (n, oy).
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, invocations, 't')}
  // Output-channel groups vary fastest: neighbouring invocations read the same x.
  let c4 = (t % ${coBlocks}u) * ${G}u;
  let ci4 = (t / ${coBlocks}u % ${ciBlocks}u) * ${X}u;
  let ky = t / ${coBlocks * ciBlocks}u % K_H;
  let chunk = t / ${coBlocks * ciBlocks * g.kH}u;
  ${each(G, (j) => `let c4_${j} = min(c4 + ${j}u, ${co4s - 1}u);`)}
  ${each(K, (kx) => each2(C, G, (c, j) => `var acc${kx}_${c}_${j} = vec4f(0.0);`))}
  ${each(K, (kx) => each(X, (k) => `var w${kx}_${k} = vec4f(0.0);`))}
  let rowEnd = min((chunk + 1u) * ${chunkRows}u, ${rows}u);
  for (var r = chunk * ${chunkRows}u; r < rowEnd; r++) {
    let iy = i32(r % OUT_H * STRIDE_H + ky) - PAD_TOP;
    // Rows in the padding add nothing (the same for the whole workgroup when chunks hold whole images).
    if (u32(iy) >= IN_H) { continue; }
    let xRow = (r / OUT_H * IN_H + u32(iy)) * ${g.inW * ci4s}u;
    // The window: w{kx} holds the input column under tap kx of the current output column.
    ${each(K - 1, (kx) => load(`w${kx + 1}`, column(kx)), '\n    ')}
#if ${unrolled}
    ${Array.from({ length: g.outW }, (_, ox) => `{\n      ${step(`${ox}u`)}\n    }`).join('\n    ')}
#else
    for (var ox = 0u; ox < OUT_W; ox++) {
      ${step('ox')}
    }
#endif
  }
  ${each(K, (kx) => each2(C, G, (c, j) => `if ((ci4 + ${Math.floor(c / 4)}u < IN_C4) & (c4 + ${j}u < ${co4s}u)) { store_out((chunk * ${taps}u + ky * K_W + ${kx}u) * IN_C + ci4 * 4u + ${c}u, c4_${j}, acc${kx}_${c}_${j}); }`))}
}`,
  };
}

// ---- bias gradient -----------------------------------------------------------------------

/**
 * Partial bias gradients: out[chunk, co] = Σ over the output pixels of `chunk` of dy[pixel, co].
 * With one chunk, `out` is db itself. Bindings: dy, out.
 */
export function conv2dBiasGrad(g: Conv2DGeometry, blocks: Conv2DBlocks = defaultBlocks(g)): KernelSource {
  // Its chunking depends on the geometry alone, so the tiled style shares this kernel.
  const { dbChunks: chunks, dbPixelsPerChunk: chunkPixels } = conv2dReductionPlan(g, 'registers', blocks);
  const co4s = Math.ceil(g.outC / 4);
  const pixels = g.batch * g.outH * g.outW;
  const invocations = chunks * co4s;
  const { workgroups, rowStride } = grid(invocations, WG);
  return {
    key: `conv2d-bias-grad:registers:${geometryKey(g)}:chunks${chunks}x${chunkPixels}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
${gradReader(g)}
${channelWriter('out', 1, g.outC)}

// Each invocation: 4 output channels summed over ${chunkPixels} pixels.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, invocations, 't')}
  let c4 = t % ${co4s}u;
  let chunk = t / ${co4s}u;
  let end = min((chunk + 1u) * ${chunkPixels}u, ${pixels}u);
  // Four pixels per iteration: loop overhead dominates a body this small on SwiftShader.
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  var m = chunk * ${chunkPixels}u;
  for (; m + 4u <= end; m += 4u) {
    acc0 += read_dy(m, c4);
    acc1 += read_dy(m + 1u, c4);
    acc2 += read_dy(m + 2u, c4);
    acc3 += read_dy(m + 3u, c4);
  }
  for (; m < end; m++) { acc0 += read_dy(m, c4); }
  store_out(chunk, c4, (acc0 + acc1) + (acc2 + acc3));
}`,
  };
}

/** out[i] = Σ_s partial[s·n + i]: finishes a dW/db reduction split into `parts` chunks. Bindings: partial, out. */
export function sumPartials(n: number, parts: number): KernelSource {
  const { workgroups, rowStride } = grid(n, WG);
  return {
    key: `sum-partials:${n}:${parts}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, n)}
  var s = 0.0;
  for (var p = 0u; p < ${parts}u; p++) { s += partial[p * ${n}u + i]; }
  out[i] = s;
}`,
  };
}

// ---- tiled variants (GPUs) ----------------------------------------------------------------

/*
 * On GPUs the three convolutions run as implicit matrix products C[M×N] = A[M×K]·B[K×N] whose
 * operands are gathered on load: each workgroup stages a 64×8 tile of A and an 8×64 tile of B
 * in workgroup memory, and each of its 16×16 invocations keeps a 4×4 block of C. Barriers make
 * this slow on SwiftShader; there the registers kernels run (and SwiftShader's compile time
 * grows with the unrolled depth of a tile, so TILE_K is 8, not 16: bench/NOTES.md item 56).
 */
const TILE = 64;
const TILE_K = 8;

interface TiledProduct {
  key: string;
  bindings: BindingKind[];
  M: number;
  N: number;
  K: number;
  /** Split-K: workgroup layer `chunk` sums k in [chunk·chunkK, (chunk+1)·chunkK). */
  chunks: number;
  chunkK: number;
  /** Bindings and `fn loadA(m, k) -> f32`, `fn loadB(k, n) -> f32` (called in range only), `fn store(chunk, m, n, v)`. */
  declarations: string;
  /** The index along which A (B) is contiguous in memory: neighbouring invocations load along it. */
  aContiguous: 'm' | 'k';
  bContiguous: 'k' | 'n';
}

function tiledProduct(p: TiledProduct): KernelSource {
  const rowTiles = Math.ceil(p.M / TILE);
  // More than 65535 row tiles fold into the z dimension, next to the split-K chunks.
  const fold = Math.ceil(rowTiles / 65535);
  // Element e of a tile: index along the contiguous axis e % length, along the other e / length.
  const aIndex = p.aContiguous === 'k' ? { m: `e / ${TILE_K}u`, k: `e % ${TILE_K}u` } : { m: `e % ${TILE}u`, k: `e / ${TILE}u` };
  const bIndex = p.bContiguous === 'k' ? { n: `e / ${TILE_K}u`, k: `e % ${TILE_K}u` } : { n: `e % ${TILE}u`, k: `e / ${TILE}u` };
  return {
    key: p.key,
    bindings: p.bindings,
    workgroups: [Math.ceil(p.N / TILE), Math.min(rowTiles, 65535), p.chunks * fold],
    code: wgsl`
${p.declarations}

var<workgroup> tileA: array<f32, ${TILE * TILE_K}>; // [k][m]
var<workgroup> tileB: array<f32, ${TILE * TILE_K}>; // [k][n]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let m0 = (wg.y + (wg.z % ${fold}u) * 65535u) * ${TILE}u;
  let n0 = wg.x * ${TILE}u;
  let chunk = wg.z / ${fold}u;
  let kBegin = chunk * ${p.chunkK}u;
  let kEnd = min(kBegin + ${p.chunkK}u, ${p.K}u);
  // Invocation (x, y) owns rows y + 16i and columns x + 16j of the tile: acc_i holds columns j.
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var k0 = kBegin; k0 < kEnd; k0 += ${TILE_K}u) {
    for (var r = 0u; r < ${(TILE * TILE_K) / 256}u; r++) {
      let e = li + r * 256u;
      let am = ${aIndex.m};
      let ak = ${aIndex.k};
      var a = 0.0;
      if ((m0 + am < ${p.M}u) & (k0 + ak < kEnd)) { a = loadA(m0 + am, k0 + ak); }
      tileA[ak * ${TILE}u + am] = a;
      let bn = ${bIndex.n};
      let bk = ${bIndex.k};
      var b = 0.0;
      if ((n0 + bn < ${p.N}u) & (k0 + bk < kEnd)) { b = loadB(k0 + bk, n0 + bn); }
      tileB[bk * ${TILE}u + bn] = b;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${TILE_K}u; kk++) {
      let a = vec4f(tileA[kk * ${TILE}u + lid.y], tileA[kk * ${TILE}u + lid.y + 16u], tileA[kk * ${TILE}u + lid.y + 32u], tileA[kk * ${TILE}u + lid.y + 48u]);
      let b = vec4f(tileB[kk * ${TILE}u + lid.x], tileB[kk * ${TILE}u + lid.x + 16u], tileB[kk * ${TILE}u + lid.x + 32u], tileB[kk * ${TILE}u + lid.x + 48u]);
      acc0 += a.x * b;
      acc1 += a.y * b;
      acc2 += a.z * b;
      acc3 += a.w * b;
    }
    workgroupBarrier();
  }
  ${each2(4, 4, (i, j) => `if ((m0 + lid.y + ${16 * i}u < ${p.M}u) & (n0 + lid.x + ${16 * j}u < ${p.N}u)) { store(chunk, m0 + lid.y + ${16 * i}u, n0 + lid.x + ${16 * j}u, acc${i}.${'xyzw'[j]}); }`)}
}`,
  };
}

/** The output gradient dy (after the fused ReLU) at binding 0 as scalars. */
const scalarGradReader = '@group(0) @binding(0) var<storage, read> dy: array<f32>;';

/** Tiled conv2dForward: M = output pixels, N = output channels, K = taps × input channels. Bindings: x, w, (b), y. */
export function conv2dForwardTiled(g: Conv2DGeometry): KernelSource {
  const yBinding = g.bias ? 3 : 2;
  return tiledProduct({
    key: `conv2d-forward:tiled:${geometryKey(g)}`,
    bindings: g.bias ? ['read', 'read', 'read', 'write'] : ['read', 'read', 'write'],
    M: g.batch * g.outH * g.outW,
    N: g.outC,
    K: g.kH * g.kW * g.inC,
    chunks: 1,
    chunkK: g.kH * g.kW * g.inC,
    aContiguous: 'k',
    bContiguous: 'n',
    declarations: wgsl`
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
#if ${g.bias}
@group(0) @binding(2) var<storage, read> b: array<f32>;
#endif
@group(0) @binding(${yBinding}) var<storage, read_write> y: array<f32>;
${constants({ IN_H: g.inH, IN_W: g.inW, IN_C: g.inC, OUT_H: g.outH, OUT_W: g.outW, OUT_C: g.outC, K_W: g.kW, STRIDE_H: g.strideH, STRIDE_W: g.strideW })}${dilationConstants(g)}
${constants({ PAD_TOP: g.padTop, PAD_LEFT: g.padLeft }, 'abstract')}

// A[m, k]: the input under tap k / inC of output pixel m (0 in the padding).
fn loadA(m: u32, k: u32) -> f32 {
  let tap = k / IN_C;
  let iy = i32((m / OUT_W) % OUT_H * STRIDE_H + ${tapOffset('tap / K_W', g.dilationH, 'DILATION_H')}) - PAD_TOP;
  let ix = i32(m % OUT_W * STRIDE_W + ${tapOffset('tap % K_W', g.dilationW, 'DILATION_W')}) - PAD_LEFT;
  if ((u32(iy) >= IN_H) | (u32(ix) >= IN_W)) { return 0.0; }
  return x[((m / ${g.outH * g.outW}u * IN_H + u32(iy)) * IN_W + u32(ix)) * IN_C + k % IN_C];
}

fn loadB(k: u32, n: u32) -> f32 { return w[k * OUT_C + n]; }

fn store(chunk: u32, m: u32, n: u32, v: f32) {
  let z = v${g.bias ? ' + b[n]' : ''};
  y[m * OUT_C + n] = ${g.relu ? 'max(z, 0.0)' : 'z'};
}`,
  });
}

/** Tiled conv2dInputGrad: M = input pixels, N = input channels, K = taps × output channels. Bindings: dy, w, dx. */
export function conv2dInputGradTiled(g: Conv2DGeometry): KernelSource {
  return inputGradTiled(g, `conv2d-input-grad:tiled:${geometryKey(g)}`, false);
}

/**
 * Tiled conv2dTransposeForward: conv2dInputGradTiled with g.bias added per input channel and
 * g.relu applied before the store. Bindings: x (g's output side), w, (b), y (g's input side).
 */
export function conv2dTransposeForwardTiled(g: Conv2DGeometry): KernelSource {
  return inputGradTiled(g, `conv2d-transpose-forward:tiled:${geometryKey(g)}`, true);
}

/** The tiled input-gradient product; `epilogue`: g's bias (binding 2) and ReLU on the way out. */
function inputGradTiled(g: Conv2DGeometry, key: string, epilogue: boolean): KernelSource {
  const bias = epilogue && g.bias;
  const wBinding = 1;
  const dxBinding = bias ? wBinding + 2 : wBinding + 1;
  const value = bias ? 'v + b[n]' : 'v';
  return tiledProduct({
    key,
    bindings: bias ? ['read', 'read', 'read', 'write'] : ['read', 'read', 'write'],
    M: g.batch * g.inH * g.inW,
    N: g.inC,
    K: g.kH * g.kW * g.outC,
    chunks: 1,
    chunkK: g.kH * g.kW * g.outC,
    aContiguous: 'k',
    bContiguous: 'k',
    declarations: wgsl`
${scalarGradReader}
@group(0) @binding(${wBinding}) var<storage, read> w: array<f32>;${bias ? `\n@group(0) @binding(${wBinding + 1}) var<storage, read> b: array<f32>;` : ''}
@group(0) @binding(${dxBinding}) var<storage, read_write> dx: array<f32>;
${constants({ IN_H: g.inH, IN_W: g.inW, IN_C: g.inC, OUT_W: g.outW, OUT_H: g.outH, OUT_C: g.outC, K_W: g.kW, STRIDE_H: g.strideH, STRIDE_W: g.strideW, PAD_TOP: g.padTop, PAD_LEFT: g.padLeft })}${dilationConstants(g)}

// A[m, k]: dy at the output pixel that input pixel m feeds through tap k / outC (0 if none).
fn loadA(m: u32, k: u32) -> f32 {
  let tap = k / OUT_C;
  let sy = u32(i32((m / IN_W) % IN_H + PAD_TOP) - ${tapOffset('tap / K_W', g.dilationH, 'DILATION_H', true)});
  let sx = u32(i32(m % IN_W + PAD_LEFT) - ${tapOffset('tap % K_W', g.dilationW, 'DILATION_W', true)});
  if ((sy >= ${g.outH * g.strideH}u) | (sx >= ${g.outW * g.strideW}u) | (sy % STRIDE_H != 0u) | (sx % STRIDE_W != 0u)) { return 0.0; }
  let pixel = (m / ${g.inH * g.inW}u * OUT_H + sy / STRIDE_H) * OUT_W + sx / STRIDE_W;
  return dy[pixel * OUT_C + k % OUT_C];
}

// B[k, n] = w[tap, n, co] with k = tap·outC + co.
fn loadB(k: u32, n: u32) -> f32 { return w[(k / OUT_C * IN_C + n) * OUT_C + k % OUT_C]; }

fn store(chunk: u32, m: u32, n: u32, v: f32) { dx[m * IN_C + n] = ${epilogue && g.relu ? `max(${value}, 0.0)` : value}; }`,
  });
}

/**
 * Tiled conv2dKernelGrad: M = taps × input channels, N = output channels, K = output pixels split
 * into chunks of whole output rows (conv2dReductionPlan). Bindings: dy, x, out.
 */
export function conv2dKernelGradTiled(g: Conv2DGeometry): KernelSource {
  const { dwChunks, dwRowsPerChunk } = conv2dReductionPlan(g, 'tiled');
  const xBinding = 1;
  const M = g.kH * g.kW * g.inC;
  return tiledProduct({
    key: `conv2d-kernel-grad:tiled:${geometryKey(g)}:chunks${dwChunks}x${dwRowsPerChunk}`,
    bindings: ['read', 'read', 'write'],
    M,
    N: g.outC,
    K: g.batch * g.outH * g.outW,
    chunks: dwChunks,
    chunkK: dwRowsPerChunk * g.outW,
    aContiguous: 'm',
    bContiguous: 'n',
    declarations: wgsl`
${scalarGradReader}
@group(0) @binding(${xBinding}) var<storage, read> x: array<f32>;
@group(0) @binding(${xBinding + 1}) var<storage, read_write> out: array<f32>;
${constants({ IN_H: g.inH, IN_W: g.inW, IN_C: g.inC, OUT_H: g.outH, OUT_W: g.outW, OUT_C: g.outC, K_W: g.kW, STRIDE_H: g.strideH, STRIDE_W: g.strideW })}${dilationConstants(g)}
${constants({ PAD_TOP: g.padTop, PAD_LEFT: g.padLeft }, 'abstract')}

// A[m, k]: the input under tap m / inC of output pixel k (0 in the padding).
fn loadA(m: u32, k: u32) -> f32 {
  let tap = m / IN_C;
  let iy = i32((k / OUT_W) % OUT_H * STRIDE_H + ${tapOffset('tap / K_W', g.dilationH, 'DILATION_H')}) - PAD_TOP;
  let ix = i32(k % OUT_W * STRIDE_W + ${tapOffset('tap % K_W', g.dilationW, 'DILATION_W')}) - PAD_LEFT;
  if ((u32(iy) >= IN_H) | (u32(ix) >= IN_W)) { return 0.0; }
  return x[((k / ${g.outH * g.outW}u * IN_H + u32(iy)) * IN_W + u32(ix)) * IN_C + m % IN_C];
}

fn loadB(k: u32, n: u32) -> f32 { return dy[k * OUT_C + n]; }

fn store(chunk: u32, m: u32, n: u32, v: f32) { out[(chunk * ${M}u + m) * OUT_C + n] = v; }`,
  });
}
