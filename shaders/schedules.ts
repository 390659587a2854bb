/**
 * Keras's learning-rate schedules in WGSL: `fn scheduledLearningRate(step: u32) -> f32`, the rate
 * of the update that follows `step` updates (Keras evaluates a schedule at `optimizer.iterations`,
 * the count of steps already applied), with every parameter baked in as a named constant. The
 * optimizer's per-step prologue (shaders/optimizers.ts) calls it with StepInfo's step − 1, so no
 * rate is uploaded per step.
 *
 * Powers whose base is fixed (decay_rate^p) take log2 of the base from the host in float64; floor
 * and ceil of step / decay_steps are corrected by a multiplication so that a step exactly on a
 * boundary lands on it whatever the division's rounding; the cosine is a polynomial on [0, π/4]
 * (the builtins' accuracy near 0 is implementation-defined), written as cos²(πf/2) or sin²(π(1−f)/2)
 * so that the decayed value keeps its relative accuracy where it approaches zero.
 */
import { constants, f32 } from './wgsl.ts';

/** A schedule as plain numbers (src/optimizers/schedules.ts builds it from the user's object). */
export type ScheduleSpec =
  | { kind: 'exponential'; initial: number; decaySteps: number; decayRate: number; staircase: boolean }
  | { kind: 'inverseTime'; initial: number; decaySteps: number; decayRate: number; staircase: boolean }
  | { kind: 'piecewise'; boundaries: readonly number[]; values: readonly number[] }
  | { kind: 'polynomial'; initial: number; decaySteps: number; end: number; power: number; cycle: boolean }
  | { kind: 'cosine'; initial: number; decaySteps: number; alpha: number; warmupTarget: number | null; warmupSteps: number };

/** The part of a pipeline key that names the schedule and every constant it bakes. */
export function scheduleKey(s: ScheduleSpec): string {
  switch (s.kind) {
    case 'exponential':
    case 'inverseTime':
      return `${s.kind}(${f32(s.initial)},${f32(s.decaySteps)},${s.decayRate},${s.staircase})`;
    case 'piecewise':
      return `piecewise(${s.boundaries.map(f32).join(',')};${s.values.map(f32).join(',')})`;
    case 'polynomial':
      return `polynomial(${f32(s.initial)},${f32(s.decaySteps)},${f32(s.end)},${f32(s.power)},${s.cycle})`;
    case 'cosine':
      return `cosine(${f32(s.initial)},${f32(s.decaySteps)},${f32(s.alpha)},${s.warmupTarget === null ? 'none' : f32(s.warmupTarget)},${f32(s.warmupSteps)})`;
  }
}

/** floor(s / d) and ceil(s / d), exact where s is a multiple of d (steps are integers below 2^24). */
const DIVISION = `fn floorDiv(s: f32, d: f32) -> f32 {
  var q = floor(s / d);
  if ((q + 1.0) * d <= s) { q += 1.0; }
  if (q * d > s) { q -= 1.0; }
  return q;
}

fn ceilDiv(s: f32, d: f32) -> f32 {
  var q = ceil(s / d);
  if ((q - 1.0) * d >= s) { q -= 1.0; }
  if (q * d < s) { q += 1.0; }
  return q;
}`;

/** (1 + cos(πf)) / 2 for f in [0, 1], by Taylor polynomials on [0, π/4] (truncation below 2e-9). */
const HALF_COSINE = `fn cosSmall(x: f32) -> f32 {
  let x2 = x * x;
  return 1.0 - x2 / 2.0 * (1.0 - x2 / 12.0 * (1.0 - x2 / 30.0 * (1.0 - x2 / 56.0 * (1.0 - x2 / 90.0))));
}

fn sinSmall(x: f32) -> f32 {
  let x2 = x * x;
  return x * (1.0 - x2 / 6.0 * (1.0 - x2 / 20.0 * (1.0 - x2 / 42.0 * (1.0 - x2 / 72.0))));
}

// (1 + cos(π·x/d)) / 2 for x in [0, d]; past the middle from d − x, exact for integer steps.
fn halfCosine(x: f32, d: f32) -> f32 {
  let c = select(sinSmall(HALF_PI * ((d - x) / d)), cosSmall(HALF_PI * (x / d)), 2.0 * x <= d);
  return c * c;
}`;

