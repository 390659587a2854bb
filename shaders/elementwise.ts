/**
 * Elementwise kernels: fill, copy, sum of inputs, scaled copy, and ReLU forward/backward.
 * Sizes are baked in; every kernel is a flat 1-D launch (see `grid`). Fill, sum, accumulate,
 * scale and the ReLU forward also come with `lanes` 4 (n a multiple of 4): four elements per
 * invocation as vec4s, the 'vec4' rows of src/ops/elementwise.ts's table.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { BindingKind, KernelSource } from './kernel.ts';
import { constants, f32, flatIndex, grid } from './wgsl.ts';

const WG = 256;

/** Elements per invocation: one f32, or a vec4 of them. */
export type Lanes = 1 | 4;

/**
 * A flat kernel over the n / 4 vec4s of n elements (n a multiple of 4): `declarations` binds the
 * arrays, `store` writes vec4 i. The scalar kernels below stay as they were written.
 */
function vec4Kernel(key: string, n: number, bindings: BindingKind[], declarations: string, store: string): KernelSource {
  if (!Number.isInteger(n) || n < 4 || n % 4 !== 0) throw new Error(`${key.split(':')[0]}: four lanes need an element count that is a positive multiple of 4, got ${n}`);
  const { workgroups, rowStride } = grid(n / 4, WG);
  return {
    key,
    bindings,
    workgroups,
    code: `${declarations}
${constants({ VEC4S: n / 4 })} // vec4s of the ${n} elements

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'VEC4S')}
  ${store}
}`,
  };
}

/** out[i] = value. Tests fill outputs with NaN so unwritten elements show up; WGSL has no NaN
 * literal, so the fill stores bit patterns. */
export function fill(n: number, value: number, lanes: Lanes = 1): KernelSource {
  const bits = new Uint32Array(new Float32Array([value]).buffer)[0]!;
  if (lanes === 4) return vec4Kernel(`fill:vec4:${n}:${bits}`, n, ['write'], `@group(0) @binding(0) var<storage, read_write> out: array<vec4u>;\n${constants({ BITS: bits })}`, 'out[i] = vec4u(BITS);');
  const { workgroups, rowStride } = grid(n, WG);
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
export function sum(n: number, inputs: number, lanes: Lanes = 1): KernelSource {
  const names = Array.from({ length: inputs }, (_, k) => `in${k}`);
  if (lanes === 4) {
    const declarations = `${names.map((name, k) => `@group(0) @binding(${k}) var<storage, read> ${name}: array<vec4f>;`).join('\n')}
@group(0) @binding(${inputs}) var<storage, read_write> out: array<vec4f>;`;
    return vec4Kernel(`sum:vec4:${n}:${inputs}`, n, [...names.map(() => 'read' as const), 'write'], declarations, `out[i] = ${names.map((name) => `${name}[i]`).join(' + ')};`);
  }
  const { workgroups, rowStride } = grid(n, WG);
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

const READ_X_WRITE_OUT = `@group(0) @binding(0) var<storage, read> x: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4f>;`;

/** out[i] += x[i]: adds a shared layer's weight gradient from one more node into the first's. */
export function accumulate(n: number, lanes: Lanes = 1): KernelSource {
  if (lanes === 4) return vec4Kernel(`accumulate:vec4:${n}`, n, ['read', 'write'], READ_X_WRITE_OUT, 'out[i] = out[i] + x[i];');
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
export function scale(n: number, factor: number, lanes: Lanes = 1): KernelSource {
  if (lanes === 4) return vec4Kernel(`scale:vec4:${n}:${factor}`, n, ['read', 'write'], `${READ_X_WRITE_OUT}\n${constants({ FACTOR: factor }, 'f32')}`, 'out[i] = FACTOR * x[i];');
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
export function reluForward(n: number, lanes: Lanes = 1): KernelSource {
  if (lanes === 4) {
    const declarations = `@group(0) @binding(0) var<storage, read> x: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4f>;`;
    return vec4Kernel(`relu-forward:vec4:${n}`, n, ['read', 'write'], declarations, 'y[i] = max(x[i], vec4f(0.0));');
  }
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
