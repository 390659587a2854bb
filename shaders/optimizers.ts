/**
 * An optimizer step over a model's flat parameter buffer (gradients and each state slot in
 * same-sized buffers): ONE update dispatch over all n floats, the padding between weights having
 * zero gradient and staying put. Hyperparameters that never change are baked in; what changes is
 * read per step:
 *
 * - a constant learning rate from a 16-byte uniform the host writes when it changes (`Hyper`);
 * - what depends on the step (a schedule's rate, Adam's bias corrections, Nadam's momentum cache,
 *   clipping's scale factors) from `scalars`, a small buffer that a one-invocation prologue fills
 *   from StepInfo's `step` before the update: no upload per step. The prologue runs only when
 *   something needs it.
 *
 * Each optimizer is an UpdateRule (shaders/update-rules.ts): its per-element statements and the
 * per-step scalars it wants. Clipping (shaders/clipping.ts) and Keras's decoupled weight decay
 * (w ← w − w·wd·lr, before the update) wrap every rule the same way.
 *
 * The update comes in two shapes (src/optimizers/update-variants.ts chooses): one f32 per
 * invocation, or four consecutive floats as a vec4f (every binding an array<vec4f>, the rule's
 * body written once for either type), the last n mod 4 floats then in a scalar tail dispatch:
 * the tail cannot share the vec4 kernel, whose writable bindings may not alias f32 views of the
 * same buffers.
 */
import type { BindingKind, KernelSource } from './kernel.ts';
import { STEP_INFO_STRUCT } from './kernel.ts';
import { clipInUpdate, clipKey, clipScaleCount, clipScaleStatements, segmentConstants, segmentOfFunction, type ClipSpec } from './clipping.ts';
import { scheduleFunction, scheduleKey, type ScheduleSpec } from './schedules.ts';
import { constants, f32, flatIndex, grid } from './wgsl.ts';

const WG = 256;
/** The scalar tail of a vec4 update: at most 3 floats. */
const TAIL_WG = 4;

/** The type an update body computes in: one element per invocation (f32) or four (vec4f). */
export type Lane = 'f32' | 'vec4f';

/** `value` (a scalar expression) as a T: itself, or splatted where WGSL wants a vector (select's and clamp's operands). */
export function splat(T: Lane, value: string): string {
  return T === 'f32' ? value : `${T}(${value})`;
}

/** The uniform the host writes: the learning rate when it is a number (the rest is padding). */
export const HYPER_STRUCT = 'struct Hyper { lr: f32, unused0: f32, unused1: f32, unused2: f32 }';

/** What an optimizer adds to the shared update kernel. */
export interface UpdateRule {
  /** Pipeline key: the family and every constant the rule bakes. */
  key: string;
  /** f32 constants the body and prologue read (UPPER_SNAKE_CASE). */
  constants: Readonly<Record<string, number>>;
  /** WGSL names of the state slots, in binding order (each an array<f32> as large as the params). */
  slots: readonly string[];
  /**
   * Per-step scalars: `prologue` defines `let <name> = …;` for each, from `t` (the 1-based step,
   * f32), `step` (u32), `lr` and STEP_MATH's functions; the update reads them under the same names.
   */
  scalars: readonly string[];
  prologue?: string;
  /** Module-scope WGSL the prologue needs (functions, constants). */
  prologueFunctions?: string;
  /**
   * Statements updating element i of every binding, each a T: read `g` (clipped), `lr`, the
   * scalars (f32) and slots; assign `w`. Scalars mix with T freely; where WGSL wants both operands
   * a T (select, clamp, max with a constant), the body splats them.
   */
  body(T: Lane): string;
  /** The body reads `stepInfo.step` (Adagrad starts its accumulator at the first step). */
  readsStep?: boolean;
}

/** What wraps every rule: clipping, weight decay, and where the learning rate comes from. */
export interface UpdateOptions {
  clip: ClipSpec;
  /** Keras's decoupled weight decay (0: none). */
  weightDecay: number;
  /** A schedule evaluated on the GPU, or undefined: the rate is `Hyper.lr`. */
  schedule?: ScheduleSpec;
}

/** Math for per-step scalars, accurate where 1 − β^t is small (early steps, β near 1). */
export const STEP_MATH = `// 1 − e^x for x ≤ 0; a series near 0, where 1 − exp(x) would cancel.
fn oneMinusExp(x: f32) -> f32 {
  if (x > -0.5) {
    return -x * (1.0 + x / 2.0 * (1.0 + x / 3.0 * (1.0 + x / 4.0 * (1.0 + x / 5.0 * (1.0 + x / 6.0 * (1.0 + x / 7.0 * (1.0 + x / 8.0 * (1.0 + x / 9.0))))))));
  }
  return 1.0 - exp(x);
}

// 1 − β^t, from ln β (computed on the host in float64).
fn oneMinusPower(lnBeta: f32, t: f32) -> f32 {
  return oneMinusExp(lnBeta * t);
}`;

