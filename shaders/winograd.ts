/**
 * Winograd convolution F(m×m, 3×3) for CPU adapters (m = 3 to 6, see transformsFor): a stride-1
 * 3×3 convolution as four kernels, with a = m + 2 and P = a² transformed positions,
 *
 *   U = G·g·Gᵀ        kernel transform, per (input channel, output channel): a×a values
 *   V = Bᵀ·d·B        input transform, per (m×m output tile, input channel), from an a×a patch
 *   M[p] = V[p]·U[p]  P matrix products (tiles × K)·(K × N), one per position p
 *   y = Aᵀ·M·A        output transform, per (tile, output channel), + bias, ReLU
 *
 * Multiply-adds per output pixel and channel pair: a²/m² (1.78 for m = 6, 1.96 for m = 5, 2.25
 * for m = 4, 2.78 for m = 3) instead of 9. The products are slice products
 * (shaders/slice-product.ts: weights read with constant indices from a slice bound at its own
 * offset, one dispatch per position and column group), which also run faster per multiply-add
 * than a direct convolution on SwiftShader without bounds checks. The matrices are Lavin & Gray's
 * (points 0, ±1, ±2, ∞, and ±1/2 for m = 6), and the same Toom-Cook construction on 0, ±1, ±2,
 * 1/2, ∞ for m = 5 and 0, ±1, 2, ∞ for m = 3; the transforms below are generated from them, zero
 * terms left out.
 *
 * The same kernels compute the input gradient of a stride-1 3×3 convolution: dx is the forward
 * correlation of dy, padded by the rest of the kernel, with the kernel's taps reversed and its
 * channel axes swapped (`flipped`).
 *
 * Layouts (floats; every slice starts on a 256-byte boundary, the binding-offset alignment):
 *   U[p][group][k][n]  K4·4 rows (zero past K) × NC·4 columns of output-channel group `group`
 *   V[p][tile][k]      tiles × K4·4
 *   M[p][group][tile][n]
 * with tiles = batch · ⌈outH/m⌉ · ⌈outW/m⌉, K = input channels, N = output channels.
 * The kernel gradient's kernels, which reuse these transforms, are in winograd-grad.ts.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { pooledSize, type Conv2DGeometry, type ForwardStore } from './conv2d.ts';
import type { KernelSource } from './kernel.ts';
import { POOL_WINDOW_WGSL } from './pool.ts';
import { alignSlice, MAX_K, rowsPerInvocation, sliceColumns, sliceProduct } from './slice-product.ts';
import { activation, channelReader, channelWriter, constants, each, f32, flatIndex, grid } from './wgsl.ts';

interface Transforms {
  /** Output tile side m; input patch side a = m + 2. */
  m: number;
  a: number;
  BT: number[][];
  G: number[][];
  AT: number[][];
}

/** Points 0, ±1, 2, ∞: a 5×5 patch per 3×3 tile, for outputs too small for F(4×4)'s tiles to fill. */
const F3: Transforms = {
  m: 3,
  a: 5,
  BT: [[2, -1, -2, 1, 0], [0, -2, -1, 1, 0], [0, 2, -3, 1, 0], [0, -1, 0, 1, 0], [0, 2, -1, -2, 1]],
  G: [[1 / 2, 0, 0], [-1 / 2, -1 / 2, -1 / 2], [-1 / 6, 1 / 6, -1 / 6], [1 / 6, 1 / 3, 2 / 3], [0, 0, 1]],
  AT: [[1, 1, 1, 1, 0], [0, 1, -1, 2, 0], [0, 1, 1, 4, 1]],
};

