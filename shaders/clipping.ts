/**
 * Gradient clipping as Keras applies it before an update, on the GPU without a readback:
 *
 * - `value`: each gradient element clamped to [−clipvalue, clipvalue], inside the update kernel.
 * - `norm` (per weight) and `global`: `clipNormsKernel` sums the squares of each trainable
 *   weight's gradient (one workgroup per weight: a strided loop, then a tree in workgroup memory,
 *   so the sums are the same every run); the optimizer's prologue turns them into scale factors
 *   clipnorm / max(‖g‖, clipnorm) (for `global`, of the norm of all of them together, summed in
 *   weight order); the update multiplies each gradient by its weight's factor, found by
 *   `segmentOf(i)`, a binary search over the weights' offsets.
 */
import type { KernelSource } from './kernel.ts';
import { constants, f32 } from './wgsl.ts';

/** A trainable weight's range in the flat gradient buffer, in floats. */
export interface Segment {
  offset: number;
  size: number;
}

export type ClipSpec =
  | { kind: 'none' }
  | { kind: 'value'; clipvalue: number }
  | { kind: 'norm'; clipnorm: number; segments: readonly Segment[] }
  | { kind: 'global'; clipnorm: number; segments: readonly Segment[] };

const WG = 256;
const MAX_WORKGROUPS = 65535;

/** The part of a pipeline key that names the clipping and every constant it bakes. */
export function clipKey(c: ClipSpec): string {
  switch (c.kind) {
    case 'none':
      return 'clip=none';
    case 'value':
      return `clipvalue=${f32(c.clipvalue)}`;
    case 'norm':
    case 'global':
      return `${c.kind === 'norm' ? 'clipnorm' : 'globalClipnorm'}=${f32(c.clipnorm)}[${segmentsKey(c.segments)}]`;
  }
}

function segmentsKey(segments: readonly Segment[]): string {
  return segments.map((s) => `${s.offset}+${s.size}`).join(',');
}

/** Module-scope constants of the weights' offsets and sizes, for kernels that look them up. */
export function segmentConstants(segments: readonly Segment[], sizes = false): string {
  const s = segments.length;
  return `const SEGMENTS = ${s}u;
const SEGMENT_OFFSET = array<u32, ${s}>(${segments.map((g) => `${g.offset}u`).join(', ')});${
    sizes ? `\nconst SEGMENT_SIZE = array<u32, ${s}>(${segments.map((g) => `${g.size}u`).join(', ')});` : ''
  }`;
}

/** `fn segmentOf(i: u32) -> u32`: the last weight whose range starts at or before i (padding after a weight belongs to it). */
export function segmentOfFunction(segments: readonly Segment[]): string {
  if (segments.length === 1) return 'fn segmentOf(i: u32) -> u32 { return 0u; }';
  return `fn segmentOf(i: u32) -> u32 {
  var lo = 0u;
  var hi = SEGMENTS - 1u;
  while (lo < hi) {
    let mid = (lo + hi + 1u) / 2u;
    if (SEGMENT_OFFSET[mid] <= i) { lo = mid; } else { hi = mid - 1u; }
  }
  return lo;
}`;
}

/**
 * Sum of squares of each weight's gradient: bindings grads (read), sums (write, one float per
 * weight). One workgroup per weight; deterministic (fixed order of additions).
 */
export function clipNormsKernel(segments: readonly Segment[]): KernelSource {
  const s = segments.length;
  if (s < 1 || s > MAX_WORKGROUPS) throw new Error(`clipNormsKernel: expected 1 to ${MAX_WORKGROUPS} weights, got ${s}`);
  return {
    key: `clip-norms:${segmentsKey(segments)}`,
    bindings: ['read', 'write'],
    workgroups: [s, 1, 1],
    code: `${segmentConstants(segments, true)}
${constants({ WG })}

@group(0) @binding(0) var<storage, read> grads: array<f32>;
@group(0) @binding(1) var<storage, read_write> sums: array<f32, ${s}>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let segment = wid.x;
  let start = SEGMENT_OFFSET[segment];
  let size = SEGMENT_SIZE[segment];
  var acc = 0.0;
  for (var k = lid; k < size; k += WG) {
    let g = grads[start + k];
    acc += g * g;
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) { sums[segment] = partial[0]; }
}`,
  };
}

/** How many scale factors the prologue writes for `c` (one per weight, one for all, or none). */
export function clipScaleCount(c: ClipSpec): number {
  return c.kind === 'norm' ? c.segments.length : c.kind === 'global' ? 1 : 0;
}

/** Prologue statements writing the scale factors at scalars[CLIP_BASE ..] from the bound `sums`. */
export function clipScaleStatements(c: ClipSpec): string {
  if (c.kind === 'norm') {
    return `for (var s = 0u; s < SEGMENTS; s++) {
    scalars[CLIP_BASE + s] = CLIPNORM / max(sqrt(sums[s]), CLIPNORM);
  }`;
  }
  if (c.kind === 'global') {
    return `var total = 0.0;
  for (var s = 0u; s < SEGMENTS; s++) { total += sums[s]; }
  scalars[CLIP_BASE] = CLIPNORM / max(sqrt(total), CLIPNORM);`;
  }
  return '';
}

/** The update kernel's statement clipping `g` (a var), with the declarations it needs. */
export function clipInUpdate(c: ClipSpec): { declarations: string; statement: string } {
  switch (c.kind) {
    case 'none':
      return { declarations: '', statement: '' };
    case 'value':
      return { declarations: constants({ CLIPVALUE: c.clipvalue }, 'f32'), statement: 'g = clamp(g, -CLIPVALUE, CLIPVALUE);' };
    case 'global':
      return { declarations: '', statement: 'g *= scalars[CLIP_BASE];' };
    case 'norm':
      return { declarations: `${segmentConstants(c.segments)}\n${segmentOfFunction(c.segments)}`, statement: 'g *= scalars[CLIP_BASE + segmentOf(i)];' };
  }
}
