/**
 * Learning-rate schedules: the WGSL each schedule compiles to, evaluated on the GPU at chosen steps
 * (boundaries, staircase steps, the end of warm-up, cycles) against Keras's formulas transcribed
 * here in float64; an optimizer driven by a schedule in fit() takes the same steps as one whose
 * rate a callback sets to Keras's value before every batch (Keras evaluates at the count of
 * updates already applied); model.json round trips; bad arguments.
 */
import { describe, expect, it } from 'vitest';
import { scheduleFunction } from '../shaders/schedules.ts';
import { layers, optimizers, sequential, tensor } from '../src/index.ts';
import { CosineDecay, ExponentialDecay, InverseTimeDecay, LearningRateSchedule, optimizerConfig, optimizerFromConfig, PiecewiseConstantDecay, PolynomialDecay, scheduleFromConfig, serializeSchedule, SGD } from '../src/optimizers.ts';
import type { Engine } from '../src/runtime/engine.ts';
import { measuredErrors, nanBuffer, randomArray, readF32, relL2, useEngine } from './helpers.ts';

const engine = useEngine();
const record = measuredErrors('SCHEDULE_ERRORS', ['relative error']);

/** The schedule's WGSL run once per step on the GPU. */
async function onGpu(e: Engine, schedule: LearningRateSchedule, steps: readonly number[]): Promise<Float32Array> {
  const out = nanBuffer(e, steps.length);
  const code = `${scheduleFunction(schedule.spec())}
@group(0) @binding(0) var<storage, read_write> out: array<f32, ${steps.length}>;
@compute @workgroup_size(1)
fn main() {
  ${steps.map((s, k) => `out[${k}] = scheduledLearningRate(${s}u);`).join('\n  ')}
}`;
  e.run([e.kernel({ key: `test-schedule:${JSON.stringify(schedule.getConfig())}:${steps.join(',')}`, code, bindings: ['write'], workgroups: [1, 1, 1] }, [out])]);
  return readF32(e, out, steps.length);
}

/** Keras 3's formulas (keras/src/optimizers/schedules/learning_rate_schedule.py), in float64. */
const keras = {
  exponential: (c: { initial: number; decaySteps: number; decayRate: number; staircase: boolean }) => (step: number) => {
    const p = step / c.decaySteps;
    return c.initial * c.decayRate ** (c.staircase ? Math.floor(p) : p);
  },
  inverseTime: (c: { initial: number; decaySteps: number; decayRate: number; staircase: boolean }) => (step: number) => {
    const p = step / c.decaySteps;
    return c.initial / (1 + c.decayRate * (c.staircase ? Math.floor(p) : p));
  },
  piecewise: (boundaries: number[], values: number[]) => (step: number) => {
    if (step <= boundaries[0]!) return values[0]!;
    if (step > boundaries[boundaries.length - 1]!) return values[values.length - 1]!;
    for (let k = 1; k < boundaries.length; k++) if (step > boundaries[k - 1]! && step <= boundaries[k]!) return values[k]!;
    throw new Error('unreachable');
  },
  polynomial: (c: { initial: number; decaySteps: number; end: number; power: number; cycle: boolean }) => (step: number) => {
    let decaySteps = c.decaySteps;
    let s = step;
    if (c.cycle) decaySteps *= step === 0 ? 1 : Math.ceil(step / c.decaySteps);
    else s = Math.min(s, decaySteps);
    return (c.initial - c.end) * (1 - s / decaySteps) ** c.power + c.end;
  },
  cosine: (c: { initial: number; decaySteps: number; alpha: number; warmupTarget?: number; warmupSteps?: number }) => (step: number) => {
    const decay = (s: number, from: number) => from * ((1 - c.alpha) * (0.5 * (1 + Math.cos(Math.PI * (s / c.decaySteps)))) + c.alpha);
    if (c.warmupTarget === undefined) return decay(Math.min(step, c.decaySteps), c.initial);
    const warmup = c.warmupSteps!;
    const s = Math.min(step, c.decaySteps + warmup);
    return s < warmup ? (c.warmupTarget - c.initial) * (s / warmup) + c.initial : decay(s - warmup, c.warmupTarget);
  },
};

