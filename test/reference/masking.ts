/**
 * Float64 references of Keras masks: the recurrent cells over a masked sequence (TF.js's rnn():
 * at a masked step the output and every state are the previous ones, zeros before the first step),
 * written over the arithmetic of test/reference/recurrent.ts so that a tape gives the exact
 * gradients; the masks an embedding with maskZero and a Masking layer make; and a masked loss mean.
 */
import type { RecurrentGeometry } from '../../shaders/recurrent.ts';
import { NUMBERS, Tape, type Arith, type MasksRef, type RecurrentWeightsRef } from './recurrent.ts';

/**
 * The layer's output (y's layout) over a sequence whose step (b, t) counts where mask[b·T + t] ≠ 0
 * (t in input order; with goBackwards the steps run from the last). Dropout masks as in
 * recurrentForwardGeneric.
 */
export function maskedRecurrentGeneric<N>(A: Arith<N>, g: RecurrentGeometry, x: ArrayLike<N>, w: RecurrentWeightsRef<N>, mask: ArrayLike<number>, masks: MasksRef = {}): N[] {
  const { batch: B, time: T, inputs: IN, units: U, gates: G } = g;
  const cols = G * U;
  const zero = A.constant(0);
  const one = A.constant(1);
  const dot = (terms: [N, N][], start: N) => terms.reduce((s, [a, b]) => A.add(s, A.mul(a, b)), start);
  const act = (v: N) => A.apply(g.activation, v);
  const ract = (v: N) => A.apply(g.recurrentActivation, v);
  const y: N[] = [];
  for (let b = 0; b < B; b++) {
    let h: N[] = Array.from({ length: U }, () => zero);
    let c: N[] = Array.from({ length: U }, () => zero);
    for (let s = 0; s < T; s++) {
      const t = g.goBackwards ? T - 1 - s : s;
      const xt = Array.from({ length: IN }, (_, k) => (masks.input ? A.mul(x[(b * T + t) * IN + k]!, A.constant(masks.input[b * IN + k]!)) : x[(b * T + t) * IN + k]!));
      const hp = h.map((v, k) => (masks.recurrent ? A.mul(v, A.constant(masks.recurrent[b * U + k]!)) : v));
      const xw = (j: number) => dot(xt.map((v, k) => [v, w.kernel[k * cols + j]!] as [N, N]), w.bias ? w.bias[j]! : zero);
      const hu = (left: N[], j: number, start: N) => dot(left.map((v, k) => [v, w.recurrentKernel[k * cols + j]!] as [N, N]), start);
      let next: N[];
      let nextC = c;
      if (g.cell === 'simpleRNN') {
        next = h.map((_, u) => act(hu(hp, u, xw(u))));
      } else if (g.cell === 'lstm') {
        const z = (gate: number, u: number) => hu(hp, gate * U + u, xw(gate * U + u));
        nextC = c.map((cv, u) => A.add(A.mul(ract(z(1, u)), cv), A.mul(ract(z(0, u)), act(z(2, u)))));
        next = nextC.map((cv, u) => A.mul(ract(z(3, u)), act(cv)));
      } else if (!g.resetAfter) {
        const update = h.map((_, u) => ract(hu(hp, u, xw(u))));
        const reset = h.map((_, u) => ract(hu(hp, U + u, xw(U + u))));
        const rh = hp.map((v, k) => A.mul(reset[k]!, v));
        next = h.map((_, u) => A.add(A.mul(update[u]!, hp[u]!), A.mul(A.sub(one, update[u]!), act(hu(rh, 2 * U + u, xw(2 * U + u))))));
      } else {
        const m = (j: number) => hu(hp, j, w.bias ? w.bias[cols + j]! : zero);
        next = h.map((_, u) => {
          const update = ract(A.add(xw(u), m(u)));
          const reset = ract(A.add(xw(U + u), m(U + u)));
          const candidate = act(A.add(xw(2 * U + u), A.mul(reset, m(2 * U + u))));
          return A.add(A.mul(update, hp[u]!), A.mul(A.sub(one, update), candidate));
        });
      }
      // A masked step keeps the previous output and states.
      if (mask[b * T + t] !== 0) {
        h = next;
        c = nextC;
      }
      if (g.returnSequences) y.push(...h);
    }
    if (!g.returnSequences) y.push(...h);
  }
  return y;
}

/** The masked forward in float64. */
export function maskedRecurrentRef(g: RecurrentGeometry, x: ArrayLike<number>, w: RecurrentWeightsRef, mask: ArrayLike<number>, masks: MasksRef = {}): Float64Array {
  return Float64Array.from(maskedRecurrentGeneric(NUMBERS, g, x, w, mask, masks));
}

/** The exact gradients of Σ y·dy with respect to x and the weights, by reverse accumulation of the masked forward. */
export function maskedRecurrentBackwardRef(
  g: RecurrentGeometry,
  x: ArrayLike<number>,
  w: RecurrentWeightsRef,
  mask: ArrayLike<number>,
  dy: ArrayLike<number>,
  masks: MasksRef = {},
): { dx: Float64Array; dKernel: Float64Array; dRecurrentKernel: Float64Array; dBias?: Float64Array } {
  const tape = new Tape();
  const leaves = (a: ArrayLike<number>) => Array.from(a, (v) => tape.constant(v));
  const xs = leaves(x);
  const ws = { kernel: leaves(w.kernel), recurrentKernel: leaves(w.recurrentKernel), bias: w.bias ? leaves(w.bias) : undefined };
  const y = maskedRecurrentGeneric(tape, g, xs, ws, mask, masks);
  const grad = tape.gradient(y, dy);
  const pick = (nodes: number[]) => Float64Array.from(nodes, (n) => grad[n]!);
  return { dx: pick(xs), dKernel: pick(ws.kernel), dRecurrentKernel: pick(ws.recurrentKernel), ...(ws.bias ? { dBias: pick(ws.bias) } : {}) };
}

/** Keras's Masking: rows (of the last axis, `width` wide) all equal to `value` are padding; returns the mask and x with those rows zeroed. */
export function maskingRef(x: ArrayLike<number>, width: number, value: number): { mask: Float64Array; y: Float64Array } {
  const rows = x.length / width;
  const mask = Float64Array.from({ length: rows }, (_, r) => (Array.from({ length: width }, (_, j) => x[r * width + j]!).some((v) => v !== Math.fround(value)) ? 1 : 0));
  return { mask, y: Float64Array.from(x, (v, i) => v * mask[Math.floor(i / width)]!) };
}

/**
 * Keras 2.13+'s (and Keras 3's) masked mean: Σ mask·w·loss / Σ mask over the positions (0 when
 * none is kept), with the gradient factor of each position, mask·w / Σ mask.
 */
export function maskedMean(losses: ArrayLike<number>, mask: ArrayLike<number>, weights?: ArrayLike<number>): { loss: number; factor: Float64Array } {
  const kept = Array.from(mask).reduce((a, m) => a + (m !== 0 ? 1 : 0), 0);
  const factor = Float64Array.from(mask, (m, p) => (m !== 0 ? (weights ? weights[p]! : 1) / Math.max(kept, 1) : 0));
  const loss = Array.from(losses).reduce((s, l, p) => s + (factor[p]! === 0 ? 0 : l * factor[p]!), 0);
  return { loss, factor };
}
