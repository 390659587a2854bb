/**
 * Weight initializers: the distributions (statistics on large dense and conv shapes against TF.js's
 * formulas), orthogonal and identity, seeds, names and factories, and model.json: our config of
 * each equals TF.js 4.22's, TF.js's and Keras's configs read back, and a Dense layer with each
 * saves and loads in TF.js.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { layers, loadModel, sequential, type LayersModel, type ModelArtifacts } from '../src/index.ts';
import { initializerConfig, initializerFromConfig } from '../src/layers/config.ts';
import {
  fans,
  initialize,
  initializers,
  INITIALIZER_NAMES,
  parseInitializer,
  Random,
  resolveInitializer,
  type Initializer,
} from '../src/layers/initializers.ts';
import { Dense } from '../src/layers/dense.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function stats(a: Float32Array): { mean: number; std: number; min: number; max: number } {
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of a) {
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / a.length;
  let sq = 0;
  for (const v of a) sq += (v - mean) ** 2;
  return { mean, std: Math.sqrt(sq / a.length), min, max };
}

/** TF.js's computeFans (channels last) for ranks 2 to 5. */
function tfFans(shape: number[]): [number, number] {
  if (shape.length === 2) return [shape[0]!, shape[1]!];
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return [shape[shape.length - 2]! * receptive, shape[shape.length - 1]! * receptive];
}

const DENSE = [300, 400];
const CONV = [3, 3, 64, 96];

/** The six named initializers and the objects as the code before this file computed them. */
function previousInitialize(init: Initializer, shape: number[], random: Random): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const { fanIn, fanOut } = fans(shape);
  const fill = (f: () => number) => {
    for (let i = 0; i < n; i++) out[i] = f();
  };
  if (typeof init === 'object') {
    if (init.kind === 'constant') out.fill(init.value);
    else if (init.kind === 'randomNormal') fill(() => (init.mean ?? 0) + (init.stddev ?? 0.05) * random.normal());
    else if (init.kind === 'randomUniform') fill(() => random.uniform(init.minval ?? -0.05, init.maxval ?? 0.05));
    return out;
  }
  if (init === 'ones') out.fill(1);
  if (init === 'glorotUniform') {
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    fill(() => random.uniform(-limit, limit));
  }
  if (init === 'glorotNormal') {
    const std = Math.sqrt(2 / (fanIn + fanOut)) / 0.87962566103423978;
    fill(() => std * random.truncatedNormal());
  }
  if (init === 'heNormal') {
    const std = Math.sqrt(2 / fanIn) / 0.87962566103423978;
    fill(() => std * random.truncatedNormal());
  }
  if (init === 'heUniform') {
    const limit = Math.sqrt(6 / fanIn);
    fill(() => random.uniform(-limit, limit));
  }
  return out;
}

