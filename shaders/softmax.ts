/**
 * Softmax over the last axis of [rows, classes] and its backward pass, for a softmax that is not
 * fused into the loss (the fused softmax-crossentropy is in shaders/losses.ts).
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { KernelSource } from './kernel.ts';
import { grid } from './wgsl.ts';

/** One invocation per row: classifier heads are narrow (10 classes), so a row is a short loop. */
const ROW_WG = 64;

function checkShape(kernel: string, rows: number, classes: number): void {
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(classes) || classes < 1) {
    throw new Error(`${kernel}: rows and classes must be positive integers, got ${rows} × ${classes}`);
  }
}

/** y = softmax(x) per row, max-subtracted so that every exp argument is ≤ 0 (no overflow). */
export function softmaxForward(rows: number, classes: number): KernelSource {
  checkShape('softmaxForward', rows, classes);
  const { workgroups, rowStride } = grid(rows, ROW_WG);
  return {
    key: `softmax-forward:${rows}x${classes}`,
    bindings: ['read', 'write'],
    workgroups,
    code: wgsl`
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(${ROW_WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x + gid.y * ${rowStride}u;
  if (row >= ${rows}u) { return; }
  let base = row * ${classes}u;
  var m = x[base];
  for (var j = 1u; j < ${classes}u; j++) { m = max(m, x[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < ${classes}u; j++) { s += exp(x[base + j] - m); }
  // s ≥ 1 (the max term is exp(0)), so the division is safe.
  let inv = 1.0 / s;
  for (var j = 0u; j < ${classes}u; j++) { y[base + j] = exp(x[base + j] - m) * inv; }
}`,
  };
}

/** dx = y ⊙ (dy − Σ dy⊙y) per row, from the forward output y (a softmax not fused into the loss). */
export function softmaxBackward(rows: number, classes: number): KernelSource {
  checkShape('softmaxBackward', rows, classes);
  const { workgroups, rowStride } = grid(rows, ROW_WG);
  return {
    key: `softmax-backward:${rows}x${classes}`,
    bindings: ['read', 'read', 'write'],
    workgroups,
    code: wgsl`
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(${ROW_WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x + gid.y * ${rowStride}u;
  if (row >= ${rows}u) { return; }
  let base = row * ${classes}u;
  var s = 0.0;
  for (var j = 0u; j < ${classes}u; j++) { s += dy[base + j] * y[base + j]; }
  for (var j = 0u; j < ${classes}u; j++) { dx[base + j] = y[base + j] * (dy[base + j] - s); }
}`,
  };
}
