/**
 * The update rule of each optimizer, element by element, for the shared update kernel
 * (shaders/optimizers.ts). Where TF.js has the optimizer the rule is TF.js's (tfjs-core
 * optimizers/*.js: its epsilon placement and initial accumulators); Keras's otherwise. Each body
 * reads the clipped gradient `g`, the rate `lr`, its per-step scalars and its slots at `i`, and
 * assigns `w`, all of type T (f32, or vec4f in the vectorized update: constants and scalars mix
 * with either; select takes its operands splatted). Constants that hold β^t come as ln β, computed in float64 on the host.
 */
import { splat, type UpdateRule } from './optimizers.ts';
import { f32 } from './wgsl.ts';

/** Keras's SGD: v ← momentum·v − lr·g, w ← w + v (nesterov: w ← w + momentum·v − lr·g); plain: w ← w − lr·g. Slots: [momentum]. */
export function sgdRule(c: { momentum: number; nesterov: boolean }): UpdateRule {
  if (c.momentum === 0) return { key: 'sgd', constants: {}, slots: [], scalars: [], body: () => 'w -= lr * g;' };
  return {
    key: `sgd:momentum=${f32(c.momentum)}:nesterov=${c.nesterov}`,
    constants: { MOMENTUM: c.momentum },
    slots: ['velocity'],
    scalars: [],
    body: () => `let v = MOMENTUM * velocity[i] - lr * g;
  velocity[i] = v;
  w += ${c.nesterov ? 'MOMENTUM * v - lr * g' : 'v'};`,
  };
}

/** TF.js's MomentumOptimizer: a ← momentum·a + g; w ← w − lr·a (nesterov: w ← w − lr·(g + momentum·a)). Slots: momentum. */
export function momentumRule(c: { momentum: number; useNesterov: boolean }): UpdateRule {
  return {
    key: `momentum:momentum=${f32(c.momentum)}:nesterov=${c.useNesterov}`,
    constants: { MOMENTUM: c.momentum },
    slots: ['accumulation'],
    scalars: [],
    body: () => `let a = MOMENTUM * accumulation[i] + g;
  accumulation[i] = a;
  w -= lr * ${c.useNesterov ? '(g + a * MOMENTUM)' : 'a'};`,
  };
}

/**
 * Adagrad (TF.js and Keras): a ← a + g², w ← w − lr·g/√(a + ε), the accumulator starting at
 * initialAccumulatorValue (set here at step 1: the slots start zeroed). Slots: accumulator.
 */
export function adagradRule(c: { initialAccumulatorValue: number; epsilon: number }): UpdateRule {
  return {
    key: `adagrad:initial=${f32(c.initialAccumulatorValue)}:eps=${f32(c.epsilon)}`,
    constants: { INITIAL_ACCUMULATOR: c.initialAccumulatorValue, EPSILON: c.epsilon },
    slots: ['accumulator'],
    scalars: [],
    readsStep: true,
    body: (T) => `let a = select(accumulator[i], ${splat(T, 'INITIAL_ACCUMULATOR')}, stepInfo.step == 1u) + g * g;
  accumulator[i] = a;
  w -= lr * (g / sqrt(a + EPSILON));`,
  };
}

/**
 * Adadelta as TF.js: the step Δ = √(u + ε)/√(a + ε)·g uses the accumulated gradient from BEFORE
 * this step (Keras uses the updated one); a ← ρa + (1−ρ)g², u ← ρu + (1−ρ)Δ², w ← w − lr·Δ.
 * Slots: accum_grad, accum_var.
 */
export function adadeltaRule(c: { rho: number; epsilon: number }): UpdateRule {
  return {
    key: `adadelta:rho=${f32(c.rho)}:eps=${f32(c.epsilon)}`,
    constants: { RHO: c.rho, ONE_MINUS_RHO: 1 - c.rho, EPSILON: c.epsilon },
    slots: ['accumGrad', 'accumVar'],
    scalars: [],
    body: () => `let a = accumGrad[i];
  let u = accumVar[i];
  let delta = sqrt(u + EPSILON) / sqrt(a + EPSILON) * g;
  accumGrad[i] = RHO * a + ONE_MINUS_RHO * g * g;
  accumVar[i] = RHO * u + ONE_MINUS_RHO * delta * delta;
  w -= lr * delta;`,
  };
}

