/**
 * BatchNormalization and LayerNormalization kernels, over a row-major [rows, C] view of the input
 * (channels last: rows = batch · S, S the positions per sample).
 *
 * BatchNormalization (per channel, over the real rows of the batch: StepInfo.rows · S):
 *   - bnStats: one workgroup per channel (or group of 4); the mean, then the biased variance about it (two sweeps,
 *     one dispatch), and in training the moving statistics' update, TF.js's form
 *     moving − (moving − batch)·(1 − momentum);
 *   - bnNormalize: y = (x − mean) / sqrt(var + ε) · γ + β, one invocation per element;
 *   - bnGradSums: one workgroup per channel, Σdy and Σdy·x̂ (they are dβ and dγ);
 *   - bnGradInput: dx = γ/σ · (dy − Σdy/n − x̂ · Σdy·x̂/n), zero on the rows past the real ones;
 *   - bnAffineGrad: dx = dy · γ/σ (the moving statistics are constants: inference mode).
 * The BatchNormalization kernels take 4 channels at a time (vec4f) when C is a multiple of 4
 * (about 4× faster on SwiftShader: 145 → 37 ms for the four training kernels on [64, 26, 26, 32]).
 * LayerNormalization (per row, over its C channels; scalar kernels):
 *   - lnForward: one invocation per row: mean, biased variance, y, and the row's mean and 1/σ;
 *   - lnGradInput: one invocation per row, dx = (g − mean(g) − x̂ · mean(g·x̂)) / σ with g = dy·γ;
 *   - lnGradParams: one workgroup per channel, dγ = Σ dy·x̂ and dβ = Σ dy over the real rows.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { STEP_INFO_STRUCT, type BindingKind, type KernelSource } from './kernel.ts';
import { constants, f32, flatIndex, grid } from './wgsl.ts';

const WG = 256;

/** rows = batch · perSample positions, each of `channels` values. */
export interface NormGeometry {
  batch: number;
  perSample: number;
  channels: number;
}

/** Declares the bindings in order and returns their kinds. */
class Bindings {
  readonly kinds: BindingKind[] = [];
  readonly lines: string[] = [];
  add(name: string, kind: BindingKind, type = 'array<f32>'): this {
    const access = kind === 'uniform' ? 'var<uniform>' : kind === 'read' ? 'var<storage, read>' : 'var<storage, read_write>';
    this.lines.push(`@group(0) @binding(${this.kinds.length}) ${access} ${name}: ${type};`);
    this.kinds.push(kind);
    return this;
  }
  get code(): string {
    return this.lines.join('\n');
  }
}

function sizes(g: NormGeometry): string {
  return constants({ BATCH: g.batch, S: g.perSample, C: g.channels, ROWS: g.batch * g.perSample });
}

const geometryKey = (g: NormGeometry) => `${g.batch}x${g.perSample}x${g.channels}`;

/**
 * The workgroup sums of two values per invocation (call in uniform control flow); T is f32, or
 * vec4f when the kernel takes 4 channels at a time (C a multiple of 4).
 */
function reduce2(T: string): string {
  return `
var<workgroup> partial_a: array<${T}, ${WG}>;
var<workgroup> partial_b: array<${T}, ${WG}>;
fn workgroup_sum(lid: u32, a: ${T}, b: ${T}) -> array<${T}, 2> {
  partial_a[lid] = a;
  partial_b[lid] = b;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      partial_a[lid] = partial_a[lid] + partial_a[lid + s];
      partial_b[lid] = partial_b[lid] + partial_b[lid + s];
    }
    workgroupBarrier();
  }
  let total = array<${T}, 2>(partial_a[0], partial_b[0]);
  workgroupBarrier();
  return total;
}
// Rows of this step's real samples (a partial last batch runs through the full batch's plan).
fn real_rows() -> u32 { return min(info.rows, BATCH) * S; }`;
}

/** BatchNormalization's kernels take 4 channels at a time (vec4f) when C is a multiple of 4. */
function lanes(g: NormGeometry): { V: number; T: string; CV: number } {
  const V = g.channels % 4 === 0 ? 4 : 1;
  return { V, T: V === 4 ? 'vec4f' : 'f32', CV: g.channels / V };
}

