/**
 * Global pooling of NHWC images to [batch, channels] (GlobalAveragePooling2D / GlobalMaxPooling2D
 * and their 1-D forms): forward by one invocation or one workgroup per slot, and the backwards.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { KernelSource } from './kernel.ts';
import { constants, flatIndex, grid } from './wgsl.ts';

/**
 * Global pooling of NHWC images to [batch, channels]: the mean or the maximum over each image's
 * height × width positions, per channel. A slot is one image's channel group (4 channels as a
 * vec4 when the count allows it, else 1); its positions lie GROUPS elements apart.
 */
/** Invocations per workgroup of the one-invocation-per-slot kernels. */
const WG = 64;

export interface GlobalPoolGeometry {
  batch: number;
  height: number;
  width: number;
  channels: number;
}

export type GlobalPoolMode = 'average' | 'max';

/**
 * How a slot's positions are reduced: by one invocation (maps of a few hundred positions: no
 * barriers, and batch × groups invocations are parallel enough), or by a workgroup of
 * GLOBAL_POOL_WG invocations that stride over them and combine in a tree (big maps, where one
 * invocation per slot would run long loops on few cores).
 */
export type GlobalPoolVariant = 'invocation' | 'workgroup';

/** Maps of at least this many positions use the workgroup reduction. */
export const GLOBAL_POOL_WORKGROUP_SPATIAL = 256;
const GLOBAL_POOL_WG = 64;

export function globalPoolVariant(g: GlobalPoolGeometry): GlobalPoolVariant {
  return g.height * g.width >= GLOBAL_POOL_WORKGROUP_SPATIAL ? 'workgroup' : 'invocation';
}

function globalLanes(g: GlobalPoolGeometry): 1 | 4 {
  return g.channels % 4 === 0 ? 4 : 1;
}

function globalKey(g: GlobalPoolGeometry): string {
  return `${g.batch}x${g.height}x${g.width}x${g.channels}:lanes${globalLanes(g)}`;
}

/** `T` and `Index` (as in the window kernels), the baked sizes, and `slotBase`. */
function globalDeclarations(g: GlobalPoolGeometry): string {
  const groups = g.channels / globalLanes(g);
  return wgsl`
#if ${globalLanes(g) === 4}
alias T = vec4f;
alias Index = vec4u;
#else
alias T = f32;
alias Index = u32;
#endif
// Positions per image, channel groups per position, and slots (image × channel group).
${constants({ SPATIAL: g.height * g.width, GROUPS: groups, SLOTS: g.batch * groups })}

/** The first element of slot s; the slot's positions follow GROUPS elements apart. */
fn slotBase(s: u32) -> u32 {
  return (s / GROUPS) * SPATIAL * GROUPS + s % GROUPS;
}`;
}

/**
 * The workgroup variants' prologue: one workgroup per slot (the grid folded into 2-D past 65,535
 * workgroups), `s` the slot, uniform across the workgroup so the barriers after it are too.
 */
function slotOfWorkgroup(rowStride: number): string {
  return `let s = wid.x + wid.y * ${rowStride}u;
  if (s >= SLOTS) { return; }`;
}

