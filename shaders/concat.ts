/**
 * Concatenation along an axis of row-major tensors, seen as [outer, width_i, inner] blocks: the
 * forward copies each input into its column range of the output, the backward copies the range back.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { grid, type KernelSource } from './kernel.ts';

const WG = 256;

/**
 * Copies between a part [outer, partWidth·inner] and its slice [offset, offset+partWidth) of a
 * whole [outer, totalWidth·inner]. `toWhole` = forward (part → whole), else backward.
 */
export function concatSlice(outer: number, partWidth: number, totalWidth: number, offset: number, toWhole: boolean): KernelSource {
  const n = outer * partWidth;
  const { workgroups, rowStride } = grid(n, WG);
  return {
    key: `concat-slice:${outer}:${partWidth}:${totalWidth}:${offset}:${toWhole}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
@group(0) @binding(0) var<storage, read> source: array<f32>;
@group(0) @binding(1) var<storage, read_write> destination: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;     // index into the part
  if (i >= ${n}u) { return; }
  let row = i / ${partWidth}u;
  let whole = row * ${totalWidth}u + ${offset}u + i % ${partWidth}u;
#if ${toWhole}
  destination[whole] = source[i];
#else
  destination[i] = source[whole];
#endif
}`,
  };
}
