/**
 * 2-D convolution, NHWC activations and HWIO kernels: forward (bias and ReLU fused), input
 * gradient dx, kernel gradient dW, bias gradient db, and the small reduction that sums dW/db
 * partials. When the forward fused a ReLU, the backward kernels mask dy on read with the saved
 * output (dy·[y > 0]) instead of spending a pass over memory on it.
 *
 * `registers` kernels (CPU adapters such as SwiftShader): every invocation computes a block of
 * outputs held in named vec4 accumulators (SwiftShader spills indexed private arrays to memory),
 * reads 4 channels per load along the innermost axis, and runs straight-line code without
 * barriers. Channel counts that are not multiples of 4 read zeros past the end (`*4` helpers)
 * and store only real channels; pixel blocks past the end recompute the last pixel and skip the
 * store.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { grid, type KernelSource } from './kernel.ts';

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
  /** Rows/columns of zeros above/left of the input ('same' padding); the rest falls off the end. */
  padTop: number;
  padLeft: number;
  /** ReLU fused into the forward; the backward kernels then mask dy with y > 0. */
  relu: boolean;
  bias: boolean;
}

/** Register-block sizes (invocation = block of outputs); tuned on SwiftShader, see bench/conv2d-kernels.ts. */
export interface Conv2DBlocks {
  /** forward: output pixels × vec4 groups of output channels */
  forwardPixels: number;
  forwardGroups: number;
  /** dx: input pixels × input channels (each accumulated as a vec4 over output channels) */
  dxPixels: number;
  dxChannels: number;
  /** dW: vec4 groups of input channels (1 scalar channel when inC % 4 ≠ 0) × vec4 groups of output channels */
  dwInGroups: number;
  dwOutGroups: number;
}

export const DEFAULT_BLOCKS: Conv2DBlocks = {
  forwardPixels: 4,
  forwardGroups: 2,
  dxPixels: 4,
  dxChannels: 4,
  dwInGroups: 1,
  dwOutGroups: 4,
};

const WG = 64;
/** Invocations the reductions (dW, db) aim for, so both cores of a CPU adapter get work. */
const REDUCTION_INVOCATIONS = 4096;
const MIN_PIXELS_PER_CHUNK = 128;

const each = (n: number, line: (i: number) => string, sep = '\n  '): string => Array.from({ length: n }, (_, i) => line(i)).join(sep);
const each2 = (a: number, b: number, line: (i: number, j: number) => string, sep = '\n  '): string =>
  Array.from({ length: a * b }, (_, k) => line(Math.floor(k / b), k % b)).join(sep);

function geometryKey(g: Conv2DGeometry): string {
  return (
    `n${g.batch}-in${g.inH}x${g.inW}x${g.inC}-k${g.kH}x${g.kW}-s${g.strideH}x${g.strideW}-p${g.padTop}x${g.padLeft}` +
    `-out${g.outH}x${g.outW}x${g.outC}${g.relu ? '-relu' : ''}${g.bias ? '-bias' : ''}`
  );
}

/** True when every tap of every output pixel lies inside the input (no padding checks needed). */
function tapsInBounds(g: Conv2DGeometry): boolean {
  return g.padTop === 0 && g.padLeft === 0 && (g.outH - 1) * g.strideH + g.kH <= g.inH && (g.outW - 1) * g.strideW + g.kW <= g.inW;
}

/**
 * Declares read-only `name`, rows of `channels` floats, and `fn name4(row, c4) -> vec4f` reading
 * channels 4·c4 .. 4·c4+3 of a row (zeros past the end of the row).
 */
