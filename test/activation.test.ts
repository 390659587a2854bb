/**
 * The activation op and its layers: every TF.js activation and every advanced-activation layer,
 * forward and backward against float64 references (and central finite differences of them), on
 * NaN-prefilled outputs, with inputs near 0, at ±20, ±1e3 and ±1e4; a twin check of the forward
 * values against TF.js 4.22 (cpu backend); getConfig()/fromConfig() against TF.js's model.json.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { Random } from '../src/layers/initializers.ts';
import type { BackwardContext, Layer, Shape } from '../src/layers/layer.ts';
import { layers, loadModel, optimizers, sequential, tensor, type ModelArtifacts } from '../src/index.ts';
import { Activation } from '../src/layers/activation.ts';
import { ELU, LeakyReLU, PReLU, ReLU, Softmax, ThresholdedReLU } from '../src/layers/advanced-activations.ts';
import {
  ACTIVATIONS,
  activationBackward,
  activationForward,
  parseActivation,
  preluGeometry,
  serializeActivation,
  type ActivationKind,
  type ActivationName,
} from '../src/ops/activation.ts';
import { GELU_NEW_C, GELU_NEW_K, SELU_SCALE, SELU_SCALE_ALPHA, activationForward as forwardKernel } from '../shaders/activation.ts';
import { preluReduction } from '../shaders/prelu.ts';
import { finiteDifferences, nanBuffer, readF32, relL2, sampleIndices, uploadView, useEngine, measuredErrors } from './helpers.ts';

const engine = useEngine();

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// ---- measured errors, printed at the end ------------------------------------------------------

const record = measuredErrors('ACTIVATION_ERRORS', ['fwd', 'fwdMaxEl', 'bwd', 'bwdMaxEl', 'fd', 'tfjs', 'dalpha', 'dalphaFd']);

/**
 * max_i |a − e| / (|e| + 0.1): relative for values of size 0.1 and more, absolute (in tenths) below,
 * where float32 cancellation in a formula's O(1) terms is inherent (the derivative of swish or
 * gelu crossing 0, hardSigmoid near its clip point). An elementwise check that relL2 cannot hide;
 * the tails' relative precision has its own test.
 */
function maxElementError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    if (!Number.isFinite(a)) return Infinity;
    worst = Math.max(worst, Math.abs(a - expected[i]!) / (Math.abs(expected[i]!) + 0.1));
  }
  return worst;
}

// ---- float64 references ------------------------------------------------------------------

/** erf in float64: (2/√π)·e^(−z²)·Σ (2z²)ⁿ·z/(2n+1)!! (all terms positive) below 3, erfc's continued fraction above. */
function erfc64(x: number): number {
  const z = Math.abs(x);
  let r: number;
  if (z < 3) {
    let term = z;
    let sum = z;
    for (let n = 0; n < 200 && term > 1e-17 * sum; n++) {
      term *= (2 * z * z) / (2 * n + 3);
      sum += term;
    }
    r = 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-z * z) * sum;
  } else {
    // erfc(z) = e^(−z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + ...)))), evaluated from the tail.
    let f = z;
    for (let k = 120; k >= 1; k--) f = z + k / 2 / f;
    r = Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
  }
  return x >= 0 ? r : 2 - r;
}
const sigmoid64 = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
const sigmoidSlope64 = (x: number) => {
  const e = Math.exp(-Math.abs(x));
  return e / (1 + e) ** 2;
};
const softplus64 = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const sech2 = (x: number) => 1 / Math.cosh(x) ** 2;
const phi = (x: number) => 0.5 * erfc64(-x / Math.SQRT2);

interface Reference {
  f: (x: number) => number;
  d: (x: number) => number;
  /** Where f or f′ jumps: finite differences stay away. */
  kinks: number[];
}

function reference(kind: ActivationKind): Reference {
  const k = typeof kind === 'string' ? (kind === 'elu' ? { kind: 'elu' as const, alpha: 1 } : { kind }) : kind;
  switch (k.kind) {
    case 'linear':
      return { f: (x) => x, d: () => 1, kinks: [] };
    case 'relu':
      return { f: (x) => Math.max(x, 0), d: (x) => (x > 0 ? 1 : 0), kinks: [0] };
    case 'relu6':
      return { f: (x) => Math.min(Math.max(x, 0), 6), d: (x) => (x > 0 && x < 6 ? 1 : 0), kinks: [0, 6] };
    case 'reluClipped': {
      const m = k.maxValue;
      return { f: (x) => Math.min(Math.max(x, 0), m), d: (x) => (x > 0 && x <= m ? 1 : 0), kinks: [0, m] };
    }
    case 'leakyRelu': {
      const a = k.alpha;
      return { f: (x) => (x >= 0 ? x : a * x), d: (x) => (x > 0 ? 1 : a), kinks: [0] };
    }
    case 'thresholdedRelu': {
      const t = k.theta;
      return { f: (x) => (x > t ? x : 0), d: (x) => (x > t ? 1 : 0), kinks: [t] };
    }
    case 'elu': {
      const a = k.alpha;
      return { f: (x) => (x >= 0 ? x : a * Math.expm1(x)), d: (x) => (x >= 0 ? 1 : a * Math.exp(x)), kinks: [0] };
    }
    case 'selu':
      return { f: (x) => (x >= 0 ? SELU_SCALE * x : SELU_SCALE_ALPHA * Math.expm1(x)), d: (x) => (x > 0 ? SELU_SCALE : SELU_SCALE_ALPHA * Math.exp(x)), kinks: [0] };
    case 'sigmoid':
      return { f: sigmoid64, d: sigmoidSlope64, kinks: [] };
    case 'hardSigmoid':
      return { f: (x) => Math.min(Math.max(0.2 * x + 0.5, 0), 1), d: (x) => (x >= -2.5 && x <= 2.5 ? 0.2 : 0), kinks: [-2.5, 2.5] };
    case 'softplus':
      return { f: softplus64, d: sigmoid64, kinks: [] };
    case 'softsign':
      return { f: (x) => x / (1 + Math.abs(x)), d: (x) => 1 / (1 + Math.abs(x)) ** 2, kinks: [] };
    case 'tanh':
      return { f: Math.tanh, d: sech2, kinks: [] };
    case 'swish':
      return { f: (x) => x * sigmoid64(x), d: (x) => sigmoid64(x) + x * sigmoidSlope64(x), kinks: [] };
    case 'mish':
      return { f: (x) => x * Math.tanh(softplus64(x)), d: (x) => Math.tanh(softplus64(x)) + x * sech2(softplus64(x)) * sigmoid64(x), kinks: [] };
    case 'gelu':
      return { f: (x) => x * phi(x), d: (x) => phi(x) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI), kinks: [] };
    case 'gelu_new': {
      // TF.js's 0.5·x·(1 + tanh(u)), written as x·σ(2u): 1 + tanh(u) rounds to 0 in float64 from x ≈ −6.
      const u = (x: number) => GELU_NEW_K * (x + GELU_NEW_C * x ** 3);
      return {
        f: (x) => x * sigmoid64(2 * u(x)),
        d: (x) => sigmoid64(2 * u(x)) + 2 * x * sigmoid64(2 * u(x)) * sigmoid64(-2 * u(x)) * GELU_NEW_K * (1 + 3 * GELU_NEW_C * x * x),
        kinks: [],
      };
    }
    default:
      throw new Error(`no elementwise reference for ${k.kind}`);
  }
}