/** Whether the step needs the prologue (and so a `scalars` buffer). */
export function needsPrologue(rule: UpdateRule, o: UpdateOptions): boolean {
  return rule.scalars.length > 0 || o.schedule !== undefined || clipScaleCount(o.clip) > 0;
}

/** Floats of the `scalars` buffer: the rate, the rule's scalars, then clipping's factors. */
export function scalarCount(rule: UpdateRule, o: UpdateOptions): number {
  return 1 + rule.scalars.length + clipScaleCount(o.clip);
}

function optionsKey(o: UpdateOptions): string {
  return `${clipKey(o.clip)}:wd=${f32(o.weightDecay)}:lr=${o.schedule ? scheduleKey(o.schedule) : 'uniform'}`;
}

/**
 * The per-step prologue, one invocation. Bindings: hyper (uniform), stepInfo (uniform), scalars
 * (write), and for norm clipping the sums of squares (read).
 */
export function prologueKernel(rule: UpdateRule, o: UpdateOptions): KernelSource {
  const count = scalarCount(rule, o);
  const clipped = clipScaleCount(o.clip) > 0;
  const segments = o.clip.kind === 'norm' || o.clip.kind === 'global' ? o.clip.segments : [];
  const bindings: BindingKind[] = ['uniform', 'uniform', 'write', ...(clipped ? (['read'] as const) : [])];
  return {
    key: `optimizer-prologue:${rule.key}:${optionsKey(o)}`,
    bindings,
    workgroups: [1, 1, 1],
    code: `${HYPER_STRUCT}
${STEP_INFO_STRUCT}
${constants(rule.constants, 'f32')}
${clipped ? `${segmentConstants(segments)}\n${constants({ CLIP_BASE: 1 + rule.scalars.length })}\n${constants({ CLIPNORM: (o.clip as { clipnorm: number }).clipnorm }, 'f32')}` : ''}
${STEP_MATH}
${rule.prologueFunctions ?? ''}
${o.schedule ? scheduleFunction(o.schedule) : ''}

@group(0) @binding(0) var<uniform> hyper: Hyper;
@group(0) @binding(1) var<uniform> stepInfo: StepInfo;
@group(0) @binding(2) var<storage, read_write> scalars: array<f32, ${count}>;
${clipped ? `@group(0) @binding(3) var<storage, read> sums: array<f32, ${segments.length}>;` : ''}

@compute @workgroup_size(1)
fn main() {
  let step = stepInfo.step;
  let t = f32(step);
  let lr = ${o.schedule ? 'scheduledLearningRate(step - 1u)' : 'hyper.lr'};
  scalars[0] = lr;
  ${rule.prologue ?? ''}
  ${rule.scalars.map((name, k) => `scalars[${k + 1}] = ${name};`).join('\n  ')}
  ${clipScaleStatements(o.clip)}
}`,
  };
}

/**
 * The update over n floats, one per invocation. Bindings: params (write), grads (read), the
 * rule's slots (write), then `scalars` (read) when the prologue runs or else the Hyper uniform,
 * then StepInfo when the rule reads the step.
 */
export function updateKernel(n: number, rule: UpdateRule, o: UpdateOptions): KernelSource {
  const { workgroups, rowStride } = grid(n, WG);
  return updateSource(rule, o, { key: `optimizer-update:${n}`, T: 'f32', workgroupSize: WG, workgroups, index: flatIndex(rowStride, n), clip: clipInUpdate(o.clip) });
}

/**
 * The update of floats 0 .. 4·⌊n/4⌋ − 1, four per invocation as vec4f (n ≥ 4); the same bindings
 * as updateKernel's, which must start at 16-byte offsets (storage offsets are 256-aligned anyway).
 * updateTailKernel updates the rest.
 */
export function updateKernelVec4(n: number, rule: UpdateRule, o: UpdateOptions): KernelSource {
  const vec4s = Math.floor(n / 4);
  if (vec4s < 1) throw new Error(`updateKernelVec4: needs at least 4 floats, got ${n}`);
  const { workgroups, rowStride } = grid(vec4s, WG);
  const tail = n % 4 ? ` (the last ${n % 4} in the scalar tail)` : '';
  return updateSource(rule, o, {
    key: `optimizer-update:vec4:${n}`,
    T: 'vec4f',
    workgroupSize: WG,
    workgroups,
    index: flatIndex(rowStride, 'VEC4S'),
    clip: clipInUpdateVec4(o.clip),
    launchConstants: `${constants({ VEC4S: vec4s })} // vec4s of the ${n} floats${tail}`,
  });
}