describe('distributions', () => {
  it('the initializers we had give bit for bit the values they gave (same model seed, same weights)', () => {
    const inits: Initializer[] = ['glorotUniform', 'glorotNormal', 'heNormal', 'heUniform', 'zeros', 'ones', { kind: 'constant', value: 0.25 }, { kind: 'randomNormal', mean: 1, stddev: 0.3 }, { kind: 'randomUniform' }];
    for (const shape of [[784, 128], [128, 10], [3, 3, 1, 32], [5, 5, 7, 3], [10], [1, 1]]) {
      for (const init of inits) {
        const a = new Random(42);
        const b = new Random(42);
        const before = previousInitialize(init, shape, b);
        expect({ init, shape, same: Array.from(initialize(init, shape, a)).every((v, i) => Object.is(v, before[i])) }).toEqual({ init, shape, same: true });
        expect(a.next()).toBe(b.next()); // the model's stream advanced alike
      }
    }
  });

  it('randomUniform, randomNormal and truncatedNormal have their parameters (and TF.js defaults)', () => {
    const r = new Random(1);
    let s = stats(initialize(initializers.randomUniform({ minval: -0.3, maxval: 0.7 }), DENSE, r));
    expect(s.min).toBeGreaterThanOrEqual(-0.3);
    expect(s.max).toBeLessThan(0.7);
    expect(s.min).toBeLessThan(-0.299);
    expect(s.max).toBeGreaterThan(0.699);
    expect(s.mean).toBeCloseTo(0.2, 2);
    expect(s.std).toBeCloseTo(1 / Math.sqrt(12), 2);
    s = stats(initialize('randomUniform', DENSE, r));
    expect([s.min, s.max].map((v) => Math.round(v * 100) / 100)).toEqual([-0.05, 0.05]);
    // 0 is honoured (TF.js would substitute -0.05 for minval 0).
    expect(stats(initialize(initializers.randomUniform({ minval: 0, maxval: 1 }), [1000], r)).min).toBeGreaterThanOrEqual(0);

    s = stats(initialize(initializers.randomNormal({ mean: 1, stddev: 2 }), DENSE, r));
    expect(s.mean).toBeCloseTo(1, 1);
    expect(Math.abs(s.std / 2 - 1)).toBeLessThan(0.01);
    expect(s.max - 1).toBeGreaterThan(4 * 2); // untruncated: beyond 4σ among 120k draws
    s = stats(initialize('randomNormal', DENSE, r));
    expect(Math.abs(s.std / 0.05 - 1)).toBeLessThan(0.01);

    // Truncated at ±2σ, redrawn: std 0.8796·σ (TF.js's truncatedNormal, uncorrected), bounds reached.
    s = stats(initialize(initializers.truncatedNormal({ mean: -1, stddev: 0.5 }), DENSE, r));
    expect(s.min).toBeGreaterThanOrEqual(-2);
    expect(s.max).toBeLessThanOrEqual(0);
    expect(s.min).toBeLessThan(-1.99);
    expect(s.max).toBeGreaterThan(-0.01);
    expect(s.mean).toBeCloseTo(-1, 2);
    expect(Math.abs(s.std / (0.5 * 0.87962566103423978) - 1)).toBeLessThan(0.01);
    s = stats(initialize('truncatedNormal', CONV, r));
    expect(Math.max(-s.min, s.max)).toBeLessThanOrEqual(0.1 + 1e-7);
  });

  /** Each VarianceScaling form against TF.js's formulas for dense and conv kernels. */
  const SCALED: { name: string; init: Initializer; scale: number; mode: 'fanIn' | 'fanOut' | 'fanAvg'; uniform: boolean; untruncated?: boolean; tfjs?: () => { apply(shape: number[], dtype: 'float32'): tf.Tensor } }[] = [
    { name: 'glorotUniform', init: 'glorotUniform', scale: 1, mode: 'fanAvg', uniform: true, tfjs: () => tf.initializers.glorotUniform({}) },
    { name: 'glorotNormal', init: 'glorotNormal', scale: 1, mode: 'fanAvg', uniform: false },
    { name: 'heUniform', init: initializers.heUniform(), scale: 2, mode: 'fanIn', uniform: true, tfjs: () => tf.initializers.heUniform({}) },
    { name: 'heNormal', init: parseInitializer('he_normal', 'x'), scale: 2, mode: 'fanIn', uniform: false },
    { name: 'leCunUniform', init: 'leCunUniform', scale: 1, mode: 'fanIn', uniform: true, tfjs: () => tf.initializers.leCunUniform({}) },
    { name: 'leCunNormal', init: initializers.leCunNormal({ seed: 3 }), scale: 1, mode: 'fanIn', uniform: false },
    { name: 'varianceScaling()', init: 'varianceScaling', scale: 1, mode: 'fanIn', uniform: false },
    { name: 'varianceScaling fanOut uniform', init: initializers.varianceScaling({ scale: 3, mode: 'fanOut', distribution: 'uniform' }), scale: 3, mode: 'fanOut', uniform: true, tfjs: () => tf.initializers.varianceScaling({ scale: 3, mode: 'fanOut', distribution: 'uniform' }) },
    { name: 'varianceScaling fanAvg truncatedNormal', init: initializers.varianceScaling({ scale: 0.5, mode: 'fanAvg', distribution: 'truncatedNormal' }), scale: 0.5, mode: 'fanAvg', uniform: false },
    { name: 'varianceScaling fanOut untruncatedNormal (Keras)', init: { kind: 'varianceScaling', scale: 2, mode: 'fanOut', distribution: 'untruncatedNormal' }, scale: 2, mode: 'fanOut', uniform: false, untruncated: true },
  ];
  for (const c of SCALED) {
    it(`${c.name}: limits / std from TF.js's fans, dense and conv`, () => {
      for (const shape of [DENSE, CONV]) {
        const [fanIn, fanOut] = tfFans(shape);
        const fan = c.mode === 'fanIn' ? fanIn : c.mode === 'fanOut' ? fanOut : (fanIn + fanOut) / 2;
        const s = stats(initialize(c.init, shape, new Random(7)));
        const where = `${c.name} ${JSON.stringify(shape)}`;
        const n = shape.reduce((a, b) => a * b, 1);
        expect({ where, mean: Math.abs(s.mean) < (5 * Math.sqrt(c.scale / fan)) / Math.sqrt(n) }).toEqual({ where, mean: true }); // 5 standard errors
        if (c.uniform) {
          const limit = Math.sqrt((3 * c.scale) / fan); // TF.js: sqrt(3 · scale / fan)
          expect(Math.max(-s.min, s.max)).toBeLessThanOrEqual(limit);
          expect(Math.min(-s.min, s.max)).toBeGreaterThan(0.999 * limit);
          expect(Math.abs(s.std / (limit / Math.sqrt(3)) - 1)).toBeLessThan(0.01);
          if (c.tfjs) {
            // TF.js's own draws on the same shape fill the same interval.
            const t = stats(tf.tidy(() => c.tfjs!().apply(shape, 'float32').dataSync() as Float32Array));
            expect(Math.max(-t.min, t.max)).toBeLessThanOrEqual(limit * (1 + 1e-6));
            expect(Math.min(-t.min, t.max)).toBeGreaterThan(0.999 * limit);
            expect(Math.abs(t.std / s.std - 1)).toBeLessThan(0.015);
          }
        } else {
          const std = Math.sqrt(c.scale / fan); // Keras: the truncated normal is rescaled to this std
          expect(Math.abs(s.std / std - 1)).toBeLessThan(0.015);
          const bound = (2 * std) / 0.87962566103423978;
          if (c.untruncated) expect(s.max).toBeGreaterThan(bound);
          else {
            expect(Math.max(-s.min, s.max)).toBeLessThanOrEqual(bound * (1 + 1e-6));
            expect(Math.min(-s.min, s.max)).toBeGreaterThan(0.99 * bound);
          }
        }
      }
    });
  }

  it('orthogonal: QᵀQ = gain²·I for tall shapes, QQᵀ = gain²·I for wide ones, ranks > 2 flattened as TF.js does', () => {
    for (const [shape, gain] of [
      [[40, 12], 1],
      [[12, 40], 2],
      [[9, 9], 0.5],
      [[3, 3, 2, 5], 2], // [18, 5]
      [[2, 2, 2, 16], 1.5], // [8, 16]: wide
      [[1, 7], 1],
    ] as [number[], number][]) {
      const q = initialize(initializers.orthogonal({ gain }), shape, new Random(3));
      const cols = shape[shape.length - 1]!;
      const rows = q.length / cols;
      const k = Math.min(rows, cols);
      const at = (i: number, j: number) => (rows >= cols ? q[i * cols + j]! : q[j * cols + i]!); // column i of the tall one
      const m = Math.max(rows, cols);
      for (let i = 0; i < k; i++) {
        for (let j = 0; j < k; j++) {
          let dot = 0;
          for (let r = 0; r < m; r++) dot += at(r, i) * at(r, j);
          expect(dot).toBeCloseTo(i === j ? gain * gain : 0, 5);
        }
      }
    }
    // Haar-distributed: entries of a square orthogonal matrix have mean 0 and variance 1/n.
    const s = stats(initialize('orthogonal', [200, 200], new Random(4)));
    expect(Math.abs(s.mean)).toBeLessThan(0.002);
    expect(Math.abs(s.std * Math.sqrt(200) - 1)).toBeLessThan(0.01);
    expect(() => initialize('orthogonal', [5], new Random(1), 'dense/kernel')).toThrow(/dense\/kernel: the orthogonal initializer needs a shape of rank ≥ 2, got \[5\]/);
  });

  it('identity: gain·I on 2-D square shapes only', () => {
    expect(Array.from(initialize(initializers.identity({ gain: 2 }), [3, 3], new Random(1)))).toEqual([2, 0, 0, 0, 2, 0, 0, 0, 2]);
    expect(Array.from(initialize('identity', [2, 2], new Random(1)))).toEqual([1, 0, 0, 1]);
    expect(() => initialize('identity', [3, 4], new Random(1), 'd/kernel')).toThrow(/d\/kernel: the identity initializer needs a 2-D square shape, got \[3, 4\]/);
    expect(() => initialize('identity', [2, 2, 2], new Random(1))).toThrow(/2-D square shape, got \[2, 2, 2\]/);
  });

  it('zeros, ones, constant', () => {
    expect(Array.from(initialize(initializers.zeros(), [3], new Random(1)))).toEqual([0, 0, 0]);
    expect(Array.from(initialize(initializers.ones(), [3], new Random(1)))).toEqual([1, 1, 1]);
    expect(Array.from(initialize(initializers.constant({ value: -1.5 }), [2, 2], new Random(1)))).toEqual([-1.5, -1.5, -1.5, -1.5]);
    expect(Array.from(initialize(parseInitializer('constant', 'x'), [2], new Random(1)))).toEqual([0, 0]); // Keras's default value
  });
});

