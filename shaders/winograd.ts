/**
 * Winograd F(2×2, 3×3) convolution for CPU adapters: a stride-1 3×3 convolution as four kernels,
 *
 *   U = G·g·Gᵀ     kernel transform, per (input channel, output channel), 16 values each
 *   V = Bᵀ·d·B     input transform, per (2×2 output tile, input channel), from a 4×4 input patch
 *   M[p] = V[p]·U[p]   16 matrix products (tiles × K)·(K × N), one per transformed position p
 *   y = Aᵀ·M·A     output transform, per (tile, output channel), + bias, ReLU
 *
 * 16 multiply-adds per tile and channel pair instead of 36 (2.25× fewer). The products are
 * slice products (shaders/slice-product.ts: weights read with constant indices from a slice bound
 * at its own offset, one dispatch per position and column group), which also run faster per
 * multiply-add than a direct convolution on SwiftShader.
 *
 * The same four kernels compute the input gradient of a stride-1 3×3 convolution: dx is the
 * forward correlation of dy, padded by the rest of the kernel, with the kernel's taps reversed and
 * its channel axes swapped (`flipped`).
 *
 * Layouts (floats; every slice starts on a 256-byte boundary, the binding-offset alignment):
 *   U[p][group][k][n]  K4·4 rows (zero past K) × NC·4 columns of output-channel group `group`
 *   V[p][tile][k]      tiles × K4·4
 *   M[p][group][tile][n]
 * with tiles = batch · ⌈outH/2⌉ · ⌈outW/2⌉, K = input channels, N = output channels.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { channelReader, channelWriter, each, type Conv2DGeometry } from './conv2d.ts';
import { grid, type KernelSource } from './kernel.ts';
import { sliceProduct } from './slice-product.ts';

/** Transformed positions of F(2×2, 3×3): a 4×4 patch. */
export const POSITIONS = 16;
/** Tiles per product invocation. */
const TILES_PER_INVOCATION = 2;
/** Upper bound on K × columns of one product invocation's unrolled body (vec4 multiply-adds / R). */
const MAX_UNROLLED = 512;
/** Channel counts up to which the product unrolls K (its body grows with K; compile time with it). */
const MAX_K = 128;
const WG = 64;
/** minStorageBufferOffsetAlignment is at most 256 bytes on every adapter (WebGPU's default limit). */
const SLICE_ALIGN_FLOATS = 64;

export interface WinogradLayout {
  tilesH: number;
  tilesW: number;
  tiles: number;
  /** Input / output channels in vec4 groups. */
  k4: number;
  n4: number;
  /** vec4 columns per product dispatch, and how many such column groups N has. */
  columns: number;
  groups: number;
  /** Floats per slice (aligned), and whole buffer sizes. */
  vSlice: number;
  uSlice: number;
  mSlice: number;
  vFloats: number;
  uFloats: number;
  mFloats: number;
}

const align = (floats: number) => Math.ceil(floats / SLICE_ALIGN_FLOATS) * SLICE_ALIGN_FLOATS;

/**
 * Whether F(2×2, 3×3) applies and pays: 3×3 taps at stride 1, enough channels for vector reads
 * and an unrolled K, and outputs large enough that 2×2 tiles waste little (conv3's 3×3 outputs
 * would compute 16 pixels for 9).
 */
export function winogradApplies(g: Conv2DGeometry): boolean {
  return (
    g.kH === 3 && g.kW === 3 && g.strideH === 1 && g.strideW === 1 &&
    g.inC >= 8 && g.inC <= MAX_K && g.outC >= 8 && g.outH >= 6 && g.outW >= 6
  );
}

export function winogradLayout(g: Conv2DGeometry): WinogradLayout {
  const tilesH = Math.ceil(g.outH / 2);
  const tilesW = Math.ceil(g.outW / 2);
  const tiles = g.batch * tilesH * tilesW;
  const k4 = Math.ceil(g.inC / 4);
  const n4 = Math.ceil(g.outC / 4);
  // The widest divisor of N4 whose unrolled body stays under MAX_UNROLLED.
  const limit = Math.max(1, Math.floor(MAX_UNROLLED / (k4 * 4)));
  let columns = 1;
  for (let c = 1; c <= n4; c++) if (n4 % c === 0 && c <= limit) columns = c;
  const groups = n4 / columns;
  const vSlice = align(tiles * k4 * 4);
  const uSlice = align(k4 * 4 * columns * 4);
  const mSlice = align(tiles * columns * 4);
  return {
    tilesH, tilesW, tiles, k4, n4, columns, groups, vSlice, uSlice, mSlice,
    vFloats: POSITIONS * vSlice,
    uFloats: POSITIONS * groups * uSlice,
    mFloats: POSITIONS * groups * mSlice,
  };
}

