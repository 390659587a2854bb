/**
 * Max pooling over NHWC tensors, forward and backward, any pool size, stride and leading padding
 * ('same' padding is a leading pad plus windows that run past the far edge; padded positions are
 * skipped, so they never win).
 *
 * Each invocation handles one pixel's 4 channels as a vec4 when the channel count allows it (all
 * the reference model's pools), else one channel. Pool and stride sizes are baked and the window
 * is unrolled into straight-line code: on SwiftShader a loop over the window costs more than the
 * loads it does (bench/NOTES.md item 57).
 *
 * The backward pass routes each window's gradient to the FIRST maximum of the window in row-major
 * scan order, like TensorFlow; ties are common after ReLU and routing to every tied element would
 * multiply gradients. Overlapping windows must accumulate, without f32 atomics, so the general
 * kernel is a gather: every dx element visits the windows that contain it, recomputes their first
 * argmax from x and adds the dy of those that chose it. Non-overlapping windows (the common
 * pool = stride case) use a cheaper kernel that writes each window's cell of dx once.
 * Recomputing the argmax (rather than saving indices in the forward pass) keeps the forward kernel
 * the plain inference kernel and needs no buffer shared between forward and backward plans; it
 * costs one window of loads, small next to the convolutions around a pool.
 *
 * Average pooling (TensorFlow's: a window's mean over its taps inside the image) has the same
 * shape of kernels: an unrolled forward, and a backward that writes each window's cell when
 * windows do not overlap, else gathers. Global pooling reduces each image's channel over the
 * whole map, by one invocation per (image, channel group) on small maps and by a workgroup's
 * tree on big ones; its max backward routes to the first maximum, like the window kernels.
 * The 1-D layers use all of these with images of height 1.
 *
 * The launches above are sized for CPU rasterizers (workgroups of 64). On GPUs the op's variant
 * tables (src/ops/pool.ts) run the forward and the gather at 256 invocations a workgroup, the
 * gather for non-overlapping windows too: one dx element (or vec4) per invocation, consecutive
 * invocations storing consecutive addresses, where a cell's strided stores are not coalesced.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { KernelSource } from './kernel.ts';
import { constants, each2, flatIndex, grid } from './wgsl.ts';

export interface PoolGeometry {
  batch: number;
  height: number;
  width: number;
  channels: number;
  poolH: number;
  poolW: number;
  strideH: number;
  strideW: number;
  /** Padding before the first row / column ('same' padding); 0 for 'valid'. */
  padTop: number;
  padLeft: number;
  outHeight: number;
  outWidth: number;
}

/** Invocations per workgroup of the CPU rasterizer's launches (the GPU rows of src/ops/pool.ts pass their own). */
const WG = 64;

/** The key suffix of a launch at another workgroup size than WG (none at WG: those keys predate the option). */
function wgKey(workgroupSize: number): string {
  return workgroupSize === WG ? '' : `:wg${workgroupSize}`;
}

function lanes(g: PoolGeometry): 1 | 4 {
  return g.channels % 4 === 0 ? 4 : 1;
}

function geometryKey(g: PoolGeometry): string {
  return (
    `${g.batch}x${g.height}x${g.width}x${g.channels}:pool${g.poolH}x${g.poolW}:stride${g.strideH}x${g.strideW}` +
    `:pad${g.padTop}x${g.padLeft}:out${g.outHeight}x${g.outWidth}:lanes${lanes(g)}`
  );
}

/** Whether some span of `spanH × spanW` inputs at a window's origin reaches outside the image. */
function clipped(g: PoolGeometry, spanH: number, spanW: number): boolean {
  const bottom = (g.outHeight - 1) * g.strideH - g.padTop + spanH;
  const right = (g.outWidth - 1) * g.strideW - g.padLeft + spanW;
  return g.padTop > 0 || g.padLeft > 0 || bottom > g.height || right > g.width;
}

/**
 * What every kernel shares: `T`, the per-invocation value (f32, or vec4f of 4 channels) and its
 * index type, the baked sizes, x at binding 0, and `tap`, which reads x at an image position and
 * stands in `fallback` for padding, so padded positions never win a max.
 */
