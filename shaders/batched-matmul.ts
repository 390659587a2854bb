/**
 * Batched matrix products with either operand transposed, row-major float32:
 *
 *   C[b] = op(A[b]) · op(B[b])    op(A) [m, k], op(B) [k, n], C [batch, m, n]
 *
 * A[b] is stored [m, k], or [k, m] when transposeA; B[b] is stored [k, n], or [n, k] when
 * transposeB; batches follow each other (A's batch stride m·k, B's k·n, C's m·n). The gradients
 * are products of the same kind (src/ops/batched-matmul.ts), so one kernel serves all three.
 *
 * Two variants (src/ops/batched-matmul.ts batchedMatmulTable chooses):
 * - `registers` (CPU rasterizers): one invocation per 4 × 4 block of C in four named vec4
 *   accumulators, no workgroup memory and no barriers; indices past an edge are clamped (the
 *   loops stay branch-free) and those results are not stored.
 * - `tiled` (GPUs): a workgroup of 8 × 8 invocations computes a 32 × 32 tile of C, each invocation
 *   a 4 × 4 block, staging 32 × 16 of op(A) and 16 × 32 of op(B) in workgroup memory per step
 *   along k; elements past an edge are staged as zeros.
 *
 * Also here: the L2 normalization of vectors along one axis that the Dot layer applies to its
 * operands before the product (`normalize: true`), with its gradient.
 */
import type { KernelSource, KernelStyle } from './kernel.ts';
import { constants, each, f32, flatIndex, grid } from './wgsl.ts';

export interface BatchedMatmulGeometry {
  batch: number;
  /** Rows of op(A) and of C. */
  m: number;
  /** Columns of op(B) and of C. */
  n: number;
  /** The contracted length: columns of op(A), rows of op(B). */
  k: number;
  transposeA: boolean;
  transposeB: boolean;
}

function geometryKey(g: BatchedMatmulGeometry): string {
  return `${g.batch}x${g.m}x${g.n}x${g.k}:${g.transposeA ? 'At' : 'A'}${g.transposeB ? 'Bt' : 'B'}`;
}

/** Bindings a, b (read) and c (write), the sizes, and `opA(batch, i, kk)`, `opB(batch, kk, j)` reading op(A) and op(B). */
function operands(g: BatchedMatmulGeometry): string {
  // Where element (i, kk) of op(A) and (kk, j) of op(B) lie in their batch's matrix.
  const aIndex = g.transposeA ? 'kk * M + i' : 'i * K + kk';
  const bIndex = g.transposeB ? 'j * K + kk' : 'kk * N + j';
  return `${constants({ BATCH: g.batch, M: g.m, N: g.n, K: g.k })}
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;

/** op(A)[batch][i, kk]${g.transposeA ? ' (A is stored transposed)' : ''}. */
fn opA(batch: u32, i: u32, kk: u32) -> f32 { return a[batch * M * K + ${aIndex}]; }
/** op(B)[batch][kk, j]${g.transposeB ? ' (B is stored transposed)' : ''}. */
fn opB(batch: u32, kk: u32, j: u32) -> f32 { return b[batch * K * N + ${bIndex}]; }

/** Stores row i of the 4 × 4 block whose first column is j: the elements inside C. */
fn storeRow(batch: u32, i: u32, j: u32, v: vec4f) {
  if ((i >= M) | (j >= N)) { return; }
  let base = (batch * M + i) * N + j;
  c[base] = v.x;
  if (j + 1u < N) { c[base + 1u] = v.y; }
  if (j + 2u < N) { c[base + 2u] = v.z; }
  if (j + 3u < N) { c[base + 3u] = v.w; }
}`;
}

/** The kernel of the variant named `variant`. */
export function batchedMatmul(g: BatchedMatmulGeometry, variant: KernelStyle): KernelSource {
  return variant === 'tiled' ? batchedMatmulTiled(g) : batchedMatmulRegisters(g);
}

