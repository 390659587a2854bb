/**
 * LayerNormalization kernels over any set of axes. A sample's axes are merged into runs, each
 * normalized or kept (LnGeometry); a group is one index of the batch and the kept runs, and is
 * normalized over the N values of the normalized runs. Element (group k, normalized index n) sits
 * at group_offset(k) + norm_offset(n), both generated from the runs (for the last axis they are
 * k · N and n). γ and β are indexed by n (the normalized axes in their row-major order).
 *   - lnForward: one invocation per group: mean, biased variance, y, and the group's mean and 1/σ;
 *   - lnGradInput: one invocation per group, dx = (g − mean(g) − x̂ · mean(g·x̂)) / σ with g = dy·γ;
 *   - lnGradPartials / lnGradFinish: dγ[n] = Σ dy·x̂ and dβ[n] = Σ dy over the real groups, each
 *     invocation of the first pass a block of groups of one n, the finish adding the blocks.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { STEP_INFO_STRUCT, type KernelSource } from './kernel.ts';
import { constants, f32, flatIndex, grid } from './wgsl.ts';
import { Bindings, type AffineFlags } from './normalization.ts';

/** A [batch, ...sample] tensor whose sample axes are merged into runs, outermost first. */
export interface LnGeometry {
  batch: number;
  runs: readonly { size: number; normalized: boolean }[];
}

/** Values normalized together (N) and groups per sample (KEPT). */
export function lnSizes(g: LnGeometry): { N: number; KEPT: number; SAMPLE: number } {
  const product = (normalized: boolean) => g.runs.filter((r) => r.normalized === normalized).reduce((p, r) => p * r.size, 1);
  return { N: product(true), KEPT: product(false), SAMPLE: product(true) * product(false) };
}

const WG = 64;

const lnKey = (g: LnGeometry) => `${g.batch}x${g.runs.map((r) => `${r.size}${r.normalized ? 'n' : 'k'}`).join('.')}`;

/**
 * The constants and the two offset functions. A kind's runs get SIZE and STRIDE constants
 * (innermost last); its index is split innermost first, and what is left multiplies the outermost
 * stride (for groups, the batch's: SAMPLE).
 */
function geometry(g: LnGeometry): string {
  const { N, KEPT, SAMPLE } = lnSizes(g);
  const strides: number[] = [];
  let stride = 1;
  for (let i = g.runs.length - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= g.runs[i]!.size;
  }
  const offset = (name: string, prefix: string, normalized: boolean, outer: string, doc: string) => {
    const runs = g.runs.map((r, i) => ({ ...r, stride: strides[i]! })).filter((r) => r.normalized === normalized);
    const decls = runs.map((r, i) => constants({ [`${prefix}_SIZE_${i}`]: r.size, [`${prefix}_STRIDE_${i}`]: r.stride })).join('\n');
    // With groups, every run is split off and the rest is the sample; with n, the outermost run takes the rest.
    const split = normalized ? runs.length - 1 : runs.length;
    const steps = [];
    for (let i = runs.length - 1; i >= runs.length - split; i--) {
      steps.push(`offset += (rest % ${prefix}_SIZE_${i}) * ${prefix}_STRIDE_${i};\n  rest = rest / ${prefix}_SIZE_${i};`);
    }
    const last = normalized ? (runs.length ? `${prefix}_STRIDE_0` : '0u') : outer;
    return `// ${doc}
${decls}
fn ${name}(index: u32) -> u32 {
  var rest = index;
  var offset = 0u;
  ${steps.join('\n  ')}
  return offset + rest * ${last};
}`;
  };
  return `${constants({ BATCH: g.batch, N, KEPT, SAMPLE, GROUPS: g.batch * KEPT })}
${offset('group_offset', 'KEPT', false, 'SAMPLE', 'The kept runs: a group is one index of the batch and of these.')}
${offset('norm_offset', 'NORM', true, '', 'The normalized runs: n indexes them row-major, as γ and β do.')}`;
}

const REAL_GROUPS = `// Groups of this step's real samples (a partial last batch runs through the full batch's plan).
fn real_groups() -> u32 { return min(info.rows, BATCH) * KEPT; }`;

/** Each group normalized over its N values; its mean and 1/σ go to row_mean and row_inv. Bindings: x, gamma?, beta?, y, row_mean, row_inv. */
export function lnForward(g: LnGeometry, f: AffineFlags): KernelSource {
  const groups = g.batch * lnSizes(g).KEPT;
  const { workgroups, rowStride } = grid(groups, WG);
  const b = new Bindings().add('x', 'read');
  if (f.scale) b.add('gamma', 'read');
  if (f.center) b.add('beta', 'read');
  b.add('y', 'write').add('row_mean', 'write').add('row_inv', 'write');
  return {
    key: `ln-forward:${lnKey(g)}:${f.epsilon}:${f.scale}:${f.center}`,
    bindings: b.kinds,
    workgroups,
    code: wgsl`
${b.code}
${geometry(g)}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'GROUPS', 'k')}
  let base = group_offset(k);
  var s = 0.0;
  for (var n = 0u; n < N; n++) { s += x[base + norm_offset(n)]; }
  let mean = s / f32(N);
  var q = 0.0;
  for (var n = 0u; n < N; n++) {
    let d = x[base + norm_offset(n)] - mean;
    q += d * d;
  }
  let inv = 1.0 / sqrt(q / f32(N) + ${f32(f.epsilon)});
  for (var n = 0u; n < N; n++) {
    let at = base + norm_offset(n);
    var v = (x[at] - mean) * inv;
#if ${f.scale}
    v = v * gamma[n];
#endif
#if ${f.center}
    v = v + beta[n];
#endif
    y[at] = v;
  }
  row_mean[k] = mean;
  row_inv[k] = inv;
}`,
  };
}

