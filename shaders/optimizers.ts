/**
 * Optimizer steps with Keras's exact update rules. A model's parameters live in one flat f32
 * buffer (gradients and each state slot in same-sized buffers), so a step is ONE dispatch over all
 * n floats; the padding between weights has zero gradient and stays put. Hyperparameters that
 * never change are baked in; the learning rate (and Adam's bias-corrected step size) come from a
 * 16-byte uniform written every step, so schedules and the step count need no new pipeline.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { BindingKind, KernelSource } from './kernel.ts';
import { constants, f32, flatIndex, grid } from './wgsl.ts';

const WG = 256;

/**
 * The per-step uniform of every optimizer: `lr` is the learning rate, `alpha` Adam's step size
 * lr·√(1−β2^t)/(1−β1^t) (computed on the host in float64; others leave it 0).
 */
// Adam's alpha = lr·√(1−β2^t)/(1−β1^t) and epsilon = ε·√(1−β2^t) change every step, so they come per step.
const HYPER_STRUCT = 'struct Hyper { lr: f32, alpha: f32, epsilon: f32, unused: f32 }';

export interface RmspropConstants {
  rho: number;
  epsilon: number;
  momentum: number;
  centered: boolean;
}

/** Adam's baked constants; its ε comes through the uniform (it is scaled per step). */
export interface AdamConstants {
  beta1: number;
  beta2: number;
  amsgrad: boolean;
}

export interface SgdConstants {
  momentum: number;
  nesterov: boolean;
}

/** Bindings: params, grads, then the state slots, then the uniform. */
function bindings(slots: number): BindingKind[] {
  return ['write', 'read', ...Array.from({ length: slots }, () => 'write' as const), 'uniform'];
}

/**
 * RMSprop: v ← ρv + (1−ρ)g²; centered: mg ← ρ·mg + (1−ρ)g and v − mg² in the denominator;
 * increment = lr·g/√(denominator + ε) (ε inside the root, as Keras and TF.js do);
 * with momentum: m ← momentum·m + increment, w ← w − m. Slots: rms[, momentum][, mg].
 */
export function rmspropUpdate(n: number, c: RmspropConstants): KernelSource {
  const { workgroups, rowStride } = grid(n, WG);
  const withMomentum = c.momentum > 0;
  const slots = 1 + (withMomentum ? 1 : 0) + (c.centered ? 1 : 0);
  const momentumBinding = 3;
  const mgBinding = withMomentum ? 4 : 3;
  return {
    key: `rmsprop:${n}:rho=${f32(c.rho)}:eps=${f32(c.epsilon)}:momentum=${f32(c.momentum)}:centered=${c.centered}`,
    bindings: bindings(slots),
    workgroups,
    code: wgsl`
${HYPER_STRUCT}
${constants({ RHO: c.rho, ONE_MINUS_RHO: 1 - c.rho, EPSILON: c.epsilon, ...(withMomentum ? { MOMENTUM: c.momentum } : {}) }, 'f32')}

@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> rms: array<f32>;
#if ${withMomentum}
@group(0) @binding(${momentumBinding}) var<storage, read_write> mom: array<f32>;
#endif
#if ${c.centered}
@group(0) @binding(${mgBinding}) var<storage, read_write> mg: array<f32>;
#endif
@group(0) @binding(${slots + 2}) var<uniform> hyper: Hyper;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, n)}
  let g = grads[i];
  let v = RHO * rms[i] + ONE_MINUS_RHO * g * g;
  rms[i] = v;
#if ${c.centered}
  let a = RHO * mg[i] + ONE_MINUS_RHO * g;
  mg[i] = a;
  let denominator = v - a * a + EPSILON;
#else
  let denominator = v + EPSILON;
#endif
  let increment = hyper.lr * g / sqrt(denominator);
#if ${withMomentum}
  let m = MOMENTUM * mom[i] + increment;
  mom[i] = m;
  params[i] -= m;
#else
  params[i] -= increment;
#endif
}`,
  };
}

/**
 * Adam as TF.js: m ← β1m + (1−β1)g; v ← β2v + (1−β2)g²; w ← w − lr·m̂/(√v̂ + ε) with the
 * bias-corrected m̂, v̂, computed as w − α·m/(√v + ε·√(1−β2^t)) with α and that epsilon from the
 * uniform; amsgrad (Keras's) uses vhat = max(vhat, v) in place of v. Slots: m, v[, vhat].
 */
export function adamUpdate(n: number, c: AdamConstants): KernelSource {
  const { workgroups, rowStride } = grid(n, WG);
  const slots = c.amsgrad ? 3 : 2;
  return {
    key: `adam:${n}:beta1=${f32(c.beta1)}:beta2=${f32(c.beta2)}:amsgrad=${c.amsgrad}`,
    bindings: bindings(slots),
    workgroups,
    code: wgsl`
${HYPER_STRUCT}
${constants({ BETA1: c.beta1, ONE_MINUS_BETA1: 1 - c.beta1, BETA2: c.beta2, ONE_MINUS_BETA2: 1 - c.beta2 }, 'f32')}

@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
#if ${c.amsgrad}
@group(0) @binding(4) var<storage, read_write> vhat: array<f32>;
#endif
@group(0) @binding(${slots + 2}) var<uniform> hyper: Hyper;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, n)}
  let g = grads[i];
  let mi = BETA1 * m[i] + ONE_MINUS_BETA1 * g;
  let vi = BETA2 * v[i] + ONE_MINUS_BETA2 * g * g;
  m[i] = mi;
  v[i] = vi;
#if ${c.amsgrad}
  let vh = max(vhat[i], vi);
  vhat[i] = vh;
  params[i] -= hyper.alpha * mi / (sqrt(vh) + hyper.epsilon);
#else
  params[i] -= hyper.alpha * mi / (sqrt(vi) + hyper.epsilon);
#endif
}`,
  };
}

/**
 * SGD (Keras): with momentum v ← momentum·v − lr·g and w ← w + v (nesterov: w ← w + momentum·v −
 * lr·g, with the new v); plain w ← w − lr·g. Slots: [momentum].
 */
export function sgdUpdate(n: number, c: SgdConstants): KernelSource {
  const { workgroups, rowStride } = grid(n, WG);
  const withMomentum = c.momentum > 0;
  return {
    key: `sgd:${n}:momentum=${f32(c.momentum)}:nesterov=${c.nesterov}`,
    bindings: bindings(withMomentum ? 1 : 0),
    workgroups,
    code: wgsl`
${HYPER_STRUCT}
${withMomentum ? constants({ MOMENTUM: c.momentum }, 'f32') : ''}

@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
#if ${withMomentum}
@group(0) @binding(2) var<storage, read_write> mom: array<f32>;
@group(0) @binding(3) var<uniform> hyper: Hyper;
#else
@group(0) @binding(2) var<uniform> hyper: Hyper;
#endif

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, n)}
  let scaledGrad = hyper.lr * grads[i];
#if ${withMomentum}
  let v = MOMENTUM * mom[i] - scaledGrad;
  mom[i] = v;
#if ${c.nesterov}
  params[i] += MOMENTUM * v - scaledGrad;
#else
  params[i] += v;
#endif
#else
  params[i] -= scaledGrad;
#endif
}`,
  };
}
