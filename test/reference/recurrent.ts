/**
 * Float64 references of the recurrent cells (TF.js's recurrent.js formulas; Keras's gru.py for a
 * GRU with the reset gate after the product), written once over an arithmetic (`Arith`): plain
 * numbers give the forward (and finite differences of it), a tape gives its exact gradients by
 * reverse accumulation, so the backward reference shares no hand-derived formula with the kernels.
 * Also the dropout masks' hash, as the kernels compute it.
 */
import type { RecurrentGeometry } from '../../shaders/recurrent.ts';
import { randomArray } from '../helpers.ts';

/** The values and derivatives of the cells' activations (TF.js's formulas). */
export const ACTIVATIONS_REF: Record<string, { f: (x: number) => number; d: (x: number) => number }> = {
  linear: { f: (x) => x, d: () => 1 },
  relu: { f: (x) => Math.max(x, 0), d: (x) => (x > 0 ? 1 : 0) },
  relu6: { f: (x) => Math.min(Math.max(x, 0), 6), d: (x) => (x > 0 && x < 6 ? 1 : 0) },
  elu: { f: (x) => (x >= 0 ? x : Math.expm1(x)), d: (x) => (x >= 0 ? 1 : Math.exp(x)) },
  selu: { f: (x) => (x >= 0 ? 1.0507009873554805 * x : 1.7580993408473768 * Math.expm1(x)), d: (x) => (x > 0 ? 1.0507009873554805 : 1.7580993408473768 * Math.exp(x)) },
  sigmoid: { f: (x) => 1 / (1 + Math.exp(-x)), d: (x) => 1 / (1 + Math.exp(-x)) / (1 + Math.exp(x)) },
  hardSigmoid: { f: (x) => Math.min(Math.max(0.2 * x + 0.5, 0), 1), d: (x) => (0.2 * x + 0.5 >= 0 && 0.2 * x + 0.5 <= 1 ? 0.2 : 0) },
  softplus: { f: (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))), d: (x) => 1 / (1 + Math.exp(-x)) },
  softsign: { f: (x) => x / (1 + Math.abs(x)), d: (x) => 1 / (1 + Math.abs(x)) ** 2 },
  tanh: { f: Math.tanh, d: (x) => 1 - Math.tanh(x) ** 2 },
  swish: { f: (x) => x / (1 + Math.exp(-x)), d: (x) => (1 + Math.exp(-x) + x * Math.exp(-x)) / (1 + Math.exp(-x)) ** 2 },
};

/** The arithmetic the forward is written in: N is a number, or a tape node. */
export interface Arith<N> {
  constant(v: number): N;
  add(a: N, b: N): N;
  sub(a: N, b: N): N;
  mul(a: N, b: N): N;
  apply(name: string, a: N): N;
}

export const NUMBERS: Arith<number> = {
  constant: (v) => v,
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  apply: (name, a) => ACTIVATIONS_REF[name]!.f(a),
};

/** A reverse-accumulation tape: node i has up to two parents with their partial derivatives. */
export class Tape implements Arith<number> {
  readonly values: number[] = [];
  private readonly parents: number[] = [];
  private readonly partials: number[] = [];
  private push(v: number, a = -1, da = 0, b = -1, db = 0): number {
    this.values.push(v);
    this.parents.push(a, b);
    this.partials.push(da, db);
    return this.values.length - 1;
  }
  constant(v: number): number {
    return this.push(v);
  }
  add(a: number, b: number): number {
    return this.push(this.values[a]! + this.values[b]!, a, 1, b, 1);
  }
  sub(a: number, b: number): number {
    return this.push(this.values[a]! - this.values[b]!, a, 1, b, -1);
  }
  mul(a: number, b: number): number {
    return this.push(this.values[a]! * this.values[b]!, a, this.values[b]!, b, this.values[a]!);
  }
  apply(name: string, a: number): number {
    const x = this.values[a]!;
    return this.push(ACTIVATIONS_REF[name]!.f(x), a, ACTIVATIONS_REF[name]!.d(x));
  }
  /** d(Σ seeds[i]·outputs[i]) / d(every node). */
  gradient(outputs: readonly number[], seeds: ArrayLike<number>): Float64Array {
    const g = new Float64Array(this.values.length);
    outputs.forEach((o, i) => (g[o] += seeds[i]!));
    for (let n = this.values.length - 1; n >= 0; n--) {
      const gn = g[n]!;
      if (gn === 0) continue;
      for (const side of [0, 1]) {
        const p = this.parents[2 * n + side]!;
        if (p >= 0) g[p] += gn * this.partials[2 * n + side]!;
      }
    }
    return g;
  }
}