/** dx of each group from its saved mean and 1/σ; zero on the groups past the real ones. Bindings: x, dy, row_mean, row_inv, gamma?, info, dx. */
export function lnGradInput(g: LnGeometry, f: AffineFlags): KernelSource {
  const groups = g.batch * lnSizes(g).KEPT;
  const { workgroups, rowStride } = grid(groups, WG);
  const b = new Bindings().add('x', 'read').add('dy', 'read').add('row_mean', 'read').add('row_inv', 'read');
  if (f.scale) b.add('gamma', 'read');
  b.add('info', 'uniform', 'StepInfo').add('dx', 'write');
  return {
    key: `ln-grad-input:${lnKey(g)}:${f.scale}`,
    bindings: b.kinds,
    workgroups,
    code: wgsl`
${STEP_INFO_STRUCT}
${b.code}
${geometry(g)}
${REAL_GROUPS}

fn gam(n: u32) -> f32 {
#if ${f.scale}
  return gamma[n];
#else
  return 1.0;
#endif
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'GROUPS', 'k')}
  let base = group_offset(k);
  let real = k < real_groups();
  let mean = row_mean[k];
  let inv = row_inv[k];
  var sg = 0.0;
  var sgx = 0.0;
  for (var n = 0u; n < N; n++) {
    let at = base + norm_offset(n);
    let gv = dy[at] * gam(n);
    sg += gv;
    sgx += gv * (x[at] - mean) * inv;
  }
  let mg = sg / f32(N);
  let mgx = sgx / f32(N);
  for (var n = 0u; n < N; n++) {
    let at = base + norm_offset(n);
    let xh = (x[at] - mean) * inv;
    dx[at] = select(0.0, inv * (dy[at] * gam(n) - mg - xh * mgx), real);
  }
}`,
  };
}

/** First pass of dγ, dβ: (Σdy·x̂, Σdy) of each block of `blockGroups` groups and each n. Bindings: x, dy, row_mean, row_inv, info, records (2 · parts · N). */
export function lnGradPartials(g: LnGeometry, blockGroups: number): KernelSource {
  const { N, KEPT } = lnSizes(g);
  const parts = Math.ceil((g.batch * KEPT) / blockGroups);
  const { workgroups, rowStride } = grid(parts * N, WG);
  const b = new Bindings().add('x', 'read').add('dy', 'read').add('row_mean', 'read').add('row_inv', 'read').add('info', 'uniform', 'StepInfo').add('records', 'write');
  return {
    key: `ln-grad-partials:${lnKey(g)}:${blockGroups}`,
    bindings: b.kinds,
    workgroups,
    code: wgsl`
${STEP_INFO_STRUCT}
${b.code}
${geometry(g)}
${REAL_GROUPS}
${constants({ PARTS: parts, BLOCK: blockGroups })}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'PARTS * N', 't')}
  let n = t % N;
  let real = real_groups();
  let first = min((t / N) * BLOCK, real);
  let last = min(first + BLOCK, real);
  let offset = norm_offset(n);
  var sg = 0.0;
  var sgx = 0.0;
  for (var k = first; k < last; k++) {
    let at = group_offset(k) + offset;
    let gv = dy[at];
    sg += gv;
    sgx += gv * (x[at] - row_mean[k]) * row_inv[k];
  }
  records[2u * t] = sgx;
  records[2u * t + 1u] = sg;
}`,
  };
}

/** dγ and dβ from the records of `parts` blocks. Bindings: records, dgamma?, dbeta?. */
export function lnGradFinish(g: LnGeometry, parts: number, f: AffineFlags): KernelSource {
  const { N } = lnSizes(g);
  const { workgroups, rowStride } = grid(N, WG);
  const b = new Bindings().add('records', 'read');
  if (f.scale) b.add('dgamma', 'write');
  if (f.center) b.add('dbeta', 'write');
  return {
    key: `ln-grad-finish:${N}:${parts}:${f.scale}:${f.center}`,
    bindings: b.kinds,
    workgroups,
    code: wgsl`
${b.code}
${constants({ N, PARTS: parts })}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'N', 'n')}
  var sgx = 0.0;
  var sg = 0.0;
  for (var p = 0u; p < PARTS; p++) {
    sgx += records[2u * (p * N + n)];
    sg += records[2u * (p * N + n) + 1u];
  }
#if ${f.scale}
  dgamma[n] = sgx;
#endif
#if ${f.center}
  dbeta[n] = sg;
#endif
}`,
  };
}