const CASES: [string, LearningRateSchedule, (step: number) => number, number[]][] = [
  ['exponentialDecay', new ExponentialDecay({ initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.96 }), keras.exponential({ initial: 0.1, decaySteps: 10, decayRate: 0.96, staircase: false }), [0, 1, 5, 10, 99, 1000, 100000]],
  ['exponentialDecay at late steps', new ExponentialDecay({ initialLearningRate: 0.1, decaySteps: 1000, decayRate: 0.9 }), keras.exponential({ initial: 0.1, decaySteps: 1000, decayRate: 0.9, staircase: false }), [1, 999, 1000, 123457, 1e6, 16777215]],
  ['exponentialDecay staircase', new ExponentialDecay({ initialLearningRate: 0.1, decaySteps: 7, decayRate: 0.5, staircase: true }), keras.exponential({ initial: 0.1, decaySteps: 7, decayRate: 0.5, staircase: true }), [0, 6, 7, 8, 13, 14, 15, 70, 699, 700]],
  ['exponentialDecay staircase, fractional decaySteps', new ExponentialDecay({ initialLearningRate: 1, decaySteps: 2.5, decayRate: 0.9, staircase: true }), keras.exponential({ initial: 1, decaySteps: 2.5, decayRate: 0.9, staircase: true }), [0, 2, 3, 4, 5, 7, 10, 250]],
  ['inverseTimeDecay', new InverseTimeDecay({ initialLearningRate: 0.5, decaySteps: 3, decayRate: 0.5 }), keras.inverseTime({ initial: 0.5, decaySteps: 3, decayRate: 0.5, staircase: false }), [0, 1, 2, 3, 300, 1e6]],
  ['inverseTimeDecay staircase', new InverseTimeDecay({ initialLearningRate: 0.5, decaySteps: 3, decayRate: 0.5, staircase: true }), keras.inverseTime({ initial: 0.5, decaySteps: 3, decayRate: 0.5, staircase: true }), [0, 2, 3, 5, 6, 299, 300]],
  ['piecewiseConstantDecay', new PiecewiseConstantDecay({ boundaries: [10, 20.5, 100], values: [1, 0.5, 0.1, 0.01] }), keras.piecewise([10, 20.5, 100], [1, 0.5, 0.1, 0.01]), [0, 9, 10, 11, 20, 21, 99, 100, 101, 1e6]],
  ['polynomialDecay', new PolynomialDecay({ initialLearningRate: 0.1, decaySteps: 100 }), keras.polynomial({ initial: 0.1, decaySteps: 100, end: 0.0001, power: 1, cycle: false }), [0, 1, 50, 99, 100, 150]],
  ['polynomialDecay power 0.5', new PolynomialDecay({ initialLearningRate: 0.1, decaySteps: 100, endLearningRate: 0.01, power: 0.5 }), keras.polynomial({ initial: 0.1, decaySteps: 100, end: 0.01, power: 0.5, cycle: false }), [0, 1, 50, 99, 100, 101]],
  ['polynomialDecay cycle power 2', new PolynomialDecay({ initialLearningRate: 0.1, decaySteps: 10, endLearningRate: 0, power: 2, cycle: true }), keras.polynomial({ initial: 0.1, decaySteps: 10, end: 0, power: 2, cycle: true }), [0, 1, 9, 10, 11, 19, 20, 21, 1000, 1001]],
  ['cosineDecay', new CosineDecay({ initialLearningRate: 0.1, decaySteps: 100 }), keras.cosine({ initial: 0.1, decaySteps: 100, alpha: 0 }), [0, 1, 25, 50, 51, 75, 99, 100, 1000]],
  ['cosineDecay alpha 0.1', new CosineDecay({ initialLearningRate: 0.1, decaySteps: 30, alpha: 0.1 }), keras.cosine({ initial: 0.1, decaySteps: 30, alpha: 0.1 }), [0, 7, 15, 29, 30, 31]],
  ['cosineDecay warm-up from 0', new CosineDecay({ initialLearningRate: 0, decaySteps: 100, warmupTarget: 0.1, warmupSteps: 10 }), keras.cosine({ initial: 0, decaySteps: 100, alpha: 0, warmupTarget: 0.1, warmupSteps: 10 }), [1, 5, 9, 10, 11, 60, 109, 110, 1000]],
  ['cosineDecay warm-up from 0.01, alpha 0.2', new CosineDecay({ initialLearningRate: 0.01, decaySteps: 40, alpha: 0.2, warmupTarget: 0.05, warmupSteps: 5 }), keras.cosine({ initial: 0.01, decaySteps: 40, alpha: 0.2, warmupTarget: 0.05, warmupSteps: 5 }), [0, 4, 5, 6, 25, 44, 45, 46]],
];

