/**
 * The kernels of Keras masks (src/ops/masking.ts): the mask an embedding with maskZero makes of its
 * ids, and the Masking layer's mask, forward and backward. A mask is f32, 1 where a position counts
 * and 0 where it is padding, one value per position (a row of the last axis).
 */
import type { KernelSource } from './kernel.ts';
import { constants, f32, flatIndex, grid } from './wgsl.ts';

const WG = 64;

/** mask[i] = [ids[i] ≠ 0] for `count` ids (Keras's Embedding(mask_zero=True).compute_mask). Bindings: ids, mask. */
export function nonzeroMask(count: number): KernelSource {
  const { workgroups, rowStride } = grid(count, WG);
  return {
    key: `mask-nonzero-ids:${count}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `${constants({ COUNT: count })}

@group(0) @binding(0) var<storage, read> ids: array<f32>;
@group(0) @binding(1) var<storage, read_write> mask: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'COUNT')}
  mask[i] = select(0.0, 1.0, ids[i] != 0.0);
}`,
  };
}

/** Rows of `width` values, and the value that marks a padded row when all of it equals it. */
export interface MaskingGeometry {
  /** batch × the positions of a sample (its shape without the last axis). */
  rows: number;
  width: number;
  maskValue: number;
}

/** `fn kept(row) -> f32`: 1 when some value of the row differs from MASK_VALUE (Keras's any(x ≠ v)), else 0. */
function keptRow(g: MaskingGeometry): string {
  return `${constants({ ROWS: g.rows, WIDTH: g.width })}
const MASK_VALUE = ${f32(g.maskValue)};

fn kept(row: u32) -> f32 {
  var differs = false;
  for (var j = 0u; j < WIDTH; j++) { differs = differs || x[row * WIDTH + j] != MASK_VALUE; }
  return select(0.0, 1.0, differs);
}`;
}

/** The Masking layer's mask: mask[row] = kept(row). Bindings: x, mask. */
export function maskingMask(g: MaskingGeometry): KernelSource {
  const { workgroups, rowStride } = grid(g.rows, WG);
  return {
    key: `masking-mask:${g.rows}x${g.width}:${f32(g.maskValue)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> mask: array<f32>;
${keptRow(g)}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'ROWS')}
  mask[i] = kept(i);
}`,
  };
}

/**
 * The Masking layer's output, y = x · kept(row) (forward; bindings x, y), or its input gradient,
 * dx = dy · kept(row) of x (backward; bindings x, dy, dx): the mask is a step function of x, so
 * only the kept rows pass a gradient.
 */
export function maskingApply(g: MaskingGeometry, direction: 'forward' | 'backward'): KernelSource {
  const { workgroups, rowStride } = grid(g.rows, WG);
  const forward = direction === 'forward';
  return {
    key: `masking-${direction}:${g.rows}x${g.width}:${f32(g.maskValue)}`,
    bindings: forward ? ['read', 'write'] : ['read', 'read', 'write'],
    workgroups,
    code: `@group(0) @binding(0) var<storage, read> x: array<f32>;
${forward ? '@group(0) @binding(1) var<storage, read_write> y: array<f32>;' : '@group(0) @binding(1) var<storage, read> dy: array<f32>;\n@group(0) @binding(2) var<storage, read_write> dx: array<f32>;'}
${keptRow(g)}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'ROWS')}
  let m = kept(i);
  for (var j = 0u; j < WIDTH; j++) {
    let k = i * WIDTH + j;
    ${forward ? 'y[k] = x[k] * m;' : 'dx[k] = dy[k] * m;'}
  }
}`,
  };
}