/** Softmax (or log-softmax) of float64 `x` viewed as [outer, width, inner] along the middle axis. */
function softmax64(x: ArrayLike<number>, outer: number, width: number, inner: number, log = false): Float64Array {
  const y = new Float64Array(x.length);
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) {
      const at = (j: number) => o * width * inner + j * inner + k;
      let m = -Infinity;
      for (let j = 0; j < width; j++) m = Math.max(m, x[at(j)]!);
      let s = 0;
      for (let j = 0; j < width; j++) s += Math.exp(x[at(j)]! - m);
      for (let j = 0; j < width; j++) y[at(j)] = log ? x[at(j)]! - m - Math.log(s) : Math.exp(x[at(j)]! - m) / s;
    }
  }
  return y;
}

function softmaxBackward64(y: ArrayLike<number>, dy: ArrayLike<number>, outer: number, width: number, inner: number, log = false): Float64Array {
  const dx = new Float64Array(y.length);
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) {
      const at = (j: number) => o * width * inner + j * inner + k;
      let s = 0;
      for (let j = 0; j < width; j++) s += log ? dy[at(j)]! : dy[at(j)]! * y[at(j)]!;
      for (let j = 0; j < width; j++) dx[at(j)] = log ? dy[at(j)]! - Math.exp(y[at(j)]!) * s : y[at(j)]! * (dy[at(j)]! - s);
    }
  }
  return dx;
}

// ---- inputs --------------------------------------------------------------------------------

/**
 * n float32 values: mostly in ±4, a tenth near 0 (±1e-3), a tenth at ±(15..25), a few at ±1e3
 * and two at ±1e4; none within 1e-3 of a kink (moved off it, on the same side).
 */
function inputs(n: number, seed: number, kinks: readonly number[] = [], large = true): Float32Array {
  const r = new Random(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = r.next();
    const sign = r.next() < 0.5 ? -1 : 1;
    let v = u < 0.7 ? r.uniform(-4, 4) : u < 0.8 ? r.uniform(-1e-3, 1e-3) : u < 0.9 ? sign * r.uniform(15, 25) : large ? sign * r.uniform(500, 1500) : r.uniform(-4, 4);
    if (large && i < 2) v = i === 0 ? 1e4 : -1e4;
    for (const k of kinks) {
      if (Math.abs(v - k) < 1e-3) v = k + (v >= k ? 1 : -1) * (1e-3 + Math.abs(v - k));
    }
    x[i] = v;
  }
  return x;
}

function uniform(n: number, seed: number, scale = 1): Float32Array {
  const r = new Random(seed);
  return Float32Array.from({ length: n }, () => r.uniform(-scale, scale));
}

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

// ---- runners -------------------------------------------------------------------------------

async function runOp(kind: ActivationKind, x: Float32Array, dy: Float32Array, shape: { rows: number; width: number; inner?: number }, variant?: string) {
  const e = engine();
  const n = x.length;
  const xv = uploadView(e, x);
  const y = nanBuffer(e, n);
  const dx = nanBuffer(e, n);
  const dyv = uploadView(e, dy);
  e.run([...activationForward(e, kind, { x: xv, y }, shape, variant), ...activationBackward(e, kind, { x: xv, y, dy: dyv, dx }, shape, variant)]);
  return { y: await readF32(e, y, n), dx: await readF32(e, dx, n) };
}

/** A layer's forward and backward through the Layer contract, on NaN-filled outputs. */
async function runLayer(layer: Layer, batch: number, inputShape: Shape, x: Float32Array, dy: Float32Array, weights: Float32Array[] = []) {
  const e = engine();
  const outputShape = layer.computeOutputShape([inputShape]);
  const n = x.length;
  const specs = layer.weightSpecs([inputShape]);
  const scratch: { bytes: number }[] = [];
  const ctx: BackwardContext = {
    engine: e,
    batch,
    inputs: [uploadView(e, x)],
    inputShapes: [inputShape],
    output: nanBuffer(e, n),
    outputShape,
    weights: weights.map((w) => uploadView(e, w)),
    training: true,
    stepInfo: nanBuffer(e, 4),
    saved: new Map(),
    scratch: (bytes: number) => {
      scratch.push({ bytes });
      return nanBuffer(e, Math.ceil(bytes / 4));
    },
    outputGrad: uploadView(e, dy),
    inputGrads: [nanBuffer(e, n)],
    weightGrads: specs.map((s) => nanBuffer(e, s.shape.reduce((a, b) => a * b, 1))),
  };
  e.run([...layer.forward(ctx), ...layer.backward(ctx)]);
  return {
    y: await readF32(e, ctx.output, n),
    dx: await readF32(e, ctx.inputGrads[0]!, n),
    dw: await Promise.all(ctx.weightGrads.map((g, i) => readF32(e, g, specs[i]!.shape.reduce((a, b) => a * b, 1)))),
    scratch: [...scratch],
    noInputGrad: layer.backward({ ...ctx, inputGrads: [null] }),
  };
}