/** Module-scope WGSL defining `fn scheduledLearningRate(step: u32) -> f32` for `s`. */
export function scheduleFunction(s: ScheduleSpec): string {
  const fn = (body: string) => `fn scheduledLearningRate(step: u32) -> f32 {
  let s = f32(step);
  ${body}
}`;
  switch (s.kind) {
    case 'exponential':
    case 'inverseTime': {
      const p = s.staircase ? 'floorDiv(s, SCHEDULE_DECAY_STEPS)' : 's / SCHEDULE_DECAY_STEPS';
      const value =
        s.kind === 'exponential'
          ? 'SCHEDULE_INITIAL * exp2(p * SCHEDULE_LOG2_DECAY_RATE)'
          : 'SCHEDULE_INITIAL / (1.0 + SCHEDULE_DECAY_RATE * p)';
      return `${constants({ SCHEDULE_INITIAL: s.initial, SCHEDULE_DECAY_STEPS: s.decaySteps, ...(s.kind === 'exponential' ? { SCHEDULE_LOG2_DECAY_RATE: Math.log2(s.decayRate) } : { SCHEDULE_DECAY_RATE: s.decayRate }) }, 'f32')}
${s.staircase ? DIVISION : ''}
${fn(`let p = ${p};
  return ${value};`)}`;
    }
    case 'piecewise': {
      const b = s.boundaries.length;
      if (b === 0) return `${fn(`return ${f32(s.values[0]!)};`)}`;
      return `const SCHEDULE_BOUNDARIES = array<f32, ${b}>(${s.boundaries.map(f32).join(', ')});
const SCHEDULE_VALUES = array<f32, ${b + 1}>(${s.values.map(f32).join(', ')});
${fn(`// values[k] for boundaries[k - 1] < step <= boundaries[k].
  var k = 0u;
  for (var j = 0u; j < ${b}u; j++) {
    if (s > SCHEDULE_BOUNDARIES[j]) { k = j + 1u; }
  }
  return SCHEDULE_VALUES[k];`)}`;
    }
    case 'polynomial': {
      // Keras: with cycle, decay_steps grows to the first multiple at or past the step (1× at step 0);
      // 1 − s/d as (d − s)/d keeps its relative accuracy near the end.
      const progress = s.cycle
        ? `let d = SCHEDULE_DECAY_STEPS * select(ceilDiv(s, SCHEDULE_DECAY_STEPS), 1.0, step == 0u);
  let q = (d - s) / d;`
        : `let q = (SCHEDULE_DECAY_STEPS - min(s, SCHEDULE_DECAY_STEPS)) / SCHEDULE_DECAY_STEPS;`;
      const power = s.power === 1 ? 'q' : `select(exp2(SCHEDULE_POWER * log2(q)), 0.0, q <= 0.0)`;
      return `${constants({ SCHEDULE_INITIAL: s.initial, SCHEDULE_DECAY_STEPS: s.decaySteps, SCHEDULE_END: s.end, SCHEDULE_POWER: s.power }, 'f32')}
${s.cycle ? DIVISION : ''}
${fn(`${progress}
  return (SCHEDULE_INITIAL - SCHEDULE_END) * ${power} + SCHEDULE_END;`)}`;
    }
    case 'cosine': {
      const decayed = (x: string, from: string) => `${from} * ((1.0 - SCHEDULE_ALPHA) * halfCosine(${x}, SCHEDULE_DECAY_STEPS) + SCHEDULE_ALPHA)`;
      const shared = `${constants({ HALF_PI: Math.PI / 2, SCHEDULE_INITIAL: s.initial, SCHEDULE_DECAY_STEPS: s.decaySteps, SCHEDULE_ALPHA: s.alpha }, 'f32')}
${HALF_COSINE}`;
      if (s.warmupTarget === null) {
        return `${shared}
${fn(`return ${decayed('min(s, SCHEDULE_DECAY_STEPS)', 'SCHEDULE_INITIAL')};`)}`;
      }
      return `${shared}
${constants({ SCHEDULE_WARMUP_TARGET: s.warmupTarget, SCHEDULE_WARMUP_STEPS: s.warmupSteps }, 'f32')}
${fn(`let x = min(s, SCHEDULE_DECAY_STEPS + SCHEDULE_WARMUP_STEPS);
  if (x < SCHEDULE_WARMUP_STEPS) {
    // Linear warm-up from the initial rate to the target.
    return (SCHEDULE_WARMUP_TARGET - SCHEDULE_INITIAL) * (x / SCHEDULE_WARMUP_STEPS) + SCHEDULE_INITIAL;
  }
  return ${decayed('x - SCHEDULE_WARMUP_STEPS', 'SCHEDULE_WARMUP_TARGET')};`)}`;
    }
  }
}