describe('schedules on the GPU against Keras', () => {
  for (const [name, schedule, formula, steps] of CASES) {
    it(`${name} at steps ${steps.join(', ')}`, async () => {
      const got = await onGpu(engine(), schedule, steps);
      steps.forEach((step, k) => {
        const want = formula(step);
        expect(schedule.valueAt(step), `host value at ${step}`).toBeCloseTo(want, 15);
        if (want < 1e-30) {
          // Below f32's normal range: zero or a denormal.
          expect(Math.abs(got[k]!), `GPU value at step ${step}`).toBeLessThan(1e-30);
          return;
        }
        const err = Math.abs(got[k]! - want) / want;
        expect(record(name, 'relative error', err), `GPU value at step ${step}: ${got[k]} vs ${want}`).toBeLessThanOrEqual(2e-6);
      });
    });
  }
});

describe('a schedule drives fit() from the step counter', () => {
  /** A linear model trained with SGD: the rate scales each step, so an off-by-one step shows. */
  async function train(learningRate: number | LearningRateSchedule, onBatchEnd?: (optimizer: SGD, stepsDone: number) => void, start?: Float32Array[]) {
    const m = sequential([layers.dense({ units: 3, inputShape: [4] })]);
    const optimizer = new SGD({ learningRate, momentum: 0.5 });
    m.compile({ optimizer, loss: 'meanSquaredError', engine: engine() });
    if (start) m.setWeights(start.map((w, i) => tensor(w, i === 0 ? [4, 3] : [3])));
    let done = 0;
    await m.fit(tensor(randomArray(40, 3), [10, 4]), tensor(randomArray(30, 4), [10, 3]), {
      epochs: 2,
      batchSize: 3,
      shuffle: false,
      verbose: 0,
      callbacks: {
        onBatchEnd: () => {
          done++;
          onBatchEnd?.(optimizer, done);
        },
      },
    });
    const weights = (await m.getWeights()).map((w) => w.values);
    m.dispose();
    return { weights, optimizer, steps: done };
  }

  for (const schedule of [
    new ExponentialDecay({ initialLearningRate: 0.2, decaySteps: 1, decayRate: 0.5 }),
    new PiecewiseConstantDecay({ boundaries: [2, 5], values: [0.3, 0.05, 0.2] }),
    new CosineDecay({ initialLearningRate: 0.01, decaySteps: 4, alpha: 0.1, warmupTarget: 0.2, warmupSteps: 3 }),
  ]) {
    it(`${schedule.className}: the same steps as its values set by a callback before each update`, async () => {
      const start = [randomArray(12, 1), randomArray(3, 2)];
      const scheduled = await train(schedule, undefined, start);
      const byHand = await train(schedule.valueAt(0), (o, stepsDone) => (o.learningRate = schedule.valueAt(stepsDone)), start);
      // Off by one step: the rates of the wrong steps.
      const shifted = await train(schedule.valueAt(1), (o, stepsDone) => (o.learningRate = Math.max(schedule.valueAt(stepsDone + 1), 1e-9)), start);
      expect(scheduled.steps).toBe(8);
      const err = relL2(scheduled.weights.flatMap((w) => Array.from(w)), byHand.weights.flatMap((w) => Array.from(w)));
      console.log(`${schedule.className} in fit(): weights vs the rate set by hand ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(1e-6);
      expect(relL2(scheduled.weights.flatMap((w) => Array.from(w)), shifted.weights.flatMap((w) => Array.from(w)))).toBeGreaterThan(1e-3);
      // learningRate reports the next step's rate.
      expect(scheduled.optimizer.learningRate).toBe(schedule.valueAt(8));
    });
  }
});

describe('schedules in model.json and their arguments', () => {
  it('serialize as Keras 3 does and come back (Keras 2 form and camelCase keys too)', () => {
    for (const [, schedule] of CASES) {
      const saved = serializeSchedule(schedule);
      expect(saved.module).toBe('keras.optimizers.schedules');
      const back = scheduleFromConfig(JSON.parse(JSON.stringify(saved)));
      expect(back.spec()).toEqual(schedule.spec());
      expect(back.name).toBe(schedule.name);
    }
    expect(serializeSchedule(new PiecewiseConstantDecay({ boundaries: [1], values: [1, 2] })).config).toEqual({ boundaries: [1], values: [1, 2], name: 'PiecewiseConstant' });
    const keras2 = { class_name: 'PolynomialDecay', config: { cycle: false, decay_steps: 10000, end_learning_rate: 0.01, initial_learning_rate: 0.1, name: null, power: 0.5 } };
    expect(scheduleFromConfig(keras2).valueAt(5000)).toBeCloseTo(0.09 * Math.sqrt(0.5) + 0.01, 12);
    expect(scheduleFromConfig({ class_name: 'ExponentialDecay', config: { initialLearningRate: 1, decaySteps: 2, decayRate: 0.5 } }).valueAt(2)).toBe(0.5);
    // An optimizer on a schedule saves it as its learning rate.
    const opt = optimizers.adam({ learningRate: new CosineDecay({ initialLearningRate: 0.01, decaySteps: 100, warmupTarget: 0.1, warmupSteps: 5 }), clipnorm: 2 });
    const config = JSON.parse(JSON.stringify(optimizerConfig(opt)));
    // Beside its current value, which TF.js (without schedules) trains at.
    expect([config.config.learningRate, config.config.learningRateSchedule.class_name]).toEqual([0.01, 'CosineDecay']);
    const loaded = optimizerFromConfig(config);
    expect(loaded.learningRateSchedule?.spec()).toEqual(opt.learningRateSchedule?.spec());
    expect(loaded.clipnorm).toBe(2);
    // Keras's form: the schedule as the learning rate.
    const nadam = optimizerFromConfig({ class_name: 'Nadam', config: { learning_rate: serializeSchedule(new InverseTimeDecay({ initialLearningRate: 0.1, decaySteps: 5, decayRate: 1 })) } });
    expect(nadam.learningRateSchedule?.className).toBe('InverseTimeDecay');
    expect(optimizerConfig(nadam).config.learning_rate).toEqual(serializeSchedule(nadam.learningRateSchedule!));
  });

  it('reject bad arguments naming the schedule and the argument', () => {
    expect(() => new ExponentialDecay({ initialLearningRate: 0.1, decaySteps: 0, decayRate: 0.5 })).toThrow('ExponentialDecay: decaySteps must be a finite number > 0, got 0');
    expect(() => new ExponentialDecay({ initialLearningRate: -0.1, decaySteps: 10, decayRate: 0.5 })).toThrow(/ExponentialDecay: initialLearningRate must be a finite number ≥ 0, got -0.1/);
    expect(() => new ExponentialDecay({ initialLearningRate: 0.1, decaySteps: 10 } as never)).toThrow('ExponentialDecay: decayRate is required');
    expect(() => new ExponentialDecay({ initialLearningRate: 0.1, decaySteps: 10, decayRate: 0 })).toThrow(/decayRate must be a finite number > 0/);
    expect(() => new InverseTimeDecay({ initialLearningRate: 0.1, decaySteps: 10, decayRate: -1 })).toThrow(/InverseTimeDecay: decayRate must be a finite number ≥ 0/);
    expect(() => new PiecewiseConstantDecay({ boundaries: [10, 20], values: [1, 0.5] })).toThrow('PiecewiseConstantDecay: values must have one more element than boundaries, got 2 values for 2 boundaries');
    expect(() => new PiecewiseConstantDecay({ boundaries: [20, 10], values: [1, 0.5, 0.1] })).toThrow(/boundaries must increase, got 20 then 10/);
    expect(() => new PiecewiseConstantDecay({ boundaries: [10], values: [1, -0.5] })).toThrow(/values\[1\] must be a finite number ≥ 0/);
    expect(() => new PiecewiseConstantDecay({ boundaries: 10, values: [1] } as never)).toThrow(/boundaries must be an array of numbers/);
    expect(() => new PolynomialDecay({ initialLearningRate: 0.1, decaySteps: 10, power: 0 })).toThrow(/PolynomialDecay: power must be a finite number > 0/);
    expect(() => new PolynomialDecay({ initialLearningRate: 0.1, decaySteps: 10, cycle: 1 as never })).toThrow(/cycle must be true or false/);
    expect(() => new CosineDecay({ initialLearningRate: 0.1, decaySteps: 10, alpha: 2 })).toThrow(/CosineDecay: alpha must be in \[0, 1\]/);
    expect(() => new CosineDecay({ initialLearningRate: 0.1, decaySteps: 10, warmupSteps: -1 })).toThrow(/warmupSteps must be a finite number ≥ 0/);
    expect(() => new CosineDecay({ initialLearningRate: 0.1, decay_steps: 10 } as never)).toThrow(/CosineDecay: unknown option 'decay_steps'/);
    expect(() => optimizers.schedules.cosineDecay(null as never)).toThrow(/CosineDecay: config must be an object/);
    expect(() => scheduleFromConfig({ class_name: 'CosineDecayRestarts', config: {} })).toThrow("unknown learning-rate schedule 'CosineDecayRestarts'; known: ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, PolynomialDecay, CosineDecay");
    expect(() => optimizerFromConfig({ class_name: 'SGD', config: { learning_rate: { class_name: 'ExponentialDecay', config: { initial_learning_rate: 0.1, decay_steps: -1, decay_rate: 0.5 } } } })).toThrow(
      /optimizer_config \(SGD\): ExponentialDecay: decaySteps must be a finite number > 0, got -1/,
    );
  });
});