/** TF.js's forward of `layer` (built on [batch, ...shape]) on x. */
function tfForward(layer: tf.layers.Layer, x: Float32Array, shape: readonly number[], weights?: tf.Tensor[]): Float32Array {
  return tf.tidy(() => {
    const input = tf.tensor(x, [...shape]);
    layer.build(input.shape);
    if (weights) layer.setWeights(weights);
    return (layer.apply(input) as tf.Tensor).dataSync() as Float32Array;
  });
}

/** The layer's config as TF.js writes it into model.json (snake_case keys and values). */
function tfModelJsonConfig(layer: tf.layers.Layer, inputShape: number[]): Record<string, unknown> {
  const model = tf.sequential({ layers: [tf.layers.inputLayer({ inputShape }), layer] });
  const json = model.toJSON(null, false) as unknown as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
  return json.config.layers[1]!.config;
}

/** Ours equals TF.js's config on every key TF.js writes (ours may have more). */
function expectConfigCovers(ours: Record<string, unknown>, theirs: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(theirs)) expect({ key, value: ours[key] }).toEqual({ key, value });
}

// ---- tests ---------------------------------------------------------------------------------

/** Every elementwise kind, with the TF.js layer computing the same function (null: none). */
const POINTWISE: { name: string; kind: ActivationKind; twin: (() => tf.layers.Layer) | null }[] = [
  ...ACTIVATIONS.filter((a) => a !== 'softmax' && a !== 'logSoftmax').map((a) => ({ name: a, kind: a as ActivationKind, twin: () => tf.layers.activation({ activation: a as never }) })),
  { name: 'elu(alpha 0.7)', kind: { kind: 'elu', alpha: 0.7 }, twin: null }, // TF.js throws for alpha ≠ 1
  { name: 'leakyRelu(0.3)', kind: { kind: 'leakyRelu', alpha: 0.3 }, twin: () => tf.layers.leakyReLU({ alpha: 0.3 }) },
  { name: 'leakyRelu(-0.4)', kind: { kind: 'leakyRelu', alpha: -0.4 }, twin: () => tf.layers.leakyReLU({ alpha: -0.4 }) },
  { name: 'relu(maxValue 2.5)', kind: { kind: 'reluClipped', maxValue: 2.5 }, twin: () => tf.layers.reLU({ maxValue: 2.5 }) },
  { name: 'thresholdedRelu(0.7)', kind: { kind: 'thresholdedRelu', theta: 0.7 }, twin: () => tf.layers.thresholdedReLU({ theta: 0.7 }) },
];

describe('activation op: elementwise kinds', () => {
  // 1001 runs the scalar kernel, 1004 (a multiple of 4, not of 64) the vec4 one and, forced, the scalar one (src/ops/elementwise.ts flatTable).
  for (const { name, kind, twin } of POINTWISE) {
    it(`${name}: forward, backward, finite differences, TF.js twin`, async () => {
      const ref = reference(kind);
      for (const [n, variant] of [[1001], [1004], [1004, 'scalar']] as const) {
        const x = inputs(n, 11 + n, ref.kinks);
        const dy = uniform(n, 12 + n);
        const { y, dx } = await runOp(kind, x, dy, { rows: 1, width: n }, variant);
        const yRef = f64(x).map(ref.f);
        const dxRef = f64(x).map((v, i) => ref.d(v) * dy[i]!);
        expect(record(name, 'fwd', relL2(y, yRef))).toBeLessThanOrEqual(1e-6);
        expect(record(name, 'fwdMaxEl', maxElementError(y, yRef))).toBeLessThanOrEqual(2e-6);
        expect(record(name, 'bwd', relL2(dx, dxRef))).toBeLessThanOrEqual(1e-6);
        expect(record(name, 'bwdMaxEl', maxElementError(dx, dxRef))).toBeLessThanOrEqual(2e-6);
        // Central differences of Σ f(x)·dy in float64, at 60 sampled positions (large values included).
        const idx = sampleIndices(n, 60, n);
        const fd = finiteDifferences((xx) => idx.reduce((s, i) => s + ref.f(xx[i]!) * dy[i]!, 0), f64(x), idx);
        expect(record(name, 'fd', relL2(Float64Array.from(idx, (i) => dx[i]!), fd))).toBeLessThanOrEqual(1e-5);
        if (twin) expect(record(name, 'tfjs', relL2(y, tfForward(twin(), x, [n])))).toBeLessThanOrEqual(1e-5);
      }
    });
  }

  it('stays finite for |x| up to 1e4 and beyond (and at ±0)', async () => {
    const x = new Float32Array([1e4, -1e4, 3e4, -3e4, 88.8, -88.8, 1e3, -1e3, 0, -0, 1e-30, -1e-30, 1e-3, -1e-3, 30]);
    const dy = new Float32Array(x.length).fill(1);
    for (const { name, kind } of POINTWISE) {
      if (name === 'gelu_new') continue; // x³ overflows float32 from |x| ≈ 7e12 on: outside the range promised
      const { y, dx } = await runOp(kind, x, dy, { rows: 1, width: x.length });
      const ref = reference(kind);
      expect({ name, y: [...y].every(Number.isFinite), dx: [...dx].every(Number.isFinite) }).toEqual({ name, y: true, dx: true });
      expect({ name, fwd: maxElementError(y, f64(x).map(ref.f)) <= 2e-6 }).toEqual({ name, fwd: true });
    }
  });

  it('keeps relative precision in the tails and near 0', async () => {
    // Where each kind's value is tiny but representable: left tails, and |x| ≪ 1.
    const x = new Float32Array([-5, -8, -12, -20, -30, -60, -1e-2, -1e-4, -1e-6, 1e-6, 1e-4, 1e-2, 0.2, 0.26, -0.3, -0.49, -0.51]);
    const dy = new Float32Array(x.length).fill(1);
    for (const name of ['sigmoid', 'softplus', 'swish', 'mish', 'gelu', 'gelu_new', 'tanh', 'elu', 'selu', 'softsign'] as const) {
      const ref = reference(name);
      const { y, dx } = await runOp(name, x, dy, { rows: 1, width: x.length });
      let worst = 0;
      let worstD = 0;
      x.forEach((v, i) => {
        const e = ref.f(v);
        const d = ref.d(v);
        // Values float32 cannot hold (below its normal range) are left out.
        if (Math.abs(e) > 1e-37) worst = Math.max(worst, Math.abs(y[i]! - e) / Math.abs(e));
        if (Math.abs(d) > 1e-37) worstD = Math.max(worstD, Math.abs(dx[i]! - d) / Math.abs(d));
      });
      record(`tail ${name}`, 'fwdMaxEl', worst);
      record(`tail ${name}`, 'bwdMaxEl', worstD);
      expect({ name, worst: worst <= 3e-5, worstD: worstD <= 3e-5 }).toEqual({ name, worst: true, worstD: true });
    }
  });

  it('writes readable WGSL: named activate/derivative functions and a named element count', () => {
    const source = forwardKernel({ kind: 'mish' }, 1004);
    expect(source.code).toContain('fn activate(x: T) -> T');
    expect(source.code).toContain('alias T = vec4f;');
    expect(source.code).toContain('const COUNT = 251u;');
    expect(forwardKernel({ kind: 'tanh' }, 1001).code).toContain('alias T = f32;');
    // One lane forced where four would fit: its own pipeline key.
    const scalar = forwardKernel({ kind: 'mish' }, 1004, 1);
    expect([scalar.key, source.key]).toEqual(['activation-forward:mish:1004:scalar', 'activation-forward:mish:1004']);
    expect(scalar.code).toContain('alias T = f32;');
    expect(scalar.code).toContain('const COUNT = 1004u;');
  });
});