function declarations(g: PoolGeometry): string {
  return wgsl`
#if ${lanes(g) === 4}
alias T = vec4f;
alias Index = vec4u;
#else
alias T = f32;
alias Index = u32;
#endif
// Abstract integers: they serve as i32 (positions) and u32 (indices) alike.
${constants({ IN_H: g.height, IN_W: g.width, OUT_H: g.outHeight, OUT_W: g.outWidth, POOL_H: g.poolH, POOL_W: g.poolW, STRIDE_H: g.strideH, STRIDE_W: g.strideW, PAD_TOP: g.padTop, PAD_LEFT: g.padLeft }, 'abstract')}
// Channel groups per pixel.
${constants({ GROUPS: g.channels / lanes(g) })}

@group(0) @binding(0) var<storage, read> x: array<T>;

fn tap(image: u32, h: i32, w: i32, fallback: T) -> T {
#if ${clipped(g, g.poolH, g.poolW)}
  // '&', not '&&': short-circuit branches in unrolled code made SwiftShader's compile time explode (bench/NOTES.md item 50).
  let inside = (h >= 0) & (h < IN_H) & (w >= 0) & (w < IN_W);
  return select(fallback, x[image + u32(clamp(h, 0, IN_H - 1) * IN_W + clamp(w, 0, IN_W - 1)) * GROUPS], inside);
#else
  return x[image + u32(h * IN_W + w) * GROUPS];
#endif
}

/** Output element i's window: the first element of its image and channel group, its row and column, its origin. */
struct Window { image: u32, oh: i32, ow: i32, top: i32, left: i32 }
fn windowAt(i: u32) -> Window {
  let pixel = i / GROUPS;
  let oh = i32((pixel / OUT_W) % OUT_H);
  let ow = i32(pixel % OUT_W);
  return Window((pixel / (OUT_W * OUT_H)) * IN_H * IN_W * GROUPS + i % GROUPS, oh, ow, oh * STRIDE_H - PAD_TOP, ow * STRIDE_W - PAD_LEFT);
}

/** A position as the backward kernels compare them: h * IN_W + w, in every lane. */
fn position(h: i32, w: i32) -> Index {
  return Index(u32(h * IN_W + w));
}`;
}

/**
 * The first maximum of the window whose origin is (top, left), as a position per lane. Strictly
 * greater comparisons in row-major scan order keep the earliest of tied values, as TensorFlow does.
 */
function firstMax(g: PoolGeometry): string {
  return wgsl`
struct WindowMax { value: T, arg: Index }
fn firstMax(image: u32, top: i32, left: i32) -> WindowMax {
  var best = tap(image, max(top, 0), max(left, 0), T(0.0)); // the first tap inside the image
  var arg = position(max(top, 0), max(left, 0));
  ${each2(g.poolH, g.poolW, (dh, dw) => `{ let v = tap(image, top + ${dh}, left + ${dw}, best); let better = v > best; best = select(best, v, better); arg = select(arg, position(top + ${dh}, left + ${dw}), better); }`)}
  return WindowMax(best, arg);
}`;
}

/**
 * Options of the backward kernels. `reluMask`: x is a ReLU's output and dx is multiplied by
 * [x > 0], the ReLU's own backward, so the layer before need not apply it (exact: the gradient
 * lands only on window maxima, and a maximum is positive unless its whole window is zero).
 */
export interface PoolBackwardOptions {
  reluMask?: boolean;
}

/** y[n, oh, ow, c] = max of x over the window's positions inside the image; one output element (or vec4) per invocation. */
export function maxPoolForward(g: PoolGeometry, workgroupSize = WG): KernelSource {
  const total = g.batch * g.outHeight * g.outWidth * (g.channels / lanes(g));
  const { workgroups, rowStride } = grid(total, workgroupSize);
  return {
    key: `maxpool-forward:${geometryKey(g)}${wgKey(workgroupSize)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
${declarations(g)}
@group(0) @binding(1) var<storage, read_write> y: array<T>;

@compute @workgroup_size(${workgroupSize})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total)}
  let at = windowAt(i);
  var best = tap(at.image, max(at.top, 0), max(at.left, 0), T(0.0)); // the first tap inside the image
  ${each2(g.poolH, g.poolW, (dh, dw) => `best = max(best, tap(at.image, at.top + ${dh}, at.left + ${dw}, best));`)}
  y[i] = best;
}`,
  };
}