/** y[n, c] = the mean or the maximum of x[n, :, :, c]. Bindings: x, y. */
export function globalPoolForward(g: GlobalPoolGeometry, mode: GlobalPoolMode, variant: GlobalPoolVariant = globalPoolVariant(g)): KernelSource {
  const slots = g.batch * (g.channels / globalLanes(g));
  const max = mode === 'max';
  // The running value of a slot: the max starts at its first position, the sum at 0.
  const start = max ? 'x[base]' : 'T(0.0)';
  const combine = (acc: string, v: string) => (max ? `${acc} = max(${acc}, ${v});` : `${acc} += ${v};`);
  const finish = (acc: string) => (max ? acc : `${acc} / f32(SPATIAL)`);
  const head = wgsl`
${globalDeclarations(g)}
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;`;
  if (variant === 'invocation') {
    const { workgroups, rowStride } = grid(slots, WG);
    return {
      key: `globalpool-forward:${mode}:invocation:${globalKey(g)}`,
      bindings: ['read', 'write'],
      workgroups,
      code: `${head}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, slots, 's')}
  let base = slotBase(s);
  var acc = ${start};
  for (var p = 0u; p < SPATIAL; p++) { ${combine('acc', 'x[base + p * GROUPS]')} }
  y[s] = ${finish('acc')};
}`,
    };
  }
  const { workgroups, rowStride } = grid(slots, 1);
  return {
    key: `globalpool-forward:${mode}:workgroup:${globalKey(g)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `${head}
const WG = ${GLOBAL_POOL_WG}u;
var<workgroup> part: array<T, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  ${slotOfWorkgroup(rowStride)}
  let base = slotBase(s);
  var acc = ${start};
  for (var p = lid; p < SPATIAL; p += WG) { ${combine('acc', 'x[base + p * GROUPS]')} }
  part[lid] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { ${combine('part[lid]', 'part[lid + stride]')} }
    workgroupBarrier();
  }
  if (lid == 0u) { y[s] = ${finish('part[0]')}; }
}`,
  };
}

/**
 * dx of global average pooling: dx[n, h, w, c] = dy[n, c] / (height · width), one invocation per
 * dx element. Bindings: dy, dx.
 */
export function globalAvgPoolBackward(g: GlobalPoolGeometry): KernelSource {
  const total = g.batch * g.height * g.width * (g.channels / globalLanes(g));
  const { workgroups, rowStride } = grid(total, WG);
  return {
    key: `globalpool-backward:average:${globalKey(g)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
${globalDeclarations(g)}
@group(0) @binding(0) var<storage, read> dy: array<T>;
@group(0) @binding(1) var<storage, read_write> dx: array<T>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total)}
  dx[i] = dy[(i / (SPATIAL * GROUPS)) * GROUPS + i % GROUPS] / f32(SPATIAL);
}`,
  };
}

/**
 * dx of global max pooling: each slot's dy goes to its first maximum in row-major order (as
 * maxPoolBackward routes a window's), every other position gets 0. The maximum is found again
 * from x, by the slot's invocation or workgroup (ties in the tree go to the lower position), and
 * the same invocations then write the slot's whole map. Bindings: x, dy, dx.
 */
export function globalMaxPoolBackward(g: GlobalPoolGeometry, variant: GlobalPoolVariant = globalPoolVariant(g)): KernelSource {
  const slots = g.batch * (g.channels / globalLanes(g));
  const head = wgsl`
${globalDeclarations(g)}
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read_write> dx: array<T>;`;
  if (variant === 'invocation') {
    const { workgroups, rowStride } = grid(slots, WG);
    return {
      key: `globalpool-backward:max:invocation:${globalKey(g)}`,
      bindings: ['read', 'read', 'write'],
      workgroups,
      code: `${head}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, slots, 's')}
  let base = slotBase(s);
  // Strictly greater wins: the first of tied maxima stays.
  var best = x[base];
  var arg = Index(0u);
  for (var p = 1u; p < SPATIAL; p++) {
    let v = x[base + p * GROUPS];
    let better = v > best;
    best = select(best, v, better);
    arg = select(arg, Index(p), better);
  }
  let grad = dy[s];
  for (var p = 0u; p < SPATIAL; p++) { dx[base + p * GROUPS] = select(T(0.0), grad, arg == Index(p)); }
}`,
    };
  }
  const { workgroups, rowStride } = grid(slots, 1);
  return {
    key: `globalpool-backward:max:workgroup:${globalKey(g)}`,
    bindings: ['read', 'read', 'write'],
    workgroups,
    code: `${head}
const WG = ${GLOBAL_POOL_WG}u;
var<workgroup> bestPart: array<T, WG>;
var<workgroup> argPart: array<Index, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  ${slotOfWorkgroup(rowStride)}
  let base = slotBase(s);
  // Each invocation's first maximum among position 0 and its own positions (lid, lid + WG, ...).
  var best = x[base];
  var arg = Index(0u);
  for (var p = lid; p < SPATIAL; p += WG) {
    let v = x[base + p * GROUPS];
    let better = v > best;
    best = select(best, v, better);
    arg = select(arg, Index(p), better);
  }
  bestPart[lid] = best;
  argPart[lid] = arg;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let v = bestPart[lid + stride];
      let a = argPart[lid + stride];
      let take = (v > bestPart[lid]) | ((v == bestPart[lid]) & (a < argPart[lid]));
      bestPart[lid] = select(bestPart[lid], v, take);
      argPart[lid] = select(argPart[lid], a, take);
    }
    workgroupBarrier();
  }
  let first = argPart[0];
  let grad = dy[s];
  for (var p = lid; p < SPATIAL; p += WG) { dx[base + p * GROUPS] = select(T(0.0), grad, first == Index(p)); }
}`,
  };
}
