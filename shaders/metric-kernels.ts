/**
 * The skeleton every metric kernel shares (shaders/metric-formulas.ts holds the metrics
 * themselves): its bindings, the per-position loop over the real rows, the prediction the
 * metric sees (the output, or its softmax / sigmoid when the loss folded that activation into
 * itself), the workgroup reduction and the one addition of the batch's totals into the metric's
 * slice of the accumulator.
 *
 * As in the loss kernels (shaders/loss-kernel.ts) there is no f32 atomic, so a batch reduces
 * inside one workgroup: invocations stride over the real positions, a tree reduction in
 * workgroup memory follows, and invocation 0 adds the totals: deterministic, f32 sums with
 * Kahan's compensation, counts as u32.
 *
 * The accumulator is bound as `array<u32>` (f32 words are bitcast), the metric's slice starting at
 * word BASE of the binding: the host binds the slice's buffer from the offset rounded down to the
 * device's storage offset alignment, so slices need not be aligned.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { STEP_INFO_STRUCT, type KernelSource } from './kernel.ts';
import { EPSILON, helpersFor as lossHelpersFor, HUBER_DELTA, type WgslHelper } from './loss-kernel.ts';
import { constants, f32 } from './wgsl.ts';

export { EPSILON };

/** Keras's l2_normalize epsilon (its CosineSimilarity metric). */
export const L2_EPSILON = 1e-12;

/** The threshold of Keras's Precision and Recall on the output probability. */
export const THRESHOLD = 0.5;

/**
 * How a metric accumulates, and so the layout of its slice (ACCUMULATOR_LAYOUT):
 *  - `mean`: a Kahan-compensated f32 sum of per-position values and a u32 count of positions;
 *  - `hits`: u32 positions that hit (top-k accuracy) out of a u32 count;
 *  - `confusion`: u32 true positives, u32 denominator (predicted positives for precision,
 *    actual positives for recall) and u32 elements seen;
 *  - `r2`: the residual sum of squares (Kahan) and the labels' running count, mean and sum of
 *    squared deviations (Chan's parallel update, Kahan), for R² over everything seen.
 */
export type MetricAccumulation = 'mean' | 'hits' | 'confusion' | 'r2';

/** Word offsets inside a metric's slice, per accumulation (u32 words unless said f32). */
export const ACCUMULATOR_LAYOUT = {
  mean: { sum: 0, compensation: 1, count: 2 },
  hits: { hits: 0, count: 1 },
  confusion: { truePositives: 0, denominator: 1, elements: 2 },
  r2: { residualSum: 0, residualCompensation: 1, count: 2, mean: 3, deviationSum: 4, deviationCompensation: 5 },
} as const;

/** 32-bit words of a slice, per accumulation. */
export const ACCUMULATOR_WORDS: Readonly<Record<MetricAccumulation, number>> = { mean: 3, hits: 2, confusion: 3, r2: 6 };

export interface MetricKernelGeometry {
  /** Rows of the plan; StepInfo.rows of them are real. */
  batch: number;
  /** Positions per sample: the product of the output's per-sample axes but the last. */
  positions: number;
  /** The output's last axis. */
  width: number;
}

/** What the output binding holds: the prediction itself, or the pre-activation of softmax (last axis) or sigmoid. */
export type MetricActivation = 'none' | 'softmax' | 'sigmoid';

export interface MetricKernelSpec {
  /** Names the kernel in its key and header. */
  name: string;
  /** One line for the generated code's header. */
  formula: string;
  g: MetricKernelGeometry;
  labels: 'sparse' | 'dense';
  activation: MetricActivation;
  accumulation: MetricAccumulation;
  /**
   * WGSL the accumulation calls: `mean`: `fn position_terms(p: u32, sum: vec2f) -> vec2f` (Kahan-adds
   * position p's terms to sum; the batch total is divided by TERMS, below); `hits`:
   * `fn position_hits(p: u32) -> u32`; `confusion`: `fn position_confusion(p: u32) -> vec2u`
   * (true positives, denominator); `r2`: none (it reads prediction() and the labels itself).
   */
  fns: string;
  /** `mean`: how many terms make one per-position value (WIDTH for a mean over the last axis). */
  termsPerValue?: 'width' | 1;
  /** Word offset of the metric's slice in the accumulator binding. */
  base: number;
  /** Extra key material (top-k's k). */
  keyExtra?: string;
}

// ---- helper functions ----------------------------------------------------------------------

/** The metric kernels' own WGSL helper; the rest they share with the loss kernels (helpersFor). */
const METRIC_HELPERS: Readonly<Record<string, WgslHelper>> = {
  argmax_labels: {
    code: `// The first maximum of a dense label row, as argMax.
fn argmax_labels(base: u32) -> u32 {
  var best = 0u;
  var top = labels[base];
  for (var j = 1u; j < WIDTH; j++) {
    if (labels[base + j] > top) { top = labels[base + j]; best = j; }
  }
  return best;
}`,
  },
};