function channelReader(name: string, binding: number, rows: number, channels: number): string {
  const last = rows * channels - 1;
  return wgsl`
#if ${channels % 4 === 0}
@group(0) @binding(${binding}) var<storage, read> ${name}: array<vec4f>;
fn ${name}4(row: u32, c4: u32) -> vec4f { return ${name}[row * ${channels / 4}u + c4]; }
#else
@group(0) @binding(${binding}) var<storage, read> ${name}: array<f32>;
fn ${name}4(row: u32, c4: u32) -> vec4f {
  let c = c4 * 4u;
  let i = row * ${channels}u + c;
  // min() keeps the reads past the row in bounds; select() zeroes them.
  return vec4f(${name}[i],
               select(0.0, ${name}[min(i + 1u, ${last}u)], c + 1u < ${channels}u),
               select(0.0, ${name}[min(i + 2u, ${last}u)], c + 2u < ${channels}u),
               select(0.0, ${name}[min(i + 3u, ${last}u)], c + 3u < ${channels}u));
}
#endif`;
}

/** Declares writable `name`, rows of `channels` floats, and `fn store_name(row, c4, v)` writing the real channels of v. */
function channelWriter(name: string, binding: number, channels: number): string {
  return wgsl`
#if ${channels % 4 === 0}
@group(0) @binding(${binding}) var<storage, read_write> ${name}: array<vec4f>;
fn store_${name}(row: u32, c4: u32, v: vec4f) { ${name}[row * ${channels / 4}u + c4] = v; }
#else
@group(0) @binding(${binding}) var<storage, read_write> ${name}: array<f32>;
fn store_${name}(row: u32, c4: u32, v: vec4f) {
  let c = c4 * 4u;
  let i = row * ${channels}u + c;
  ${name}[i] = v.x;
  if (c + 1u < ${channels}u) { ${name}[i + 1u] = v.y; }
  if (c + 2u < ${channels}u) { ${name}[i + 2u] = v.z; }
  if (c + 3u < ${channels}u) { ${name}[i + 3u] = v.w; }
}
#endif`;
}

/** dy and the saved output y (when ReLU was fused) at bindings 0 and 1, and `fn grad4(pixel, c4)`: dy masked by y > 0. */
function gradReader(g: Conv2DGeometry): string {
  const pixels = g.batch * g.outH * g.outW;
  return wgsl`
${channelReader('dy', 0, pixels, g.outC)}
#if ${g.relu}
${channelReader('y', 1, pixels, g.outC)}
fn grad4(pixel: u32, c4: u32) -> vec4f { return select(vec4f(0.0), dy4(pixel, c4), y4(pixel, c4) > vec4f(0.0)); }
#else
fn grad4(pixel: u32, c4: u32) -> vec4f { return dy4(pixel, c4); }
#endif`;
}

// ---- forward -----------------------------------------------------------------------------

/**
 * y[n,oy,ox,co] = act(Σ_{ky,kx,ci} x[n, oy·sh+ky−padTop, ox·sw+kx−padLeft, ci] · w[ky,kx,ci,co] + b[co]).
 * Bindings: x, w, (b), y.
 */