describe('activation op: softmax and logSoftmax', () => {
  for (const log of [false, true]) {
    const kind: ActivationName = log ? 'logSoftmax' : 'softmax';
    for (const [outer, width, inner] of [
      [37, 13, 1],
      [3, 7, 5],
      [2, 1, 3],
    ] as const) {
      it(`${kind} over [${outer}, ${width}, ${inner}] (axis stride ${inner})`, async () => {
        const n = outer * width * inner;
        const x = inputs(n, 3 * n + (log ? 1 : 0));
        const dy = uniform(n, 5 * n);
        const { y, dx } = await runOp(kind, x, dy, { rows: outer * inner, width, inner });
        const yRef = softmax64(x, outer, width, inner, log);
        const dxRef = softmaxBackward64(yRef, dy, outer, width, inner, log);
        const name = `${kind} [${outer},${width},${inner}]`;
        expect(record(name, 'fwd', relL2(y, yRef))).toBeLessThanOrEqual(1e-6);
        expect(record(name, 'bwd', relL2(dx, dxRef))).toBeLessThanOrEqual(2e-6);
        const idx = sampleIndices(n, 40, 9);
        const fd = finiteDifferences((xx) => softmax64(xx, outer, width, inner, log).reduce((s, v, i) => s + v * dy[i]!, 0), f64(x), idx, 1e-6);
        expect(record(name, 'fd', relL2(Float64Array.from(idx, (i) => dx[i]!), fd))).toBeLessThanOrEqual(1e-5);
        // TF.js twin: its softmax takes only the last axis, so the middle axis goes last and back.
        const twin = tf.tidy(() => {
          const t = tf.tensor(x, [outer, width, inner]).transpose([0, 2, 1]);
          const s = log ? tf.logSoftmax(t) : tf.softmax(t);
          return s.transpose([0, 2, 1]).dataSync() as Float32Array;
        });
        expect(record(name, 'tfjs', relL2(y, twin))).toBeLessThanOrEqual(1e-5);
      });
    }
  }
});

describe('parseActivation and serialization', () => {
  it('accepts every TF.js name and the Keras spellings, returning the canonical name', () => {
    for (const a of ACTIVATIONS) expect(parseActivation(a, 'test')).toBe(a);
    expect(parseActivation('hard_sigmoid', 'test')).toBe('hardSigmoid');
    expect(parseActivation('log_softmax', 'test')).toBe('logSoftmax');
    expect(parseActivation('geluNew', 'test')).toBe('gelu_new');
    expect(parseActivation('silu', 'test')).toBe('swish');
    expect(parseActivation(undefined, 'test')).toBe('linear');
    expect(parseActivation(null, 'test')).toBe('linear');
  });

  it('names the caller, the value and the known names for anything else', () => {
    expect(() => parseActivation('gelu_fast', 'layer d (Dense)')).toThrow(/layer d \(Dense\): unknown activation "gelu_fast"; known: elu, selu, relu.*swish/);
    expect(() => parseActivation(3, 'x')).toThrow(/unknown activation 3/);
  });

  it('writes the names TF.js writes into model.json', () => {
    expect(serializeActivation('hardSigmoid')).toBe('hard_sigmoid');
    expect(serializeActivation('logSoftmax')).toBe('log_softmax');
    expect(serializeActivation('gelu_new')).toBe('gelu_new');
    expect(serializeActivation('relu6')).toBe('relu6');
  });
});

