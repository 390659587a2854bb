/**
 * The regularization kernels of a training step (src/ops/regularizers.ts dispatches them):
 *
 *  - `penaltyKernel`: over a weight (or, for an activity regularizer, a layer's output), adds
 *    the penalty's gradient l1·sign(x) + 2·l2·x into the gradient and writes each workgroup's
 *    part of the penalty l1·Σ|x| + l2·Σx² into a partials buffer shared by the step's penalties;
 *  - `penaltyIntoLossKernel`: sums the partials and adds the total into a loss accumulator as
 *    `total · rows · positions · scale`, so that the accumulator's lossSum / count (the mean loss)
 *    moves by the penalty: the logged loss is the data loss plus the penalties, batch by batch.
 *
 * There is no f32 atomic: each workgroup reduces its part in workgroup memory, and one workgroup
 * sums the parts, which also keeps the result independent of scheduling.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { STEP_INFO_STRUCT, type KernelSource } from './kernel.ts';
import { metricsWgsl } from './metrics.ts';
import { constants, f32 } from './wgsl.ts';

/** Invocations per workgroup of both kernels. */
export const PENALTY_WG = 256;

/** Values each invocation of penaltyKernel visits: a workgroup covers PENALTY_WG × this many. */
export const PENALTY_PER_LANE = 8;

/** Values one workgroup of penaltyKernel covers, hence one partial per this many values. */
export const PENALTY_CHUNK = PENALTY_WG * PENALTY_PER_LANE;

const MAX_GROUPS = 65535;

export interface PenaltySpec {
  /** Values of the tensor (for an activity: the plan's rows × `activity.sample`). */
  n: number;
  l1: number;
  l2: number;
  /** Whether the gradient binding is there (a frozen weight's penalty counts in the loss only). */
  withGradient: boolean;
  /** The first partial this kernel writes (it writes penaltyGroups(n) of them). */
  base: number;
  /**
   * An activity regularizer over a layer's output: only the first StepInfo.rows rows of `sample`
   * values count, and penalty and gradient are divided by rows (Keras 2's batch-size normalization).
   */
  activity?: { sample: number };
}

/** Workgroups (partials) of a penalty over n values. */
export function penaltyGroups(n: number): number {
  return Math.ceil(n / PENALTY_CHUNK);
}

/** The reduction of `parts[lid]` over the workgroup into parts[0] (all invocations must call it). */
const TREE_REDUCTION = `workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { parts[lid] += parts[lid + stride]; }
    workgroupBarrier();
  }`;

/**
 * Bindings: value (read), grad (read-write, when withGradient), partials (read-write), and for an
 * activity the StepInfo uniform.
 */