/**
 * RMSprop: v ← ρv + (1−ρ)g²; centered: mg ← ρ·mg + (1−ρ)g and v − mg² in the denominator (plus
 * ε, as Keras: TF.js subtracts ε there, which is NaN wherever the gradient stays below ~√ε);
 * increment = lr·g/√(denominator + ε); with momentum m ← momentum·m + increment, w ← w − m.
 * Slots: rms[, momentum][, mg].
 */
export function rmspropRule(c: { rho: number; epsilon: number; momentum: number; centered: boolean }): UpdateRule {
  const withMomentum = c.momentum > 0;
  return {
    key: `rmsprop:rho=${f32(c.rho)}:eps=${f32(c.epsilon)}:momentum=${f32(c.momentum)}:centered=${c.centered}`,
    constants: { RHO: c.rho, ONE_MINUS_RHO: 1 - c.rho, EPSILON: c.epsilon, ...(withMomentum ? { MOMENTUM: c.momentum } : {}) },
    slots: ['rms', ...(withMomentum ? ['mom'] : []), ...(c.centered ? ['mg'] : [])],
    scalars: [],
    body: () => `let v = RHO * rms[i] + ONE_MINUS_RHO * g * g;
  rms[i] = v;
  ${
    c.centered
      ? `let a = RHO * mg[i] + ONE_MINUS_RHO * g;
  mg[i] = a;
  let increment = lr * g / sqrt(v - a * a + EPSILON);`
      : 'let increment = lr * g / sqrt(v + EPSILON);'
  }
  ${
    withMomentum
      ? `let m = MOMENTUM * mom[i] + increment;
  mom[i] = m;
  w -= m;`
      : 'w -= increment;'
  }`,
  };
}

/** ln β for 1 − β^t, in float64; β = 0 gets a large finite negative (β^t = 0 from the first step). */
function lnBeta(beta: number): number {
  return Math.max(Math.log(beta), -1e30);
}

/** Constants shared by the Adam family, with ln β1 and ln β2 for the prologue's 1 − β^t. */
function adamConstants(beta1: number, beta2: number, epsilon: number) {
  return { BETA1: beta1, ONE_MINUS_BETA1: 1 - beta1, BETA2: beta2, ONE_MINUS_BETA2: 1 - beta2, LN_BETA1: lnBeta(beta1), LN_BETA2: lnBeta(beta2), EPSILON: epsilon };
}

/**
 * Adam. `tfjs` (ours for Adam): TF.js's lr·m̂/(√v̂ + ε), computed as α·m/(√v + ε·√(1−β2^t)) with
 * α = lr·√(1−β2^t)/(1−β1^t); Keras's (AdamW): α·m/(√v + ε). amsgrad (Keras's) divides by
 * vhat = max(vhat, v). Slots: m, v[, vhat].
 */
export function adamRule(c: { beta1: number; beta2: number; epsilon: number; amsgrad: boolean; epsilonForm: 'tfjs' | 'keras' }): UpdateRule {
  const tfjs = c.epsilonForm === 'tfjs';
  const moments = tfjs
    ? `let mi = BETA1 * m[i] + ONE_MINUS_BETA1 * g;
  let vi = BETA2 * v[i] + ONE_MINUS_BETA2 * g * g;`
    : `let mi = m[i] + (g - m[i]) * ONE_MINUS_BETA1;
  let vi = v[i] + (g * g - v[i]) * ONE_MINUS_BETA2;`;
  return {
    key: `adam:beta1=${c.beta1}:beta2=${c.beta2}:eps=${f32(c.epsilon)}:amsgrad=${c.amsgrad}:${c.epsilonForm}`,
    constants: adamConstants(c.beta1, c.beta2, c.epsilon),
    slots: ['m', 'v', ...(c.amsgrad ? ['vhat'] : [])],
    scalars: tfjs ? ['alpha', 'epsilonHat'] : ['alpha'],
    prologue: `let biasCorrection2 = sqrt(oneMinusPower(LN_BETA2, t));
  let alpha = lr * biasCorrection2 / oneMinusPower(LN_BETA1, t);
  ${tfjs ? 'let epsilonHat = EPSILON * biasCorrection2;' : ''}`,
    body: () => `${moments}
  m[i] = mi;
  v[i] = vi;
  ${c.amsgrad ? 'let vh = max(vhat[i], vi);\n  vhat[i] = vh;' : 'let vh = vi;'}
  w -= alpha * mi / (sqrt(vh) + ${tfjs ? 'epsilonHat' : 'EPSILON'});`,
  };
}

