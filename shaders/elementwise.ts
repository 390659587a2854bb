/**
 * Elementwise kernels: fill, copy, sum of inputs, scaled copy, and ReLU forward/backward.
 * Sizes are baked in; every kernel is a flat 1-D launch (see `grid`).
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { KernelSource } from './kernel.ts';
import { f32, grid } from './wgsl.ts';

const WG = 256;

/** out[i] = value. Tests fill outputs with NaN so unwritten elements show up; WGSL has no NaN
 * literal, so the fill stores bit patterns. */
export function fill(n: number, value: number): KernelSource {
  const { workgroups, rowStride } = grid(n, WG);
  const bits = new Uint32Array(new Float32Array([value]).buffer)[0]!;
  return {
    key: `fill:${n}:${bits}`,
    bindings: ['write'],
    workgroups,
    code: wgsl`
@group(0) @binding(0) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;
  if (i < ${n}u) { out[i] = ${bits}u; }
}`,
  };
}

/** out[i] = a[i] + b[i] (+ c[i]...) — sums gradients where a tensor fans out. */
export function sum(n: number, inputs: number): KernelSource {
  const { workgroups, rowStride } = grid(n, WG);
  const names = Array.from({ length: inputs }, (_, k) => `in${k}`);
  return {
    key: `sum:${n}:${inputs}`,
    bindings: [...names.map(() => 'read' as const), 'write'],
    workgroups,
    code: wgsl`
${names.map((name, k) => `@group(0) @binding(${k}) var<storage, read> ${name}: array<f32>;`).join('\n')}
@group(0) @binding(${inputs}) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;
  if (i < ${n}u) { out[i] = ${names.map((name) => `${name}[i]`).join(' + ')}; }
}`,
  };
}

/** out[i] += x[i]: adds a shared layer's weight gradient from one more node into the first's. */
export function accumulate(n: number): KernelSource {
  const { workgroups, rowStride } = grid(n, WG);
  return {
    key: `accumulate:${n}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;
  if (i < ${n}u) { out[i] = out[i] + x[i]; }
}`,
  };
}

/** out[i] = scale * x[i] (scale 1 is a copy). */
export function scale(n: number, factor: number): KernelSource {
  const { workgroups, rowStride } = grid(n, WG);
  return {
    key: `scale:${n}:${factor}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;
  if (i < ${n}u) { out[i] = ${f32(factor)} * x[i]; }
}`,
  };
}

/** y = max(x, 0). */
export function reluForward(n: number): KernelSource {
  const { workgroups, rowStride } = grid(n, WG);
  return {
    key: `relu-forward:${n}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;
  if (i < ${n}u) { y[i] = max(x[i], 0.0); }
}`,
  };
}

/** dx = dy where the forward output was positive (y > 0 ⇔ x > 0), else 0. Four elements per invocation when n allows. */
export function reluBackward(n: number): KernelSource {
  const lanes = n % 4 === 0 ? 4 : 1;
  const type = lanes === 4 ? 'vec4f' : 'f32';
  const { workgroups, rowStride } = grid(n / lanes, WG);
  return {
    key: `relu-backward:${n}`,
    bindings: ['read', 'read', 'write'],
    workgroups,
    code: wgsl`
@group(0) @binding(0) var<storage, read> y: array<${type}>;
@group(0) @binding(1) var<storage, read> dy: array<${type}>;
@group(0) @binding(2) var<storage, read_write> dx: array<${type}>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;
  if (i < ${n / lanes}u) { dx[i] = select(${type}(0.0), dy[i], y[i] > ${type}(0.0)); }
}`,
  };
}
