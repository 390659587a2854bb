/**
 * Sequence kernels: tensors of [batch, time, width] moved along their time axis. One kernel so
 * far, reverseSteps: y[b, t, :] = x[b, time − 1 − t, :], its own gradient (a Bidirectional
 * layer's backward direction returns its sequence in processing order, which this puts back in
 * input order, and its gradient the other way).
 *
 * One invocation per output element, `T` a WGSL alias of vec4f when a step's width is whole vec4s
 * (four values per invocation), else f32; every size is a named constant.
 */
import type { KernelSource } from './kernel.ts';
import { constants, flatIndex, grid } from './wgsl.ts';

const WG = 256;

/** A [batch, time, width] tensor, row-major: `width` values per step. */
export interface StepsGeometry {
  batch: number;
  time: number;
  width: number;
}

/** Bindings: x (read), y (write); y[b, t, :] = x[b, time − 1 − t, :]. */
export function reverseSteps(g: StepsGeometry): KernelSource {
  for (const [name, v] of Object.entries(g)) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`reverseSteps: ${name} must be a positive integer, got ${v}`);
  }
  const vec4 = g.width % 4 === 0;
  const units = vec4 ? g.width / 4 : g.width;
  const count = g.batch * g.time * units;
  const { workgroups, rowStride } = grid(count, WG);
  return {
    key: `sequence-reverse-steps:${g.batch}x${g.time}x${g.width}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `// Reverse along time: y[b, t, :] = x[b, TIME - 1 - t, :].
alias T = ${vec4 ? 'vec4f' : 'f32'};
${constants({ TIME: g.time, UNITS: units }, 'abstract')}
const SAMPLE = TIME * UNITS; // values (of T) per sample

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, count)}
  let u = i % UNITS; // the value (of T) within its step
  let step_row = i / UNITS; // b · TIME + t
  let t = step_row % TIME;
  let b = step_row / TIME;
  y[i] = x[b * SAMPLE + (TIME - 1 - t) * UNITS + u];
}`,
  };
}
