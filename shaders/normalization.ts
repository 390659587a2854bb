/**
 * BatchNormalization kernels. The input is seen as [ROWS, C, INNER]: ROWS = batch · S (the axes
 * before the channel axis), C channels, INNER positions after the channel axis (1: channels last).
 * Statistics are per channel over the step's real rows (StepInfo.rows · S) and every inner position.
 *
 * Reads are 4 floats wide whenever the layout allows (bnLayout): 4 channels of a row when the
 * channel axis is last and C is a multiple of 4 ('channels'), 4 inner positions of one channel
 * when INNER is a multiple of 4 ('inner'), else one float ('scalar'). In those units a row is
 * [CV, IV]: CV channel columns (C/4, or C) of IV units each (1 when channels are last).
 *
 * Training is two passes over the data each way, each reduction finished by a small kernel:
 *   - bnStatsPartials: the (mean, M2) of each block of rows of each column, summed about the
 *     block's first value (a large mean costs no precision); barrier-free in the registers style
 *     (each invocation stores its block's record), while in the tiled style a workgroup's row
 *     blocks are merged in workgroup memory (Chan et al.'s pairwise rule) into one record;
 *   - bnStatsFinish: one invocation per channel column merges its records into the batch mean and
 *     biased variance, and moves the moving statistics, TF.js's moving − (moving − batch)·(1 − momentum);
 *   - bnNormalize: y = (x − mean)·γ/σ + β, each invocation ROWS_PER_INVOCATION rows of one column
 *     (its channel's coefficients read once);
 *   - bnGradPartials / bnGradFinish: Σdy and Σdy·(x − mean) per channel the same way; the finish
 *     writes Σdy (dβ) and Σdy·x̂ (dγ);
 *   - bnGradInput: dx = γ/σ · (dy − Σdy/n − x̂ · Σdy·x̂/n), zero on the rows past the real ones;
 *   - bnAffineGrad: dx = dy · γ/σ (moving statistics are constants: inference mode, a frozen layer).
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { STEP_INFO_STRUCT, type BindingKind, type KernelSource } from './kernel.ts';
import { constants, each, f32, flatIndex, grid } from './wgsl.ts';

/** The normalized tensor as [batch · perSample, channels, inner]. */
export interface NormGeometry {
  batch: number;
  perSample: number;
  channels: number;
  inner: number;
}

export interface AffineFlags {
  epsilon: number;
  scale: boolean;
  center: boolean;
}

/** How BatchNormalization's kernels read a row: see the file comment. */
export interface BnLayout {
  lanes: 'channels' | 'inner' | 'scalar';
  /** The unit read at a time. */
  T: 'vec4f' | 'f32';
  /** Per channel column statistics: vec4f when 4 channels share a unit, else f32. */
  R: 'vec4f' | 'f32';
  /** Channel columns of a row and units per column. */
  CV: number;
  IV: number;
}

/** The widest reads `g` allows: 4 channels of a row, 4 positions of one channel, or 1 float. */
export function bnLayout(g: NormGeometry): BnLayout {
  if (g.inner === 1 && g.channels % 4 === 0) return { lanes: 'channels', T: 'vec4f', R: 'vec4f', CV: g.channels / 4, IV: 1 };
  if (g.inner % 4 === 0) return { lanes: 'inner', T: 'vec4f', R: 'f32', CV: g.channels, IV: g.inner / 4 };
  return { lanes: 'scalar', T: 'f32', R: 'f32', CV: g.channels, IV: g.inner };
}

/**
 * How the reductions' first pass cuts [ROWS, CV, IV]: each invocation takes a block of
 * `rowsPerPart` rows of one column (cv, j), whose units are j, j + innerChunks, … of the channel's IV
 * (innerChunks divides IV); a workgroup is wgCols columns × wgParts row blocks, and each
 * workgroup stores one record per column: `groups` records per column and chunk.
 */
export interface BnPartition {
  innerChunks: number;
  rowsPerPart: number;
  wgCols: number;
  wgParts: number;
  groups: number;
}