const F4: Transforms = {
  m: 4,
  a: 6,
  BT: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
  G: [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
  AT: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
};

/**
 * Points 0, ±1, ±2, 1/2, ∞: 7×7 patches per 5×5 tile, for outputs of 10 a side, which conv2's
 * 11×11 becomes under its fused 2×2 pool (pooledOutput): 4 tiles of 49 against F(6×6)'s 4 of 64.
 * From Toom-Cook on those points, row 0 of G and Bᵀ scaled by −2 and −1/2.
 */
const F5: Transforms = {
  m: 5,
  a: 7,
  BT: [
    [1, -2, -5 / 4, 5 / 2, 1 / 4, -1 / 2, 0],
    [0, 2, -2, -9 / 2, 1 / 2, 1, 0],
    [0, -2, 6, -7 / 2, -3 / 2, 1, 0],
    [0, 1, -3 / 2, -2, 3 / 2, 1, 0],
    [0, -1, 5 / 2, 0, -5 / 2, 1, 0],
    [0, 4, 0, -5, 0, 1, 0],
    [0, -2, 4, 5 / 2, -5, -1 / 2, 1],
  ],
  G: [[1, 0, 0], [-1 / 3, -1 / 3, -1 / 3], [1 / 9, -1 / 9, 1 / 9], [1 / 36, 1 / 18, 1 / 9], [-1 / 60, 1 / 30, -1 / 15], [32 / 45, 16 / 45, 8 / 45], [0, 0, 1]],
  AT: [
    [1, 1, 1, 1, 1, 1, 0],
    [0, 1, -1, 2, -2, 1 / 2, 0],
    [0, 1, 1, 4, 4, 1 / 4, 0],
    [0, 1, -1, 8, -8, 1 / 8, 0],
    [0, 1, 1, 16, 16, 1 / 16, 1],
  ],
};

/**
 * Points 0, ±1, ±2, ±1/2, ∞ (Lavin & Gray's F(6×6, 3×3)); float32 error larger than F(4×4)'s
 * (bench/NOTES.md items 34, 48).
 */
const F6: Transforms = {
  m: 6,
  a: 8,
  BT: [
    [1, 0, -21 / 4, 0, 21 / 4, 0, -1, 0],
    [0, 1, 1, -17 / 4, -17 / 4, 1, 1, 0],
    [0, -1, 1, 17 / 4, -17 / 4, -1, 1, 0],
    [0, 1 / 2, 1 / 4, -5 / 2, -5 / 4, 2, 1, 0],
    [0, -1 / 2, 1 / 4, 5 / 2, -5 / 4, -2, 1, 0],
    [0, 2, 4, -5 / 2, -5, 1 / 2, 1, 0],
    [0, -2, 4, 5 / 2, -5, -1 / 2, 1, 0],
    [0, -1, 0, 21 / 4, 0, -21 / 4, 0, 1],
  ],
  G: [[1, 0, 0], [-2 / 9, -2 / 9, -2 / 9], [-2 / 9, 2 / 9, -2 / 9], [1 / 90, 1 / 45, 2 / 45], [1 / 90, -1 / 45, 2 / 45], [32 / 45, 16 / 45, 8 / 45], [32 / 45, -16 / 45, 8 / 45], [0, 0, 1]],
  AT: [
    [1, 1, 1, 1, 1, 1, 1, 0],
    [0, 1, -1, 2, -2, 1 / 2, -1 / 2, 0],
    [0, 1, 1, 4, 4, 1 / 4, 1 / 4, 0],
    [0, 1, -1, 8, -8, 1 / 8, -1 / 8, 0],
    [0, 1, 1, 16, 16, 1 / 16, 1 / 16, 0],
    [0, 1, -1, 32, -32, 1 / 32, -1 / 32, 1],
  ],
};

/**
 * The transform with the fewest transformed values for this output, a² per tile times the tiles:
 * that counts the products' multiply-adds and the transforms' loads and stores alike. Ties go
 * to the smaller tile (fewer rounding steps). The model's conv2 (11×11): F(6×6), 4 tiles × 64 =
 * 256 against F(4×4)'s 9 × 36 = 324; under its fused pool (10×10 read) F(5×5), 4 × 49 = 196;
 * its input gradient (13×13): F(5×5), 9 × 49 = 441 against 16 × 36 = 576 for F(4×4) and 9 × 64
 * for F(6×6); conv3 (3×3): F(3×3), one tile of 25 against F(4×4)'s 36.
 */
export function transformsFor(g: Conv2DGeometry): Transforms {
  return [F3, F4, F5, F6].reduce((best, T) => (transformedValues(g, T) < transformedValues(g, best) ? T : best));
}

/**
 * Output rows and columns the tiles cover: all, those under whole pooling windows (pooledOutput),
 * or those a nonzero input reaches (zeroInputFrom; stride 1: output o reads input rows from
 * o − padTop on).
 */
export function winogradExtent(g: Conv2DGeometry): { height: number; width: number } {
  if (g.pooledOutput) return { height: 2 * pooledSize(g).height, width: 2 * pooledSize(g).width };
  const zero = g.zeroInputFrom;
  if (zero) return { height: Math.min(g.outH, zero.row + g.padTop), width: Math.min(g.outW, zero.col + g.padLeft) };
  return { height: g.outH, width: g.outW };
}

/** Transformed values per channel pair over the multiply-adds of a direct convolution computing every output. */
export function winogradShare(g: Conv2DGeometry): number {
  return transformedValues(g, transformsFor(g)) / (9 * g.outH * g.outW);
}

/**
 * Tiles a side of the blocks the pooled output transform takes at once: 1, or 2 for odd tiles,
 * which alone cannot hold whole 2×2 windows (a 2×2 block of them, side 2m, can). The tile grid
 * is then a whole number of blocks.
 */
function tileBlock(g: Conv2DGeometry, T: Transforms): number {
  return g.pooledOutput && T.m % 2 !== 0 ? 2 : 1;
}

function tileGrid(g: Conv2DGeometry, T: Transforms): { tilesH: number; tilesW: number } {
  const side = T.m * tileBlock(g, T);
  const { height, width } = winogradExtent(g);
  return { tilesH: (side / T.m) * Math.ceil(height / side), tilesW: (side / T.m) * Math.ceil(width / side) };
}

/** Transformed values per (input, output channel) pair and image: a² per tile. */
function transformedValues(g: Conv2DGeometry, T: Transforms): number {
  const { tilesH, tilesW } = tileGrid(g, T);
  return T.a * T.a * tilesH * tilesW;
}

/** Σ_j row[j]·name(j) as WGSL, zero terms left out, ±1 as plain adds. */
function combination(row: number[], name: (j: number) => string): string {
  let out = '';
  row.forEach((c, j) => {
    if (c === 0) return;
    const sign = c < 0 ? '-' : '+';
    const term = Math.abs(c) === 1 ? name(j) : `${f32(Math.abs(c))} * ${name(j)}`;
    out += out ? ` ${sign} ${term}` : `${sign === '-' ? '-' : ''}${term}`;
  });
  return out || 'vec4f(0.0)';
}

/**
 * `let` statements computing out = L·X·Rᵀ for a matrix X of WGSL values x(r, c): first
 * mid[i][c] = Σ_r L[i][r]·x(r, c), then out[i][j] = Σ_c mid[i][c]·R[j][c]. Names: `${mid}${i}_${c}`
 * and `${out}${i}_${j}`.
 */
export function sandwich(L: number[][], R: number[][], cols: number, x: (r: number, c: number) => string, mid: string, out: string): string {
  const lines: string[] = [];
  L.forEach((row, i) => {
    for (let c = 0; c < cols; c++) lines.push(`let ${mid}${i}_${c} = ${combination(row, (r) => x(r, c))};`);
  });
  L.forEach((_, i) => R.forEach((rrow, j) => lines.push(`let ${out}${i}_${j} = ${combination(rrow, (c) => `${mid}${i}_${c}`)};`)));
  return lines.join('\n  ');
}

/** Invocations per workgroup of the transforms. */
export const WG = 64;

export interface WinogradLayout {
  /** Output tile side m and input patch side a; positions = a². */
  tile: number;
  patch: number;
  positions: number;
  /** Tiles a side of the pooled output transform's blocks (tileBlock). */
  block: number;
  tilesH: number;
  tilesW: number;
  tiles: number;
  /** Input / output channels in vec4 groups. */
  k4: number;
  n4: number;
  /** Floats per V slice (aligned), and in all. */
  vSlice: number;
  vFloats: number;
}

/** How the products block N: U and M are laid out per column group, so the kernel transform, products and output transform share it. */
export interface WinogradProductLayout extends WinogradLayout {
  /** vec4 columns per product dispatch, and how many such column groups N has. */
  columns: number;
  groups: number;
  /** Floats per U and M slice (aligned), and in all. */
  uSlice: number;
  mSlice: number;
  uFloats: number;
  mFloats: number;
}

/**
 * Whether Winograd applies and pays: 3×3 taps at stride 1, enough channels for vector reads and
 * an unrolled K, and outputs of 6+ pixels a side (of those computed, see winogradExtent), where
 * tiles waste little. Smaller outputs too where the products need at most `smallOutputShare` of
 * the direct multiply-adds (default 0: never). conv3's 3×3 outputs are one F(3×3) tile, 25
 * transformed values per channel pair against 81 (F(4×4): 36). F(3×3) beat F(4×4) and the direct
 * kernels on conv3's forward and kernel gradient, with and without checks (bench/NOTES.md item
 * 40); with checks F(4×4)'s share, 0.44, had lost on the forward (item 35), so the checked
 * forward asks for a third, the rest for half.
 */
export function winogradApplies(g: Conv2DGeometry, smallOutputShare = 0): boolean {
  if (!(g.kH === 3 && g.kW === 3 && g.strideH === 1 && g.strideW === 1 && g.inC >= 8 && g.inC <= MAX_K && g.outC >= 8)) return false;
  const { height, width } = winogradExtent(g);
  if (height >= 6 && width >= 6) return true;
  return transformedValues(g, transformsFor(g)) <= smallOutputShare * 9 * height * width;
}

/** Tiles, positions and V, which the transforms of x and dy and the kernel gradient use. */
export function winogradLayout(g: Conv2DGeometry): WinogradLayout {
  const T = transformsFor(g);
  const { m, a } = T;
  const positions = a * a;
  const { tilesH, tilesW } = tileGrid(g, T);
  const tiles = g.batch * tilesH * tilesW;
  const k4 = Math.ceil(g.inC / 4);
  const n4 = Math.ceil(g.outC / 4);
  const vSlice = alignSlice(tiles * k4 * 4);
  return { tile: m, patch: a, positions, block: tileBlock(g, T), tilesH, tilesW, tiles, k4, n4, vSlice, vFloats: positions * vSlice };
}

/** `checkedLoads`: the products' register blocks under bounds checks (rowsPerInvocation) set their columns. */
export function winogradProductLayout(g: Conv2DGeometry, checkedLoads: boolean): WinogradProductLayout {
  const L = winogradLayout(g);
  const columns = sliceColumns(L.k4, L.n4, checkedLoads);
  const groups = L.n4 / columns;
  const uSlice = alignSlice(L.k4 * 4 * columns * 4);
  const mSlice = alignSlice(L.tiles * columns * 4);
  return { ...L, columns, groups, uSlice, mSlice, uFloats: L.positions * groups * uSlice, mFloats: L.positions * groups * mSlice };
}

/** WGSL: image `n` and tile coordinates (ty, tx) of the flat tile index `tile`; needs tileConstants. */
export function tilePosition(L: WinogradLayout): string {
  return `let tx = tile % TILES_W;
  let ty = (tile / TILES_W) % TILES_H;
  let n = tile / ${L.tilesW * L.tilesH}u;`;
}

/** The tile grid's constants: tile side TILE (m), and the tiles a side of an image. */
export function tileConstants(L: WinogradLayout): string {
  return constants({ TILE: L.tile, TILES_H: L.tilesH, TILES_W: L.tilesW });
}

/**
 * WGSL shared by the input and dy transforms: reads the size×size tile d (d{r}_{c}, one vec4 of
 * channel group `group` through `reader`; zeros where row r or column c lies outside the tensor,
 * pixel 0 read, then zeroed), forms out = left·d·leftᵀ, and stores its positions p at
 * `${store}[p·positionStride + at]`, at = tile·groups + group.
 */
export function transformTile(o: {
  size: number;
  reader: string;
  group: string;
  groups: number;
  rowInside: (r: number) => string;
  colInside: (c: number) => string;
  pixel: (r: number, c: number) => string;
  left: number[][];
  store: string;
  positionStride: number;
}): string {
  const { size } = o;
  const inside = (r: number, c: number) => `rowIn${r} & colIn${c}`;
  return `${each(size, (r) => `let rowIn${r} = ${o.rowInside(r)};`)}
  ${each(size, (c) => `let colIn${c} = ${o.colInside(c)};`)}
  ${each(size * size, (t) => {
    const [r, c] = [Math.floor(t / size), t % size];
    return `let d${r}_${c} = select(vec4f(0.0), ${o.reader}(select(0u, ${o.pixel(r, c)}, ${inside(r, c)}), ${o.group}), ${inside(r, c)});`;
  })}
  ${sandwich(o.left, o.left, size, (r, c) => `d${r}_${c}`, 'e', 't')}
  let at = tile * ${o.groups}u + ${o.group};
  ${each(o.left.length ** 2, (p) => `${o.store}[${p * o.positionStride}u + at] = t${Math.floor(p / o.left.length)}_${p % o.left.length};`)}`;
}

/** The shapes a transform depends on (`shapeKey`), and with the epilogue (`key`). */
export function shapeKey(g: Conv2DGeometry): string {
  const T = transformsFor(g);
  const { tilesH, tilesW } = tileGrid(g, T);
  return `f${T.m}-n${g.batch}-in${g.inH}x${g.inW}x${g.inC}-p${g.padTop}x${g.padLeft}-out${g.outH}x${g.outW}x${g.outC}-t${tilesH}x${tilesW}`;
}
function key(g: Conv2DGeometry): string {
  return `${shapeKey(g)}${g.relu ? '-relu' : ''}${g.bias ? '-bias' : ''}`;
}

/**
 * U = G·g·Gᵀ for every (k, n): g the 3×3 taps joining input channel k to output channel n.
 * Normal: w is this convolution's HWIO kernel [tap][k][n]. Flipped (the input gradient, whose
 * K and N are the forward's output and input channels): tap t reads the forward's tap 8 − t,
 * stored [tap][n][k]. Bindings: w, u. One invocation per (k, vec4 of n); rows past K are zeros.
 */
export function winogradKernelTransform(g: Conv2DGeometry, flipped: boolean, checkedLoads: boolean): KernelSource {
  const T = transformsFor(g);
  const L = winogradProductLayout(g, checkedLoads);
  const K = g.inC;
  const N = g.outC;
  const invocations = L.k4 * 4 * L.n4;
  const { workgroups, rowStride } = grid(invocations, WG);
  const source = flipped ? `((8u - t) * N + n) * K + k` : `(t * K + k) * N + n`;
  const positionStride = L.groups * (L.uSlice / 4);
  return {
    key: `winograd-kernel:${shapeKey(g)}${flipped ? ':flipped' : ''}:c${L.columns}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
// K input, N output channels (the forward's, swapped when flipped).
${constants({ K, N, N4: L.n4, COLUMNS: L.columns })}

@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read_write> u: array<vec4f>;

fn tap(t: u32, k: u32, n: u32) -> f32 {
  return select(0.0, w[min(${source}, ${9 * K * N - 1}u)], (k < K) & (n < N));
}
fn taps(t: u32, k: u32, n: u32) -> vec4f {
  return vec4f(tap(t, k, n), tap(t, k, n + 1u), tap(t, k, n + 2u), tap(t, k, n + 3u));
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, invocations)}
  let n4 = i % N4;
  let k = i / N4;
  ${each(9, (t) => `let g${Math.floor(t / 3)}_${t % 3} = taps(${t}u, k, n4 * 4u);`)}
  ${sandwich(T.G, T.G, 3, (r, c) => `g${r}_${c}`, 'h', 'u')}
  let at = (n4 / COLUMNS) * ${L.uSlice / 4}u + k * COLUMNS + n4 % COLUMNS;
  ${each(L.positions, (p) => `u[${p * positionStride}u + at] = u${Math.floor(p / T.a)}_${p % T.a};`)}
}`,
  };
}

/**
 * V = Bᵀ·d·B for every (tile, vec4 of input channels): d the a×a input patch whose top-left is
 * (m·ty − padTop, m·tx − padLeft), zeros outside the input. Bindings: x, v.
 */
export function winogradInputTransform(g: Conv2DGeometry): KernelSource {
  const T = transformsFor(g);
  const L = winogradLayout(g);
  const invocations = L.tiles * L.k4;
  const { workgroups, rowStride } = grid(invocations, WG);
  const pixels = g.batch * g.inH * g.inW;
  return {
    key: `winograd-input:${shapeKey(g)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
${channelReader('x', 0, pixels, g.inC)}
@group(0) @binding(1) var<storage, read_write> v: array<vec4f>;
${constants({ IN_H: g.inH, IN_W: g.inW, K4: L.k4 })}
${tileConstants(L)}
${constants({ PAD_TOP: g.padTop, PAD_LEFT: g.padLeft }, 'abstract')}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, invocations)}
  let k4 = i % K4;
  let tile = i / K4;
  ${tilePosition(L)}
  let top = i32(ty * TILE) - PAD_TOP;
  let left = i32(tx * TILE) - PAD_LEFT;
  let base = i32(n * ${g.inH * g.inW}u) + top * ${g.inW} + left;
  ${transformTile({
    size: T.a,
    reader: 'read_x',
    group: 'k4',
    groups: L.k4,
    rowInside: (r) => `u32(top + ${r}) < IN_H`,
    colInside: (c) => `u32(left + ${c}) < IN_W`,
    pixel: (r, c) => `u32(base + ${r * g.inW + c})`,
    left: T.BT,
    store: 'v',
    positionStride: L.vSlice / 4,
  })}
}`,
  };
}

/**
 * M = V·U for one position and column group, bound to that position's V slice, U slice and M
 * slice (shaders/slice-product.ts): R tiles × the slice's columns per invocation (R more where
 * loads are bounds-checked). Bindings: v, u, m.
 */
export function winogradProduct(g: Conv2DGeometry, checkedLoads: boolean): KernelSource {
  const L = winogradProductLayout(g, checkedLoads);
  return sliceProduct({
    key: `winograd-product:t${L.tiles}-k${L.k4}-c${L.columns}`,
    rows: L.tiles,
    rowsPerInvocation: rowsPerInvocation(checkedLoads),
    srcLength: L.vSlice / 4,
    dstLength: L.mSlice / 4,
    k4: L.k4,
    columns: L.columns,
    header: 0,
    extraBindings: [],
    declarations: '',
    prologue: '',
    mapRow: (i) => `let src${i} = row${i} * ${L.k4}u; let srcOk${i} = true; let dst${i} = row${i} * ${L.columns}u; let dstOk${i} = true;`,
    accumulate: false,
    epilogue: (acc) => acc,
  });
}

/**
 * y = Aᵀ·M·A for every (tile, vec4 of output channels): the tile's m×m output pixels, + bias,
 * ReLU; pixels past the output's edge are not stored. Pooled stores (ForwardStore): y is their
 * 2×2 max pool at stride 2 ('valid'), taken over blocks of L.block² tiles (tileBlock: odd tiles
 * pool in 2×2 blocks), and with argmax each window's first-max positions go to binding argmax.
 * Bindings: m, (b), y, (argmax).
 */
export function winogradOutputTransform(g: Conv2DGeometry, store: ForwardStore, checkedLoads: boolean): KernelSource {
  const T = transformsFor(g);
  const L = winogradProductLayout(g, checkedLoads);
  const pooled = store !== 'output';
  const withArgmax = store === 'pooled+argmax';
  if (pooled !== !!g.pooledOutput) throw new Error('winogradOutputTransform: a pooled store needs a pooledOutput geometry, and only it');
  const pool = pooledSize(g);
  // Invocations take a block of b×b tiles (1×1 unless pooling odd tiles), pooled in windows of side h.
  const b = L.block;
  const side = b * T.m;
  const h = side / 2;
  const invocations = (L.tiles / (b * b)) * L.n4;
  const { workgroups, rowStride } = grid(invocations, WG);
  const stride = L.groups * (L.mSlice / 4);
  const blockTiles = Array.from({ length: b * b }, (_, t) => [Math.floor(t / b), t % b] as const);
  /** The output at row r, column c of the block: tile (r div m, c div m)'s pixel (r mod m, c mod m). */
  const y = (r: number, c: number) => `y${Math.floor(r / T.m)}${Math.floor(c / T.m)}_${r % T.m}_${c % T.m}`;
  return {
    key: `winograd-output:${key(g)}:c${L.columns}${pooled ? ':pool2' : ''}${withArgmax ? ':argmax' : ''}`,
    bindings: ['read', ...(g.bias ? ['read' as const] : []), 'write', ...(withArgmax ? ['write' as const] : [])],
    workgroups,
    code: wgsl`
@group(0) @binding(0) var<storage, read> m: array<vec4f>;
#if ${g.bias}
${channelReader('b', 1, 1, g.outC)}
#endif
${channelWriter('y', g.bias ? 2 : 1, g.outC)}
#if ${withArgmax}
@group(0) @binding(${g.bias ? 3 : 2}) var<storage, read_write> argmax: array<u32>;
#endif
#if ${pooled}
${POOL_WINDOW_WGSL}
${constants({ POOLED_H: pool.height, POOLED_W: pool.width })}
#endif
${constants({ OUT_H: g.outH, OUT_W: g.outW, N4: L.n4, COLUMNS: L.columns })}
${tileConstants(L)}

${activation(g.relu)}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, invocations)}
  let n4 = i % N4;
  let block = i / N4;
  let bx = block % ${L.tilesW / b}u;
  let by = (block / ${L.tilesW / b}u) % ${L.tilesH / b}u;
  let n = block / ${(L.tilesW / b) * (L.tilesH / b)}u;
  let column = (n4 / COLUMNS) * ${L.mSlice / 4}u + n4 % COLUMNS;
  ${blockTiles
    .map(([u, v]) => {
      const name = `${u}${v}_`;
      return `// tile (${u}, ${v}) of the block
  let at${name} = (((n * TILES_H + by * ${b}u + ${u}u) * TILES_W + bx * ${b}u + ${v}u) * COLUMNS) + column;
  ${each(L.positions, (p) => `let m${name}${Math.floor(p / T.a)}_${p % T.a} = m[${p * stride}u + at${name}];`)}
  ${sandwich(T.AT, T.AT, T.a, (r, c) => `m${name}${r}_${c}`, `s${name}`, `y${name}`)}`;
    })
    .join('\n  ')}
#if ${g.bias}
  let bias = read_b(0u, n4);
#else
  let bias = vec4f(0.0);
#endif
#if ${pooled}
  // The block's h² pooling windows; the bias and ReLU are monotonic, so they apply to each maximum.
  let pixel = (n * POOLED_H + by * ${h}u) * POOLED_W + bx * ${h}u;
  ${each(h, (r) => `let row${r} = by * ${h}u + ${r}u < POOLED_H;`)}
  ${each(h, (c) => `let col${c} = bx * ${h}u + ${c}u < POOLED_W;`)}
  ${each(h * h, (q) => {
    const [r, c] = [Math.floor(q / h), q % h];
    return `let window${r}_${c} = poolWindow(${y(2 * r, 2 * c)}, ${y(2 * r, 2 * c + 1)}, ${y(2 * r + 1, 2 * c)}, ${y(2 * r + 1, 2 * c + 1)});
  if (row${r} & col${c}) {
    store_y(pixel + ${r * pool.width + c}u, n4, activate(window${r}_${c}.value + bias));${withArgmax ? `
    argmax[(pixel + ${r * pool.width + c}u) * N4 + n4] = window${r}_${c}.arg;` : ''}
  }`;
  })}
#else
  let pixel = (n * OUT_H + by * TILE) * OUT_W + bx * TILE;
  // Rows and columns of the tile inside the output (the last tiles of odd sizes hang over).
  ${each(T.m, (r) => `let row${r} = by * TILE + ${r}u < OUT_H;`)}
  ${each(T.m, (c) => `let col${c} = bx * TILE + ${c}u < OUT_W;`)}
  ${each(T.m * T.m, (q) => {
    const r = Math.floor(q / T.m);
    const c = q % T.m;
    return `if (row${r} & col${c}) { store_y(pixel + ${r * g.outW + c}u, n4, activate(${y(r, c)} + bias)); }`;
  })}
#endif
}`,
  };
}