function bnSizes(g: NormGeometry): string {
  const { CV } = lanes(g);
  return `${sizes(g)}\n${constants({ CV })} // channel groups of a row`;
}

/** Per channel mean and biased variance over the real rows; `update` also moves the moving statistics. */
export function bnStats(g: NormGeometry, update: { momentum: number } | null): KernelSource {
  const { T } = lanes(g);
  const A = `array<${T}>`;
  const b = new Bindings().add('x', 'read', A).add('info', 'uniform', 'StepInfo').add('mean_out', 'write', A).add('var_out', 'write', A);
  if (update) b.add('moving_mean', 'write', A).add('moving_var', 'write', A);
  return {
    key: `bn-stats:${geometryKey(g)}:${update ? update.momentum : '-'}`,
    bindings: b.kinds,
    workgroups: [lanes(g).CV, 1, 1],
    code: wgsl`
${STEP_INFO_STRUCT}
${bnSizes(g)}
${b.code}
${reduce2(T)}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x;
  let count = real_rows();
  var s = ${T}(0.0);
  for (var r = lid; r < count; r = r + ${WG}u) { s = s + x[r * CV + c]; }
  let mean = workgroup_sum(lid, s, ${T}(0.0))[0] / f32(count);
  var q = ${T}(0.0);
  for (var r = lid; r < count; r = r + ${WG}u) {
    let d = x[r * CV + c] - mean;
    q = q + d * d;
  }
  let variance = workgroup_sum(lid, q, ${T}(0.0))[0] / f32(count);
  if (lid == 0u) {
    mean_out[c] = mean;
    var_out[c] = variance;
#if ${update !== null}
    let decay = ${f32(1 - (update?.momentum ?? 0))};
    moving_mean[c] = moving_mean[c] - (moving_mean[c] - mean) * decay;
    moving_var[c] = moving_var[c] - (moving_var[c] - variance) * decay;
#endif
  }
}`,
  };
}

export interface AffineFlags {
  epsilon: number;
  scale: boolean;
  center: boolean;
}

/** y = (x − mean[c]) / sqrt(var[c] + ε) · γ[c] + β[c] over every row. */
export function bnNormalize(g: NormGeometry, f: AffineFlags): KernelSource {
  const { T, V } = lanes(g);
  const A = `array<${T}>`;
  const n = (g.batch * g.perSample * g.channels) / V;
  const { workgroups, rowStride } = grid(n, WG);
  const b = new Bindings().add('x', 'read', A).add('mean', 'read', A).add('variance', 'read', A);
  if (f.scale) b.add('gamma', 'read', A);
  if (f.center) b.add('beta', 'read', A);
  b.add('y', 'write', A);
  return {
    key: `bn-normalize:${geometryKey(g)}:${f.epsilon}:${f.scale}:${f.center}`,
    bindings: b.kinds,
    workgroups,
    code: wgsl`
${bnSizes(g)}
${b.code}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, n)}
  let c = i % CV;
  var v = (x[i] - mean[c]) / sqrt(variance[c] + ${f32(f.epsilon)});
#if ${f.scale}
  v = v * gamma[c];
#endif
#if ${f.center}
  v = v + beta[c];
#endif
  y[i] = v;
}`,
  };
}