/** Declares the bindings in order and returns their kinds. */
export class Bindings {
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

export const geometryKey = (g: NormGeometry) => `${g.batch}x${g.perSample}x${g.channels}x${g.inner}`;
const partitionKey = (p: BnPartition) => `ib${p.innerChunks}-rb${p.rowsPerPart}-wg${p.wgCols}x${p.wgParts}-g${p.groups}`;

/** The geometry's constants, and with `info` real_rows() (for kernels that bind the step's uniform). */
function sizes(g: NormGeometry, info: boolean): string {
  const { CV, IV } = bnLayout(g);
  const code = `${constants({ BATCH: g.batch, S: g.perSample, ROWS: g.batch * g.perSample, INNER: g.inner })}
${constants({ CV })} // channel columns of a row
${constants({ IV })} // units (vec4f or f32) of a column
const ROW = CV * IV; // units of a row`;
  return info ? `${code}\n${REAL_ROWS}` : code;
}

const REAL_ROWS = `// Rows of this step's real samples (a partial last batch runs through the full batch's plan).
fn real_rows() -> u32 { return min(info.rows, BATCH) * S; }`;

/** The partition's constants (see BnPartition). */
function partitionSizes(p: BnPartition, layout: BnLayout): string {
  return `${constants({ IB: p.innerChunks, M: layout.IV / p.innerChunks, RB: p.rowsPerPart, WG_COLS: p.wgCols, WG_PARTS: p.wgParts, GROUPS: p.groups })}
const COLS = CV * IB; // invocation columns: (channel column, inner chunk)
const GROUP_ROWS = WG_PARTS * RB; // rows behind one record
const VALUES_PER_ROW = M * ${layout.lanes === 'inner' ? 4 : 1}u; // values of one channel a record takes from each row`;
}

/** `fn lane_sum(v: T) -> R`: the 4 inner positions of a unit summed when they share a channel. */
function laneSum(layout: BnLayout): string {
  return layout.lanes === 'inner' ? 'fn lane_sum(v: vec4f) -> f32 { return dot(v, vec4f(1.0)); }' : `fn lane_sum(v: ${layout.T}) -> ${layout.R} { return v; }`;
}

/**
 * The first-pass prologue shared by both reductions: this invocation's column (cv, j) and rows
 * [first, last) (empty past the real rows); `in_range` is false for the padding columns of the
 * last workgroup, which still run (their workgroup may hit barriers) on the last real column.
 */
const PARTIAL_PROLOGUE = `let column = wid.x * WG_COLS + lid % WG_COLS;
  let in_range = column < COLS;
  let col = min(column, COLS - 1u);
  let cv = col / IB;
  let j = col % IB;
  let real = real_rows();
  let first = min((wid.y * WG_PARTS + lid / WG_COLS) * RB, real);
  let last = min(first + RB, real);`;

/** The record store of a first pass: the workgroup's first row of invocations writes (a, b). */
const PARTIAL_STORE = `if (in_range && lid < WG_COLS) {
    let k = (wid.y * COLS + col) * 2u;
    records[k] = total.a;
    records[k + 1u] = total.b;
  }`;

/**
 * Statements accumulating `body(at)` over the M units j, j + IB, … of row r's column (`at`, a
 * unit index): straight-line for a few units, a loop for more.
 */
function unitsOfRow(m: number, body: (at: string) => string): string {
  if (m <= 4) return `let base = r * ROW + cv * IV + j;
    ${each(m, (u) => `{
      let at = base${u === 0 ? '' : ` + ${u}u * IB`};
      ${body('at')}
    }`, '\n    ')}`;
  return `let base = r * ROW + cv * IV + j;
    for (var u = 0u; u < M; u++) {
      let at = base + u * IB;
      ${body('at')}
    }`;
}

/** A tree over the workgroup's WG_PARTS row blocks with `merge` (call in uniform control flow). */
function workgroupTree(R: string, workgroup: number): string {
  return `var<workgroup> tree_a: array<${R}, ${workgroup}>;
var<workgroup> tree_b: array<${R}, ${workgroup}>;
var<workgroup> tree_n: array<f32, ${workgroup}>;
fn workgroup_merge(lid: u32, p: Pair) -> Pair {
  tree_a[lid] = p.a;
  tree_b[lid] = p.b;
  tree_n[lid] = p.n;
  workgroupBarrier();
  for (var s = WG_PARTS / 2u; s > 0u; s = s >> 1u) {
    if (lid / WG_COLS < s) {
      let other = lid + s * WG_COLS;
      let m = merge(Pair(tree_a[lid], tree_b[lid], tree_n[lid]), Pair(tree_a[other], tree_b[other], tree_n[other]));
      tree_a[lid] = m.a;
      tree_b[lid] = m.b;
      tree_n[lid] = m.n;
    }
    workgroupBarrier();
  }
  return Pair(tree_a[lid], tree_b[lid], tree_n[lid]);
}`;
}

/**
 * First pass of the statistics: record (mean, M2) of each row block and column (merged over a
 * workgroup's blocks in the tiled style). Bindings: x, info, records (2 · groups · COLS of R).
 */
export function bnStatsPartials(g: NormGeometry, p: BnPartition): KernelSource {
  const layout = bnLayout(g);
  const { T, R } = layout;
  const wg = p.wgCols * p.wgParts;
  const b = new Bindings().add('x', 'read', `array<${T}>`).add('info', 'uniform', 'StepInfo').add('records', 'write', `array<${R}>`);
  return {
    key: `bn-stats-partials:${geometryKey(g)}:${partitionKey(p)}`,
    bindings: b.kinds,
    workgroups: [Math.ceil((layout.CV * p.innerChunks) / p.wgCols), p.groups, 1],
    code: wgsl`
${STEP_INFO_STRUCT}
${b.code}
${sizes(g, true)}
${partitionSizes(p, layout)}

// (mean, M2, n): the mean and the sum of squared deviations of n values of one column.
struct Pair { a: ${R}, b: ${R}, n: f32 }

#if ${p.wgParts > 1}
// Chan et al.'s pairwise update of two blocks' moments (an empty block has mean 0 and n 0).
fn merge(a: Pair, b: Pair) -> Pair {
  let n = a.n + b.n;
  let w = select(0.0, b.n / n, n > 0.0);
  let d = b.a - a.a;
  return Pair(a.a + d * w, a.b + b.b + d * d * (a.n * w), n);
}
${workgroupTree(R, wg)}
#endif

// Moments of rows [first, last) of column (cv, j), about the block's first value (so that a large
// mean costs no precision), then of the 4 positions of a unit together when they share a channel.
fn block_moments(cv: u32, j: u32, first: u32, last: u32) -> Pair {
  let shift = x[min(first, ROWS - 1u) * ROW + cv * IV + j];
  var s = ${T}(0.0);
  var q = ${T}(0.0);
  for (var r = first; r < last; r++) {
    ${unitsOfRow(layout.IV / p.innerChunks, (at) => `let d = x[${at}] - shift;
      s += d;
      q += d * d;`)}
  }
  let n = f32((last - first) * M);
  let inv_n = select(0.0, 1.0 / n, n > 0.0);
  let mean = select(${T}(0.0), shift + s * inv_n, n > 0.0);
  let m2 = select(${T}(0.0), q - s * s * inv_n, n > 0.0);
#if ${layout.lanes === 'inner'}
  let mean_all = dot(mean, vec4f(0.25));
  let dm = mean - vec4f(mean_all);
  return Pair(mean_all, dot(m2, vec4f(1.0)) + n * dot(dm, dm), 4.0 * n);
#else
  return Pair(mean, m2, n);
#endif
}

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  ${PARTIAL_PROLOGUE}
#if ${p.wgParts > 1}
  let total = workgroup_merge(lid, block_moments(cv, j, first, last));
#else
  let total = block_moments(cv, j, first, last);
#endif
  ${PARTIAL_STORE}
}`,
  };
}

/** Weighted loops over a column's records: `body` sees `w` (values behind the record) and `k` (its index in records). */
function recordLoop(body: string): string {
  return `for (var group = 0u; group < GROUPS; group++) {
    let rows = min(real, (group + 1u) * GROUP_ROWS) - min(real, group * GROUP_ROWS);
    let w = f32(rows * VALUES_PER_ROW);
    for (var j = 0u; j < IB; j++) {
      let k = (group * COLS + cv * IB + j) * 2u;
      ${body}
    }
  }`;
}

/**
 * The batch mean and biased variance of each channel column from its records, and with `update`
 * the moving statistics' step. Bindings: records, info, mean_out, var_out (CV of R each), then
 * moving_mean, moving_var with `update`.
 */
export function bnStatsFinish(g: NormGeometry, p: BnPartition, update: { momentum: number } | null): KernelSource {
  const layout = bnLayout(g);
  const { R } = layout;
  const A = `array<${R}>`;
  const b = new Bindings().add('records', 'read', A).add('info', 'uniform', 'StepInfo').add('mean_out', 'write', A).add('var_out', 'write', A);
  if (update) b.add('moving_mean', 'write', A).add('moving_var', 'write', A);
  const { workgroups, rowStride } = grid(layout.CV, 64);
  return {
    key: `bn-stats-finish:${geometryKey(g)}:${partitionKey(p)}:${update ? update.momentum : '-'}`,
    bindings: b.kinds,
    workgroups,
    code: wgsl`
${STEP_INFO_STRUCT}
${b.code}
${sizes(g, true)}
${partitionSizes(p, layout)}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'CV', 'cv')}
  let real = real_rows();
  var n = 0.0;
  var s = ${R}(0.0);
  ${recordLoop(`n += w;
      s += w * records[k];`)}
  let mean = s / n;
  var m2 = ${R}(0.0);
  ${recordLoop(`let d = records[k] - mean;
      m2 += records[k + 1u] + w * d * d;`)}
  let variance = m2 / n;
  mean_out[cv] = mean;
  var_out[cv] = variance;
#if ${update !== null}
  let decay = ${f32(1 - (update?.momentum ?? 0))};
  moving_mean[cv] = moving_mean[cv] - (moving_mean[cv] - mean) * decay;
  moving_var[cv] = moving_var[cv] - (moving_var[cv] - variance) * decay;
#endif
}`,
  };
}

/**
 * The launch of an elementwise pass: one invocation per `rows` rows of one unit column; `body(i)`
 * handles unit index i (a statement list), after `setup` (the column's coefficients, read once).
 */
function rowsOfColumn(g: NormGeometry, rows: number, setup: string, body: (i: string) => string): { code: string; workgroups: [number, number, number] } {
  const { CV, IV } = bnLayout(g);
  const totalRows = g.batch * g.perSample;
  const invocations = Math.ceil(totalRows / rows) * CV * IV;
  const { workgroups, rowStride } = grid(invocations, 64);
  const ragged = totalRows % rows !== 0;
  const code = wgsl`
const ROWS_PER_INVOCATION = ${rows}u;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, invocations, 't')}
  let unit = t % ROW;
  let cv = unit / IV;
  let first = (t / ROW) * ROWS_PER_INVOCATION;
  ${setup}
  ${each(rows, (k) => {
    const row = k === 0 ? 'first' : `first + ${k}u`;
    const stmt = `{
    let r = ${row};
    let i = r * ROW + unit;
    ${body('i')}
  }`;
    return ragged && k > 0 ? `if (${row} < ROWS) ${stmt}` : stmt;
  })}
}`;
  return { code, workgroups };
}

/** A channel column's coefficient `expr` as the unit type: splat to vec4f when a unit holds 4 positions of one channel. */
const unitOf = (layout: BnLayout, expr: string) => (layout.lanes === 'inner' ? `vec4f(${expr})` : expr);

/** y = (x − mean[c]) · γ[c] / sqrt(var[c] + ε) + β[c]. Bindings: x, mean, variance, gamma?, beta?, y. */
export function bnNormalize(g: NormGeometry, f: AffineFlags, rows: number): KernelSource {
  const layout = bnLayout(g);
  const { T, R } = layout;
  const b = new Bindings().add('x', 'read', `array<${T}>`).add('mean', 'read', `array<${R}>`).add('variance', 'read', `array<${R}>`);
  if (f.scale) b.add('gamma', 'read', `array<${R}>`);
  if (f.center) b.add('beta', 'read', `array<${R}>`);
  b.add('y', 'write', `array<${T}>`);
  const setup = `let k = ${unitOf(layout, `${f.scale ? 'gamma[cv]' : '1.0'} / sqrt(variance[cv] + ${f32(f.epsilon)})`)};
  let m = ${unitOf(layout, 'mean[cv]')};
  let shift = ${f.center ? unitOf(layout, 'beta[cv]') : `${T}(0.0)`};`;
  const { code, workgroups } = rowsOfColumn(g, rows, setup, (i) => `y[${i}] = (x[${i}] - m) * k + shift;`);
  return {
    key: `bn-normalize:${geometryKey(g)}:r${rows}:${f.epsilon}:${f.scale}:${f.center}`,
    bindings: b.kinds,
    workgroups,
    code: `${b.code}\n${sizes(g, false)}\n${code}`,
  };
}

/**
 * First pass of the gradient sums: Σdy and Σdy·(x − mean) of each row block and column (added over
 * a workgroup's blocks in the tiled style). Bindings: x, dy, mean, info, records (2 · groups · COLS of R).
 */
export function bnGradPartials(g: NormGeometry, p: BnPartition): KernelSource {
  const layout = bnLayout(g);
  const { T, R } = layout;
  const wg = p.wgCols * p.wgParts;
  const b = new Bindings()
    .add('x', 'read', `array<${T}>`)
    .add('dy', 'read', `array<${T}>`)
    .add('mean', 'read', `array<${R}>`)
    .add('info', 'uniform', 'StepInfo')
    .add('records', 'write', `array<${R}>`);
  return {
    key: `bn-grad-partials:${geometryKey(g)}:${partitionKey(p)}`,
    bindings: b.kinds,
    workgroups: [Math.ceil((layout.CV * p.innerChunks) / p.wgCols), p.groups, 1],
    code: wgsl`
${STEP_INFO_STRUCT}
${b.code}
${sizes(g, true)}
${partitionSizes(p, layout)}
${laneSum(layout)}

// (Σdy, Σdy·(x − mean)) of some values of one column (n unused).
struct Pair { a: ${R}, b: ${R}, n: f32 }

#if ${p.wgParts > 1}
fn merge(a: Pair, b: Pair) -> Pair { return Pair(a.a + b.a, a.b + b.b, 0.0); }
${workgroupTree(R, wg)}
#endif

// Σdy and Σdy·(x − mean) over rows [first, last) of column (cv, j), the 4 positions of a unit added when they share a channel.
fn block_sums(cv: u32, j: u32, first: u32, last: u32) -> Pair {
  let m = ${unitOf(layout, 'mean[cv]')};
  var s = ${T}(0.0);
  var q = ${T}(0.0);
  for (var r = first; r < last; r++) {
    ${unitsOfRow(layout.IV / p.innerChunks, (at) => `let g = dy[${at}];
      s += g;
      q += g * (x[${at}] - m);`)}
  }
  return Pair(lane_sum(s), lane_sum(q), 0.0);
}

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  ${PARTIAL_PROLOGUE}
#if ${p.wgParts > 1}
  let total = workgroup_merge(lid, block_sums(cv, j, first, last));
#else
  let total = block_sums(cv, j, first, last);
#endif
  ${PARTIAL_STORE}
}`,
  };
}

/**
 * Σdy and Σdy·x̂ of each channel column from its records, into sums[cv] and sums[CV + cv], and into
 * dβ and dγ when given. Bindings: records, variance, info, sums (2 · CV of R), dgamma?, dbeta?.
 */
export function bnGradFinish(g: NormGeometry, p: BnPartition, f: AffineFlags): KernelSource {
  const layout = bnLayout(g);
  const { R } = layout;
  const A = `array<${R}>`;
  const b = new Bindings().add('records', 'read', A).add('variance', 'read', A).add('info', 'uniform', 'StepInfo').add('sums', 'write', A);
  if (f.scale) b.add('dgamma', 'write', A);
  if (f.center) b.add('dbeta', 'write', A);
  const { workgroups, rowStride } = grid(layout.CV, 64);
  return {
    key: `bn-grad-finish:${geometryKey(g)}:${partitionKey(p)}:${f.epsilon}:${f.scale}:${f.center}`,
    bindings: b.kinds,
    workgroups,
    code: wgsl`
${STEP_INFO_STRUCT}
${b.code}
${sizes(g, true)}
${partitionSizes(p, layout)}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'CV', 'cv')}
  var sg = ${R}(0.0);
  var sgx = ${R}(0.0);
  for (var k = 0u; k < GROUPS * IB; k++) {
    let at = ((k / IB) * COLS + cv * IB + k % IB) * 2u;
    sg += records[at];
    sgx += records[at + 1u];
  }
  sgx = sgx / sqrt(variance[cv] + ${f32(f.epsilon)});
  sums[cv] = sg;
  sums[CV + cv] = sgx;
#if ${f.scale}
  dgamma[cv] = sgx;
#endif
#if ${f.center}
  dbeta[cv] = sg;
#endif
}`,
  };
}

/** dx through the batch statistics; zero on the rows past the real ones. Bindings: x, dy, mean, variance, sums, gamma?, info, dx. */
export function bnGradInput(g: NormGeometry, f: AffineFlags, rows: number): KernelSource {
  const layout = bnLayout(g);
  const { T, R } = layout;
  const b = new Bindings()
    .add('x', 'read', `array<${T}>`)
    .add('dy', 'read', `array<${T}>`)
    .add('mean', 'read', `array<${R}>`)
    .add('variance', 'read', `array<${R}>`)
    .add('sums', 'read', `array<${R}>`);
  if (f.scale) b.add('gamma', 'read', `array<${R}>`);
  b.add('info', 'uniform', 'StepInfo').add('dx', 'write', `array<${T}>`);
  // dx = k · (dy − a − (x − m) · c) with k = γ/σ, a = Σdy/n, c = Σdy·x̂/(σ n).
  const setup = `let real = real_rows();
  let inv_n = 1.0 / f32(real * INNER);
  let inv = 1.0 / sqrt(variance[cv] + ${f32(f.epsilon)});
  let k = ${unitOf(layout, f.scale ? 'gamma[cv] * inv' : 'inv')};
  let a = ${unitOf(layout, 'sums[cv] * inv_n')};
  let c = ${unitOf(layout, 'sums[CV + cv] * inv * inv_n')};
  let m = ${unitOf(layout, 'mean[cv]')};`;
  const { code, workgroups } = rowsOfColumn(g, rows, setup, (i) => `dx[${i}] = select(${T}(0.0), k * (dy[${i}] - a - (x[${i}] - m) * c), r < real);`);
  return {
    key: `bn-grad-input:${geometryKey(g)}:r${rows}:${f.epsilon}:${f.scale}`,
    bindings: b.kinds,
    workgroups,
    code: `${STEP_INFO_STRUCT}\n${b.code}\n${sizes(g, true)}\n${code}`,
  };
}

/** dx = dy · γ / sqrt(var + ε) with constant statistics. Bindings: dy, variance, gamma?, dx. */
export function bnAffineGrad(g: NormGeometry, f: AffineFlags, rows: number): KernelSource {
  const layout = bnLayout(g);
  const { T, R } = layout;
  const b = new Bindings().add('dy', 'read', `array<${T}>`).add('variance', 'read', `array<${R}>`);
  if (f.scale) b.add('gamma', 'read', `array<${R}>`);
  b.add('dx', 'write', `array<${T}>`);
  const setup = `let k = ${unitOf(layout, `${f.scale ? 'gamma[cv]' : '1.0'} / sqrt(variance[cv] + ${f32(f.epsilon)})`)};`;
  const { code, workgroups } = rowsOfColumn(g, rows, setup, (i) => `dx[${i}] = dy[${i}] * k;`);
  return {
    key: `bn-affine-grad:${geometryKey(g)}:r${rows}:${f.epsilon}:${f.scale}`,
    bindings: b.kinds,
    workgroups,
    code: `${b.code}\n${sizes(g, false)}\n${code}`,
  };
}