/** C = op(A)·op(B), one invocation per 4 × 4 block of C (CPU rasterizers). Bindings: a, b, c. */
export function batchedMatmulRegisters(g: BatchedMatmulGeometry): KernelSource {
  const blocksM = Math.ceil(g.m / 4);
  const blocksN = Math.ceil(g.n / 4);
  const total = g.batch * blocksM * blocksN;
  const size = Math.max(4, Math.min(64, 2 ** Math.floor(Math.log2(Math.max(1, total / 8)))));
  const { workgroups, rowStride } = grid(total, size);
  return {
    key: `batched-matmul:registers:${geometryKey(g)}`,
    bindings: ['read', 'read', 'write'],
    workgroups,
    code: `${operands(g)}
${constants({ BLOCKS_M: blocksM, BLOCKS_N: blocksN })}

@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total, 'block')}
  let j = (block % BLOCKS_N) * 4u;
  let row = ((block / BLOCKS_N) % BLOCKS_M) * 4u;
  let batch = block / (BLOCKS_N * BLOCKS_M);
  // Clamped rows and columns compute values that are never stored.
  ${each(4, (t) => `let i${t} = min(row + ${t}u, M - 1u);`)}
  ${each(4, (t) => `let j${t} = min(j + ${t}u, N - 1u);`)}
  ${each(4, (t) => `var acc${t} = vec4f(0.0);`)}
  for (var kk = 0u; kk < K; kk++) {
    let bRow = vec4f(${each(4, (t) => `opB(batch, kk, j${t})`, ', ')});
    ${each(4, (t) => `acc${t} += opA(batch, i${t}, kk) * bRow;`, '\n    ')}
  }
  ${each(4, (t) => `storeRow(batch, row + ${t}u, j, acc${t});`)}
}`,
  };
}

/** Tile sizes of the tiled variant: C tile TILE × TILE, TILE_K along k, WG_SIDE² invocations. */
const TILE = 32;
const TILE_K = 16;
const WG_SIDE = 8;

/** C = op(A)·op(B), one workgroup per 32 × 32 tile of C through workgroup memory (GPUs). Bindings: a, b, c. */
export function batchedMatmulTiled(g: BatchedMatmulGeometry): KernelSource {
  const tilesM = Math.ceil(g.m / TILE);
  const tilesN = Math.ceil(g.n / TILE);
  const { workgroups, rowStride } = grid(g.batch * tilesM * tilesN, 1);
  const invocations = WG_SIDE * WG_SIDE;
  return {
    key: `batched-matmul:tiled:${geometryKey(g)}`,
    bindings: ['read', 'read', 'write'],
    workgroups,
    code: `${operands(g)}
${constants({ TILE, TILE_K, WG_SIDE, TILES_M: tilesM, TILES_N: tilesN })}
// Each invocation stages this many elements of each tile (TILE · TILE_K / invocations).
${constants({ STAGED: (TILE * TILE_K) / invocations })}
var<workgroup> tileA: array<f32, TILE * TILE_K>; // TILE rows of op(A) × TILE_K, row-major
var<workgroup> tileB: array<f32, TILE_K * TILE>; // TILE_K × TILE columns of op(B), row-major

/** op(A)[i, kk], zero outside the matrix. */
fn stageA(batch: u32, i: u32, kk: u32) -> f32 {
  return select(0.0, opA(batch, min(i, M - 1u), min(kk, K - 1u)), (i < M) & (kk < K));
}
/** op(B)[kk, j], zero outside the matrix. */
fn stageB(batch: u32, kk: u32, j: u32) -> f32 {
  return select(0.0, opB(batch, min(kk, K - 1u), min(j, N - 1u)), (kk < K) & (j < N));
}

@compute @workgroup_size(${WG_SIDE}, ${WG_SIDE})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) flat: u32) {
  // Uniform across the workgroup, so the barriers below are too.
  let tile = wid.x + wid.y * ${rowStride}u;
  if (tile >= BATCH * TILES_M * TILES_N) { return; }
  let batch = tile / (TILES_M * TILES_N);
  let tileRow = ((tile / TILES_N) % TILES_M) * TILE;
  let tileCol = (tile % TILES_N) * TILE;
  // This invocation's 4 × 4 block within the tile.
  let row = lid.y * 4u;
  let col = lid.x * 4u;
  ${each(4, (t) => `var acc${t} = vec4f(0.0);`)}
  for (var k0 = 0u; k0 < K; k0 += TILE_K) {
    for (var s = 0u; s < STAGED; s++) {
      let e = flat + s * ${invocations}u;
      tileA[e] = stageA(batch, tileRow + e / TILE_K, k0 + e % TILE_K);
      tileB[e] = stageB(batch, k0 + e / TILE, tileCol + e % TILE);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      let bRow = vec4f(${each(4, (t) => `tileB[kk * TILE + col + ${t}u]`, ', ')});
      ${each(4, (t) => `acc${t} += tileA[(row + ${t}u) * TILE_K + kk] * bRow;`, '\n      ')}
    }
    workgroupBarrier();
  }
  ${each(4, (t) => `storeRow(batch, tileRow + row + ${t}u, tileCol + col, acc${t});`)}
}`,
  };
}