/** The floats 4·⌊n/4⌋ .. n − 1 (n not a multiple of 4) one per invocation: what updateKernelVec4 leaves. */
export function updateTailKernel(n: number, rule: UpdateRule, o: UpdateOptions): KernelSource {
  const first = n - (n % 4);
  if (first === n) throw new Error(`updateTailKernel: ${n} floats leave no tail`);
  return updateSource(rule, o, {
    key: `optimizer-update:tail:${first}-${n}`,
    T: 'f32',
    workgroupSize: TAIL_WG,
    workgroups: [1, 1, 1],
    index: `let i = FIRST + gid.x;
  if (i >= COUNT) { return; }`,
    clip: clipInUpdate(o.clip),
    launchConstants: constants({ FIRST: first, COUNT: n }),
  });
}

/** clipInUpdate's statement for a vec4 of elements 4i .. 4i + 3. */
function clipInUpdateVec4(c: ClipSpec): { declarations: string; statement: string } {
  if (c.kind === 'value') return { declarations: constants({ CLIPVALUE: c.clipvalue }, 'f32'), statement: 'g = clamp(g, vec4f(-CLIPVALUE), vec4f(CLIPVALUE));' };
  if (c.kind !== 'norm') return clipInUpdate(c);
  const declarations = `${segmentConstants(c.segments)}\n${segmentOfFunction(c.segments)}`;
  // Weights at offsets that are multiples of 4 (the model's, aligned for binding) hold whole vec4s: one lookup.
  if (c.segments.every((s) => s.offset % 4 === 0)) return { declarations, statement: 'g *= scalars[CLIP_BASE + segmentOf(4u * i)];' };
  const lane = (k: number) => `scalars[CLIP_BASE + segmentOf(4u * i + ${k}u)]`;
  return { declarations, statement: `g *= vec4f(${[0, 1, 2, 3].map(lane).join(', ')});` };
}

/** How one update kernel launches and indexes its elements. */
interface UpdateLaunch {
  /** The key's start; the rule and options follow. */
  key: string;
  T: Lane;
  workgroupSize: number;
  workgroups: [number, number, number];
  /** Statements defining `i`, the element (or vec4) index, and returning past the end. */
  index: string;
  clip: { declarations: string; statement: string };
  /** Module-scope constants the index reads. */
  launchConstants?: string;
}

function updateSource(rule: UpdateRule, o: UpdateOptions, launch: UpdateLaunch): KernelSource {
  const prologue = needsPrologue(rule, o);
  const slotsAt = 2;
  const rateAt = slotsAt + rule.slots.length;
  const { T, clip } = launch;
  const bindings: BindingKind[] = ['write', 'read', ...rule.slots.map(() => 'write' as const), prologue ? 'read' : 'uniform', ...(rule.readsStep ? (['uniform'] as const) : [])];
  return {
    key: `${launch.key}:${rule.key}:${optionsKey(o)}`,
    bindings,
    workgroups: launch.workgroups,
    code: `${prologue ? '' : HYPER_STRUCT}
${rule.readsStep ? STEP_INFO_STRUCT : ''}
${constants(rule.constants, 'f32')}
${o.weightDecay > 0 ? constants({ WEIGHT_DECAY: o.weightDecay }, 'f32') : ''}
${clipScaleCount(o.clip) > 0 ? constants({ CLIP_BASE: 1 + rule.scalars.length }) : ''}
${clip.declarations}${launch.launchConstants ? `\n${launch.launchConstants}` : ''}

@group(0) @binding(0) var<storage, read_write> params: array<${T}>;
@group(0) @binding(1) var<storage, read> grads: array<${T}>;
${rule.slots.map((name, k) => `@group(0) @binding(${slotsAt + k}) var<storage, read_write> ${name}: array<${T}>;`).join('\n')}
${prologue ? `@group(0) @binding(${rateAt}) var<storage, read> scalars: array<f32, ${scalarCount(rule, o)}>;` : `@group(0) @binding(${rateAt}) var<uniform> hyper: Hyper;`}
${rule.readsStep ? `@group(0) @binding(${rateAt + 1}) var<uniform> stepInfo: StepInfo;` : ''}

@compute @workgroup_size(${launch.workgroupSize})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${launch.index}
  let lr = ${prologue ? 'scalars[0]' : 'hyper.lr'};
  ${rule.scalars.map((name, k) => `let ${name} = scalars[${k + 1}];`).join('\n  ')}
  var g = grads[i];
  ${clip.statement}
  var w = params[i];
  ${o.weightDecay > 0 ? 'w -= w * WEIGHT_DECAY * lr;' : ''}
  ${rule.body(T)}
  params[i] = w;
}`,
  };
}