/** Per channel Σdy and Σdy·x̂ over the real rows, into sums[c] and sums[C + c], and into dβ, dγ when given. */
export function bnGradSums(g: NormGeometry, f: AffineFlags): KernelSource {
  const { T } = lanes(g);
  const A = `array<${T}>`;
  const b = new Bindings().add('x', 'read', A).add('dy', 'read', A).add('mean', 'read', A).add('variance', 'read', A).add('info', 'uniform', 'StepInfo').add('sums', 'write', A);
  if (f.scale) b.add('dgamma', 'write', A);
  if (f.center) b.add('dbeta', 'write', A);
  return {
    key: `bn-grad-sums:${geometryKey(g)}:${f.epsilon}:${f.scale}:${f.center}`,
    bindings: b.kinds,
    workgroups: [lanes(g).CV, 1, 1],
    code: wgsl`
${STEP_INFO_STRUCT}
${bnSizes(g)}
${b.code}
${reduce2(T)}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x;
  let count = real_rows();
  let m = mean[c];
  let inv = 1.0 / sqrt(variance[c] + ${f32(f.epsilon)});
  var sa = ${T}(0.0);
  var sb = ${T}(0.0);
  for (var r = lid; r < count; r = r + ${WG}u) {
    let g = dy[r * CV + c];
    sa = sa + g;
    sb = sb + g * (x[r * CV + c] - m) * inv;
  }
  let total = workgroup_sum(lid, sa, sb);
  if (lid == 0u) {
    sums[c] = total[0];
    sums[CV + c] = total[1];
#if ${f.scale}
    dgamma[c] = total[1];
#endif
#if ${f.center}
    dbeta[c] = total[0];
#endif
  }
}`,
  };
}

/** dx through the batch statistics; zero on the rows past the real ones. */
export function bnGradInput(g: NormGeometry, f: AffineFlags): KernelSource {
  const { T, V } = lanes(g);
  const A = `array<${T}>`;
  const n = (g.batch * g.perSample * g.channels) / V;
  const { workgroups, rowStride } = grid(n, WG);
  const b = new Bindings().add('x', 'read', A).add('dy', 'read', A).add('mean', 'read', A).add('variance', 'read', A).add('sums', 'read', A);
  if (f.scale) b.add('gamma', 'read', A);
  b.add('info', 'uniform', 'StepInfo').add('dx', 'write', A);
  return {
    key: `bn-grad-input:${geometryKey(g)}:${f.epsilon}:${f.scale}`,
    bindings: b.kinds,
    workgroups,
    code: wgsl`
${STEP_INFO_STRUCT}
${bnSizes(g)}
${b.code}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, n)}
  let c = i % CV;
  let count = min(info.rows, BATCH) * S;
  let scale = 1.0 / f32(count);
  let inv = 1.0 / sqrt(variance[c] + ${f32(f.epsilon)});
  let xh = (x[i] - mean[c]) * inv;
#if ${f.scale}
  let k = gamma[c] * inv;
#else
  let k = inv;
#endif
  let v = k * (dy[i] - sums[c] * scale - xh * sums[CV + c] * scale);
  dx[i] = select(${T}(0.0), v, i / CV < count);
}`,
  };
}

/** dx = dy · γ / sqrt(var + ε) with constant statistics (inference mode, a frozen layer). */
export function bnAffineGrad(g: NormGeometry, f: AffineFlags): KernelSource {
  const { T, V } = lanes(g);
  const A = `array<${T}>`;
  const n = (g.batch * g.perSample * g.channels) / V;
  const { workgroups, rowStride } = grid(n, WG);
  const b = new Bindings().add('dy', 'read', A).add('variance', 'read', A);
  if (f.scale) b.add('gamma', 'read', A);
  b.add('dx', 'write', A);
  return {
    key: `bn-affine-grad:${geometryKey(g)}:${f.epsilon}:${f.scale}`,
    bindings: b.kinds,
    workgroups,
    code: wgsl`
${bnSizes(g)}
${b.code}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, n)}
  let c = i % CV;
  var k = 1.0 / sqrt(variance[c] + ${f32(f.epsilon)});
#if ${f.scale}
  k = k * gamma[c];
#endif
  dx[i] = dy[i] * k;
}`,
  };
}

// ---- LayerNormalization ----------------------------------------------------------------

const LN_WG = 64;