// ---- L2 normalization along an axis (Dot's `normalize`) ----------------------------------------

/**
 * Vectors of `length` elements `inner` apart: vector (o, r) of an [outer, length, inner] tensor
 * holds its elements at (o · length + t) · inner + r, t < length.
 */
export interface VectorGeometry {
  outer: number;
  length: number;
  inner: number;
}

/** TF.js's l2Normalize floor on the squared norm (its backend epsilon; Keras's own l2_normalize uses 1e-12). */
export const L2_NORMALIZE_EPSILON = 1e-7;

function vectorPrologue(v: VectorGeometry, rowStride: number): string {
  return `${constants({ VECTORS: v.outer * v.inner, LENGTH: v.length, INNER: v.inner })}
const EPSILON = ${f32(L2_NORMALIZE_EPSILON)};

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'VECTORS', 'vec')}
  let base = (vec / INNER) * LENGTH * INNER + vec % INNER;
  var squares = 0.0;
  for (var t = 0u; t < LENGTH; t++) {
    let e = x[base + t * INNER];
    squares += e * e;
  }
  let norm = sqrt(max(squares, EPSILON));`;
}

/** u = x / sqrt(max(Σx², ε)) per vector (TF.js's l2Normalize). Bindings: x, u. One invocation per vector. */
export function l2NormalizeForward(v: VectorGeometry): KernelSource {
  const { workgroups, rowStride } = grid(v.outer * v.inner, 64);
  return {
    key: `l2-normalize-forward:${v.outer}x${v.length}x${v.inner}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> u: array<f32>;
${vectorPrologue(v, rowStride)}
  for (var t = 0u; t < LENGTH; t++) { u[base + t * INNER] = x[base + t * INNER] / norm; }
}`,
  };
}

/**
 * dx = du / r − x · (x·du) / r³ with r = sqrt(max(Σx², ε)); the second term only where Σx² ≥ ε
 * (below it r is the constant sqrt(ε), as TF.js's maximum() routes its gradient). The norm is
 * recomputed from x. Bindings: x, du, dx.
 */
export function l2NormalizeBackward(v: VectorGeometry): KernelSource {
  const { workgroups, rowStride } = grid(v.outer * v.inner, 64);
  return {
    key: `l2-normalize-backward:${v.outer}x${v.length}x${v.inner}`,
    bindings: ['read', 'read', 'write'],
    workgroups,
    code: `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> du: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
${vectorPrologue(v, rowStride)}
  var along = 0.0;
  for (var t = 0u; t < LENGTH; t++) { along += x[base + t * INNER] * du[base + t * INNER]; }
  let radial = select(0.0, along / (norm * norm * norm), squares >= EPSILON);
  for (var t = 0u; t < LENGTH; t++) {
    let e = base + t * INNER;
    dx[e] = du[e] / norm - x[e] * radial;
  }
}`,
  };
}
