/**
 * The 'partials' variant of a loss (the 'one-workgroup' one is shaders/loss-kernel.ts): the same
 * per-position losses and gradients over many workgroups, for GPUs, where one workgroup would
 * leave every compute unit but one idle. There is no f32 atomic, so the batch's sum takes two
 * passes over a scratch buffer (`Partials`):
 *
 *  1. the partial pass: PARTS workgroups, each invocation one position (row-wise losses) or one
 *     element (elementwise ones, coalesced) of the batch, striding by the whole launch; it writes
 *     the gradients and each workgroup's Kahan-and-tree sum of losses and count of matches;
 *  2. the finish: one workgroup sums the PARTS partials in a fixed order (Kahan per invocation,
 *     then a tree: deterministic, and a pairwise sum's f32 error) and adds the batch's totals to
 *     the metrics accumulator exactly as the one-workgroup kernel does.
 *
 * A masked loss's gradient scale is 1 / (kept positions), which no workgroup knows alone: a count
 * pass (one workgroup over the mask, which is WIDTH × MASK_INNER times smaller than the output)
 * runs first and leaves it in Partials.kept. Each partial workgroup recounting the mask instead
 * would read it PARTS times over, which grows with the square of the positions.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { STEP_INFO_STRUCT, type KernelSource } from './kernel.ts';
import { addToMetricsWgsl, countKeptPositions, gradScaleWgsl, KAHAN_ADD, lossBindings, lossDeclarations, lossLoops, lossParts, WORKGROUP_REDUCTION, type KernelSpec, type LossParts } from './loss-kernel.ts';
import { metricsWgsl } from './metrics.ts';
import { constants } from './wgsl.ts';

/** Invocations of a partial workgroup: an element each (elementwise losses) or a whole row each (row-wise ones, so fewer). */
const ELEMENT_WORKGROUP = 256;
const ROW_WORKGROUP = 64;
/** At most this many partial workgroups (the finish's work); each invocation then strides over several units. */
export const MAX_PARTS = 1024;
/** Invocations of the finish and of the mask count. */
const FINISH_WORKGROUP = 64;
const COUNT_WORKGROUP = 256;

/** The kernels of a loss's 'partials' variant and the scratch they share. */
export interface LossPartialsKernels {
  /** Masked losses: counts the kept positions into Partials.kept. Bindings: mask (read), scratch, StepInfo. */
  count: KernelSource | null;
  /** Per-position losses and gradients, one partial per workgroup. Bindings: lossBindings with the scratch at the accumulator's place. */
  partials: KernelSource;
  /** Sums the partials into the metrics accumulator. Bindings: scratch (read), metrics, StepInfo. */
  finish: KernelSource;
  /** Bytes of the scratch (Partials). */
  scratchBytes: number;
  /** Workgroups of the partial pass. */
  parts: number;
}

/** The scratch's WGSL at `binding`: one Partial per partial workgroup, and the count pass's kept positions. */
function partialsWgsl(binding: number, access: 'read' | 'read_write'): string {
  return `// Each partial workgroup's loss sum and accuracy matches; kept: the kept positions (masked losses, from the count pass).
struct Partial {
  loss: f32,
  correct: u32,
}

struct Partials {
  kept: u32,
  parts: array<Partial, PARTS>,
}

@group(0) @binding(${binding}) var<storage, ${access}> partials: Partials;`;
}

/** The launch of the partial pass: its workgroup size and how many workgroups (PARTS). */
export function partialsLaunch(spec: KernelSpec): { wg: number; parts: number } {
  const { batch, positions, width } = spec.g;
  const wg = spec.elementwise ? ELEMENT_WORKGROUP : ROW_WORKGROUP;
  const units = spec.elementwise ? batch * positions * width : batch * positions;
  return { wg, parts: Math.min(MAX_PARTS, Math.ceil(units / wg)) };
}

