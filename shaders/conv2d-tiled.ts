/**
 * The 2-D convolution's workgroup-tiled variants for GPUs (implicit GEMM in workgroup memory):
 * forward, input gradient, the transposed convolution's forward, and the kernel gradient.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { BindingKind, KernelSource } from './kernel.ts';
import { constants, each, each2 } from './wgsl.ts';
import { type Conv2DGeometry, dilationConstants, geometryKey, tapOffset, TILE, TILE_K } from './conv2d-geometry.ts';
import { conv2dReductionPlan } from './conv2d-grad.ts';

// ---- tiled variants (GPUs) ----------------------------------------------------------------

/*
 * On GPUs the three convolutions run as implicit matrix products C[M×N] = A[M×K]·B[K×N] whose
 * operands are gathered on load: each workgroup stages a 64×8 tile of A and an 8×64 tile of B
 * in workgroup memory, and each of its 16×16 invocations keeps a 4×4 block of C. Barriers make
 * this slow on SwiftShader; there the registers kernels run (and SwiftShader's compile time
 * grows with the unrolled depth of a tile, so TILE_K is 8, not 16: bench/NOTES.md item 56).
 */

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
