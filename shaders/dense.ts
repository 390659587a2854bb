/**
 * Dense (fully connected) kernels over the last axis, row-major float32:
 *   forward      y  = act(x·W + b)        x [rows, in], W [in, out], b [out], y [rows, out]
 *   input grad   dx = g·Wᵀ                g = dy masked by [y > 0] when relu is fused
 *   kernel grad  dW = xᵀ·g
 *   bias grad    db = Σ_rows g
 * The relu mask is applied as g is loaded, so no pass materializes it.
 *
 * Register-blocked for SwiftShader, where arithmetic per load and straight-line code decide speed:
 * each invocation owns a block of outputs held in NAMED vec4 accumulators (an indexed private
 * array is several times slower there) and reads operands as vec4. A matrix whose row length is a
 * multiple of 4 is bound as array<vec4f>; otherwise its vec4 is assembled from scalar loads, zero
 * past the row's end, which is also what makes sizes that are not multiples of the block work.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { grid, type KernelSource } from './kernel.ts';

export interface DenseGeometry {
  /** Batch × every axis but the last. */
  rows: number;
  inputs: number;
  units: number;
  /** relu fused into the forward pass (and its mask into the backward pass). */
  relu: boolean;
  bias: boolean;
}

/** Output rows per invocation in the row-blocked kernels (forward and input gradient). */
export const ROW_BLOCK = 4;
const WG = 64;

const groupsOf4 = (n: number) => Math.ceil(n / 4);

function geometryKey(g: DenseGeometry): string {
  return `${g.rows}x${g.inputs}->${g.units}:${g.relu ? 'relu' : 'linear'}:${g.bias ? 'bias' : 'nobias'}`;
}

/** The statements `f(j)` for each row j of a block (one named accumulator per row), on lines indented by `indent`. */
function perRow(f: (j: number) => string | string[], indent = '  '): string {
  return Array.from({ length: ROW_BLOCK }, (_, j) => f(j))
    .flat()
    .join(`\n${indent}`);
}

/**
 * A read-only row-major [?, cols] matrix `name` and `load_<name>(r, c)`: elements (r, c..c+3) as a
 * vec4f, zero past the end of the row. `c` is a multiple of 4.
 */
function readMatrix(name: string, binding: number, cols: number): string {
  return wgsl`
#if ${cols % 4 === 0}
@group(0) @binding(${binding}) var<storage, read> ${name}: array<vec4f>;
fn load_${name}(r: u32, c: u32) -> vec4f {
  return ${name}[r * ${cols / 4}u + c / 4u];
}
#else
@group(0) @binding(${binding}) var<storage, read> ${name}: array<f32>;
fn at_${name}(r: u32, c: u32) -> f32 {
  return select(0.0, ${name}[r * ${cols}u + min(c, ${cols - 1}u)], c < ${cols}u);
}
fn load_${name}(r: u32, c: u32) -> vec4f {
  return vec4f(at_${name}(r, c), at_${name}(r, c + 1u), at_${name}(r, c + 2u), at_${name}(r, c + 3u));
}
#endif`;
}

/** A row-major [?, cols] output `name` and `store_<name>(r, c, v)` writing the in-row part of v at (r, c..c+3). */
function writeMatrix(name: string, binding: number, cols: number): string {
  return wgsl`
#if ${cols % 4 === 0}
@group(0) @binding(${binding}) var<storage, read_write> ${name}: array<vec4f>;
fn store_${name}(r: u32, c: u32, v: vec4f) {
  ${name}[r * ${cols / 4}u + c / 4u] = v;
}
#else
@group(0) @binding(${binding}) var<storage, read_write> ${name}: array<f32>;
fn store_${name}(r: u32, c: u32, v: vec4f) {
  let i = r * ${cols}u + c;
  ${name}[i] = v.x; // c < cols: launches cover whole groups of 4 that start inside the row
  if (c + 1u < ${cols}u) { ${name}[i + 1u] = v.y; }
  if (c + 2u < ${cols}u) { ${name}[i + 2u] = v.z; }
  if (c + 3u < ${cols}u) { ${name}[i + 3u] = v.w; }
}
#endif`;
}