export function conv2dForward(g: Conv2DGeometry, blocks: Conv2DBlocks = DEFAULT_BLOCKS): KernelSource {
  const P = blocks.forwardPixels;
  const G = blocks.forwardGroups;
  const pixels = g.batch * g.outH * g.outW;
  const co4s = Math.ceil(g.outC / 4);
  const coBlocks = Math.ceil(co4s / G);
  const invocations = coBlocks * Math.ceil(pixels / P);
  const { workgroups, rowStride } = grid(invocations, WG);
  const vecIn = g.inC % 4 === 0;
  const masked = !tapsInBounds(g);
  return {
    key: `conv2d-forward:registers:${geometryKey(g)}:p${P}g${G}`,
    bindings: g.bias ? ['read', 'read', 'read', 'write'] : ['read', 'read', 'write'],
    workgroups,
    code: wgsl`
@group(0) @binding(0) var<storage, read> x: array<${vecIn ? 'vec4f' : 'f32'}>;
${channelReader('w', 1, g.kH * g.kW * g.inC, g.outC)}
#if ${g.bias}
${channelReader('b', 2, 1, g.outC)}
#endif
${channelWriter('y', g.bias ? 3 : 2, g.outC)}

// Each invocation: ${P} output pixels × ${G} groups of 4 output channels.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.x + gid.y * ${rowStride}u;
  if (t >= ${invocations}u) { return; }
  // Channel groups vary fastest, so neighbouring invocations read the same input pixels.
  let m = (t / ${coBlocks}u) * ${P}u;
  let c4 = (t % ${coBlocks}u) * ${G}u;
  ${each(G, (j) => `let c4_${j} = min(c4 + ${j}u, ${co4s - 1}u);`)}
  // Input pixel under each output pixel's top-left tap (negative inside the padding).
  ${each(P, (p) => `let m${p} = min(m + ${p}u, ${pixels - 1}u);
  let top${p} = i32((m${p} / ${g.outW}u) % ${g.outH}u * ${g.strideH}u) - ${g.padTop};
  let left${p} = i32(m${p} % ${g.outW}u * ${g.strideW}u) - ${g.padLeft};
  let base${p} = i32(m${p} / ${g.outH * g.outW}u * ${g.inH * g.inW}u) + top${p} * ${g.inW} + left${p};`)}
  ${each2(P, G, (p, j) => `var acc${p}_${j} = vec4f(0.0);`)}
  for (var ky = 0u; ky < ${g.kH}u; ky++) {
    for (var kx = 0u; kx < ${g.kW}u; kx++) {
      let tap = i32(ky * ${g.inW}u + kx);
#if ${masked}
      // Taps in the padding read element 0 and scale it by 0.
      ${each(P, (p) => `let in${p} = u32(top${p} + i32(ky)) < ${g.inH}u && u32(left${p} + i32(kx)) < ${g.inW}u;
      let xi${p} = select(0u, u32(base${p} + tap) * ${vecIn ? g.inC / 4 : g.inC}u, in${p});
      let xm${p} = select(0.0, 1.0, in${p});`, '\n      ')}
#else
      ${each(P, (p) => `let xi${p} = u32(base${p} + tap) * ${vecIn ? g.inC / 4 : g.inC}u;`, '\n      ')}
#endif
      let row = (ky * ${g.kW}u + kx) * ${g.inC}u;
#if ${vecIn}
      for (var c = 0u; c < ${g.inC / 4}u; c++) {
        let r = row + c * 4u;
        ${each2(G, 4, (j, k) => `let w${j}${k} = w4(r + ${k}u, c4_${j});`, '\n        ')}
        ${each(P, (p) => `let x${p} = x[xi${p} + c]${masked ? ` * xm${p}` : ''};`, '\n        ')}
        ${each2(P, G, (p, j) => `acc${p}_${j} += x${p}.x * w${j}0 + x${p}.y * w${j}1 + x${p}.z * w${j}2 + x${p}.w * w${j}3;`, '\n        ')}
      }
#else
      for (var c = 0u; c < ${g.inC}u; c++) {
        ${each(G, (j) => `let w${j} = w4(row + c, c4_${j});`, '\n        ')}
        ${each(P, (p) => `let x${p} = x[xi${p} + c]${masked ? ` * xm${p}` : ''};`, '\n        ')}
        ${each2(P, G, (p, j) => `acc${p}_${j} += x${p} * w${j};`, '\n        ')}
      }
#endif
    }
  }
  ${each(G, (j) => `let bias${j} = ${g.bias ? `b4(0u, c4_${j})` : 'vec4f(0.0)'};`)}
  ${each2(P, G, (p, j) => `if (m + ${p}u < ${pixels}u && c4 + ${j}u < ${co4s}u) { store_y(m${p}, c4_${j}, ${g.relu ? `max(acc${p}_${j} + bias${j}, vec4f(0.0))` : `acc${p}_${j} + bias${j}`}); }`)}
}`,
  };
}

// ---- input gradient ----------------------------------------------------------------------

/**
 * dx[n,iy,ix,ci] = Σ_{ky,kx,co} dy'[n,oy,ox,co] · w[ky,kx,ci,co] over the (oy, ox) with
 * oy·sh + ky − padTop = iy (and likewise for x), dy' = dy·[y > 0] with a fused ReLU.
 * Bindings: dy, (y), w, dx.
 */