describe('seeds', () => {
  const seededKinds: ((seed: number) => Initializer)[] = [
    (seed) => initializers.randomUniform({ seed }),
    (seed) => initializers.randomNormal({ seed }),
    (seed) => initializers.truncatedNormal({ seed }),
    (seed) => initializers.varianceScaling({ seed }),
    (seed) => initializers.glorotUniform({ seed }),
    (seed) => initializers.glorotNormal({ seed }),
    (seed) => initializers.heNormal({ seed }),
    (seed) => initializers.heUniform({ seed }),
    (seed) => initializers.leCunNormal({ seed }),
    (seed) => initializers.leCunUniform({ seed }),
    (seed) => initializers.orthogonal({ seed }),
  ];

  it('a seed gives the same values whatever the model generator, distinct seeds distinct values, and leaves the model stream alone', () => {
    for (const make of seededKinds) {
      const a = new Random(1);
      const b = new Random(2);
      const x = initialize(make(5), [20, 30], a);
      const kind = JSON.stringify(make(5));
      expect({ kind, same: Array.from(initialize(make(5), [20, 30], b)) }).toEqual({ kind, same: Array.from(x) });
      expect({ kind, differs: Array.from(initialize(make(6), [20, 30], a)).some((v, i) => v !== x[i]) }).toEqual({ kind, differs: true });
      expect({ kind, differs: Array.from(initialize(make(-5), [20, 30], a)).some((v, i) => v !== x[i]) }).toEqual({ kind, differs: true });
      expect({ kind, differs: Array.from(initialize(make(5.5), [20, 30], a)).some((v, i) => v !== x[i]) }).toEqual({ kind, differs: true });
      expect(a.next()).toBe(new Random(1).next()); // the model's generator was not drawn from
    }
    // null seed: the model's generator, as without one.
    const nulled = initialize(initializers.glorotUniform({ seed: null }), [4, 4], new Random(9));
    expect(Array.from(nulled)).toEqual(Array.from(initialize('glorotUniform', [4, 4], new Random(9))));
  });

  it('in a model: the seeded kernel is the same for every model seed, the rest follows the model seed', async () => {
    const build = (seed: number) =>
      sequential({
        seed,
        layers: [layers.dense({ units: 5, inputShape: [4], kernelInitializer: initializers.heNormal({ seed: 11 }), biasInitializer: 'randomNormal' }), layers.dense({ units: 3 })],
      });
    const [a, b, c] = [build(1), build(2), build(1)];
    const [wa, wb, wc] = [await a.getWeights(), await b.getWeights(), await c.getWeights()];
    expect(Array.from(wa[0]!.values)).toEqual(Array.from(wb[0]!.values));
    expect(Array.from(wa[1]!.values)).not.toEqual(Array.from(wb[1]!.values));
    expect(Array.from(wa[2]!.values)).not.toEqual(Array.from(wb[2]!.values));
    expect(wa.map((w) => Array.from(w.values))).toEqual(wc.map((w) => Array.from(w.values)));
    for (const m of [a, b, c]) m.dispose();
  });
});

