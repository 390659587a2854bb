/**
 * Winograd's kernel gradient (dW) kernels, beside the forward and input-gradient ones of
 * winograd.ts, whose transforms, tile layout and input transform they reuse.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { Conv2DGeometry } from './conv2d.ts';
import type { KernelSource } from './kernel.ts';
import { alignSlice } from './slice-product.ts';
import { channelReader, channelWriter, constants, each, flatIndex, grid } from './wgsl.ts';
import { sandwich, shapeKey, tileConstants, tilePosition, transformsFor, transformTile, WG, winogradLayout } from './winograd.ts';

// ---- kernel gradient ----------------------------------------------------------------------
//
// dW = Gᵀ·[Σ_tiles (A·dy_t·Aᵀ) ⊙ (Bᵀ·x_t·B)]·G: the same transforms with the roles of A and G
// swapped (F(3×3, m×m) by transposition), summed over tiles in the transformed domain. V is the
// forward's input transform of x; Y = A·dy·Aᵀ per tile; the sum over tiles is P small products
// (K × tiles)·(tiles × N), split into chunks of tiles whose partial sums the last kernel adds
// before its transform. Neither operand is a per-dispatch constant here (both come from the
// batch), so the products read both through ordinary loads, in register blocks.

/**
 * Invocations the dW products aim for (chunks of tiles split the sum until there are this many).
 * Each chunk's partial sums cost the output kernel a gather per position; F(6×6)'s 64 positions
 * made 1,024 (one chunk at batch 64) the better choice on conv2 and conv3 (bench/NOTES.md item 36).
 */
const KERNEL_GRAD_INVOCATIONS = 1024;

export interface WinogradKernelGradLayout {
  /** Floats per Y slice and in all. */
  ySlice: number;
  yFloats: number;
  /** Register block of the products: vec4s of input channels × vec4s of output channels. */
  kBlock: number;
  nBlock: number;
  chunks: number;
  tilesPerChunk: number;
  partialFloats: number;
}

export function winogradKernelGradLayout(g: Conv2DGeometry): WinogradKernelGradLayout {
  const L = winogradLayout(g);
  const ySlice = alignSlice(L.tiles * L.n4 * 4);
  // 8 × 16 channels: 6 vector loads per 32 vector multiply-adds (2×2 to 4×8 measured alike: bench/NOTES.md item 14).
  const kBlock = L.k4 % 2 === 0 ? 2 : 1;
  const nBlock = [4, 2, 1].find((b) => L.n4 % b === 0)!;
  const perChunk = L.positions * (L.k4 / kBlock) * (L.n4 / nBlock);
  const chunks = Math.max(1, Math.min(L.tiles, Math.ceil(KERNEL_GRAD_INVOCATIONS / perChunk)));
  const tilesPerChunk = Math.ceil(L.tiles / chunks);
  return {
    ySlice,
    yFloats: L.positions * ySlice,
    kBlock,
    nBlock,
    chunks: Math.ceil(L.tiles / tilesPerChunk),
    tilesPerChunk,
    partialFloats: Math.ceil(L.tiles / tilesPerChunk) * L.positions * L.k4 * 4 * L.n4 * 4,
  };
}

/** Y = A·dy·Aᵀ for every (tile, vec4 of output channels), zeros past the output's edge. Bindings: dy, y. */
export function winogradGradTransform(g: Conv2DGeometry): KernelSource {
  const T = transformsFor(g);
  const L = winogradLayout(g);
  const KG = winogradKernelGradLayout(g);
  const invocations = L.tiles * L.n4;
  const { workgroups, rowStride } = grid(invocations, WG);
  const A = T.AT[0]!.map((_, i) => T.AT.map((row) => row[i]!));
  return {
    key: `winograd-grad:${shapeKey(g)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
${channelReader('dy', 0, g.batch * g.outH * g.outW, g.outC)}
@group(0) @binding(1) var<storage, read_write> y: array<vec4f>;
${constants({ OUT_H: g.outH, OUT_W: g.outW, N4: L.n4 })}
${tileConstants(L)}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, invocations)}
  let n4 = i % N4;
  let tile = i / N4;
  ${tilePosition(L)}
  let pixel = (n * OUT_H + ty * TILE) * OUT_W + tx * TILE;
  ${transformTile({
    size: T.m,
    reader: 'read_dy',
    group: 'n4',
    groups: L.n4,
    rowInside: (r) => `ty * TILE + ${r}u < OUT_H`,
    colInside: (c) => `tx * TILE + ${c}u < OUT_W`,
    pixel: (r, c) => `pixel + ${r * g.outW + c}u`,
    left: A,
    store: 'y',
    positionStride: KG.ySlice / 4,
  })}
}`,
  };
}

