/**
 * Dense (fully connected) kernels over the last axis, row-major float32:
 *   forward      y  = act(x·W + b)        x [rows, in], W [in, out], b [out], y [rows, out]
 *   input grad   dx = g·Wᵀ                g = dy masked by [y > 0] when relu is fused
 *   kernel grad  dW = xᵀ·g
 *   bias grad    db = Σ_rows g
 * The relu mask is applied as g is loaded, so no pass materializes it.
 *
 * Register-blocked for SwiftShader, where arithmetic per load and straight-line code decide speed:
 * each invocation owns a block of 16 × 4 outputs held in NAMED vec4 accumulators (an indexed
 * private array is several times slower there) and reads operands as vec4. The block's long side
 * lies along the operand that is cheapest to reload: rows of x in the forward pass, inputs in both
 * gradients, whose g operand costs two loads (dy and y) under relu. 16 × 4 blocks measured faster
 * than 4 × 4 on SwiftShader (bench/NOTES.md item 58).
 *
 * A matrix whose row length is a multiple of 4 is bound as array<vec4f>; otherwise its vec4 is
 * assembled from scalar loads, zero past the row's end. Blocks that run past a matrix's edge clamp
 * their indices (so the inner loops stay branch-free) and drop those results when storing.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { KernelSource } from './kernel.ts';
import { activation, constants, each, flatIndex, grid, matrixReader, matrixWriter } from './wgsl.ts';

export interface DenseGeometry {
  /** Batch × every axis but the last. */
  rows: number;
  inputs: number;
  units: number;
  /** relu fused into the forward pass (and its mask into the backward pass). */
  relu: boolean;
  bias: boolean;
}

/** The long side of every kernel's block (see above); the short side is one vec4. */
const BLOCK = 16;

function geometryKey(g: DenseGeometry): string {
  return `${g.rows}x${g.inputs}->${g.units}:${g.relu ? 'relu' : 'linear'}:${g.bias ? 'bias' : 'nobias'}:block${BLOCK}x4`;
}

/**
 * Workgroups of 64, smaller when a launch is small: SwiftShader runs a workgroup on one core, so a
 * launch of a few dozen invocations would otherwise leave the other cores idle.
 */
function launch(invocations: number): { size: number; workgroups: [number, number, number]; rowStride: number } {
  const size = Math.max(4, Math.min(64, 2 ** Math.floor(Math.log2(Math.max(1, invocations / 8)))));
  return { size, ...grid(invocations, size) };
}

/**
 * dy and, with relu, y (bindings `first`, `first + 1`), and `grad(r, c)`: dy masked where the
 * forward output was not positive (y > 0 ⇔ the pre-activation was).
 */
function gradient(g: DenseGeometry, first: number): string {
  return wgsl`
${matrixReader('dy', first, g.units)}
#if ${g.relu}
${matrixReader('y', first + 1, g.units)}
fn grad(r: u32, c: u32) -> vec4f {
  return select(vec4f(0.0), load_dy(r, c), load_y(r, c) > vec4f(0.0));
}
#else
fn grad(r: u32, c: u32) -> vec4f {
  return load_dy(r, c);
}
#endif`;
}

/** y = act(x·W + b). Bindings: x, W, [b], y. Each invocation computes 16 rows × 4 units. */
export function denseForward(g: DenseGeometry): KernelSource {
  const unitGroups = Math.ceil(g.units / 4);
  const total = Math.ceil(g.rows / BLOCK) * unitGroups;
  const { size, workgroups, rowStride } = launch(total);
  return {
    key: `dense-forward:${geometryKey(g)}`,
    bindings: g.bias ? ['read', 'read', 'read', 'write'] : ['read', 'read', 'write'],
    workgroups,
    code: wgsl`
${matrixReader('x', 0, g.inputs)}
${matrixReader('w', 1, g.units)}
#if ${g.bias}
${matrixReader('b', 2, g.units)}
#endif
${matrixWriter('y', g.bias ? 3 : 2, g.units)}
${constants({ ROWS: g.rows, K: g.inputs })}

${activation(g.relu)}

@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total)}
  let c = (i % ${unitGroups}u) * 4u;
  let r = (i / ${unitGroups}u) * ${BLOCK}u;
  ${each(BLOCK, (j) => `let r${j} = min(r + ${j}u, ROWS - 1u);`)}
  ${each(BLOCK, (j) => `var acc${j} = vec4f(0.0);`)}
  for (var k = 0u; k < K; k += 4u) {
    // W rows past K are clamped: load_x is zero there, so they add nothing.
    ${each(4, (t) => `let w${t} = load_w(min(k + ${t}u, K - 1u), c);`, '\n    ')}
    ${each(BLOCK, (j) => [`let a${j} = load_x(r${j}, k);`, `acc${j} += a${j}.x * w0 + a${j}.y * w1 + a${j}.z * w2 + a${j}.w * w3;`], '\n    ')}
  }
#if ${g.bias}
  let bias = load_b(0u, c);
#else
  let bias = vec4f(0.0);
#endif
  ${each(BLOCK, (j) => `if (r + ${j}u < ROWS) { store_y(r + ${j}u, c, activate(acc${j} + bias)); }`)}
}`,
  };
}