function partialPass(parts: LossParts, wg: number, count: number): KernelSource {
  const { spec } = parts;
  const g = spec.g;
  const note = `
// The partial pass of ${count} workgroups: each invocation takes one ${spec.elementwise ? 'element' : 'position'} every STRIDE; each workgroup
// writes its sums to partials.parts[workgroup], which the finish adds up.`;
  const code = wgsl`${lossDeclarations(parts, wg, partialsWgsl(parts.metricsBinding, 'read_write'), { PARTS: count, STRIDE: count * wg }, note)}

var<workgroup> lossPart: array<f32, WG>;
var<workgroup> correctPart: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let rows = min(step.rows, BATCH);
  let realPositions = rows * POSITIONS;
${parts.masked ? `  // The count pass's kept positions: the mean is over them (no kept position: no gradient).
  let keptPositions = partials.kept;
` : ''}  ${gradScaleWgsl(parts)}
  let first = wid.x * WG + lid;
${lossLoops(parts, 'first', 'STRIDE')}
${WORKGROUP_REDUCTION}
  if (lid == 0u) { partials.parts[wid.x] = Partial(lossPart[0], correctPart[0]); }
}`;
  return {
    key: `loss-partials:${spec.name}:${g.batch}x${g.positions}x${g.width}:${parts.keyOptions}:wg${wg}x${count}`,
    bindings: lossBindings(parts.withGradient, parts.weighted, parts.masked),
    workgroups: [count, 1, 1],
    code,
  };
}

function finishPass(parts: LossParts, count: number): KernelSource {
  const { spec, masked } = parts;
  const g = spec.g;
  const code = `// ${spec.name}: the finish of the partial pass. Sums its PARTS workgroups' losses and matches
// in a fixed order and adds the batch's totals to the metrics accumulator.
${constants({ BATCH: g.batch, POSITIONS: g.positions, WIDTH: g.width, PARTS: count, WG: FINISH_WORKGROUP })}

${STEP_INFO_STRUCT}

${partialsWgsl(0, 'read')}
${metricsWgsl(1)}

@group(0) @binding(2) var<uniform> step: StepInfo;

${KAHAN_ADD}

var<workgroup> lossPart: array<f32, WG>;
var<workgroup> correctPart: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  let rows = min(step.rows, BATCH);
  let realPositions = rows * POSITIONS;${masked ? `
  let keptPositions = partials.kept;` : ''}
  var loss = vec2f(0.0);
  var correct = 0u;
  for (var w = lid; w < PARTS; w += WG) {
    loss = kahan_add(loss, partials.parts[w].loss);
    correct += partials.parts[w].correct;
  }
${WORKGROUP_REDUCTION}
${addToMetricsWgsl(parts)}
}`;
  return {
    key: `loss-finish:${spec.name}:${g.batch}x${g.positions}x${g.width}:${parts.keyOptions}:parts${count}`,
    bindings: ['read', 'write', 'uniform'],
    workgroups: [1, 1, 1],
    code,
  };
}

function countPass(parts: LossParts, count: number): KernelSource {
  const g = parts.spec.g;
  const maskPositions = parts.maskPositions!;
  const code = `// The kept positions of a masked loss's real rows (the mask's values that are not 0, MASK_INNER
// positions each), for the partial pass's gradient scale and the finish's mean.
${constants({ BATCH: g.batch, MASK_POSITIONS: maskPositions, MASK_INNER: g.positions / maskPositions, PARTS: count, WG: COUNT_WORKGROUP })}

${STEP_INFO_STRUCT}

@group(0) @binding(0) var<storage, read> mask: array<f32>;
${partialsWgsl(1, 'read_write')}
@group(0) @binding(2) var<uniform> step: StepInfo;

var<workgroup> keptPart: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  let rows = min(step.rows, BATCH);
  ${countKeptPositions('kept', 'keptPart')}
  if (lid == 0u) { partials.kept = keptPart[0] * MASK_INNER; }
}`;
  return {
    key: `loss-mask-count:${g.batch}x${maskPositions}x${g.positions / maskPositions}:parts${count}`,
    bindings: ['read', 'write', 'uniform'],
    workgroups: [1, 1, 1],
    code,
  };
}

/** The 'partials' variant's kernels of a loss (elementwiseLossSpec, rowLossSpec). */
export function lossPartialsKernels(spec: KernelSpec): LossPartialsKernels {
  const parts = lossParts(spec);
  const { wg, parts: count } = partialsLaunch(spec);
  return {
    count: parts.masked ? countPass(parts, count) : null,
    partials: partialPass(parts, wg, count),
    finish: finishPass(parts, count),
    scratchBytes: 4 + 8 * count,
    parts: count,
  };
}