describe('names and objects', () => {
  it('every TF.js name, its Keras snake_case name and class names give the same initializer', () => {
    const spellings: Record<string, string[]> = {
      glorotUniform: ['glorot_uniform', 'GlorotUniform'],
      glorotNormal: ['glorot_normal', 'GlorotNormal'],
      heNormal: ['he_normal', 'HeNormal'],
      heUniform: ['he_uniform', 'HeUniform'],
      leCunNormal: ['lecun_normal', 'LeCunNormal', 'LecunNormal'],
      leCunUniform: ['lecun_uniform', 'LeCunUniform', 'LecunUniform'],
      zeros: ['Zeros', 'zero'],
      ones: ['Ones', 'one'],
      identity: ['Identity', 'IdentityInitializer'],
      orthogonal: ['Orthogonal', 'OrthogonalInitializer', 'orthogonal_initializer'],
      truncatedNormal: ['truncated_normal', 'TruncatedNormal'],
      randomNormal: ['random_normal', 'RandomNormal', 'normal'],
      randomUniform: ['random_uniform', 'RandomUniform', 'uniform'],
      varianceScaling: ['variance_scaling', 'VarianceScaling'],
      constant: ['Constant'],
    };
    expect(Object.keys(spellings).sort()).toEqual([...INITIALIZER_NAMES].sort());
    for (const [name, others] of Object.entries(spellings)) {
      const base = resolveInitializer(parseInitializer(name, 'x'));
      for (const other of others) expect({ other, r: resolveInitializer(parseInitializer(other, 'x')) }).toEqual({ other, r: base });
    }
    // The six we had stay plain names (layers' weightSpecs show them as before).
    for (const name of ['glorotUniform', 'glorot_uniform', 'heNormal', 'he_normal', 'zeros', 'ones']) expect(typeof parseInitializer(name, 'x')).toBe('string');
    expect(new Dense({ units: 2, kernelInitializer: 'lecun_uniform', biasInitializer: initializers.constant({ value: 0.1 }) }).weightSpecs([[3]])).toEqual([
      { name: 'kernel', shape: [3, 2], initializer: 'leCunUniform' },
      { name: 'bias', shape: [2], initializer: { kind: 'constant', value: 0.1 } },
    ]);
  });

  it('factories build TF.js-named objects with TF.js defaults', () => {
    expect(initializers.orthogonal({ gain: 2, seed: 3 })).toEqual({ kind: 'orthogonal', gain: 2, seed: 3 });
    expect(initializers.glorotUniform()).toEqual({ kind: 'glorotUniform' });
    expect(resolveInitializer(initializers.varianceScaling())).toEqual({ kind: 'varianceScaling', scale: 1, mode: 'fanIn', distribution: 'normal', seed: null });
    expect(resolveInitializer(initializers.randomUniform())).toEqual({ kind: 'randomUniform', minval: -0.05, maxval: 0.05, seed: null });
    expect(resolveInitializer(initializers.randomNormal({ stddev: 1 }))).toEqual({ kind: 'randomNormal', mean: 0, stddev: 1, seed: null });
    expect(resolveInitializer(initializers.truncatedNormal())).toEqual({ kind: 'truncatedNormal', mean: 0, stddev: 0.05, seed: null });
    expect(resolveInitializer(initializers.identity())).toEqual({ kind: 'identity', gain: 1 });
    expect(resolveInitializer(initializers.orthogonal())).toEqual({ kind: 'orthogonal', gain: 1, seed: null });
    expect(resolveInitializer('heUniform')).toEqual({ kind: 'varianceScaling', scale: 2, mode: 'fanIn', distribution: 'uniform', seed: null });
  });

  it('unknown names, fields and values fail naming the field, what was expected and what came', () => {
    expect(() => parseInitializer('lecunNormal', 'Dense d: kernelInitializer')).toThrow(/Dense d: kernelInitializer: unknown initializer 'lecunNormal'; known: constant, glorotNormal/);
    expect(() => parseInitializer(3, 'k')).toThrow(/k: expected an initializer name .* got 3/);
    expect(() => parseInitializer({ kind: 'xavier' }, 'k')).toThrow(/k: kind must be one of 'zeros', 'ones', .* got "xavier"/);
    expect(() => initializers.orthogonal({ gian: 2 } as never)).toThrow(/initializers\.orthogonal: orthogonal has no field 'gian'; expected gain, seed, got gian: 2/);
    expect(() => initializers.glorotUniform({ scale: 2 } as never)).toThrow(/glorotUniform has no field 'scale'; expected seed/);
    expect(() => parseInitializer({ kind: 'zeros', value: 1 }, 'b')).toThrow(/b: zeros has no field 'value'; expected none, got value: 1/);
    expect(() => initializers.varianceScaling({ mode: 'fan_in' as never })).toThrow(/varianceScaling mode must be one of 'fanIn', 'fanOut', 'fanAvg', got "fan_in"/);
    expect(() => initializers.varianceScaling({ distribution: 'gaussian' as never })).toThrow(/distribution must be one of 'normal', 'uniform', 'truncatedNormal', 'untruncatedNormal', got "gaussian"/);
    expect(() => initializers.varianceScaling({ scale: -1 })).toThrow(/varianceScaling scale must be ≥ 0, got -1/);
    expect(() => initializers.randomNormal({ stddev: 'big' as never })).toThrow(/randomNormal stddev must be a finite number, got "big"/);
    expect(() => initializers.randomUniform({ seed: NaN })).toThrow(/randomUniform seed must be a finite number or null, got NaN/);
    expect(() => initializers.constant({} as never)).toThrow(/initializers\.constant: constant needs a value/);
    expect(() => initializers.constant(undefined as never)).toThrow(/initializers\.constant: expected an object of value, got undefined/);
    expect(() => new Dense({ units: 2, kernelInitializer: { kind: 'orthogonal', gain: '2' } as never, name: 'dd' })).toThrow(/Dense dd: kernelInitializer: orthogonal gain must be a finite number, got "2"/);
  });
});