export function conv2dInputGrad(g: Conv2DGeometry, blocks: Conv2DBlocks = DEFAULT_BLOCKS): KernelSource {
  const P = blocks.dxPixels;
  const C = Math.min(blocks.dxChannels, g.inC);
  const pixels = g.batch * g.inH * g.inW;
  const ciBlocks = Math.ceil(g.inC / C);
  const invocations = ciBlocks * Math.ceil(pixels / P);
  const { workgroups, rowStride } = grid(invocations, WG);
  const wBinding = g.relu ? 2 : 1;
  // A tap hits an output pixel when iy + padTop − ky is a multiple of the stride in [0, outH·sh).
  const strided = g.strideH > 1 || g.strideW > 1;
  return {
    key: `conv2d-input-grad:registers:${geometryKey(g)}:p${P}c${C}`,
    bindings: g.relu ? ['read', 'read', 'read', 'write'] : ['read', 'read', 'write'],
    workgroups,
    code: wgsl`
${gradReader(g)}
${channelReader('w', wBinding, g.kH * g.kW * g.inC, g.outC)}
@group(0) @binding(${wBinding + 1}) var<storage, read_write> dx: array<f32>;

// Each invocation: ${P} input pixels × ${C} input channels; the accumulators are vec4 partial sums
// over output channels (4 at a time, both operands contiguous), summed up at the end.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.x + gid.y * ${rowStride}u;
  if (t >= ${invocations}u) { return; }
  let m = (t / ${ciBlocks}u) * ${P}u;
  let ci = (t % ${ciBlocks}u) * ${C}u;
  ${each(C, (k) => `let ci${k} = min(ci + ${k}u, ${g.inC - 1}u);`)}
  ${each(P, (p) => `let m${p} = min(m + ${p}u, ${pixels - 1}u);
  let n${p} = m${p} / ${g.inH * g.inW}u;
  let oy${p} = i32((m${p} / ${g.inW}u) % ${g.inH}u) + ${g.padTop};
  let ox${p} = i32(m${p} % ${g.inW}u) + ${g.padLeft};`)}
  ${each2(P, C, (p, k) => `var acc${p}_${k} = vec4f(0.0);`)}
  for (var ky = 0u; ky < ${g.kH}u; ky++) {
    for (var kx = 0u; kx < ${g.kW}u; kx++) {
      // Output pixel each input pixel feeds through this tap (scaled by 0 when there is none).
      ${each(P, (p) => `let sy${p} = u32(oy${p} - i32(ky));
      let sx${p} = u32(ox${p} - i32(kx));
      let hit${p} = sy${p} < ${g.outH * g.strideH}u && sx${p} < ${g.outW * g.strideW}u${strided ? ` && sy${p} % ${g.strideH}u == 0u && sx${p} % ${g.strideW}u == 0u` : ''};
      let d${p} = select(0u, (n${p} * ${g.outH}u + sy${p} / ${g.strideH}u) * ${g.outW}u + sx${p} / ${g.strideW}u, hit${p});
      let dm${p} = select(0.0, 1.0, hit${p});`, '\n      ')}
      let row = (ky * ${g.kW}u + kx) * ${g.inC}u;
      for (var c4 = 0u; c4 < ${Math.ceil(g.outC / 4)}u; c4++) {
        ${each(C, (k) => `let w${k} = w4(row + ci${k}, c4);`, '\n        ')}
        ${each(P, (p) => `let g${p} = grad4(d${p}, c4) * dm${p};`, '\n        ')}
        ${each2(P, C, (p, k) => `acc${p}_${k} += g${p} * w${k};`, '\n        ')}
      }
    }
  }
  ${each2(P, C, (p, k) => `if (m + ${p}u < ${pixels}u && ci + ${k}u < ${g.inC}u) { dx[m${p} * ${g.inC}u + ci${k}] = dot(acc${p}_${k}, vec4f(1.0)); }`)}
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

function dwBlockCounts(g: Conv2DGeometry, blocks: Conv2DBlocks): { ciPerBlock: number; ciBlocks: number; coBlocks: number } {
  const ciPerBlock = g.inC % 4 === 0 ? 4 * blocks.dwInGroups : 1;
  return { ciPerBlock, ciBlocks: Math.ceil(g.inC / ciPerBlock), coBlocks: Math.ceil(Math.ceil(g.outC / 4) / blocks.dwOutGroups) };
}

export function conv2dReductionPlan(g: Conv2DGeometry, blocks: Conv2DBlocks = DEFAULT_BLOCKS): Conv2DReductionPlan {
  const { ciBlocks, coBlocks } = dwBlockCounts(g, blocks);
  const rows = g.batch * g.outH;
  const pixels = rows * g.outW;
  const dwBlocks = g.kH * g.kW * ciBlocks * coBlocks;
  const dwWanted = Math.min(Math.ceil(REDUCTION_INVOCATIONS / dwBlocks), Math.ceil(pixels / MIN_PIXELS_PER_CHUNK), rows);
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
 * x[n, oy·sh+ky−padTop, ox·sw+kx−padLeft, ci] · dy'[n,oy,ox,co]. With one chunk, `out` is dW itself.
 * Bindings: dy, (y), x, out.
 */
export function conv2dKernelGrad(g: Conv2DGeometry, blocks: Conv2DBlocks = DEFAULT_BLOCKS): KernelSource {
  const { dwChunks: chunks, dwRowsPerChunk: chunkRows } = conv2dReductionPlan(g, blocks);
  const { ciPerBlock, ciBlocks, coBlocks } = dwBlockCounts(g, blocks);
  const vecIn = g.inC % 4 === 0;
  const X = vecIn ? blocks.dwInGroups : 1;
  const G = blocks.dwOutGroups;
  const co4s = Math.ceil(g.outC / 4);
  const taps = g.kH * g.kW;
  const invocations = chunks * taps * ciBlocks * coBlocks;
  const { workgroups, rowStride } = grid(invocations, WG);
  const xBinding = g.relu ? 2 : 1;
  const rows = g.batch * g.outH;
  // A block running past inC reads (clamped) neighbours into accumulators that are never stored.
  const clampX = vecIn && g.inC % ciPerBlock !== 0;
  const xLast = (g.batch * g.inH * g.inW * g.inC) / 4 - 1;
  // Input channel k of the block: component k % 4 of vector k / 4, or the scalar itself.
  const xc = (k: number) => (vecIn ? `x${Math.floor(k / 4)}.${'xyzw'[k % 4]}` : `x0`);
  return {
    key: `conv2d-kernel-grad:registers:${geometryKey(g)}:x${X}g${G}:chunks${chunks}x${chunkRows}`,
    bindings: g.relu ? ['read', 'read', 'read', 'write'] : ['read', 'read', 'write'],
    workgroups,
    code: wgsl`
${gradReader(g)}
@group(0) @binding(${xBinding}) var<storage, read> x: array<${vecIn ? 'vec4f' : 'f32'}>;
${channelWriter('out', xBinding + 1, g.outC)}

// Each invocation: one tap × ${ciPerBlock} input channels × ${G} groups of 4 output channels,
// summed over ${chunkRows} output rows (n, oy).
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.x + gid.y * ${rowStride}u;
  if (t >= ${invocations}u) { return; }
  // Output-channel groups vary fastest: neighbouring invocations read the same x.
  let c4 = (t % ${coBlocks}u) * ${G}u;
  let ci = (t / ${coBlocks}u % ${ciBlocks}u) * ${ciPerBlock}u;
  let tap = t / ${coBlocks * ciBlocks}u % ${taps}u;
  let chunk = t / ${coBlocks * ciBlocks * taps}u;
  let ky = tap / ${g.kW}u;
  let kx = tap % ${g.kW}u;
  ${each(G, (j) => `let c4_${j} = min(c4 + ${j}u, ${co4s - 1}u);`)}
  // The ox whose tap kx lands inside the input: 0 ≤ ox·sw + kx − padLeft < inW.
  let oxBegin = (max(${g.padLeft} - i32(kx), 0) + ${g.strideW - 1}) / ${g.strideW};
  let oxEnd = min((${g.inW - 1 + g.padLeft + g.strideW} - i32(kx)) / ${g.strideW}, ${g.outW});
  let xOffset = i32(kx) - ${g.padLeft};
  ${each2(ciPerBlock, G, (k, j) => `var acc${k}_${j} = vec4f(0.0);`)}
  let rowEnd = min((chunk + 1u) * ${chunkRows}u, ${rows}u);
  for (var r = chunk * ${chunkRows}u; r < rowEnd; r++) {
    let iy = i32(r % ${g.outH}u * ${g.strideH}u + ky) - ${g.padTop};
    if (u32(iy) >= ${g.inH}u) { continue; }
    let xRow = (r / ${g.outH}u * ${g.inH}u + u32(iy)) * ${g.inW}u;
    for (var ox = oxBegin; ox < oxEnd; ox++) {
      let xi = (xRow + u32(ox * ${g.strideW} + xOffset)) * ${vecIn ? g.inC / 4 : g.inC}u + ci${vecIn ? ' / 4u' : ''};
      ${each(X, (k) => `let x${k} = x[${clampX ? `min(xi + ${k}u, ${xLast}u)` : `xi + ${k}u`}];`, '\n      ')}
      ${each(G, (j) => `let g${j} = grad4(r * ${g.outW}u + u32(ox), c4_${j});`, '\n      ')}
      ${each2(ciPerBlock, G, (k, j) => `acc${k}_${j} += ${xc(k)} * g${j};`, '\n      ')}
    }
  }
  let outRow = (chunk * ${taps}u + tap) * ${g.inC}u + ci;
  ${each2(ciPerBlock, G, (k, j) => `if (ci + ${k}u < ${g.inC}u && c4 + ${j}u < ${co4s}u) { store_out(outRow + ${k}u, c4_${j}, acc${k}_${j}); }`)}
}`,
  };
}

// ---- bias gradient -----------------------------------------------------------------------

/**
 * Partial bias gradients: out[chunk, co] = Σ over the output pixels of `chunk` of dy'[pixel, co].
 * With one chunk, `out` is db itself. Bindings: dy, (y), out.
 */
export function conv2dBiasGrad(g: Conv2DGeometry, blocks: Conv2DBlocks = DEFAULT_BLOCKS): KernelSource {
  const { dbChunks: chunks, dbPixelsPerChunk: chunkPixels } = conv2dReductionPlan(g, blocks);
  const co4s = Math.ceil(g.outC / 4);
  const pixels = g.batch * g.outH * g.outW;
  const invocations = chunks * co4s;
  const { workgroups, rowStride } = grid(invocations, WG);
  return {
    key: `conv2d-bias-grad:registers:${geometryKey(g)}:chunks${chunks}x${chunkPixels}`,
    bindings: g.relu ? ['read', 'read', 'write'] : ['read', 'write'],
    workgroups,
    code: wgsl`
${gradReader(g)}
${channelWriter('out', g.relu ? 2 : 1, g.outC)}

// Each invocation: 4 output channels summed over ${chunkPixels} pixels.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.x + gid.y * ${rowStride}u;
  if (t >= ${invocations}u) { return; }
  let c4 = t % ${co4s}u;
  let chunk = t / ${co4s}u;
  var acc = vec4f(0.0);
  let end = min((chunk + 1u) * ${chunkPixels}u, ${pixels}u);
  for (var m = chunk * ${chunkPixels}u; m < end; m++) { acc += grad4(m, c4); }
  store_out(chunk, c4, acc);
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
  let i = gid.x + gid.y * ${rowStride}u;
  if (i >= ${n}u) { return; }
  var s = 0.0;
  for (var p = 0u; p < ${parts}u; p++) { s += partial[p * ${n}u + i]; }
  out[i] = s;
}`,
  };
}