/**
 * dx for any pool and stride, overlapping windows included: dx[n, h, w, c] = Σ dy[n, oh, ow, c]
 * over the windows containing (h, w) whose first maximum is (h, w); 0 where no window chose it.
 */
export function maxPoolBackwardGather(g: PoolGeometry, options: PoolBackwardOptions = {}, workgroupSize = WG): KernelSource {
  const total = g.batch * g.height * g.width * (g.channels / lanes(g));
  const { workgroups, rowStride } = grid(total, workgroupSize);
  return {
    key: `maxpool-backward-gather:${geometryKey(g)}${options.reluMask ? ':relu-mask' : ''}${wgKey(workgroupSize)}`,
    bindings: ['read', 'read', 'write'],
    workgroups,
    code: wgsl`
${declarations(g)}
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read_write> dx: array<T>;
${firstMax(g)}

/** The first window index o whose span [o * stride - pad, o * stride - pad + size) reaches p. */
fn firstWindow(p: i32, pad: i32, size: i32, stride: i32) -> i32 {
  let a = p + pad - size + 1;
  return select(0, (a + stride - 1) / stride, a > 0);
}

@compute @workgroup_size(${workgroupSize})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total)}
  let pixel = i / GROUPS;
  let iw = i32(pixel % IN_W);
  let ih = i32((pixel / IN_W) % IN_H);
  let n = pixel / (IN_W * IN_H);
  let lane = i % GROUPS;
  let image = n * IN_H * IN_W * GROUPS + lane;
  let grads = n * OUT_H * OUT_W * GROUPS + lane;
  let me = position(ih, iw);
  var acc = T(0.0);
  for (var oh = firstWindow(ih, PAD_TOP, POOL_H, STRIDE_H); oh <= min((ih + PAD_TOP) / STRIDE_H, OUT_H - 1); oh++) {
    for (var ow = firstWindow(iw, PAD_LEFT, POOL_W, STRIDE_W); ow <= min((iw + PAD_LEFT) / STRIDE_W, OUT_W - 1); ow++) {
      let arg = firstMax(image, oh * STRIDE_H - PAD_TOP, ow * STRIDE_W - PAD_LEFT).arg;
      acc += select(T(0.0), dy[grads + u32(oh * OUT_W + ow) * GROUPS], arg == me);
    }
  }
#if ${options.reluMask ?? false}
  dx[i] = select(T(0.0), acc, x[i] > T(0.0));
#else
  dx[i] = acc;
#endif
}`,
  };
}

/**
 * `fn put(image, h, w, v)`: stores v at dx's pixel (h, w) of a window whose stride-sized cell may
 * reach past the input ('same' padding), where the store is skipped.
 */
function putGradient(g: PoolGeometry): string {
  const store = 'dx[image + u32(h * IN_W + w) * GROUPS] = v;';
  const body = clipped(g, g.strideH, g.strideW) ? `if ((h >= 0) & (h < IN_H) & (w >= 0) & (w < IN_W)) { ${store} }` : store;
  return `fn put(image: u32, h: i32, w: i32, v: T) {\n  ${body}\n}`;
}

/**
 * dx for windows that do not overlap (pool ≤ stride), 4× less work than the gather at pool 2: each
 * invocation owns the cell of STRIDE_H × STRIDE_W inputs at its window's origin, which holds that
 * window and no other; it finds the window's first maximum once and writes the whole cell, zeros
 * included. The last cells of a row or column also zero what lies past them (inputs no window
 * reaches when 'valid' pooling floors).
 */
export function maxPoolBackwardCells(g: PoolGeometry, options: PoolBackwardOptions = {}): KernelSource {
  if (g.poolH > g.strideH || g.poolW > g.strideW) throw new Error('maxPoolBackwardCells needs non-overlapping windows (pool ≤ stride)');
  const total = g.batch * g.outHeight * g.outWidth * (g.channels / lanes(g));
  const { workgroups, rowStride } = grid(total, WG);
  return {
    key: `maxpool-backward-cells:${geometryKey(g)}${options.reluMask ? ':relu-mask' : ''}`,
    bindings: ['read', 'read', 'write'],
    workgroups,
    code: wgsl`
${declarations(g)}
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read_write> dx: array<T>;
${firstMax(g)}

${putGradient(g)}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total)}
  let at = windowAt(i);
  let found = firstMax(at.image, at.top, at.left);
  let arg = found.arg;
#if ${options.reluMask ?? false}
  let grad = select(T(0.0), dy[i], found.value > T(0.0));
#else
  let grad = dy[i];
#endif
  ${each2(g.strideH, g.strideW, (dh, dw) => `put(at.image, at.top + ${dh}, at.left + ${dw}, select(T(0.0), grad, arg == position(at.top + ${dh}, at.left + ${dw})));`)}
${zeroRemainder(g)}
}`,
  };
}