describe('Activation layer', () => {
  it('runs every activation in a model (the plan applies it after the identity) on a rank-3 input', async () => {
    // The layer's own op is the identity; its backward runs through the plan, as the twins show.
    const batch = 2;
    const inputShape = [3, 7];
    const n = batch * 21;
    for (const a of ACTIVATIONS) {
      const x = inputs(n, 77, a === 'softmax' || a === 'logSoftmax' ? [] : reference(a).kinks, false);
      const layer = layers.activation({ activation: a, inputShape });
      expect(layer.aliasesInput()).toBe(true);
      const m = sequential([layer]);
      m.compile({ optimizer: 'sgd', loss: 'mse', engine: engine() });
      const y = (await m.predict(tensor(x, [batch, ...inputShape]))).values;
      const yRef = a === 'softmax' || a === 'logSoftmax' ? softmax64(x, 6, 7, 1, a === 'logSoftmax') : f64(x).map(reference(a).f);
      expect({ a, y: relL2(y, yRef) <= 1e-6 }).toEqual({ a, y: true });
      expect(relL2(y, tfForward(tf.layers.activation({ activation: a as never }), x, [batch, ...inputShape]))).toBeLessThanOrEqual(1e-5);
      m.dispose();
    }
  });

  it('keeps its config and model.json form equal to TF.js, and rebuilds from it', () => {
    for (const a of ACTIVATIONS) {
      const theirs = tfModelJsonConfig(tf.layers.activation({ activation: a as never, name: `act_${a}` }), [4]);
      const ours = new Activation({ activation: a, name: `act_${a}` });
      expect(ours.getConfig()).toEqual(theirs);
      expect(Activation.fromConfig(theirs).getConfig()).toEqual(theirs);
    }
    expect(tfModelJsonConfig(tf.layers.activation({ activation: 'hardSigmoid', name: 'h' }), [4]).activation).toBe('hard_sigmoid');
    expect(new Activation({ activation: 'relu' }).getConfig()).toMatchObject({ activation: 'relu' });
    expect(() => new Activation({ activation: 'tanhh' })).toThrow(/Activation\): unknown activation "tanhh"/);
    expect(() => Activation.fromConfig({ activation: 'relu', alpha: 1 })).toThrow(/unknown config key 'alpha'/);
  });
});