/** The f32 constants `code` uses, as named WGSL constants. */
function floatConstants(code: string): string {
  const all: Record<string, number> = { EPSILON, ONE_MINUS_EPSILON: 1 - EPSILON, L2_EPSILON, THRESHOLD, HUBER_DELTA, LN2: Math.LN2 };
  return Object.entries(all)
    .filter(([name]) => new RegExp(`\\b${name}\\b`).test(code))
    .map(([name, value]) => `const ${name} = ${f32(value)};`)
    .join('\n');
}

/**
 * `begin_row(base)` (call it before reading a row's predictions), `prediction(i)` (what the model
 * outputs at element i) and, for softmax, the row's max and log Σ exp in private variables.
 */
function predictionWgsl(activation: MetricActivation): string {
  if (activation === 'softmax') {
    return `// The output holds logits: begin_row keeps the row's max and log sum exp for prediction().
var<private> rowMax: f32;
var<private> rowLogSum: f32;

fn begin_row(base: u32) {
  var m = output[base];
  for (var j = 1u; j < WIDTH; j++) { m = max(m, output[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < WIDTH; j++) { s += exp(output[base + j] - m); }
  rowMax = m;
  rowLogSum = log(s); // s >= 1: finite
}

fn prediction(i: u32) -> f32 {
  return exp((output[i] - rowMax) - rowLogSum);
}`;
  }
  return `fn begin_row(base: u32) { /* ${activation === 'sigmoid' ? 'sigmoid is per element' : 'the output is the prediction'} */ }

fn prediction(i: u32) -> f32 {
  return ${activation === 'sigmoid' ? 'sigmoid(output[i])' : 'output[i]'};
}`;
}

// ---- accumulations -------------------------------------------------------------------------

/** The per-invocation loop, the reduction and the addition into the slice, per accumulation. */
function accumulationWgsl(spec: MetricKernelSpec): { parts: string; body: string } {
  const L = ACCUMULATOR_LAYOUT;
  switch (spec.accumulation) {
    case 'mean': {
      const scale = spec.termsPerValue === 'width' ? ' / f32(WIDTH)' : '';
      return {
        parts: 'var<workgroup> sumPart: array<f32, WG>;',
        body: `var sum = vec2f(0.0);
  for (var p = lid; p < realPositions; p += WG) { sum = position_terms(p, sum); }
  sumPart[lid] = sum.x - sum.y;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { sumPart[lid] += sumPart[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    add_kahan(BASE + ${L.mean.sum}u, sumPart[0]${scale});
    acc[BASE + ${L.mean.count}u] += realPositions;
  }`,
      };
    }
    case 'hits':
      return {
        parts: 'var<workgroup> hitPart: array<u32, WG>;',
        body: `var hits = 0u;
  for (var p = lid; p < realPositions; p += WG) { hits += position_hits(p); }
  hitPart[lid] = hits;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { hitPart[lid] += hitPart[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    acc[BASE + ${L.hits.hits}u] += hitPart[0];
    acc[BASE + ${L.hits.count}u] += realPositions;
  }`,
      };
    case 'confusion':
      return {
        parts: 'var<workgroup> confusionPart: array<vec2u, WG>;',
        body: `var counts = vec2u(0u);
  for (var p = lid; p < realPositions; p += WG) { counts += position_confusion(p); }
  confusionPart[lid] = counts;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { confusionPart[lid] += confusionPart[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    acc[BASE + ${L.confusion.truePositives}u] += confusionPart[0].x;
    acc[BASE + ${L.confusion.denominator}u] += confusionPart[0].y;
    acc[BASE + ${L.confusion.elements}u] += realPositions * WIDTH;
  }`,
      };
    case 'r2':
      return {
        parts: `var<workgroup> labelPart: array<f32, WG>;
var<workgroup> residualPart: array<f32, WG>;
var<workgroup> batchMean: f32;`,
        body: `// Two passes over the batch: its labels' mean, then the squared deviations from it (exact
  // where a running sum of squares would cancel) and the squared residuals.
  let n = realPositions * WIDTH;
  var labelSum = vec2f(0.0);
  for (var i = lid; i < n; i += WG) { labelSum = kahan_add(labelSum, labels[i]); }
  labelPart[lid] = labelSum.x - labelSum.y;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { labelPart[lid] += labelPart[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) { batchMean = labelPart[0] / f32(max(n, 1u)); }
  workgroupBarrier();
  let mean = batchMean;
  var deviations = vec2f(0.0);
  var residuals = vec2f(0.0);
  for (var p = lid; p < realPositions; p += WG) {
    let base = p * WIDTH;
    begin_row(base);
    for (var j = 0u; j < WIDTH; j++) {
      let t = labels[base + j];
      let d = t - mean;
      let r = t - prediction(base + j);
      deviations = kahan_add(deviations, d * d);
      residuals = kahan_add(residuals, r * r);
    }
  }
  workgroupBarrier(); // everyone has read batchMean: labelPart is free again
  labelPart[lid] = deviations.x - deviations.y;
  residualPart[lid] = residuals.x - residuals.y;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      labelPart[lid] += labelPart[lid + stride];
      residualPart[lid] += residualPart[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u && n > 0u) {
    add_kahan(BASE + ${L.r2.residualSum}u, residualPart[0]);
    // Chan et al.'s merge of (count, mean, squared deviations) with the batch's.
    let before = acc[BASE + ${L.r2.count}u];
    let after = before + n;
    let runningMean = bitcast<f32>(acc[BASE + ${L.r2.mean}u]);
    let delta = mean - runningMean;
    let share = f32(n) / f32(after);
    acc[BASE + ${L.r2.count}u] = after;
    acc[BASE + ${L.r2.mean}u] = bitcast<u32>(runningMean + delta * share);
    add_kahan(BASE + ${L.r2.deviationSum}u, labelPart[0] + delta * delta * f32(before) * share);
  }`,
      };
  }
}