/**
 * WGSL zeroing, for the last cell of a row or column, the inputs past it that no window reaches
 * ('valid' pooling floors): the cell kernels write every dx element exactly once. Uses `put`
 * and `at` (windowAt).
 */
function zeroRemainder(g: PoolGeometry): string {
  const remainder = g.outHeight * g.strideH - g.padTop < g.height || g.outWidth * g.strideW - g.padLeft < g.width;
  return wgsl`
#if ${remainder}
  let bottom = select(at.top + STRIDE_H, IN_H, at.oh == OUT_H - 1);
  let right = select(at.left + STRIDE_W, IN_W, at.ow == OUT_W - 1);
  for (var h = at.top + STRIDE_H; h < bottom; h++) {
    for (var w = max(at.left, 0); w < right; w++) { put(at.image, h, w, T(0.0)); }
  }
  for (var h = max(at.top, 0); h < min(at.top + STRIDE_H, IN_H); h++) {
    for (var w = at.left + STRIDE_W; w < right; w++) { put(at.image, h, w, T(0.0)); }
  }
#endif`;
}

/**
 * For kernels that pool a 2×2 window of 4 channels they computed themselves (a convolution's
 * pooled forward): `poolWindow(a0, a1, a2, a3)` (row-major) gives each channel's maximum and the
 * position of its first maximum (strictly greater wins, as in firstMax), 2 bits per channel in
 * one u32, which maxPoolBackwardFromArgmax reads instead of the unpooled tensor.
 */
export const POOL_WINDOW_WGSL = `
struct PooledWindow { value: vec4f, arg: u32 }
fn poolWindow(a0: vec4f, a1: vec4f, a2: vec4f, a3: vec4f) -> PooledWindow {
  var best = a0;
  var arg = vec4u(0u);
  let b1 = a1 > best; best = select(best, a1, b1); arg = select(arg, vec4u(1u), b1);
  let b2 = a2 > best; best = select(best, a2, b2); arg = select(arg, vec4u(2u), b2);
  let b3 = a3 > best; best = select(best, a3, b3); arg = select(arg, vec4u(3u), b3);
  return PooledWindow(best, arg.x | (arg.y << 2u) | (arg.z << 4u) | (arg.w << 6u));
}`;

/**
 * dx of a 2×2, stride-2, 'valid' pool of 4-channel groups from the first-max positions its
 * producer saved (POOL_WINDOW_WGSL), not from x: each invocation writes its window's cell
 * (zeros included) and the remainder past the last one. Bindings: y (the pooled output, read
 * for the ReLU mask), argmax, dy, dx.
 */
export function maxPoolBackwardFromArgmax(g: PoolGeometry, options: PoolBackwardOptions = {}): KernelSource {
  if (!(g.poolH === 2 && g.poolW === 2 && g.strideH === 2 && g.strideW === 2 && g.padTop === 0 && g.padLeft === 0 && lanes(g) === 4)) {
    throw new Error('maxPoolBackwardFromArgmax: 2×2 windows at stride 2 without padding, channels a multiple of 4');
  }
  const total = g.batch * g.outHeight * g.outWidth * (g.channels / 4);
  const { workgroups, rowStride } = grid(total, WG);
  return {
    key: `maxpool-backward-argmax:${geometryKey(g)}${options.reluMask ? ':relu-mask' : ''}`,
    bindings: ['read', 'read', 'read', 'write'],
    workgroups,
    code: wgsl`
${declarations(g)}
@group(0) @binding(1) var<storage, read> argmax: array<u32>;
@group(0) @binding(2) var<storage, read> dy: array<T>;
@group(0) @binding(3) var<storage, read_write> dx: array<T>;

fn put(image: u32, h: i32, w: i32, v: T) {
  dx[image + u32(h * IN_W + w) * GROUPS] = v;
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total)}
  let at = windowAt(i);
  let arg = (vec4u(argmax[i]) >> vec4u(0u, 2u, 4u, 6u)) & vec4u(3u);
#if ${options.reluMask ?? false}
  // x (binding 0) is the pooled output here: its value is the window's maximum.
  let grad = select(T(0.0), dy[i], x[i] > T(0.0));
#else
  let grad = dy[i];
#endif
  ${each2(2, 2, (dh, dw) => `put(at.image, at.top + ${dh}, at.left + ${dw}, select(T(0.0), grad, arg == vec4u(${2 * dh + dw}u)));`)}
${zeroRemainder(g)}
}`,
  };
}