describe('advanced activation layers', () => {
  const batch = 3;
  const shape = [5, 7]; // 105 elements: not a multiple of 4
  const n = batch * 35;

  const pointwiseLayers: { name: string; make: () => Layer; kind: ActivationKind; twin: (() => tf.layers.Layer) | null }[] = [
    { name: 'ReLU', make: () => new ReLU(), kind: 'relu', twin: () => tf.layers.reLU() },
    { name: 'ReLU(maxValue 1.5)', make: () => new ReLU({ maxValue: 1.5 }), kind: { kind: 'reluClipped', maxValue: 1.5 }, twin: () => tf.layers.reLU({ maxValue: 1.5 }) },
    { name: 'LeakyReLU', make: () => new LeakyReLU(), kind: { kind: 'leakyRelu', alpha: 0.3 }, twin: () => tf.layers.leakyReLU() },
    { name: 'LeakyReLU(0.05)', make: () => new LeakyReLU({ alpha: 0.05 }), kind: { kind: 'leakyRelu', alpha: 0.05 }, twin: () => tf.layers.leakyReLU({ alpha: 0.05 }) },
    { name: 'ELU', make: () => new ELU(), kind: 'elu', twin: () => tf.layers.elu() },
    { name: 'ELU(alpha 0.5)', make: () => new ELU({ alpha: 0.5 }), kind: { kind: 'elu', alpha: 0.5 }, twin: null },
    { name: 'ThresholdedReLU', make: () => new ThresholdedReLU(), kind: { kind: 'thresholdedRelu', theta: 1 }, twin: () => tf.layers.thresholdedReLU() },
    { name: 'ThresholdedReLU(-0.5)', make: () => new ThresholdedReLU({ theta: -0.5 }), kind: { kind: 'thresholdedRelu', theta: -0.5 }, twin: () => tf.layers.thresholdedReLU({ theta: -0.5 }) },
  ];

  for (const { name, make, kind, twin } of pointwiseLayers) {
    it(`${name}: forward and backward through the layer contract`, async () => {
      const ref = reference(kind);
      const x = inputs(n, 101, ref.kinks);
      const dy = uniform(n, 102);
      const out = await runLayer(make(), batch, shape, x, dy);
      const yRef = f64(x).map(ref.f);
      const dxRef = f64(x).map((v, i) => ref.d(v) * dy[i]!);
      expect(record(`layer ${name}`, 'fwd', relL2(out.y, yRef))).toBeLessThanOrEqual(1e-6);
      expect(record(`layer ${name}`, 'bwd', relL2(out.dx, dxRef))).toBeLessThanOrEqual(1e-6);
      const idx = sampleIndices(n, 40, 3);
      const fd = finiteDifferences((xx) => idx.reduce((s, i) => s + ref.f(xx[i]!) * dy[i]!, 0), f64(x), idx);
      expect(record(`layer ${name}`, 'fd', relL2(Float64Array.from(idx, (i) => out.dx[i]!), fd))).toBeLessThanOrEqual(1e-5);
      if (twin) expect(record(`layer ${name}`, 'tfjs', relL2(out.y, tfForward(twin(), x, [batch, ...shape])))).toBeLessThanOrEqual(1e-5);
      expect(out.noInputGrad).toEqual([]);
    });
  }

  for (const [axis, inputShape, geometry] of [
    [-1, [4, 9], [12, 9, 1]],
    [1, [6], [3, 6, 1]],
    [1, [4, 9], [3, 4, 9]],
    [-2, [5, 3, 2], [15, 3, 2]],
    [[2], [5, 3, 2], [15, 3, 2]],
  ] as const) {
    it(`Softmax axis ${JSON.stringify(axis)} on [${batch}, ${inputShape}]`, async () => {
      const [outer, width, inner] = geometry;
      const size = outer * width * inner;
      const x = inputs(size, 7 * size);
      const dy = uniform(size, 8 * size);
      const layer = new Softmax({ axis: axis as number | number[] });
      const out = await runLayer(layer, batch, inputShape, x, dy);
      const yRef = softmax64(x, outer, width, inner);
      const name = `layer Softmax axis ${JSON.stringify(axis)} [${inputShape}]`;
      expect(record(name, 'fwd', relL2(out.y, yRef))).toBeLessThanOrEqual(1e-6);
      expect(record(name, 'bwd', relL2(out.dx, softmaxBackward64(yRef, dy, outer, width, inner)))).toBeLessThanOrEqual(2e-6);
      const idx = sampleIndices(size, 30, 4);
      const fd = finiteDifferences((xx) => softmax64(xx, outer, width, inner).reduce((s, v, i) => s + v * dy[i]!, 0), f64(x), idx, 1e-6);
      expect(record(name, 'fd', relL2(Float64Array.from(idx, (i) => out.dx[i]!), fd))).toBeLessThanOrEqual(1e-5);
      // TF.js's Softmax layer takes only the last axis; elsewhere compare with exp(x − logSumExp(x, axis)).
      const fullAxis = (Array.isArray(axis) ? axis[0]! : axis) as number;
      const last = fullAxis === -1 || fullAxis === inputShape.length;
      const twin = last
        ? tfForward(tf.layers.softmax({ axis: fullAxis }), x, [batch, ...inputShape])
        : tf.tidy(() => {
            const t = tf.tensor(x, [batch, ...inputShape]);
            return tf.exp(tf.sub(t, tf.logSumExp(t, fullAxis, true))).dataSync() as Float32Array;
          });
      expect(record(name, 'tfjs', relL2(out.y, twin))).toBeLessThanOrEqual(1e-5);
    });
  }

  it('Softmax rejects axes it cannot use, naming the layer and the field', () => {
    expect(() => new Softmax({ axis: [1, 2], name: 'sm' })).toThrow(/Softmax sm: axis must be an integer .*several axes.*got \[1,2\]/);
    expect(() => new Softmax({ axis: 1.5, name: 'sm2' })).toThrow(/Softmax sm2: axis must be an integer/);
    expect(() => new Softmax({ axis: 0, name: 'sm3' }).computeOutputShape([[4, 5]])).toThrow(/Softmax sm3: axis must be one of the input's sample axes, 1\.\.2 or -2\.\.-1 .*got 0/);
    expect(() => new Softmax({ axis: -3, name: 'sm4' }).computeOutputShape([[4, 5]])).toThrow(/got -3/);
    expect(new Softmax().axis).toBe(-1);
  });

  it('ReLU, LeakyReLU, ELU and ThresholdedReLU validate their numbers', () => {
    expect(() => new ReLU({ maxValue: -1, name: 'r' })).toThrow(/ReLU r: maxValue must be a finite number ≥ 0 or null, got -1/);
    expect(() => new ReLU({ maxValue: '6' as never, name: 'r2' })).toThrow(/ReLU r2: maxValue must be a finite number ≥ 0 or null, got "6"/);
    expect(() => new LeakyReLU({ alpha: NaN, name: 'l' })).toThrow(/LeakyReLU l: alpha must be a finite number, got/);
    expect(() => new ELU({ alpha: Infinity, name: 'e' })).toThrow(/ELU e: alpha must be a finite number/);
    expect(() => new ThresholdedReLU({ theta: null as never, name: 't' }).theta).not.toThrow();
    expect(() => new ThresholdedReLU({ theta: 'x' as never, name: 't2' })).toThrow(/ThresholdedReLU t2: theta must be a finite number, got "x"/);
  });

  // ---- PReLU ----

  /** Reference PReLU on [batch, ...shape] with alpha of alphaShape (broadcast). */
  function preluRef(x: Float32Array, alpha: Float32Array, dy: Float32Array, batch: number, shape: number[], alphaShape: readonly number[]) {
    const sample = shape.reduce((a, b) => a * b, 1);
    const alphaIndex = (p: number) => {
      let a = 0;
      let stride = 1;
      let aStride = 1;
      for (let d = shape.length - 1; d >= 0; d--) {
        const c = Math.floor(p / stride) % shape[d]!;
        if (alphaShape[d] !== 1) a += c * aStride;
        stride *= shape[d]!;
        aStride *= alphaShape[d]!;
      }
      return a;
    };
    const y = new Float64Array(x.length);
    const dx = new Float64Array(x.length);
    const dalpha = new Float64Array(alpha.length);
    for (let i = 0; i < x.length; i++) {
      const a = alphaIndex(i % sample);
      const v = x[i]!;
      y[i] = v >= 0 ? v : alpha[a]! * v;
      dx[i] = v > 0 ? dy[i]! : alpha[a]! * dy[i]!;
      if (!(v > 0)) dalpha[a] += v * dy[i]!;
    }
    return { y, dx, dalpha, alphaIndex, sample };
  }

  for (const { batch: b, shape: s, sharedAxes } of [
    { batch: 3, shape: [7, 5], sharedAxes: null },
    { batch: 3, shape: [5, 6, 3], sharedAxes: [1, 2] },
    { batch: 2, shape: [5, 6, 3], sharedAxes: [2] },
    { batch: 2, shape: [4, 3, 5], sharedAxes: [1, 3] },
    { batch: 70, shape: [5], sharedAxes: null },
    { batch: 2, shape: [3, 11], sharedAxes: [1, 2] },
  ]) {
    it(`PReLU on [${b}, ${s}] sharedAxes ${JSON.stringify(sharedAxes)}: forward, dx and d(alpha)`, async () => {
      const layer = new PReLU({ sharedAxes });
      const [spec] = layer.weightSpecs([s]);
      const alphaShape = spec!.shape;
      expect(spec!.name).toBe('alpha');
      expect(alphaShape).toEqual(s.map((d, i) => (sharedAxes?.includes(i + 1) ? 1 : d)));
      const size = b * s.reduce((p, q) => p * q, 1);
      const x = inputs(size, size + 1, [0]);
      const dy = uniform(size, size + 2);
      const alpha = uniform(alphaShape.reduce((p, q) => p * q, 1), size + 3, 0.5);
      const out = await runLayer(layer, b, s, x, dy, [alpha]);
      const ref = preluRef(x, alpha, dy, b, s, alphaShape);
      const name = `layer PReLU [${b},${s}] shared ${JSON.stringify(sharedAxes)}`;
      expect(record(name, 'fwd', relL2(out.y, ref.y))).toBeLessThanOrEqual(1e-6);
      expect(record(name, 'bwd', relL2(out.dx, ref.dx))).toBeLessThanOrEqual(1e-6);
      expect(record(name, 'dalpha', relL2(out.dw[0]!, ref.dalpha))).toBeLessThanOrEqual(1e-5);
      // Scratch only when d(alpha) needs two passes.
      const g = preluGeometry(b, s, sharedAxes);
      expect(out.scratch.length).toBe(preluReduction(g).chunks > 1 ? 1 : 0);
      // Finite differences of Σ y·dy with respect to alpha and to x.
      const loss = (xx: ArrayLike<number>, aa: ArrayLike<number>) => {
        let sum = 0;
        for (let i = 0; i < xx.length; i++) {
          const v = xx[i]!;
          sum += (v >= 0 ? v : aa[ref.alphaIndex(i % ref.sample)]! * v) * dy[i]!;
        }
        return sum;
      };
      const fdAlpha = finiteDifferences((aa) => loss(x, aa), f64(alpha));
      expect(record(name, 'dalphaFd', relL2(out.dw[0]!, fdAlpha))).toBeLessThanOrEqual(1e-5);
      const idx = sampleIndices(size, 30, 5);
      const fdX = finiteDifferences((xx) => loss(xx, alpha), f64(x), idx);
      expect(record(name, 'fd', relL2(Float64Array.from(idx, (i) => out.dx[i]!), fdX))).toBeLessThanOrEqual(1e-5);
      const twin = tfForward(tf.layers.prelu({ sharedAxes: sharedAxes ?? undefined }), x, [b, ...s], [tf.tensor(alpha, [...alphaShape])]);
      expect(record(name, 'tfjs', relL2(out.y, twin))).toBeLessThanOrEqual(1e-5);
      expect(out.noInputGrad).toHaveLength(preluReduction(g).chunks > 1 ? 2 : 1);
    });
  }

  it('PReLU validates its config, naming the layer and the field', () => {
    expect(() => new PReLU({ alphaRegularizer: 'l3' as never, name: 'p' })).toThrow(/PReLU p: alphaRegularizer: unknown regularizer 'l3'/);
    expect(() => new PReLU({ alphaConstraint: { className: 'Radial' } as never, name: 'p2' })).toThrow(/PReLU p2: alphaConstraint: unknown constraint class 'Radial'; known: MaxNorm, MinMaxNorm, NonNeg, UnitNorm/);
    expect(() => new PReLU({ sharedAxes: [0], name: 'p3' })).toThrow(/PReLU p3: sharedAxes must hold positive integer axes \(0 is the batch/);
    expect(() => new PReLU({ sharedAxes: [3], name: 'p4' }).computeOutputShape([[4, 5]])).toThrow(/PReLU p4: sharedAxes must hold axes 1\.\.2 of the input \[null, 4, 5\].*got \[3\]/);
    expect(() => new PReLU({ sharedAxes: 'all' as never, name: 'p5' })).toThrow(/PReLU p5: sharedAxes must be an axis, an array of axes or null, got "all"/);
    expect(() => new PReLU({ alphaInitializer: 'lecunNormal', name: 'p6' })).toThrow(/PReLU p6: alphaInitializer: unknown initializer 'lecunNormal'/);
    expect(new PReLU({ sharedAxes: 2 }).sharedAxes).toEqual([2]);
  });

  it('getConfig() covers TF.js model.json config of each layer, and fromConfig rebuilds it', () => {
    const cases: { ours: () => Layer; theirs: () => tf.layers.Layer; shape: number[]; from: (c: unknown) => Layer }[] = [
      { ours: () => new ReLU({ name: 'a' }), theirs: () => tf.layers.reLU({ name: 'a' }), shape: [4], from: ReLU.fromConfig },
      { ours: () => new ReLU({ name: 'a', maxValue: 6 }), theirs: () => tf.layers.reLU({ name: 'a', maxValue: 6 }), shape: [4], from: ReLU.fromConfig },
      { ours: () => new LeakyReLU({ name: 'a' }), theirs: () => tf.layers.leakyReLU({ name: 'a' }), shape: [4], from: LeakyReLU.fromConfig },
      { ours: () => new LeakyReLU({ name: 'a', alpha: 0.1 }), theirs: () => tf.layers.leakyReLU({ name: 'a', alpha: 0.1 }), shape: [4], from: LeakyReLU.fromConfig },
      { ours: () => new ELU({ name: 'a' }), theirs: () => tf.layers.elu({ name: 'a' }), shape: [4], from: ELU.fromConfig },
      { ours: () => new ThresholdedReLU({ name: 'a' }), theirs: () => tf.layers.thresholdedReLU({ name: 'a' }), shape: [4], from: ThresholdedReLU.fromConfig },
      { ours: () => new ThresholdedReLU({ name: 'a', theta: 0.25 }), theirs: () => tf.layers.thresholdedReLU({ name: 'a', theta: 0.25 }), shape: [4], from: ThresholdedReLU.fromConfig },
      { ours: () => new Softmax({ name: 'a', axis: 1 }), theirs: () => tf.layers.softmax({ name: 'a', axis: 1 }), shape: [4], from: Softmax.fromConfig },
      { ours: () => new Softmax({ name: 'a', axis: -1 }), theirs: () => tf.layers.softmax({ name: 'a', axis: -1 }), shape: [4, 3], from: Softmax.fromConfig },
      { ours: () => new PReLU({ name: 'a' }), theirs: () => tf.layers.prelu({ name: 'a' }), shape: [4], from: PReLU.fromConfig },
      { ours: () => new PReLU({ name: 'a', sharedAxes: [1, 2] }), theirs: () => tf.layers.prelu({ name: 'a', sharedAxes: [1, 2] }), shape: [4, 4, 3], from: PReLU.fromConfig },
      { ours: () => new PReLU({ name: 'a', alphaInitializer: 'ones' }), theirs: () => tf.layers.prelu({ name: 'a', alphaInitializer: 'ones' }), shape: [4], from: PReLU.fromConfig },
    ];
    for (const c of cases) {
      const theirs = tfModelJsonConfig(c.theirs(), c.shape);
      const ours = c.ours().getConfig();
      expectConfigCovers(ours, theirs);
      const rebuilt = c.from(theirs);
      expect(rebuilt.className).toBe(c.ours().className);
      expect(rebuilt.getConfig()).toEqual(ours);
    }
    // The one default that differs: TF.js's Softmax writes axis 1, ours -1 (the same axis for [batch, classes]).
    expect(tfModelJsonConfig(tf.layers.softmax({ name: 'd' }), [4]).axis).toBe(1);
    expect(new Softmax({ name: 'd' }).getConfig().axis).toBe(-1);
    // Keras 3 spellings and neutral keys.
    expect(LeakyReLU.fromConfig({ name: 'k', negative_slope: 0.2 }).alpha).toBe(0.2);
    expect(ReLU.fromConfig({ name: 'k', max_value: null, negative_slope: 0, threshold: 0 }).maxValue).toBeNull();
    expect(() => ReLU.fromConfig({ name: 'k', negative_slope: 0.1 })).toThrow(/ReLU: negative_slope 0.1 is not supported, only 0/);
    expect(() => PReLU.fromConfig({ name: 'k', alpha_regularizer: { class_name: 'OrthogonalRegularizer', config: {} } })).toThrow(/PReLU: alpha_regularizer: unknown regularizer class/);
  });

  it('registers the TF.js factory names and Keras class names', () => {
    expect(layers.reLU({ maxValue: 2 })).toBeInstanceOf(ReLU);
    expect(layers.leakyReLU()).toBeInstanceOf(LeakyReLU);
    expect(layers.elu()).toBeInstanceOf(ELU);
    expect(layers.thresholdedReLU()).toBeInstanceOf(ThresholdedReLU);
    expect(layers.softmax()).toBeInstanceOf(Softmax);
    expect(layers.prelu()).toBeInstanceOf(PReLU);
    expect(new ReLU().name).toMatch(/^re_lu(_\d+)?$/);
    expect(new PReLU().name).toMatch(/^p_re_lu(_\d+)?$/);
  });
});

describe('in a model', () => {
  /** Every new layer between dense layers; TF.js builds the same model from our model.json. */
  function build(denseActivation: string, thresholded: boolean) {
    return sequential([
      layers.dense({ units: 8, inputShape: [6] }),
      layers.prelu(),
      layers.dense({ units: 8 }),
      layers.leakyReLU({ alpha: 0.2 }),
      layers.dense({ units: 8 }),
      layers.elu(),
      layers.dense({ units: 8, activation: denseActivation as never }),
      ...(thresholded ? [layers.thresholdedReLU({ theta: 0.05 })] : []),
      layers.dense({ units: 8 }),
      layers.reLU({ maxValue: 1 }),
      layers.dense({ units: 8 }),
      layers.activation({ activation: 'mish' }),
      layers.dense({ units: 8 }),
      layers.softmax(),
      layers.dense({ units: 3, activation: 'softmax' }),
    ]);
  }

  const N = 12;
  const x = uniform(N * 6, 5, 2);
  const labels = Int32Array.from({ length: N }, (_, i) => (i * 5) % 3);

  it('predicts as TF.js does from our model.json (ThresholdedReLU included)', async () => {
    const ours = build('swish', true);
    let saved: ModelArtifacts | undefined;
    await ours.save({ save: async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }) });
    const theirs = await tf.loadLayersModel(tf.io.fromMemory(saved as unknown as tf.io.ModelArtifacts));
    expect(theirs.layers.map((l) => l.getClassName())).toEqual(ours.layers.map((l) => l.className));
    ours.useEngine(engine());
    const probs = (await ours.predict(tensor(x, [N, 6]))).values;
    expect(record('model predict', 'tfjs', relL2(probs, (theirs.predict(tf.tensor2d(x, [N, 6])) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-5);
    ours.dispose();
  });

  // TF.js cannot train through ThresholdedReLU (no gradient for Greater), so this model has none.
  it('trains as TF.js does (cpu, SGD), saves, and TF.js and we load it back', async () => {
    const ours = build('gelu', false);
    ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
    // PReLU's alpha starts at zero in both libraries; start it elsewhere to exercise the slope.
    const start = (await ours.getWeights()).map((w) => (w.name.endsWith('/alpha') ? { ...w, values: uniform(w.values.length, 9, 0.5) } : w));
    await ours.setWeights(start.map((w) => tensor(w.values, w.shape)));
    let saved: ModelArtifacts | undefined;
    await ours.save({ save: async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }) });
    const theirs = await tf.loadLayersModel(tf.io.fromMemory(saved as unknown as tf.io.ModelArtifacts));
    expect(theirs.layers.map((l) => l.getClassName())).toEqual(ours.layers.map((l) => l.className));
    theirs.compile({ optimizer: tf.train.sgd(0.5), loss: 'sparseCategoricalCrossentropy' });
    const xs = tf.tensor2d(x, [N, 6]);
    expect(relL2((await ours.predict(tensor(x, [N, 6]))).values, (theirs.predict(xs) as tf.Tensor).dataSync())).toBeLessThanOrEqual(1e-5);
    await theirs.fit(xs, tf.tensor1d(Float32Array.from(labels)), { epochs: 2, batchSize: 6, shuffle: false, verbose: 0 });
    await ours.fit(tensor(x, [N, 6]), tensor(labels, [N]), { epochs: 2, batchSize: 6, shuffle: false, verbose: 0 });
    const got = await ours.getWeights();
    const want = theirs.getWeights().map((t) => t.dataSync() as Float32Array);
    expect(got.map((w) => w.name)).toEqual(theirs.weights.map((w) => w.originalName));
    got.forEach((w, i) => {
      const delta = w.values.map((v, k) => v - start[i]!.values[k]!);
      const wantDelta = want[i]!.map((v, k) => v - start[i]!.values[k]!);
      expect({ name: w.name, ok: record('model 2 epochs SGD: weight deltas', 'tfjs', relL2(delta, wantDelta)) <= 1e-3 }).toEqual({ name: w.name, ok: true });
    });
    let again: ModelArtifacts | undefined;
    await ours.save({ save: async (a) => ((again = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }) });
    const reloaded = await loadModel({ load: async () => again! }, { engine: engine() });
    expect(reloaded.layers.map((l) => l.getConfig())).toEqual(ours.layers.map((l) => l.getConfig()));
    expect(relL2((await reloaded.predict(tensor(x, [N, 6]))).values, (await ours.predict(tensor(x, [N, 6]))).values)).toBeLessThanOrEqual(1e-6);
    ours.dispose();
    reloaded.dispose();
  });
});