/**
 * partial[chunk][p][k][n] = Σ_{tiles t of the chunk} V[p][t][k]·Y[p][t][n], one invocation per
 * (chunk, p, block of kBlock vec4s of k, block of nBlock vec4s of n). Bindings: v, y, partial.
 */
export function winogradKernelGradProduct(g: Conv2DGeometry): KernelSource {
  const L = winogradLayout(g);
  const KG = winogradKernelGradLayout(g);
  const kBlocks = L.k4 / KG.kBlock;
  const nBlocks = L.n4 / KG.nBlock;
  const invocations = KG.chunks * L.positions * kBlocks * nBlocks;
  const { workgroups, rowStride } = grid(invocations, WG);
  const ks = Array.from({ length: KG.kBlock * 4 }, (_, j) => j);
  const ns = Array.from({ length: KG.nBlock }, (_, q) => q);
  return {
    key: `winograd-kernel-grad:${shapeKey(g)}:k${KG.kBlock}n${KG.nBlock}x${KG.chunks}`,
    bindings: ['read', 'read', 'write'],
    workgroups,
    code: `
@group(0) @binding(0) var<storage, read> v: array<vec4f>;
@group(0) @binding(1) var<storage, read> y: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> partial: array<vec4f>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, invocations)}
  let nb = i % ${nBlocks}u;
  let kb = (i / ${nBlocks}u) % ${kBlocks}u;
  let p = (i / ${nBlocks * kBlocks}u) % ${L.positions}u;
  let chunk = i / ${nBlocks * kBlocks * L.positions}u;
  let first = chunk * ${KG.tilesPerChunk}u;
  let last = min(first + ${KG.tilesPerChunk}u, ${L.tiles}u);
  let vBase = p * ${L.vSlice / 4}u + kb * ${KG.kBlock}u;
  let yBase = p * ${KG.ySlice / 4}u + nb * ${KG.nBlock}u;
  ${ks.map((j) => ns.map((q) => `var acc${j}_${q} = vec4f(0.0);`).join(' ')).join('\n  ')}
  for (var t = first; t < last; t++) {
    ${each(KG.kBlock, (b) => `let v${b} = v[vBase + t * ${L.k4}u + ${b}u];`, '\n    ')}
    ${ns.map((q) => `let y${q} = y[yBase + t * ${L.n4}u + ${q}u];`).join('\n    ')}
    ${ks.map((j) => ns.map((q) => `acc${j}_${q} += v${j >> 2}.${'xyzw'[j & 3]} * y${q};`).join(' ')).join('\n    ')}
  }
  // partial[chunk][p][k][n4]: k = 4·(kb·kBlock) + j, n4 = nb·nBlock + q.
  let out = (chunk * ${L.positions}u + p) * ${L.k4 * 4 * L.n4}u + (kb * ${KG.kBlock * 4}u) * ${L.n4}u + nb * ${KG.nBlock}u;
  ${ks.map((j) => ns.map((q) => `partial[out + ${j * L.n4 + q}u] = acc${j}_${q};`).join(' ')).join('\n  ')}
}`,
  };
}

/**
 * dW[tap][k][n] = (Gᵀ·M·G)[tap] with M[p] = Σ_chunks partial[chunk][p][k][n], for every (k, vec4
 * of n) of the real channels. Bindings: partial, dw (HWIO).
 */
export function winogradKernelGradOutput(g: Conv2DGeometry): KernelSource {
  const T = transformsFor(g);
  const L = winogradLayout(g);
  const KG = winogradKernelGradLayout(g);
  const invocations = g.inC * L.n4;
  const { workgroups, rowStride } = grid(invocations, WG);
  const GT = T.G[0]!.map((_, i) => T.G.map((row) => row[i]!));
  const chunkStride = L.positions * L.k4 * 4 * L.n4;
  return {
    key: `winograd-kernel-grad-output:${shapeKey(g)}:x${KG.chunks}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
@group(0) @binding(0) var<storage, read> partial: array<vec4f>;
${channelWriter('dw', 1, g.outC)}

fn position(at: u32) -> vec4f {
  var sum = vec4f(0.0);
  for (var c = 0u; c < ${KG.chunks}u; c++) { sum += partial[c * ${chunkStride}u + at]; }
  return sum;
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, invocations)}
  let n4 = i % ${L.n4}u;
  let k = i / ${L.n4}u;
  let at = k * ${L.n4}u + n4;
  ${each(L.positions, (p) => `let m${Math.floor(p / T.a)}_${p % T.a} = position(${p * L.k4 * 4 * L.n4}u + at);`)}
  ${sandwich(GT, GT, T.a, (r, c) => `m${r}_${c}`, 's', 'w')}
  ${each(9, (t) => `store_dw(${t}u * ${g.inC}u + k, n4, w${Math.floor(t / 3)}_${t % 3});`)}
}`,
  };
}