function key(g: Conv2DGeometry): string {
  return `n${g.batch}-in${g.inH}x${g.inW}x${g.inC}-p${g.padTop}x${g.padLeft}-out${g.outH}x${g.outW}x${g.outC}${g.relu ? '-relu' : ''}${g.bias ? '-bias' : ''}`;
}

/** Position p = 4·row + column of the 4×4 transformed patch, as a name suffix. */
const P = (row: number, col: number) => `${row}${col}`;

/**
 * U = G·g·Gᵀ for every (k, n): g the 3×3 taps joining input channel k to output channel n.
 * Normal: w is this convolution's HWIO kernel [tap][k][n]. Flipped (the input gradient, whose
 * K and N are the forward's output and input channels): tap t reads the forward's tap 8 − t,
 * stored [tap][n][k]. Bindings: w, u. One invocation per (k, vec4 of n); rows past K are zeros.
 */
export function winogradKernelTransform(g: Conv2DGeometry, flipped: boolean): KernelSource {
  const L = winogradLayout(g);
  const K = g.inC;
  const N = g.outC;
  const invocations = L.k4 * 4 * L.n4;
  const { workgroups, rowStride } = grid(invocations, WG);
  const source = flipped ? `((8u - t) * ${N}u + n) * ${K}u + k` : `(t * ${K}u + k) * ${N}u + n`;
  return {
    key: `winograd-kernel:${key(g)}${flipped ? ':flipped' : ''}:c${L.columns}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read_write> u: array<vec4f>;

fn tap(t: u32, k: u32, n: u32) -> f32 {
  return select(0.0, w[min(${source}, ${9 * K * N - 1}u)], (k < ${K}u) & (n < ${N}u));
}
fn taps(t: u32, k: u32, n: u32) -> vec4f {
  return vec4f(tap(t, k, n), tap(t, k, n + 1u), tap(t, k, n + 2u), tap(t, k, n + 3u));
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;
  if (i >= ${invocations}u) { return; }
  let n4 = i % ${L.n4}u;
  let k = i / ${L.n4}u;
  ${each(9, (t) => `let g${Math.floor(t / 3)}${t % 3} = taps(${t}u, k, n4 * 4u);`)}
  // G·g: rows g0, (g0+g1+g2)/2, (g0−g1+g2)/2, g2 of each column.
  ${each(3, (c) => `let h0${c} = g0${c};
  let h1${c} = 0.5 * (g0${c} + g1${c} + g2${c});
  let h2${c} = 0.5 * (g0${c} - g1${c} + g2${c});
  let h3${c} = g2${c};`)}
  // (G·g)·Gᵀ: the same along each row.
  let slice = (n4 / ${L.columns}u) * ${L.uSlice / 4}u + k * ${L.columns}u + n4 % ${L.columns}u;
  ${each(4, (r) => `u[${(4 * r + 0) * L.groups * (L.uSlice / 4)}u + slice] = h${r}0;
  u[${(4 * r + 1) * L.groups * (L.uSlice / 4)}u + slice] = 0.5 * (h${r}0 + h${r}1 + h${r}2);
  u[${(4 * r + 2) * L.groups * (L.uSlice / 4)}u + slice] = 0.5 * (h${r}0 - h${r}1 + h${r}2);
  u[${(4 * r + 3) * L.groups * (L.uSlice / 4)}u + slice] = h${r}2;`)}
}`,
  };
}

/**
 * V = Bᵀ·d·B for every (tile, vec4 of input channels): d the 4×4 input patch whose top-left is
 * (2·ty − padTop, 2·tx − padLeft), zeros outside the input. Bindings: x, v.
 */