// ---- model.json ------------------------------------------------------------------------------

type Config = { class_name: string; config: Record<string, unknown> };

/** What TF.js writes into model.json for a Dense kernel initializer. */
function tfKernelConfig(init: unknown, units = 4): Config {
  const m = tf.sequential({ layers: [tf.layers.dense({ units, inputShape: [4], kernelInitializer: init as never })] });
  const json = m.toJSON(null, false) as unknown as { config: { layers: { config: { kernel_initializer: Config } }[] } };
  const config = json.config.layers[0]!.config.kernel_initializer;
  m.dispose();
  return config;
}

/** Each of ours with the same initializer made by TF.js. */
const PAIRS: { label: string; ours: Initializer | string; theirs: () => unknown }[] = [
  ...(['glorotUniform', 'glorotNormal', 'heNormal', 'heUniform', 'leCunNormal', 'leCunUniform', 'zeros', 'ones', 'identity', 'orthogonal', 'truncatedNormal', 'randomNormal', 'randomUniform', 'varianceScaling'] as const).map((name) => ({
    label: `'${name}'`,
    ours: name,
    theirs: () => name,
  })),
  { label: 'zeros()', ours: initializers.zeros(), theirs: () => tf.initializers.zeros() },
  { label: 'ones()', ours: initializers.ones(), theirs: () => tf.initializers.ones() },
  { label: 'constant', ours: initializers.constant({ value: 2.5 }), theirs: () => tf.initializers.constant({ value: 2.5 }) },
  { label: 'randomUniform', ours: initializers.randomUniform({ minval: -0.2, maxval: 0.3, seed: 4 }), theirs: () => tf.initializers.randomUniform({ minval: -0.2, maxval: 0.3, seed: 4 }) },
  { label: 'randomNormal', ours: initializers.randomNormal({ mean: 0.5, stddev: 0.2, seed: 5 }), theirs: () => tf.initializers.randomNormal({ mean: 0.5, stddev: 0.2, seed: 5 }) },
  { label: 'truncatedNormal', ours: initializers.truncatedNormal({ mean: -1, stddev: 0.3, seed: 6 }), theirs: () => tf.initializers.truncatedNormal({ mean: -1, stddev: 0.3, seed: 6 }) },
  { label: 'varianceScaling fanOut', ours: initializers.varianceScaling({ scale: 3, mode: 'fanOut', distribution: 'truncatedNormal', seed: 7 }), theirs: () => tf.initializers.varianceScaling({ scale: 3, mode: 'fanOut', distribution: 'truncatedNormal', seed: 7 }) },
  { label: 'varianceScaling fanAvg', ours: initializers.varianceScaling({ scale: 0.5, mode: 'fanAvg', distribution: 'uniform' }), theirs: () => tf.initializers.varianceScaling({ scale: 0.5, mode: 'fanAvg', distribution: 'uniform' }) },
  { label: 'varianceScaling = heNormal', ours: initializers.varianceScaling({ scale: 2 }), theirs: () => tf.initializers.varianceScaling({ scale: 2 }) },
  { label: 'glorotUniform seed', ours: initializers.glorotUniform({ seed: 8 }), theirs: () => tf.initializers.glorotUniform({ seed: 8 }) },
  { label: 'glorotNormal seed', ours: initializers.glorotNormal({ seed: 9 }), theirs: () => tf.initializers.glorotNormal({ seed: 9 }) },
  { label: 'heNormal', ours: initializers.heNormal(), theirs: () => tf.initializers.heNormal({}) },
  { label: 'heUniform seed', ours: initializers.heUniform({ seed: 10 }), theirs: () => tf.initializers.heUniform({ seed: 10 }) },
  { label: 'leCunNormal seed', ours: initializers.leCunNormal({ seed: 11 }), theirs: () => tf.initializers.leCunNormal({ seed: 11 }) },
  { label: 'leCunUniform', ours: initializers.leCunUniform(), theirs: () => tf.initializers.leCunUniform({}) },
  { label: 'orthogonal', ours: initializers.orthogonal({ gain: 2, seed: 12 }), theirs: () => tf.initializers.orthogonal({ gain: 2, seed: 12 }) },
  { label: 'identity', ours: initializers.identity({ gain: 3 }), theirs: () => tf.initializers.identity({ gain: 3 }) },
];

