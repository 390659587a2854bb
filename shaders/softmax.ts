/**
 * Softmax over the last axis of [rows, classes], its backward pass, and the fused
 * softmax-crossentropy that training uses: it writes dL/dlogits and accumulates loss and accuracy
 * on the GPU so that a step never reads anything back.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { grid, STEP_INFO_STRUCT, type KernelSource } from './kernel.ts';

/** One invocation per row: classifier heads are narrow (10 classes), so a row is a short loop. */
const ROW_WG = 64;

/**
 * The crossentropy's one workgroup. There is no f32 atomic, so the batch reduction must happen
 * inside a single workgroup; 64 threads cover the usual batch in one row each and keep the tree
 * reduction to six barriers, which are expensive on CPU rasterizers.
 */
const LOSS_WG = 64;

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

export type LabelKind = 'sparse' | 'onehot';

/**
 * Crossentropy of softmax(logits) against labels, for a batch of `batch` rows of `classes` logits.
 * Bindings: logits f32 [B, C]; labels (sparse: u32 [B]; onehot: f32 [B, C]); when `withGradient`,
 * dlogits f32 [B, C] (overwritten with d(mean loss)/dlogits); last, the metrics accumulator
 * (4 words, read_write, ADDED to): loss sum f32, correct predictions u32, sample count u32, and the
 * Kahan compensation of the loss sum (f32; the true sum is word0 − word3).
 *
 * Per row, with m = max logit and s = Σ exp(x − m): −log p_j = log s + (m − x_j), a sum of two
 * non-negative terms, so logits of ±1e4 neither overflow nor cancel. One-hot rows use the general
 * −Σ t·log p and gradient (p·Σt − t)/B, which equal the sparse formulas bit for bit on exact
 * one-hot rows. A sparse label ≥ classes makes the loss sum NaN so the mistake cannot train silently.
 *
 * `partialBatches`: a last binding, the StepInfo uniform, says how many rows are real (`rows`,
 * at most B); the others get a zero gradient and stay out of the metrics, and the mean is over
 * the real rows. So one plan serves an epoch's partial last batch (shaders/kernel.ts).
 */
export function softmaxCrossentropy(batch: number, classes: number, labels: LabelKind, withGradient: boolean, partialBatches = false): KernelSource {
  checkShape('softmaxCrossentropy', batch, classes);
  if (labels !== 'sparse' && labels !== 'onehot') throw new Error(`softmaxCrossentropy: labels must be 'sparse' or 'onehot', got '${String(labels)}'`);
  const sparse = labels === 'sparse';
  const metricsBinding = withGradient ? 3 : 2;
  const rows = partialBatches ? `min(step.rows, ${batch}u)` : `${batch}u`;
  return {
    key: `softmax-crossentropy:${batch}x${classes}:${labels}:${withGradient ? 'gradient' : 'metrics-only'}${partialBatches ? ':partial' : ''}`,
    bindings: ['read', 'read', ...(withGradient ? (['write'] as const) : []), 'write', ...(partialBatches ? (['uniform'] as const) : [])],
    workgroups: [1, 1, 1],
    code: wgsl`
struct Metrics {
  lossSum: f32,
  correct: u32,
  count: u32,
  // Kahan: what lossSum lost to rounding, negated; keeps a whole epoch's sum accurate in f32.
  compensation: f32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
#if ${sparse}
@group(0) @binding(1) var<storage, read> labels: array<u32>;
#else
@group(0) @binding(1) var<storage, read> labels: array<f32>;
#endif
#if ${withGradient}
@group(0) @binding(2) var<storage, read_write> dlogits: array<f32>;
#endif
@group(0) @binding(${metricsBinding}) var<storage, read_write> metrics: Metrics;
#if ${partialBatches}
${STEP_INFO_STRUCT}
@group(0) @binding(${metricsBinding + 1}) var<uniform> step: StepInfo;
#endif

var<workgroup> lossPart: array<f32, ${LOSS_WG}>;
var<workgroup> correctPart: array<u32, ${LOSS_WG}>;

@compute @workgroup_size(${LOSS_WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  // Each thread sums its rows with Kahan too: big evaluation batches give a thread many rows.
  var loss = 0.0;
  var lossComp = 0.0;
  var correct = 0u;
  let rows = ${rows};
  let meanScale = f32(rows);
  for (var row = lid; row < ${batch}u; row += ${LOSS_WG}u) {
    let base = row * ${classes}u;
#if ${partialBatches}
    if (row >= rows) {
#if ${withGradient}
      for (var j = 0u; j < ${classes}u; j++) { dlogits[base + j] = 0.0; }
#endif
      continue;
    }
#endif
    var m = logits[base];
    var predicted = 0u;
    for (var j = 1u; j < ${classes}u; j++) {
      let v = logits[base + j];
      if (v > m) { m = v; predicted = j; } // strict: the FIRST argmax, like Keras
    }
    var s = 0.0;
    for (var j = 0u; j < ${classes}u; j++) { s += exp(logits[base + j] - m); }
    let logS = log(s);
#if ${sparse}
    let label = labels[row];
    var rowLoss = logS + (m - logits[base + min(label, ${classes - 1}u)]);
    if (label >= ${classes}u) {
      // No NaN literal exists in WGSL; a runtime bit pattern with all exponent bits set is NaN.
      rowLoss = bitcast<f32>(0x7fc00000u | label);
    }
    let trueClass = label;
#else
    var rowLoss = 0.0;
    var tSum = 0.0;
    var trueClass = 0u;
    var tMax = labels[base];
    for (var j = 0u; j < ${classes}u; j++) {
      let t = labels[base + j];
      tSum += t;
      rowLoss += t * (logS + (m - logits[base + j]));
      if (t > tMax) { tMax = t; trueClass = j; }
    }
#endif
    correct += select(0u, 1u, predicted == trueClass);
#if ${withGradient}
    for (var j = 0u; j < ${classes}u; j++) {
      let p = exp((logits[base + j] - m) - logS);
#if ${sparse}
      dlogits[base + j] = (p - select(0.0, 1.0, j == label)) / meanScale;
#else
      dlogits[base + j] = (p * tSum - labels[base + j]) / meanScale;
#endif
    }
#endif
    let y = rowLoss - lossComp;
    let t = loss + y;
    lossComp = (t - loss) - y;
    loss = t;
  }

  lossPart[lid] = loss - lossComp;
  correctPart[lid] = correct;
  workgroupBarrier();
  for (var stride = ${LOSS_WG / 2}u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      lossPart[lid] += lossPart[lid + stride];
      correctPart[lid] += correctPart[lid + stride];
    }
    workgroupBarrier();
  }

  if (lid == 0u) {
    let y = lossPart[0] - metrics.compensation;
    let t = metrics.lossSum + y;
    metrics.compensation = (t - metrics.lossSum) - y;
    metrics.lossSum = t;
    metrics.correct += correctPart[0];
    metrics.count += rows;
  }
}`,
  };
}