export function winogradInputTransform(g: Conv2DGeometry): KernelSource {
  const L = winogradLayout(g);
  const invocations = L.tiles * L.k4;
  const { workgroups, rowStride } = grid(invocations, WG);
  const pixels = g.batch * g.inH * g.inW;
  return {
    key: `winograd-input:${key(g)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
${channelReader('x', 0, pixels, g.inC)}
@group(0) @binding(1) var<storage, read_write> v: array<vec4f>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;
  if (i >= ${invocations}u) { return; }
  let k4 = i % ${L.k4}u;
  let tile = i / ${L.k4}u;
  let tx = tile % ${L.tilesW}u;
  let ty = (tile / ${L.tilesW}u) % ${L.tilesH}u;
  let n = tile / ${L.tilesW * L.tilesH}u;
  let top = i32(ty * 2u) - ${g.padTop};
  let left = i32(tx * 2u) - ${g.padLeft};
  ${each(4, (r) => `let inRow${r} = u32(top + ${r}) < ${g.inH}u;`)}
  ${each(4, (c) => `let inCol${c} = u32(left + ${c}) < ${g.inW}u;`)}
  let base = i32(n * ${g.inH * g.inW}u) + top * ${g.inW} + left;
  // Outside the input: read pixel 0, then zero it.
  ${each(16, (t) => {
    const r = Math.floor(t / 4);
    const c = t % 4;
    return `let d${P(r, c)} = select(vec4f(0.0), read_x(select(0u, u32(base + ${r * g.inW + c}), inRow${r} & inCol${c}), k4), inRow${r} & inCol${c});`;
  })}
  // Bᵀ·d: rows d0 − d2, d1 + d2, d2 − d1, d1 − d3 of each column; then ·B along each row.
  ${each(4, (c) => `let e0${c} = d0${c} - d2${c};
  let e1${c} = d1${c} + d2${c};
  let e2${c} = d2${c} - d1${c};
  let e3${c} = d1${c} - d3${c};`)}
  let at = tile * ${L.k4}u + k4;
  ${each(4, (r) => `v[${(4 * r + 0) * (L.vSlice / 4)}u + at] = e${r}0 - e${r}2;
  v[${(4 * r + 1) * (L.vSlice / 4)}u + at] = e${r}1 + e${r}2;
  v[${(4 * r + 2) * (L.vSlice / 4)}u + at] = e${r}2 - e${r}1;
  v[${(4 * r + 3) * (L.vSlice / 4)}u + at] = e${r}1 - e${r}3;`)}
}`,
  };
}

/**
 * M = V·U for one position and column group, bound to that position's V slice, U slice and M
 * slice (shaders/slice-product.ts): R tiles × the slice's columns per invocation. Bindings: v, u, m.
 */
export function winogradProduct(g: Conv2DGeometry): KernelSource {
  const L = winogradLayout(g);
  return sliceProduct({
    key: `winograd-product:t${L.tiles}-k${L.k4}-c${L.columns}`,
    rows: L.tiles,
    rowsPerInvocation: TILES_PER_INVOCATION,
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
 * y = Aᵀ·M·A for every (tile, vec4 of output channels): the tile's 2×2 output pixels, + bias,
 * ReLU; pixels past the output's edge (odd sizes) are not stored. Bindings: m, (b), y.
 */
export function winogradOutputTransform(g: Conv2DGeometry): KernelSource {
  const L = winogradLayout(g);
  const invocations = L.tiles * L.n4;
  const { workgroups, rowStride } = grid(invocations, WG);
  const stride = L.groups * (L.mSlice / 4);
  return {
    key: `winograd-output:${key(g)}:c${L.columns}`,
    bindings: g.bias ? ['read', 'read', 'write'] : ['read', 'write'],
    workgroups,
    code: wgsl`
@group(0) @binding(0) var<storage, read> m: array<vec4f>;
#if ${g.bias}
${channelReader('b', 1, 1, g.outC)}
#endif
${channelWriter('y', g.bias ? 2 : 1, g.outC)}

fn activate(v: vec4f) -> vec4f {
#if ${g.relu}
  return max(v, vec4f(0.0));
#else
  return v;
#endif
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;
  if (i >= ${invocations}u) { return; }
  let n4 = i % ${L.n4}u;
  let tile = i / ${L.n4}u;
  let at = (n4 / ${L.columns}u) * ${L.mSlice / 4}u + tile * ${L.columns}u + n4 % ${L.columns}u;
  ${each(16, (p) => `let m${P(Math.floor(p / 4), p % 4)} = m[${p * stride}u + at];`)}
  // Aᵀ·M: rows m0 + m1 + m2 and m1 − m2 − m3 of each column; then ·A along each row.
  ${each(4, (c) => `let s0${c} = m0${c} + m1${c} + m2${c};
  let s1${c} = m1${c} - m2${c} - m3${c};`)}
#if ${g.bias}
  let bias = read_b(0u, n4);
#else
  let bias = vec4f(0.0);
#endif
  let tx = tile % ${L.tilesW}u;
  let ty = (tile / ${L.tilesW}u) % ${L.tilesH}u;
  let n = tile / ${L.tilesW * L.tilesH}u;
  let pixel = (n * ${g.outH}u + ty * 2u) * ${g.outW}u + tx * 2u;
  let right = tx * 2u + 1u < ${g.outW}u;
  let below = ty * 2u + 1u < ${g.outH}u;
  ${each(2, (r) => `let y${r}0 = s${r}0 + s${r}1 + s${r}2;
  let y${r}1 = s${r}1 - s${r}2 - s${r}3;`)}
  store_y(pixel, n4, activate(y00 + bias));
  if (right) { store_y(pixel + 1u, n4, activate(y01 + bias)); }
  if (below) { store_y(pixel + ${g.outW}u, n4, activate(y10 + bias)); }
  if (right & below) { store_y(pixel + ${g.outW + 1}u, n4, activate(y11 + bias)); }
}`,
  };
}