/** The weights: kernel [in, G·U], recurrent kernel [U, G·U], bias [G·U] (a GRU with resetAfter: [2, 3·U]). */
export interface RecurrentWeightsRef<N = number> {
  kernel: ArrayLike<N>;
  recurrentKernel: ArrayLike<N>;
  bias?: ArrayLike<N>;
}

/** Random weights of the geometry's shapes, seeded (kernel, recurrent kernel and bias scaled apart). */
export function randomWeights(g: RecurrentGeometry, seed: number): RecurrentWeightsRef {
  const cols = g.gates * g.units;
  return {
    kernel: randomArray(g.inputs * cols, seed, 0.6),
    recurrentKernel: randomArray(g.units * cols, seed + 1, 0.5),
    bias: g.bias ? randomArray((g.resetAfter ? 2 : 1) * cols, seed + 2, 0.3) : undefined,
  };
}

/** Dropout factors (0 or 1/(1 − rate)): input [batch, in] and recurrent [batch, units]; absent = none. */
export interface MasksRef {
  input?: ArrayLike<number>;
  recurrent?: ArrayLike<number>;
}

/**
 * What the layer computes besides the dropout masks: a Keras mask (step (b, t) counts where
 * mask[b·T + t] ≠ 0, t in input order; a masked step keeps the previous output and states), and
 * the states before the first step (h0, an LSTM's c0: [batch, units]; zeros when absent).
 */
export interface RunOptions<N> {
  masks?: MasksRef;
  mask?: ArrayLike<number>;
  h0?: ArrayLike<N>;
  c0?: ArrayLike<N>;
}

/** The layer's output (y's layout: [batch, time, units] or [batch, units]) and its final states h, c ([batch, units]) in the arithmetic A. */
export function recurrentRun<N>(A: Arith<N>, g: RecurrentGeometry, x: ArrayLike<N>, w: RecurrentWeightsRef<N>, options: RunOptions<N> = {}): { y: N[]; h: N[]; c: N[] } {
  const { batch: B, time: T, inputs: IN, units: U, gates: G } = g;
  const { masks = {}, mask } = options;
  const cols = G * U;
  const zero = A.constant(0);
  const one = A.constant(1);
  const dot = (terms: [N, N][], start: N) => terms.reduce((s, [a, b]) => A.add(s, A.mul(a, b)), start);
  const act = (v: N) => A.apply(g.activation, v);
  const ract = (v: N) => A.apply(g.recurrentActivation, v);
  const y: N[] = [];
  const finalH: N[] = [];
  const finalC: N[] = [];
  for (let b = 0; b < B; b++) {
    let h: N[] = Array.from({ length: U }, (_, u) => (options.h0 ? options.h0[b * U + u]! : zero));
    let c: N[] = Array.from({ length: U }, (_, u) => (options.c0 ? options.c0[b * U + u]! : zero));
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
      if (!mask || mask[b * T + t] !== 0) {
        h = next;
        c = nextC;
      }
      if (g.returnSequences) y.push(...h);
    }
    if (!g.returnSequences) y.push(...h);
    finalH.push(...h);
    finalC.push(...c);
  }
  return { y, h: finalH, c: finalC };
}