/**
 * dy and, with relu, y (bindings `first`, `first + 1`), and `grad(r, c)`: dy masked where the
 * forward output was not positive (y > 0 ⇔ the pre-activation was).
 */
function gradient(g: DenseGeometry, first: number): string {
  return wgsl`
${readMatrix('dy', first, g.units)}
#if ${g.relu}
${readMatrix('y', first + 1, g.units)}
fn grad(r: u32, c: u32) -> vec4f {
  return select(vec4f(0.0), load_dy(r, c), load_y(r, c) > vec4f(0.0));
}
#else
fn grad(r: u32, c: u32) -> vec4f {
  return load_dy(r, c);
}
#endif`;
}

/** Bindings: x, W, [b], y. Each invocation computes ROW_BLOCK rows × 4 units. */
export function denseForward(g: DenseGeometry): KernelSource {
  const colGroups = groupsOf4(g.units);
  const total = Math.ceil(g.rows / ROW_BLOCK) * colGroups;
  const { workgroups, rowStride } = grid(total, WG);
  const yBinding = g.bias ? 3 : 2;
  return {
    key: `dense-forward:${geometryKey(g)}:block${ROW_BLOCK}x4`,
    bindings: g.bias ? ['read', 'read', 'read', 'write'] : ['read', 'read', 'write'],
    workgroups,
    code: wgsl`
${readMatrix('x', 0, g.inputs)}
${readMatrix('w', 1, g.units)}
#if ${g.bias}
${readMatrix('b', 2, g.units)}
#endif
${writeMatrix('y', yBinding, g.units)}
const ROWS = ${g.rows}u;
const K = ${g.inputs}u;

fn activate(v: vec4f) -> vec4f {
#if ${g.relu}
  return max(v, vec4f(0.0));
#else
  return v;
#endif
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;
  if (i >= ${total}u) { return; }
  let c = (i % ${colGroups}u) * 4u;
  let r = (i / ${colGroups}u) * ${ROW_BLOCK}u;
  // Rows past the end repeat the last row, keeping the loop branch-free; their results are dropped.
  ${perRow((j) => `let r${j} = min(r + ${j}u, ROWS - 1u);`)}
  ${perRow((j) => `var acc${j} = vec4f(0.0);`)}
  for (var k = 0u; k < K; k += 4u) {
    // W rows past K are clamped: load_x is zero there, so they add nothing.
    let w0 = load_w(k, c);
    let w1 = load_w(min(k + 1u, K - 1u), c);
    let w2 = load_w(min(k + 2u, K - 1u), c);
    let w3 = load_w(min(k + 3u, K - 1u), c);
    ${perRow((j) => [`let a${j} = load_x(r${j}, k);`, `acc${j} += a${j}.x * w0 + a${j}.y * w1 + a${j}.z * w2 + a${j}.w * w3;`], '    ')}
  }
#if ${g.bias}
  let bias = load_b(0u, c);
#else
  let bias = vec4f(0.0);
#endif
  ${perRow((j) => `if (r + ${j}u < ROWS) { store_y(r + ${j}u, c, activate(acc${j} + bias)); }`)}
}`,
  };
}

