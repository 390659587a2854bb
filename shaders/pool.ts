/**
 * Max pooling over NHWC tensors, forward and backward, any pool size, stride and leading padding
 * ('same' padding is a leading pad plus windows that run past the far edge; padded positions are
 * skipped, so they never win).
 *
 * Each invocation handles one pixel's 4 channels as a vec4 when the channel count allows it (all
 * the reference model's pools), else one channel.
 *
 * The backward pass routes each window's gradient to the FIRST maximum of the window in row-major
 * scan order, like TensorFlow; ties are common after ReLU and routing to every tied element would
 * multiply gradients. It is a gather: every dx element visits the windows that contain it,
 * recomputes their first argmax from x and adds the dy of those that chose it. Recomputing (rather
 * than saving argmax indices in the forward pass) keeps the forward kernel the plain inference
 * kernel, needs no buffer shared between forward and backward plans, and costs one window of
 * loads per containing window, which is small next to the convolutions around a pool.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { grid, type KernelSource } from './kernel.ts';

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

const WG = 64;

function lanes(g: PoolGeometry): 1 | 4 {
  return g.channels % 4 === 0 ? 4 : 1;
}

function geometryKey(g: PoolGeometry): string {
  return (
    `${g.batch}x${g.height}x${g.width}x${g.channels}:pool${g.poolH}x${g.poolW}:stride${g.strideH}x${g.strideW}` +
    `:pad${g.padTop}x${g.padLeft}:out${g.outHeight}x${g.outWidth}:lanes${lanes(g)}`
  );
}

/** The constants both kernels bake in; `T` is the per-invocation value (f32 or vec4f of channels). */
function declarations(g: PoolGeometry): string {
  const vec = lanes(g) === 4;
  return wgsl`
#if ${vec}
alias T = vec4f;
alias Index = vec4u;
#else
alias T = f32;
alias Index = u32;
#endif
const IN_H = ${g.height};
const IN_W = ${g.width};
const OUT_H = ${g.outHeight};
const OUT_W = ${g.outWidth};
const POOL_H = ${g.poolH};
const POOL_W = ${g.poolW};
const STRIDE_H = ${g.strideH};
const STRIDE_W = ${g.strideW};
const PAD_TOP = ${g.padTop};
const PAD_LEFT = ${g.padLeft};
const GROUPS = ${g.channels / lanes(g)}u; // channel groups per pixel`;
}

/** y[n, oh, ow, c] = max of x over the window's in-bounds positions. */
export function maxPoolForward(g: PoolGeometry): KernelSource {
  const total = g.batch * g.outHeight * g.outWidth * (g.channels / lanes(g));
  const { workgroups, rowStride } = grid(total, WG);
  return {
    key: `maxpool-forward:${geometryKey(g)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
${declarations(g)}
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;
  if (i >= ${total}u) { return; }
  let pixel = i / GROUPS;
  let ow = i32(pixel % OUT_W);
  let oh = i32((pixel / OUT_W) % OUT_H);
  let image = (pixel / (OUT_W * OUT_H)) * IN_H * IN_W * GROUPS + i % GROUPS;
  let top = oh * STRIDE_H - PAD_TOP;
  let left = ow * STRIDE_W - PAD_LEFT;
  let h0 = max(top, 0);
  let h1 = min(top + POOL_H, IN_H);
  let w0 = max(left, 0);
  let w1 = min(left + POOL_W, IN_W);
  var best = x[image + u32(h0 * IN_W + w0) * GROUPS];
  for (var h = h0; h < h1; h++) {
    for (var w = w0; w < w1; w++) {
      best = max(best, x[image + u32(h * IN_W + w) * GROUPS]);
    }
  }
  y[i] = best;
}`,
  };
}

/**
 * dx[n, h, w, c] = Σ dy[n, oh, ow, c] over the windows containing (h, w) whose first maximum (in
 * row-major scan order) is (h, w); 0 where no window chose it.
 */
export function maxPoolBackward(g: PoolGeometry): KernelSource {
  const total = g.batch * g.height * g.width * (g.channels / lanes(g));
  const { workgroups, rowStride } = grid(total, WG);
  return {
    key: `maxpool-backward:${geometryKey(g)}`,
    bindings: ['read', 'read', 'write'],
    workgroups,
    code: wgsl`
${declarations(g)}
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read_write> dx: array<T>;

/** The first window index o whose span [o * stride - pad, o * stride - pad + size) reaches p. */
fn firstWindow(p: i32, pad: i32, size: i32, stride: i32) -> i32 {
  let a = p + pad - size + 1;
  return select(0, (a + stride - 1) / stride, a > 0);
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;
  if (i >= ${total}u) { return; }
  let pixel = i / GROUPS;
  let iw = i32(pixel % IN_W);
  let ih = i32((pixel / IN_W) % IN_H);
  let n = pixel / (IN_W * IN_H);
  let lane = i % GROUPS;
  let image = n * IN_H * IN_W * GROUPS + lane;
  let grads = n * OUT_H * OUT_W * GROUPS + lane;
  let me = Index(u32(ih * IN_W + iw));
  var acc = T(0.0);
  for (var oh = firstWindow(ih, PAD_TOP, POOL_H, STRIDE_H); oh <= min((ih + PAD_TOP) / STRIDE_H, OUT_H - 1); oh++) {
    for (var ow = firstWindow(iw, PAD_LEFT, POOL_W, STRIDE_W); ow <= min((iw + PAD_LEFT) / STRIDE_W, OUT_W - 1); ow++) {
      let top = oh * STRIDE_H - PAD_TOP;
      let left = ow * STRIDE_W - PAD_LEFT;
      let h0 = max(top, 0);
      let h1 = min(top + POOL_H, IN_H);
      let w0 = max(left, 0);
      let w1 = min(left + POOL_W, IN_W);
      var best = x[image + u32(h0 * IN_W + w0) * GROUPS];
      var arg = Index(u32(h0 * IN_W + w0));
      for (var h = h0; h < h1; h++) {
        for (var w = w0; w < w1; w++) {
          let v = x[image + u32(h * IN_W + w) * GROUPS];
          // Strictly greater: a later equal value never displaces the first maximum.
          let better = v > best;
          best = select(best, v, better);
          arg = select(arg, Index(u32(h * IN_W + w)), better);
        }
      }
      acc += select(T(0.0), dy[grads + u32(oh * OUT_W + ow) * GROUPS], arg == me);
    }
  }
  dx[i] = acc;
}`,
  };
}