/** Each row normalized over its C values; the row's mean and 1/σ go to row_mean and row_inv. */
export function lnForward(g: NormGeometry, f: AffineFlags): KernelSource {
  const rows = g.batch * g.perSample;
  const { workgroups, rowStride } = grid(rows, LN_WG);
  const b = new Bindings().add('x', 'read');
  if (f.scale) b.add('gamma', 'read');
  if (f.center) b.add('beta', 'read');
  b.add('y', 'write').add('row_mean', 'write').add('row_inv', 'write');
  return {
    key: `ln-forward:${geometryKey(g)}:${f.epsilon}:${f.scale}:${f.center}`,
    bindings: b.kinds,
    workgroups,
    code: wgsl`
${sizes(g)}
${b.code}

@compute @workgroup_size(${LN_WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, rows, 'r')}
  let base = r * C;
  var s = 0.0;
  for (var c = 0u; c < C; c = c + 1u) { s = s + x[base + c]; }
  let mean = s / f32(C);
  var q = 0.0;
  for (var c = 0u; c < C; c = c + 1u) {
    let d = x[base + c] - mean;
    q = q + d * d;
  }
  let inv = 1.0 / sqrt(q / f32(C) + ${f32(f.epsilon)});
  for (var c = 0u; c < C; c = c + 1u) {
    var v = (x[base + c] - mean) * inv;
#if ${f.scale}
    v = v * gamma[c];
#endif
#if ${f.center}
    v = v + beta[c];
#endif
    y[base + c] = v;
  }
  row_mean[r] = mean;
  row_inv[r] = inv;
}`,
  };
}

/** dx of each row from its saved mean and 1/σ; zero on the rows past the real ones. */
export function lnGradInput(g: NormGeometry, f: AffineFlags): KernelSource {
  const rows = g.batch * g.perSample;
  const { workgroups, rowStride } = grid(rows, LN_WG);
  const b = new Bindings().add('x', 'read').add('dy', 'read').add('row_mean', 'read').add('row_inv', 'read');
  if (f.scale) b.add('gamma', 'read');
  b.add('info', 'uniform', 'StepInfo').add('dx', 'write');
  return {
    key: `ln-grad-input:${geometryKey(g)}:${f.scale}`,
    bindings: b.kinds,
    workgroups,
    code: wgsl`
${STEP_INFO_STRUCT}
${sizes(g)}
${b.code}

fn gam(c: u32) -> f32 {
#if ${f.scale}
  return gamma[c];
#else
  return 1.0;
#endif
}

@compute @workgroup_size(${LN_WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, rows, 'r')}
  let base = r * C;
  let real = r < min(info.rows, BATCH) * S;
  let mean = row_mean[r];
  let inv = row_inv[r];
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = 0u; c < C; c = c + 1u) {
    let gv = dy[base + c] * gam(c);
    sg = sg + gv;
    sgx = sgx + gv * (x[base + c] - mean) * inv;
  }
  let mg = sg / f32(C);
  let mgx = sgx / f32(C);
  for (var c = 0u; c < C; c = c + 1u) {
    let xh = (x[base + c] - mean) * inv;
    let v = inv * (dy[base + c] * gam(c) - mg - xh * mgx);
    dx[base + c] = select(0.0, v, real);
  }
}`,
  };
}

/** dγ[c] = Σ dy·x̂ and dβ[c] = Σ dy over the real rows, one workgroup per channel. */
export function lnGradParams(g: NormGeometry, f: AffineFlags): KernelSource {
  const b = new Bindings().add('x', 'read').add('dy', 'read').add('row_mean', 'read').add('row_inv', 'read').add('info', 'uniform', 'StepInfo');
  if (f.scale) b.add('dgamma', 'write');
  if (f.center) b.add('dbeta', 'write');
  return {
    key: `ln-grad-params:${geometryKey(g)}:${f.scale}:${f.center}`,
    bindings: b.kinds,
    workgroups: [g.channels, 1, 1],
    code: wgsl`
${STEP_INFO_STRUCT}
${sizes(g)}
${b.code}
${reduce2('f32')}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x;
  let count = real_rows();
  var sa = 0.0;
  var sb = 0.0;
  for (var r = lid; r < count; r = r + ${WG}u) {
    let gv = dy[r * C + c];
    sa = sa + gv;
    sb = sb + gv * (x[r * C + c] - row_mean[r]) * row_inv[r];
  }
  let pair = workgroup_sum(lid, sa, sb);
  let total = vec2f(pair[0], pair[1]);
  if (lid == 0u) {
#if ${f.scale}
    dgamma[c] = total.y;
#endif
#if ${f.center}
    dbeta[c] = total.x;
#endif
  }
}`,
  };
}