/** dx = g·Wᵀ. Bindings: dy, [y], W, dx. Each invocation computes ROW_BLOCK rows × 4 inputs. */
export function denseBackwardInput(g: DenseGeometry): KernelSource {
  const colGroups = groupsOf4(g.inputs);
  const total = Math.ceil(g.rows / ROW_BLOCK) * colGroups;
  const { workgroups, rowStride } = grid(total, WG);
  const wBinding = g.relu ? 2 : 1;
  return {
    key: `dense-backward-input:${geometryKey(g)}:block${ROW_BLOCK}x4`,
    bindings: g.relu ? ['read', 'read', 'read', 'write'] : ['read', 'read', 'write'],
    workgroups,
    code: wgsl`
${gradient(g, 0)}
${readMatrix('w', wBinding, g.units)}
${writeMatrix('dx', wBinding + 1, g.inputs)}
const ROWS = ${g.rows}u;
const K = ${g.inputs}u;
const N = ${g.units}u;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;
  if (i >= ${total}u) { return; }
  let k = (i % ${colGroups}u) * 4u;
  let r = (i / ${colGroups}u) * ${ROW_BLOCK}u;
  // Clamped rows (of dy) and inputs (rows of W) compute values that are never stored.
  ${perRow((j) => `let r${j} = min(r + ${j}u, ROWS - 1u);`)}
  let k1 = min(k + 1u, K - 1u);
  let k2 = min(k + 2u, K - 1u);
  let k3 = min(k + 3u, K - 1u);
  ${perRow((j) => `var acc${j} = vec4f(0.0);`)}
  for (var o = 0u; o < N; o += 4u) {
    let w0 = load_w(k, o);
    let w1 = load_w(k1, o);
    let w2 = load_w(k2, o);
    let w3 = load_w(k3, o);
    ${perRow((j) => [`let g${j} = grad(r${j}, o);`, `acc${j} += vec4f(dot(g${j}, w0), dot(g${j}, w1), dot(g${j}, w2), dot(g${j}, w3));`], '    ')}
  }
  ${perRow((j) => `if (r + ${j}u < ROWS) { store_dx(r + ${j}u, k, acc${j}); }`)}
}`,
  };
}

/** dW = xᵀ·g. Bindings: x, dy, [y], dW. Each invocation computes 4 inputs × 4 units over all rows. */
export function denseBackwardKernel(g: DenseGeometry): KernelSource {
  const colGroups = groupsOf4(g.units);
  const total = groupsOf4(g.inputs) * colGroups;
  const { workgroups, rowStride } = grid(total, WG);
  return {
    key: `dense-backward-kernel:${geometryKey(g)}:block4x4`,
    bindings: g.relu ? ['read', 'read', 'read', 'write'] : ['read', 'read', 'write'],
    workgroups,
    code: wgsl`
${readMatrix('x', 0, g.inputs)}
${gradient(g, 1)}
${writeMatrix('dw', g.relu ? 3 : 2, g.units)}
const ROWS = ${g.rows}u;
const K = ${g.inputs}u;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;
  if (i >= ${total}u) { return; }
  let o = (i % ${colGroups}u) * 4u;
  let k = (i / ${colGroups}u) * 4u;
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var r = 0u; r < ROWS; r++) {
    let a = load_x(r, k);
    let d = grad(r, o);
    acc0 += a.x * d;
    acc1 += a.y * d;
    acc2 += a.z * d;
    acc3 += a.w * d;
  }
  store_dw(k, o, acc0);
  if (k + 1u < K) { store_dw(k + 1u, o, acc1); }
  if (k + 2u < K) { store_dw(k + 2u, o, acc2); }
  if (k + 3u < K) { store_dw(k + 3u, o, acc3); }
}`,
  };
}

/** db = Σ_rows g. Bindings: dy, [y], db. Each invocation sums 4 units. */
export function denseBackwardBias(g: DenseGeometry): KernelSource {
  const total = groupsOf4(g.units);
  const { workgroups, rowStride } = grid(total, WG);
  return {
    key: `dense-backward-bias:${geometryKey(g)}`,
    bindings: g.relu ? ['read', 'read', 'write'] : ['read', 'write'],
    workgroups,
    code: wgsl`
${gradient(g, 0)}
${writeMatrix('db', g.relu ? 2 : 1, g.units)}
const ROWS = ${g.rows}u;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;
  if (i >= ${total}u) { return; }
  let o = i * 4u;
  var acc = vec4f(0.0);
  for (var r = 0u; r < ROWS; r++) {
    acc += grad(r, o);
  }
  store_db(0u, o, acc);
}`,
  };
}