/** The backward kernel for `g`: cells when windows do not overlap, else the gather. */
export function maxPoolBackward(g: PoolGeometry, options: PoolBackwardOptions = {}): KernelSource {
  return g.poolH <= g.strideH && g.poolW <= g.strideW ? maxPoolBackwardCells(g, options) : maxPoolBackwardGather(g, options);
}

// ---- average pooling ---------------------------------------------------------------------------

/**
 * What the average kernels share (the max kernels' `declarations` without x, `tap` and positions):
 * `T`, the baked sizes, `windowAt`, and `insideCount`, the number of a window's taps inside the
 * image. TensorFlow divides a window's sum by that count, so 'same' padding averages real inputs
 * only, and the backward divides each window's gradient by the same count.
 */
function averageDeclarations(g: PoolGeometry): string {
  return wgsl`
#if ${lanes(g) === 4}
alias T = vec4f;
#else
alias T = f32;
#endif
// Abstract integers: they serve as i32 (positions) and u32 (indices) alike.
${constants({ IN_H: g.height, IN_W: g.width, OUT_H: g.outHeight, OUT_W: g.outWidth, POOL_H: g.poolH, POOL_W: g.poolW, STRIDE_H: g.strideH, STRIDE_W: g.strideW, PAD_TOP: g.padTop, PAD_LEFT: g.padLeft }, 'abstract')}
// Channel groups per pixel.
${constants({ GROUPS: g.channels / lanes(g) })}

/** Output element i's window: the first element of its image and channel group, its row and column, its origin. */
struct Window { image: u32, oh: i32, ow: i32, top: i32, left: i32 }
fn windowAt(i: u32) -> Window {
  let pixel = i / GROUPS;
  let oh = i32((pixel / OUT_W) % OUT_H);
  let ow = i32(pixel % OUT_W);
  return Window((pixel / (OUT_W * OUT_H)) * IN_H * IN_W * GROUPS + i % GROUPS, oh, ow, oh * STRIDE_H - PAD_TOP, ow * STRIDE_W - PAD_LEFT);
}

/** Taps of the window whose origin is (top, left) that lie inside the image (all of them without padding). */
fn insideCount(top: i32, left: i32) -> f32 {
  let rows = min(top + POOL_H, IN_H) - max(top, 0);
  let cols = min(left + POOL_W, IN_W) - max(left, 0);
  return f32(rows * cols);
}`;
}

/** y[n, oh, ow, c] = the mean of x over the window's positions inside the image; one output element (or vec4) per invocation. */
export function avgPoolForward(g: PoolGeometry, workgroupSize = WG): KernelSource {
  const total = g.batch * g.outHeight * g.outWidth * (g.channels / lanes(g));
  const { workgroups, rowStride } = grid(total, workgroupSize);
  return {
    key: `avgpool-forward:${geometryKey(g)}${wgKey(workgroupSize)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
${averageDeclarations(g)}
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;

/** x at an image position, 0 in the padding (which insideCount leaves out of the mean). */
fn tap(image: u32, h: i32, w: i32) -> T {
#if ${clipped(g, g.poolH, g.poolW)}
  // '&', not '&&', as in the max kernels (bench/NOTES.md item 50).
  let inside = (h >= 0) & (h < IN_H) & (w >= 0) & (w < IN_W);
  return select(T(0.0), x[image + u32(clamp(h, 0, IN_H - 1) * IN_W + clamp(w, 0, IN_W - 1)) * GROUPS], inside);
#else
  return x[image + u32(h * IN_W + w) * GROUPS];
#endif
}

@compute @workgroup_size(${workgroupSize})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total)}
  let at = windowAt(i);
  var sum = T(0.0);
  ${each2(g.poolH, g.poolW, (dh, dw) => `sum += tap(at.image, at.top + ${dh}, at.left + ${dw});`)}
  y[i] = sum / insideCount(at.top, at.left);
}`,
  };
}

