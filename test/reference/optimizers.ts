/**
 * Float64 references of every optimizer's step, written from the rules they follow (TF.js's
 * tfjs-core optimizers where TF.js has them, Keras 3's otherwise), with Keras's gradient clipping
 * and decoupled weight decay in front: the optimizer tests compare the GPU's steps against them.
 */
import { Adadelta, Adagrad, Adam, Adamax, AdamW, Momentum, Nadam, RMSprop, SGD, type Optimizer } from '../../src/optimizers.ts';

export interface Segment {
  offset: number;
  size: number;
}

/** One step in place: w and the slots (in `slotNames` order) are float64 state; t is the 1-based step. */
export type Reference = (w: Float64Array, g: ArrayLike<number>, slots: Float64Array[], lr: number, t: number) => void;

type Rule = (w: Float64Array, g: Float64Array, slots: Float64Array[], lr: number, t: number) => void;

function rule(o: Optimizer): Rule {
  if (o instanceof SGD) {
    return (w, g, [v], lr) => {
      for (let i = 0; i < w.length; i++) {
        if (!v) {
          w[i]! -= lr * g[i]!;
          continue;
        }
        v[i] = o.momentum * v[i]! - lr * g[i]!;
        w[i]! += o.nesterov ? o.momentum * v[i]! - lr * g[i]! : v[i]!;
      }
    };
  }
  if (o instanceof Momentum) {
    return (w, g, [a], lr) => {
      for (let i = 0; i < w.length; i++) {
        a![i] = o.momentum * a![i]! + g[i]!;
        w[i]! -= lr * (o.useNesterov ? g[i]! + o.momentum * a![i]! : a![i]!);
      }
    };
  }
  if (o instanceof Adagrad) {
    return (w, g, [a], lr, t) => {
      for (let i = 0; i < w.length; i++) {
        a![i] = (t === 1 ? o.initialAccumulatorValue : a![i]!) + g[i]! ** 2;
        w[i]! -= (lr * g[i]!) / Math.sqrt(a![i]! + o.epsilon);
      }
    };
  }
  if (o instanceof Adadelta) {
    return (w, g, [a, u], lr) => {
      for (let i = 0; i < w.length; i++) {
        // TF.js: the step uses the accumulated squared gradient from before this step.
        const delta = (Math.sqrt(u![i]! + o.epsilon) / Math.sqrt(a![i]! + o.epsilon)) * g[i]!;
        a![i] = o.rho * a![i]! + (1 - o.rho) * g[i]! ** 2;
        u![i] = o.rho * u![i]! + (1 - o.rho) * delta ** 2;
        w[i]! -= lr * delta;
      }
    };
  }
  if (o instanceof RMSprop) {
    return (w, g, slots, lr) => {
      const [v, mom, mg] = [slots[0]!, o.momentum > 0 ? slots[1]! : undefined, o.centered ? slots[slots.length - 1]! : undefined];
      for (let i = 0; i < w.length; i++) {
        v[i] = o.rho * v[i]! + (1 - o.rho) * g[i]! ** 2;
        let denominator = v[i]! + o.epsilon;
        if (mg) {
          mg[i] = o.rho * mg[i]! + (1 - o.rho) * g[i]!;
          denominator = v[i]! - mg[i]! ** 2 + o.epsilon;
        }
        const increment = (lr * g[i]!) / Math.sqrt(denominator);
        if (mom) {
          mom[i] = o.momentum * mom[i]! + increment;
          w[i]! -= mom[i]!;
        } else {
          w[i]! -= increment;
        }
      }
    };
  }
  if (o instanceof Adam || o instanceof AdamW) {
    const tfjs = o instanceof Adam;
    return (w, g, [m, v, vhat], lr, t) => {
      const c1 = 1 - o.beta1 ** t;
      const c2 = 1 - o.beta2 ** t;
      for (let i = 0; i < w.length; i++) {
        m![i] = o.beta1 * m![i]! + (1 - o.beta1) * g[i]!;
        v![i] = o.beta2 * v![i]! + (1 - o.beta2) * g[i]! ** 2;
        const vv = vhat ? (vhat[i] = Math.max(vhat[i]!, v![i]!)) : v![i]!;
        // TF.js: lr·m̂/(√v̂ + ε) on the bias-corrected moments; Keras: α·m/(√v + ε).
        w[i]! -= tfjs ? (lr * (m![i]! / c1)) / (Math.sqrt(vv / c2) + o.epsilon) : ((lr * Math.sqrt(c2)) / c1) * (m![i]! / (Math.sqrt(vv) + o.epsilon));
      }
    };
  }
  if (o instanceof Adamax) {
    return (w, g, [m, u], lr, t) => {
      const step = lr / (1 + o.decay * (t - 1)) / (1 - o.beta1 ** t);
      for (let i = 0; i < w.length; i++) {
        m![i] = o.beta1 * m![i]! + (1 - o.beta1) * g[i]!;
        u![i] = Math.max(o.beta2 * u![i]!, Math.abs(g[i]!));
        w[i]! -= (step * m![i]!) / (u![i]! + o.epsilon);
      }
    };
  }
  if (o instanceof Nadam) {
    const cache = (k: number) => o.beta1 * (1 - 0.5 * 0.96 ** k);
    return (w, g, [m, v], lr, t) => {
      let product = 1;
      for (let k = 1; k <= t; k++) product *= cache(k);
      const ut = cache(t);
      const ut1 = cache(t + 1);
      for (let i = 0; i < w.length; i++) {
        m![i] = m![i]! + (g[i]! - m![i]!) * (1 - o.beta1);
        v![i] = v![i]! + (g[i]! ** 2 - v![i]!) * (1 - o.beta2);
        const mHat = (ut1 * m![i]!) / (1 - product * ut1) + ((1 - ut) * g[i]!) / (1 - product);
        const vHat = v![i]! / (1 - o.beta2 ** t);
        w[i]! -= (mHat * lr) / (Math.sqrt(vHat) + o.epsilon);
      }
    };
  }
  throw new Error(`no reference for ${o.className}`);
}