/**
 * Adamax (TF.js and Keras): m ← β1m + (1−β1)g, u ← max(β2u, |g|),
 * w ← w − lr/((1 + decay·(t−1))(1 − β1^t))·m/(u + ε) (`decay` is TF.js's). Slots: m, v (u).
 */
export function adamaxRule(c: { beta1: number; beta2: number; epsilon: number; decay: number }): UpdateRule {
  return {
    key: `adamax:beta1=${c.beta1}:beta2=${f32(c.beta2)}:eps=${f32(c.epsilon)}:decay=${f32(c.decay)}`,
    constants: { ...adamConstants(c.beta1, c.beta2, c.epsilon), DECAY: c.decay },
    slots: ['m', 'u'],
    scalars: ['stepSize'],
    prologue: 'let stepSize = lr / ((1.0 + DECAY * (t - 1.0)) * oneMinusPower(LN_BETA1, t));',
    body: () => `let mi = BETA1 * m[i] + ONE_MINUS_BETA1 * g;
  let ui = max(BETA2 * u[i], abs(g));
  m[i] = mi;
  u[i] = ui;
  w -= stepSize * (mi / (ui + EPSILON));`,
  };
}

/** Steps after which Nadam's 0.96^k no longer changes μ_k = β1(1 − 0.5·0.96^k) in f32. */
const NADAM_CACHE_STEPS = 600;

/**
 * Nadam (Keras 3): μ_k = β1(1 − 0.5·0.96^k), Π_t = μ_1 ⋯ μ_t (the prologue multiplies them out,
 * up to NADAM_CACHE_STEPS factors then β1 per step); m̂ = μ_{t+1}·m/(1 − Π_t·μ_{t+1}) +
 * (1 − μ_t)·g/(1 − Π_t), v̂ = v/(1 − β2^t), w ← w − lr·m̂/(√v̂ + ε). Slots: m, v.
 */
export function nadamRule(c: { beta1: number; beta2: number; epsilon: number }): UpdateRule {
  return {
    key: `nadam:beta1=${c.beta1}:beta2=${c.beta2}:eps=${f32(c.epsilon)}`,
    constants: { ...adamConstants(c.beta1, c.beta2, c.epsilon), LN_DECAY: Math.log(0.96) },
    slots: ['m', 'v'],
    scalars: ['gradientWeight', 'momentWeight', 'velocityScale'],
    prologueFunctions: `const NADAM_CACHE_STEPS = ${NADAM_CACHE_STEPS}u;

fn momentumCache(k: f32) -> f32 {
  return BETA1 * (1.0 - 0.5 * exp(LN_DECAY * k));
}

// μ_1 ⋯ μ_step.
fn momentumProduct(step: u32) -> f32 {
  var product = 1.0;
  for (var k = 1u; k <= min(step, NADAM_CACHE_STEPS); k++) { product *= momentumCache(f32(k)); }
  if (step > NADAM_CACHE_STEPS) { product *= exp(LN_BETA1 * f32(step - NADAM_CACHE_STEPS)); }
  return product;
}`,
    prologue: `let ut = momentumCache(t);
  let ut1 = momentumCache(t + 1.0);
  let product = momentumProduct(step);
  let momentWeight = ut1 / (1.0 - product * ut1);
  let gradientWeight = (1.0 - ut) / (1.0 - product);
  let velocityScale = 1.0 / oneMinusPower(LN_BETA2, t);`,
    body: () => `let mi = m[i] + (g - m[i]) * ONE_MINUS_BETA1;
  let vi = v[i] + (g * g - v[i]) * ONE_MINUS_BETA2;
  m[i] = mi;
  v[i] = vi;
  let mHat = momentWeight * mi + gradientWeight * g;
  w -= mHat * lr / (sqrt(vi * velocityScale) + EPSILON);`,
  };
}