export function penaltyKernel(spec: PenaltySpec): KernelSource {
  const { n, l1, l2, withGradient, base, activity } = spec;
  if (!Number.isInteger(n) || n < 1) throw new Error(`penalty kernel: n must be a positive integer, got ${n}`);
  if (!(l1 >= 0 && l2 >= 0) || (l1 === 0 && l2 === 0)) throw new Error(`penalty kernel: l1 and l2 must be ≥ 0 and not both 0, got ${l1}, ${l2}`);
  if (activity && (!Number.isInteger(activity.sample) || activity.sample < 1 || n % activity.sample !== 0)) {
    throw new Error(`penalty kernel: an activity's sample size must divide n = ${n}, got ${activity.sample}`);
  }
  const groups = penaltyGroups(n);
  if (groups > MAX_GROUPS) throw new Error(`penalty kernel: ${n} values need ${groups} workgroups, more than ${MAX_GROUPS}`);
  const terms = [l1 > 0 ? 'L1 * abs(x)' : '', l2 > 0 ? 'L2 * x * x' : ''].filter(Boolean).join(' + ');
  const slope = [l1 > 0 ? 'L1 * sign(x)' : '', l2 > 0 ? '2.0 * L2 * x' : ''].filter(Boolean).join(' + ');
  const bindings: KernelSource['bindings'] = ['read', ...(withGradient ? (['write'] as const) : []), 'write', ...(activity ? (['uniform'] as const) : [])];
  const partialsBinding = withGradient ? 2 : 1;
  const code = wgsl`// The penalty ${terms} of ${activity ? "a layer's output (its real rows, divided by their number)" : 'a weight'}${withGradient ? `, and its gradient ${slope} added into grad` : ''}.
${constants({ N: n, BASE: base, WG: PENALTY_WG, PER_LANE: PENALTY_PER_LANE, CHUNK: PENALTY_CHUNK, ...(activity ? { SAMPLE: activity.sample } : {}) })}
${l1 > 0 ? `const L1 = ${f32(l1)};` : ''}
${l2 > 0 ? `const L2 = ${f32(l2)};` : ''}
#if ${activity !== undefined}

${STEP_INFO_STRUCT}
#endif

@group(0) @binding(0) var<storage, read> value: array<f32>;
#if ${withGradient}
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
#endif
@group(0) @binding(${partialsBinding}) var<storage, read_write> partials: array<f32>;
#if ${activity !== undefined}
@group(0) @binding(${partialsBinding + 1}) var<uniform> step: StepInfo;
#endif

var<workgroup> parts: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
#if ${activity !== undefined}
  // The padding rows of a partial batch hold no sample: they neither count nor get a gradient.
  let rows = max(min(step.rows, N / SAMPLE), 1u);
  let end = rows * SAMPLE;
  let scale = 1.0 / f32(rows);
#else
  let end = N;
#endif
  var sum = 0.0;
  for (var k = 0u; k < PER_LANE; k++) {
    let i = wid.x * CHUNK + k * WG + lid;
    if (i < end) {
      let x = value[i];
      sum += ${terms};
#if ${withGradient}
#if ${activity !== undefined}
      grad[i] += scale * (${slope});
#else
      grad[i] += ${slope};
#endif
#endif
    }
  }
  parts[lid] = sum;
  ${TREE_REDUCTION}
  if (lid == 0u) {
#if ${activity !== undefined}
    partials[BASE + wid.x] = parts[0] * scale;
#else
    partials[BASE + wid.x] = parts[0];
#endif
  }
}`;
  return {
    key: `penalty:${n}:${f32(l1)}:${f32(l2)}:${withGradient ? 'grad' : 'value'}:${base}:${activity ? `activity${activity.sample}` : 'weight'}`,
    bindings,
    workgroups: [groups, 1, 1],
    code,
  };
}

/**
 * Bindings: partials (read), the loss accumulator (read-write, shaders/metrics.ts), the StepInfo
 * uniform. Adds Σ partials[0 .. count) · rows · positions · scale into the accumulator's lossSum
 * (Kahan), leaving its count alone: `positions` is what the loss counts per real row, `scale`
 * undoes the output's loss weight in the logged total.
 */
export function penaltyIntoLossKernel(count: number, positions: number, scale: number): KernelSource {
  if (!Number.isInteger(count) || count < 1) throw new Error(`penalty into loss: count must be a positive integer, got ${count}`);
  if (!Number.isInteger(positions) || positions < 1) throw new Error(`penalty into loss: positions must be a positive integer, got ${positions}`);
  const code = wgsl`// The step's penalties (COUNT partial sums) into the loss accumulator: the batch's mean loss
// (lossSum / count) moves by their total.
${constants({ COUNT: count, POSITIONS: positions, WG: PENALTY_WG })}
const SCALE = ${f32(scale)};

${STEP_INFO_STRUCT}

@group(0) @binding(0) var<storage, read> partials: array<f32>;
${metricsWgsl(1)}
@group(0) @binding(2) var<uniform> step: StepInfo;

var<workgroup> parts: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  var sum = 0.0;
  for (var i = lid; i < COUNT; i += WG) { sum += partials[i]; }
  parts[lid] = sum;
  ${TREE_REDUCTION}
  if (lid == 0u) {
    // The loss kernel counted rows · POSITIONS per-position losses this step.
    add_to_metrics(parts[0] * f32(step.rows * POSITIONS) * SCALE, 0u, 0u, 0u);
  }
}`;
  return { key: `penalty-into-loss:${count}:${positions}:${f32(scale)}`, bindings: ['read', 'write', 'uniform'], workgroups: [1, 1, 1], code };
}
