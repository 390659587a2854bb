/**
 * Concatenation along an axis of row-major tensors, seen as [outer, width_i, inner] blocks: the
 * forward copies each input into its column range of the output, the backward copies the range back.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { KernelSource } from './kernel.ts';
import { constants, flatIndex, grid } from './wgsl.ts';

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
${constants({ PART_WIDTH: partWidth, TOTAL_WIDTH: totalWidth, OFFSET: offset })}

@group(0) @binding(0) var<storage, read> source: array<f32>;
@group(0) @binding(1) var<storage, read_write> destination: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  // i: the index into the part
  ${flatIndex(rowStride, n)}
  let row = i / PART_WIDTH;
  let whole = row * TOTAL_WIDTH + OFFSET + i % PART_WIDTH;
#if ${toWhole}
  destination[whole] = source[i];
#else
  destination[i] = source[whole];
#endif
}`,
  };
}