/**
 * dx of average pooling for windows that do not overlap (pool ≤ stride): each invocation owns the
 * cell of STRIDE_H × STRIDE_W inputs at its window's origin and writes all of it, its window's
 * share dy / insideCount on the window's taps and 0 on the rest, and the remainder past the last
 * cells (as maxPoolBackwardCells). Bindings: dy, dx.
 */
export function avgPoolBackwardCells(g: PoolGeometry): KernelSource {
  if (g.poolH > g.strideH || g.poolW > g.strideW) throw new Error('avgPoolBackwardCells needs non-overlapping windows (pool ≤ stride)');
  const total = g.batch * g.outHeight * g.outWidth * (g.channels / lanes(g));
  const { workgroups, rowStride } = grid(total, WG);
  return {
    key: `avgpool-backward-cells:${geometryKey(g)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
${averageDeclarations(g)}
@group(0) @binding(0) var<storage, read> dy: array<T>;
@group(0) @binding(1) var<storage, read_write> dx: array<T>;

${putGradient(g)}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total)}
  let at = windowAt(i);
  let share = dy[i] / insideCount(at.top, at.left);
  ${each2(g.strideH, g.strideW, (dh, dw) => `put(at.image, at.top + ${dh}, at.left + ${dw}, ${dh < g.poolH && dw < g.poolW ? 'share' : 'T(0.0)'});`)}
${zeroRemainder(g)}
}`,
  };
}

/**
 * dx of average pooling for any pool and stride, overlapping windows included: each dx element
 * sums dy / insideCount over the windows that contain it (0 where none does). Bindings: dy, dx.
 */
export function avgPoolBackwardGather(g: PoolGeometry, workgroupSize = WG): KernelSource {
  const total = g.batch * g.height * g.width * (g.channels / lanes(g));
  const { workgroups, rowStride } = grid(total, workgroupSize);
  return {
    key: `avgpool-backward-gather:${geometryKey(g)}${wgKey(workgroupSize)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
${averageDeclarations(g)}
@group(0) @binding(0) var<storage, read> dy: array<T>;
@group(0) @binding(1) var<storage, read_write> dx: array<T>;

/** The first window index o whose span [o * stride - pad, o * stride - pad + size) reaches p. */
fn firstWindow(p: i32, pad: i32, size: i32, stride: i32) -> i32 {
  let a = p + pad - size + 1;
  return select(0, (a + stride - 1) / stride, a > 0);
}

@compute @workgroup_size(${workgroupSize})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total)}
  let pixel = i / GROUPS;
  let iw = i32(pixel % IN_W);
  let ih = i32((pixel / IN_W) % IN_H);
  let n = pixel / (IN_W * IN_H);
  let grads = n * OUT_H * OUT_W * GROUPS + i % GROUPS;
  var acc = T(0.0);
  for (var oh = firstWindow(ih, PAD_TOP, POOL_H, STRIDE_H); oh <= min((ih + PAD_TOP) / STRIDE_H, OUT_H - 1); oh++) {
    for (var ow = firstWindow(iw, PAD_LEFT, POOL_W, STRIDE_W); ow <= min((iw + PAD_LEFT) / STRIDE_W, OUT_W - 1); ow++) {
      acc += dy[grads + u32(oh * OUT_W + ow) * GROUPS] / insideCount(oh * STRIDE_H - PAD_TOP, ow * STRIDE_W - PAD_LEFT);
    }
  }
  dx[i] = acc;
}`,
  };
}

/** The average pool's backward kernel for `g`: cells when windows do not overlap, else the gather. */
export function avgPoolBackward(g: PoolGeometry): KernelSource {
  return g.poolH <= g.strideH && g.poolW <= g.strideW ? avgPoolBackwardCells(g) : avgPoolBackwardGather(g);
}