describe('model.json with TF.js 4.22', () => {
  it('our config of each initializer is what TF.js writes for it, and reading TF.js\'s rebuilds the same parameters', () => {
    for (const p of PAIRS) {
      const theirs = tfKernelConfig(p.theirs());
      const ours = parseInitializer(p.ours, p.label);
      expect({ label: p.label, config: initializerConfig(ours) }).toEqual({ label: p.label, config: theirs });
      expect({ label: p.label, json: JSON.stringify(initializerConfig(ours)) }).toEqual({ label: p.label, json: JSON.stringify(theirs) }); // key order too
      expect({ label: p.label, config: new Dense({ units: 4, kernelInitializer: ours }).getConfig().kernel_initializer }).toEqual({ label: p.label, config: theirs });
      const read = initializerFromConfig(theirs, p.label)!;
      expect({ label: p.label, r: resolveInitializer(read) }).toEqual({ label: p.label, r: resolveInitializer(ours) });
      expect({ label: p.label, config: initializerConfig(read) }).toEqual({ label: p.label, config: theirs });
    }
    // TF.js writes glorot, He and LeCun as VarianceScaling; they read back as the names.
    expect(tfKernelConfig('glorotUniform')).toEqual({ class_name: 'VarianceScaling', config: { scale: 1, mode: 'fan_avg', distribution: 'uniform', seed: null } });
    expect(initializerFromConfig(tfKernelConfig('glorotUniform'), 'k')).toBe('glorotUniform');
    expect(initializerFromConfig(tfKernelConfig(tf.initializers.heNormal({ seed: 3 })), 'k')).toEqual({ kind: 'heNormal', seed: 3 });
    expect(initializerFromConfig(tfKernelConfig('leCunUniform'), 'k')).toBe('leCunUniform');
  });

  it('reads what Keras 2 and 3 write', () => {
    const read = (c: unknown) => initializerFromConfig(c, 'Dense: kernel_initializer');
    expect(read({ class_name: 'GlorotUniform', config: { seed: null } })).toBe('glorotUniform');
    expect(read({ module: 'keras.initializers', class_name: 'HeNormal', config: { seed: 3 }, registered_name: null })).toEqual({ kind: 'heNormal', seed: 3 });
    expect(read({ class_name: 'LecunNormal', config: { seed: null } })).toBe('leCunNormal');
    expect(read({ class_name: 'LecunUniform', config: {} })).toBe('leCunUniform');
    expect(read({ module: 'keras.initializers', class_name: 'OrthogonalInitializer', config: { gain: 1.5, seed: null }, registered_name: null })).toEqual({ kind: 'orthogonal', gain: 1.5, seed: null });
    expect(read({ class_name: 'Orthogonal', config: { gain: 1, seed: 2 } })).toEqual({ kind: 'orthogonal', gain: 1, seed: 2 });
    expect(read({ class_name: 'Identity', config: { gain: 2 } })).toEqual({ kind: 'identity', gain: 2 });
    expect(read({ class_name: 'TruncatedNormal', config: { mean: 0, stddev: 0.02, seed: null } })).toEqual({ kind: 'truncatedNormal', mean: 0, stddev: 0.02, seed: null });
    expect(read({ class_name: 'RandomUniform', config: { minval: -1, maxval: 1, seed: null, dtype: 'float32' } })).toEqual({ kind: 'randomUniform', minval: -1, maxval: 1, seed: null });
    expect(read({ class_name: 'Constant', config: { value: 3 } })).toEqual({ kind: 'constant', value: 3 });
    expect(read({ class_name: 'Zeros', config: {} })).toBe('zeros');
    expect(read('glorot_uniform')).toBe('glorotUniform');
    expect(read('orthogonal')).toBe('orthogonal');
    // Keras's distributions: truncated_normal (as TF.js's truncatedNormal), untruncated_normal (plain normal).
    expect(read({ class_name: 'VarianceScaling', config: { scale: 2, mode: 'fan_in', distribution: 'truncated_normal', seed: null } })).toEqual({
      kind: 'varianceScaling',
      scale: 2,
      mode: 'fanIn',
      distribution: 'truncatedNormal',
      seed: null,
    });
    const untruncated = read({ class_name: 'VarianceScaling', config: { scale: 1, mode: 'fan_out', distribution: 'untruncated_normal', seed: 1 } })!;
    expect(resolveInitializer(untruncated)).toEqual({ kind: 'varianceScaling', scale: 1, mode: 'fanOut', distribution: 'untruncatedNormal', seed: 1 });
    expect(initializerConfig(untruncated).config).toEqual({ scale: 1, mode: 'fan_out', distribution: 'untruncated_normal', seed: 1 });
    expect(read(null)).toBeUndefined();
    expect(read(undefined)).toBeUndefined();
  });

  it('fails on unknown classes, fields and values, naming them', () => {
    const read = (c: unknown) => () => initializerFromConfig(c, 'Dense: kernel_initializer');
    expect(read({ class_name: 'Xavier', config: {} })).toThrow(/Dense: kernel_initializer: unknown initializer class 'Xavier'; known: Zeros, Ones, Constant/);
    expect(read({ class_name: 'Orthogonal', config: { gain: 1, bogus: 2 } })).toThrow(/Dense: kernel_initializer: Orthogonal: orthogonal has no field 'bogus'; expected gain, seed, got bogus: 2/);
    expect(read({ class_name: 'VarianceScaling', config: { scale: 1, mode: 'fan_sideways' } })).toThrow(/VarianceScaling: varianceScaling mode must be one of 'fanIn', 'fanOut', 'fanAvg', got "fanSideways"/);
    expect(read({ class_name: 'RandomNormal', config: { stddev: '1' } })).toThrow(/RandomNormal: randomNormal stddev must be a finite number, got "1"/);
    expect(read({ class_name: 'RandomNormal', config: { seed: { class_name: 'SeedGenerator' } } })).toThrow(/RandomNormal\.seed must be a number or null/);
    expect(read({ class_name: 'Zeros', config: [] })).toThrow(/expected \{class_name: string, config: object\}/);
    expect(read({ className: 'Zeros', config: {} })).toThrow(/unknown key 'className' beside class_name/);
    expect(read(5)).toThrow(/expected \{class_name, config\}, got 5/);
    expect(read('nope')).toThrow(/unknown initializer 'nope'/);
  });

  async function captureOurs(m: LayersModel): Promise<ModelArtifacts> {
    let captured: ModelArtifacts | undefined;
    await m.save({ save: (a) => (captured = a) });
    return captured!;
  }

  it('a Dense layer with each initializer saves and loads in TF.js, and TF.js\'s loads here', async () => {
    for (const p of PAIRS) {
      const init = parseInitializer(p.ours, p.label);
      const kind = resolveInitializer(init).kind;
      const biasToo = kind !== 'identity' && kind !== 'orthogonal'; // those need a matrix
      const m = sequential({ layers: [layers.dense({ units: 4, inputShape: [4], kernelInitializer: init, biasInitializer: biasToo ? init : 'zeros' }), layers.dense({ units: 2 })] });
      const ours = await captureOurs(m);
      const weights = await m.getWeights();
      const tfm = await tf.loadLayersModel(tf.io.fromMemory(ours as unknown as tf.io.ModelArtifacts));
      const layer = tfm.layers[0] as unknown as { kernelInitializer: tf.serialization.Serializable; biasInitializer: tf.serialization.Serializable };
      const expected = initializerConfig(init);
      for (const i of biasToo ? [layer.kernelInitializer, layer.biasInitializer] : [layer.kernelInitializer]) {
        expect({ label: p.label, class_name: i.getClassName() }).toEqual({ label: p.label, class_name: expected.class_name });
      }
      expect({ label: p.label, json: tfKernelJson(tfm) }).toEqual({ label: p.label, json: expected });
      expect({ label: p.label, w: tfm.getWeights().map((w) => Array.from(w.dataSync())) }).toEqual({ label: p.label, w: weights.map((w) => Array.from(w.values)) });

      // And back: TF.js saves, we load the initializer it wrote.
      let theirs: tf.io.ModelArtifacts | undefined;
      await tfm.save(tf.io.withSaveHandler(async (a) => ((theirs = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
      const loaded = await loadModel({ load: () => theirs as unknown as ModelArtifacts });
      const dense = loaded.layers.find((l) => l instanceof Dense) as Dense;
      expect({ label: p.label, r: resolveInitializer(dense.kernelInitializer) }).toEqual({ label: p.label, r: resolveInitializer(init) });
      if (biasToo) expect({ label: p.label, r: resolveInitializer(dense.biasInitializer) }).toEqual({ label: p.label, r: resolveInitializer(init) });
      loaded.dispose();
      tfm.dispose();
      m.dispose();
    }
  });
});

function tfKernelJson(m: tf.LayersModel): Config {
  const json = m.toJSON(null, false) as unknown as { config: { layers: { config: { kernel_initializer: Config } }[] } };
  return json.config.layers[0]!.config.kernel_initializer;
}