function checkGeometry(who: string, g: MetricKernelGeometry, base: number): void {
  for (const key of ['batch', 'positions', 'width'] as const) {
    const v = g[key];
    if (!Number.isInteger(v) || v < 1) throw new Error(`${who}: ${key} must be a positive integer, got ${v}`);
  }
  if (g.batch * g.positions * g.width > 2 ** 31) throw new Error(`${who}: ${g.batch} × ${g.positions} × ${g.width} elements exceed the u32 indexing`);
  if (!Number.isInteger(base) || base < 0) throw new Error(`${who}: the slice's word offset must be a non-negative integer, got ${base}`);
}

/** Invocations of the one workgroup: 64 keeps the tree reduction short; big outputs get 256. */
function workgroupSize(elements: number): number {
  return elements > 16384 ? 256 : 64;
}

/**
 * Bindings of every metric kernel, in order: output f32 [batch, positions, width] (read), labels
 * (read: sparse u32 [batch, positions], dense f32 like the output), the accumulator (u32 words,
 * added to), the StepInfo uniform.
 */
export const METRIC_BINDINGS: KernelSource['bindings'] = ['read', 'read', 'write', 'uniform'];

/** A metric kernel: one workgroup that adds one batch's totals into the metric's slice. */
export function metricKernel(spec: MetricKernelSpec): KernelSource {
  const { name, g, labels, activation, base } = spec;
  checkGeometry(name, g, base);
  const sample = g.positions * g.width;
  const wg = workgroupSize(g.batch * sample);
  const { parts, body } = accumulationWgsl(spec);
  const prediction = predictionWgsl(activation);
  const own = `${prediction}\n\n${spec.fns}\n\n${body}`;
  const helpers = lossHelpersFor(own, METRIC_HELPERS);
  const code = wgsl`// metric ${name}: ${spec.formula}.
// Adds one batch's totals (StepInfo.rows real rows of POSITIONS positions of WIDTH) to the
// metric's slice of the accumulator, which starts at word BASE of the binding.
${constants({ BATCH: g.batch, POSITIONS: g.positions, WIDTH: g.width, SAMPLE: sample, WG: wg, BASE: base })}
${floatConstants(`${helpers}\n${own}`)}

${STEP_INFO_STRUCT}

@group(0) @binding(0) var<storage, read> output: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<${labels === 'sparse' ? 'u32' : 'f32'}>;
@group(0) @binding(2) var<storage, read_write> acc: array<u32>;
@group(0) @binding(3) var<uniform> step: StepInfo;

// A Kahan sum: x the sum, y what it lost to rounding, negated.
fn kahan_add(sum: vec2f, v: f32) -> vec2f {
  let y = v - sum.y;
  let t = sum.x + y;
  return vec2f(t, (t - sum.x) - y);
}

// Kahan-adds v to the f32 at acc[word], whose compensation is at acc[word + 1].
fn add_kahan(word: u32, v: f32) {
  let sum = bitcast<f32>(acc[word]);
  let y = v - bitcast<f32>(acc[word + 1u]);
  let t = sum + y;
  acc[word + 1u] = bitcast<u32>((t - sum) - y);
  acc[word] = bitcast<u32>(t);
}

${helpers}

${prediction}

${spec.fns}

${parts}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  let rows = min(step.rows, BATCH);
  let realPositions = rows * POSITIONS;
  ${body}
}`;
  return {
    key: `metric:${name}:${activation}:${labels}:${g.batch}x${g.positions}x${g.width}:base${base}${spec.keyExtra ? `:${spec.keyExtra}` : ''}`,
    bindings: METRIC_BINDINGS,
    workgroups: [1, 1, 1],
    code,
  };
}
