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
import type { KernelSource } from './kernel.ts';
import { POOL_WINDOW_WGSL } from './pool.ts';
import { channelReader, channelWriter, constants, each, each2, flatIndex, grid } from './wgsl.ts';
import { type Conv2DBlocks, type Conv2DGeometry, defaultBlocks, dilationConstants, geometryKey, kernelSpan, tapOffset, tapsInBounds, WG } from './conv2d-geometry.ts';

export * from './conv2d-geometry.ts';

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