/** The layer's output (y's layout: [batch, time, units] or [batch, units]) in the arithmetic A. */
export function recurrentForwardGeneric<N>(A: Arith<N>, g: RecurrentGeometry, x: ArrayLike<N>, w: RecurrentWeightsRef<N>, masks: MasksRef = {}): N[] {
  return recurrentRun(A, g, x, w, { masks }).y;
}

/** The forward in float64. */
export function recurrentForwardRef(g: RecurrentGeometry, x: ArrayLike<number>, w: RecurrentWeightsRef, masks: MasksRef = {}): Float64Array {
  return Float64Array.from(recurrentForwardGeneric(NUMBERS, g, x, w, masks));
}

/** The exact gradients of Σ y·dy with respect to x and the weights (reverse accumulation of the forward). */
export function recurrentBackwardRef(
  g: RecurrentGeometry,
  x: ArrayLike<number>,
  w: RecurrentWeightsRef,
  dy: ArrayLike<number>,
  masks: MasksRef = {},
): { dx: Float64Array; dKernel: Float64Array; dRecurrentKernel: Float64Array; dBias?: Float64Array } {
  return recurrentRunBackwardRef(g, x, w, { dy }, { masks });
}

/** Seeds of the loss Σ y·dy + Σ h·dh + Σ c·dc (the final states' gradients, absent: zero). */
export interface StateSeeds {
  dy: ArrayLike<number>;
  dh?: ArrayLike<number>;
  dc?: ArrayLike<number>;
}

/**
 * The exact gradients of Σ y·dy + Σ h_final·dh + Σ c_final·dc with respect to x, the weights and
 * the initial states (when options give them), by reverse accumulation of recurrentRun.
 */
export function recurrentRunBackwardRef(
  g: RecurrentGeometry,
  x: ArrayLike<number>,
  w: RecurrentWeightsRef,
  seeds: StateSeeds,
  options: RunOptions<number> = {},
): { dx: Float64Array; dKernel: Float64Array; dRecurrentKernel: Float64Array; dBias?: Float64Array; dh0?: Float64Array; dc0?: Float64Array } {
  const tape = new Tape();
  const leaves = (a: ArrayLike<number>) => Array.from(a, (v) => tape.constant(v));
  const xs = leaves(x);
  const ws = { kernel: leaves(w.kernel), recurrentKernel: leaves(w.recurrentKernel), bias: w.bias ? leaves(w.bias) : undefined };
  const h0 = options.h0 ? leaves(options.h0) : undefined;
  const c0 = options.c0 ? leaves(options.c0) : undefined;
  const run = recurrentRun(tape, g, xs, ws, { ...options, h0, c0 });
  const zeros = (n: number) => new Float64Array(n);
  const outputs = [...run.y, ...run.h, ...run.c];
  const grad = tape.gradient(outputs, [...Array.from(seeds.dy), ...Array.from(seeds.dh ?? zeros(run.h.length)), ...Array.from(seeds.dc ?? zeros(run.c.length))]);
  const pick = (nodes: number[]) => Float64Array.from(nodes, (n) => grad[n]!);
  return {
    dx: pick(xs),
    dKernel: pick(ws.kernel),
    dRecurrentKernel: pick(ws.recurrentKernel),
    ...(ws.bias ? { dBias: pick(ws.bias) } : {}),
    ...(h0 ? { dh0: pick(h0) } : {}),
    ...(c0 ? { dc0: pick(c0) } : {}),
  };
}

// ---- the dropout masks' hash -------------------------------------------------------------------

function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** `count` factors of a mask as the kernels hash them: 0 or 1/(1 − rate) from (mask seed, fit seed, step, index). */
export function dropoutMaskRef(maskSeed: number, fitSeed: number, step: number, rate: number, count: number): Float64Array {
  const threshold = Math.min(0xffffffff, Math.round(rate * 4294967296));
  const base = pcg((step ^ pcg((fitSeed ^ maskSeed) >>> 0)) >>> 0);
  return Float64Array.from({ length: count }, (_, i) => (pcg((i ^ base) >>> 0) >= threshold ? 1 / (1 - rate) : 0));
}
