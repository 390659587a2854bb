/**
 * The 2-D convolution's weight gradients on CPU adapters: the kernel gradient dW as partial sums
 * over chunks of output pixels (a sliding-row variant where it applies), the bias gradient, and
 * the small reduction that sums their partials. The geometry is shaders/conv2d-geometry.ts's.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { KernelSource } from './kernel.ts';
import { channelWriter, constants, each, each2, flatIndex, grid } from './wgsl.ts';
import { type Conv2DBlocks, type Conv2DGeometry, defaultBlocks, dilationConstants, geometryKey, gradReader, MAX_UNROLLED_COLUMNS, MIN_PIXELS_PER_CHUNK, REDUCTION_INVOCATIONS, slidesAlongRows, tapOffset, tapsInBounds, TILE, TILED_WORKGROUPS, WG } from './conv2d-geometry.ts';

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

/** The chunks for the kernel gradient variant `dwKernel` (the registers kernel's blocks, or the 'tiled' variant's tiles); db's do not depend on it. */
export function conv2dReductionPlan(g: Conv2DGeometry, dwKernel: 'registers' | 'tiled' = 'registers', blocks: Conv2DBlocks = defaultBlocks(g)): Conv2DReductionPlan {
  const rows = g.batch * g.outH;
  const pixels = rows * g.outW;
  let dwWanted: number;
  if (dwKernel === 'tiled') {
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