/**
 * dx = g·Wᵀ. Bindings: dy, [y], W, dx. Each invocation computes 4 rows × 16 inputs: accumulator
 * acc{j}_{q} holds row j, inputs 4q..4q+3 of the block.
 */
export function denseBackwardInput(g: DenseGeometry): KernelSource {
  const inputBlocks = Math.ceil(g.inputs / BLOCK);
  const total = Math.ceil(g.rows / 4) * inputBlocks;
  const { size, workgroups, rowStride } = launch(total);
  const wBinding = g.relu ? 2 : 1;
  const accumulators = (f: (j: number, q: number) => string) => Array.from({ length: 4 }, (_, j) => Array.from({ length: BLOCK / 4 }, (_, q) => f(j, q))).flat();
  return {
    key: `dense-backward-input:${geometryKey(g)}`,
    bindings: g.relu ? ['read', 'read', 'read', 'write'] : ['read', 'read', 'write'],
    workgroups,
    code: wgsl`
${gradient(g, 0)}
${matrixReader('w', wBinding, g.units)}
${matrixWriter('dx', wBinding + 1, g.inputs)}
${constants({ ROWS: g.rows, K: g.inputs, N: g.units })}

@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total)}
  let k = (i % ${inputBlocks}u) * ${BLOCK}u;
  let r = (i / ${inputBlocks}u) * 4u;
  // Clamped rows (of dy) and inputs (rows of W) compute values that are never stored.
  ${each(4, (j) => `let r${j} = min(r + ${j}u, ROWS - 1u);`)}
  ${each(BLOCK, (t) => `let k${t} = min(k + ${t}u, K - 1u);`)}
  ${accumulators((j, q) => `var acc${j}_${q} = vec4f(0.0);`).join('\n  ')}
  for (var o = 0u; o < N; o += 4u) {
    ${each(BLOCK, (t) => `let w${t} = load_w(k${t}, o);`, '\n    ')}
    ${each(4, (j) => `let g${j} = grad(r${j}, o);`, '\n    ')}
    ${accumulators((j, q) => `acc${j}_${q} += vec4f(${[0, 1, 2, 3].map((t) => `dot(g${j}, w${4 * q + t})`).join(', ')});`).join('\n    ')}
  }
  ${accumulators((j, q) => `if ((r + ${j}u < ROWS) & (k + ${4 * q}u < K)) { store_dx(r + ${j}u, k + ${4 * q}u, acc${j}_${q}); }`).join('\n  ')}
}`,
  };
}

/**
 * dW = xᵀ·g and, with a bias, db = Σ_rows g (which the loop has at hand: the invocations of the
 * first input block store it). Bindings: x, dy, [y], dW, [db]. Each invocation computes
 * 16 inputs × 4 units, accumulator acc{t} holding input t of the block.
 */
export function denseBackwardWeights(g: DenseGeometry): KernelSource {
  const unitGroups = Math.ceil(g.units / 4);
  const total = Math.ceil(g.inputs / BLOCK) * unitGroups;
  const { size, workgroups, rowStride } = launch(total);
  const dwBinding = g.relu ? 3 : 2;
  return {
    key: `dense-backward-weights:${geometryKey(g)}`,
    bindings: ['read', 'read', ...(g.relu ? (['read'] as const) : []), 'write', ...(g.bias ? (['write'] as const) : [])],
    workgroups,
    code: wgsl`
${matrixReader('x', 0, g.inputs)}
${gradient(g, 1)}
${matrixWriter('dw', dwBinding, g.units)}
#if ${g.bias}
${matrixWriter('db', dwBinding + 1, g.units)}
#endif
${constants({ ROWS: g.rows, K: g.inputs })}
// The last group of 4 inputs that starts inside a row.
${constants({ LAST_GROUP: Math.floor((g.inputs - 1) / 4) * 4 })}

@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total)}
  let o = (i % ${unitGroups}u) * 4u;
  let k = (i / ${unitGroups}u) * ${BLOCK}u;
  // Clamped input groups compute values that are never stored.
  ${each(BLOCK / 4, (q) => `let k${q} = min(k + ${4 * q}u, LAST_GROUP);`)}
  ${each(BLOCK, (t) => `var acc${t} = vec4f(0.0);`)}
#if ${g.bias}
  var bias = vec4f(0.0);
#endif
  for (var r = 0u; r < ROWS; r++) {
    let d = grad(r, o);
    ${each(BLOCK / 4, (q) => `let a${q} = load_x(r, k${q});`, '\n    ')}
    ${each(BLOCK, (t) => `acc${t} += a${Math.floor(t / 4)}.${'xyzw'[t % 4]} * d;`, '\n    ')}
#if ${g.bias}
    bias += d;
#endif
  }
  ${each(BLOCK, (t) => `if (k + ${t}u < K) { store_dw(k + ${t}u, o, acc${t}); }`)}
#if ${g.bias}
  if (k == 0u) { store_db(0u, o, bias); }
#endif
}`,
  };
}