/** Keras's clipping of the gradients of the weights in `segments` (padding stays 0). */
function clip(o: Optimizer, g: ArrayLike<number>, segments: readonly Segment[]): Float64Array {
  const out = Float64Array.from(g);
  const sumSquares = (s: Segment) => {
    let sum = 0;
    for (let i = s.offset; i < s.offset + s.size; i++) sum += out[i]! ** 2;
    return sum;
  };
  if (o.clipvalue !== undefined) for (let i = 0; i < out.length; i++) out[i] = Math.min(o.clipvalue, Math.max(-o.clipvalue, out[i]!));
  if (o.clipnorm !== undefined) {
    for (const s of segments) {
      const scale = o.clipnorm / Math.max(Math.sqrt(sumSquares(s)), o.clipnorm);
      for (let i = s.offset; i < s.offset + s.size; i++) out[i]! *= scale;
    }
  }
  if (o.globalClipnorm !== undefined) {
    const norm = Math.sqrt(segments.reduce((sum, s) => sum + sumSquares(s), 0));
    const scale = o.globalClipnorm * Math.min(1 / norm, 1 / o.globalClipnorm);
    for (let i = 0; i < out.length; i++) out[i]! *= scale;
  }
  return out;
}

/** The optimizer's step in float64: clipping, then w ← w − w·wd·lr, then its rule. */
export function references(o: Optimizer, segments: readonly Segment[], options: { noClip?: boolean } = {}): Reference {
  const step = rule(o);
  return (w, g, slots, lr, t) => {
    const clipped = options.noClip ? Float64Array.from(g) : clip(o, g, segments);
    if (o.weightDecay > 0) for (let i = 0; i < w.length; i++) w[i] = w[i]! - w[i]! * o.weightDecay * lr;
    step(w, clipped, slots, lr, t);
  };
}

/** Every optimizer and its options worth a case of their own, named: what the optimizer tests run over. */
export const OPTIMIZER_CASES: readonly [string, () => Optimizer][] = [
  ['sgd', () => new SGD()],
  ['sgd momentum', () => new SGD({ momentum: 0.9 })],
  ['sgd nesterov', () => new SGD({ momentum: 0.8, nesterov: true })],
  ['momentum', () => new Momentum({ momentum: 0.9 })],
  ['momentum nesterov', () => new Momentum({ momentum: 0.7, useNesterov: true })],
  ['adagrad', () => new Adagrad()],
  ['adagrad initial 0.5, eps 1e-4', () => new Adagrad({ initialAccumulatorValue: 0.5, epsilon: 1e-4 })],
  ['adadelta', () => new Adadelta({ learningRate: 1 })],
  ['adadelta rho 0.8', () => new Adadelta({ rho: 0.8, epsilon: 1e-5 })],
  ['rmsprop', () => new RMSprop()],
  ['rmsprop momentum', () => new RMSprop({ momentum: 0.9 })],
  ['rmsprop centered', () => new RMSprop({ centered: true, rho: 0.8 })],
  ['rmsprop centered momentum', () => new RMSprop({ centered: true, momentum: 0.5, epsilon: 1e-6 })],
  ['adam', () => new Adam()],
  ['adam amsgrad', () => new Adam({ amsgrad: true, beta2: 0.9 })],
  ['adamw', () => new AdamW({ weightDecay: 0.05 })],
  ['adamw amsgrad', () => new AdamW({ amsgrad: true, beta1: 0.8 })],
  ['adamax', () => new Adamax()],
  ['adamax decay', () => new Adamax({ decay: 0.1, beta1: 0.8 })],
  ['nadam', () => new Nadam()],
  ['nadam beta1 0.99', () => new Nadam({ beta1: 0.99, beta2: 0.9 })],
  ['sgd weight decay', () => new SGD({ momentum: 0.5, weightDecay: 0.1 })],
];
