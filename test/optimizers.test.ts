/**
 * Every optimizer's update against a float64 implementation of its rule (TF.js's where TF.js has
 * the optimizer, Keras's otherwise): several steps from random weights and gradients, sizes that
 * are not multiples of the workgroup, the rate changed between steps. Then gradient clipping
 * (each mode) and decoupled weight decay against float64, the GPU's bias corrections at late
 * steps, the uniform uploaded only on change, and the optimizer objects' options and errors.
 */
import { describe, expect, it } from 'vitest';
import { STEP_INFO_BYTES, stepInfoData } from '../shaders/kernel.ts';
import { STEP_MATH } from '../shaders/optimizers.ts';
import { Adadelta, Adagrad, Adam, Adamax, AdamW, HYPER_BYTES, Momentum, Nadam, Optimizer, optimizers, resolveOptimizer, RMSprop, SGD, schedules } from '../src/optimizers.ts';
import { layers, loadLayersModel, loadModel, sequential, tensor, train } from '../src/index.ts';
import { Usage, type BufferView, type Engine } from '../src/runtime/engine.ts';
import { measuredErrors, nanBuffer, randomArray, readF32, relL2, toF64, uploadView, useEngine } from './helpers.ts';
import { OPTIMIZER_CASES, references, type Segment } from './reference/optimizers.ts';

const engine = useEngine();
const record = measuredErrors('OPTIMIZER_ERRORS', ['weights', 'displacement', 'slots']);

interface Run {
  gradients: Float32Array[];
  /** The rate of each step (set between steps); default: the optimizer's own. */
  rates?: number[];
  segments?: Segment[];
}

/**
 * Runs the steps on the GPU (the optimizer's own dispatches, StepInfo's step 1, 2, …) and in
 * float64 from the same start; returns both final states and the scratch views (prologue's scalars).
 */
async function runSteps(e: Engine, opt: Optimizer, w0: Float32Array, run: Run) {
  const n = w0.length;
  const params = uploadView(e, w0);
  const grads = uploadView(e, new Float32Array(n));
  const slots = opt.slotNames.map(() => uploadView(e, new Float32Array(n)));
  const hyper = { buffer: e.device.createBuffer({ size: HYPER_BYTES, usage: Usage.UNIFORM | Usage.COPY_DST, label: 'optimizer-hyper' }) };
  const stepInfo = { buffer: e.uniform(STEP_INFO_BYTES, 'step-info') };
  const scratch: BufferView[] = [];
  const dispatches = opt.dispatches(e, n, { params, grads, slots, hyper, stepInfo, segments: run.segments, scratch: (floats) => scratch[scratch.push(nanBuffer(e, floats)) - 1]! });
  const ref = references(opt, run.segments ?? [{ offset: 0, size: n }]);
  const w = toF64(w0);
  const refSlots = opt.slotNames.map(() => new Float64Array(n));
  run.gradients.forEach((g, k) => {
    if (run.rates) opt.learningRate = run.rates[k]!;
    e.write(stepInfo.buffer, stepInfoData(0, k + 1, 0, 1));
    opt.prepareStep(e, hyper, k + 1);
    e.write(grads, g);
    e.run(dispatches);
    ref(w, g, refSlots, opt.learningRateSchedule ? opt.learningRateSchedule.valueAt(k) : run.rates?.[k] ?? opt.learningRate, k + 1);
  });
  const gpuW = await readF32(e, params, n);
  const gpuSlots = await Promise.all(slots.map((s) => readF32(e, s, n)));
  hyper.buffer.destroy();
  return { gpuW, gpuSlots, w, refSlots, dispatches, scratch };
}

/** Gradients whose scale changes between steps (amsgrad's and Adamax's max pick both sides), zero on a padding run. */
function gradientsFor(n: number, scales = [1, 0.2, 3, 0.05, 1]): Float32Array[] {
  return scales.map((scale, k) => {
    const g = randomArray(n, 100 * n + k, scale);
    g.fill(0, Math.floor(n / 2), Math.floor(n / 2) + 2);
    return g;
  });
}

function compare(name: string, opt: Optimizer, r: Awaited<ReturnType<typeof runSteps>>, w0: Float32Array, tolerance = 1e-5): void {
  const displacement = relL2(
    r.gpuW.map((v, i) => v - w0[i]!),
    r.w.map((v, i) => v - w0[i]!),
  );
  const slotErrs = r.gpuSlots.map((s, k) => relL2(s, r.refSlots[k]!));
  console.log(`${name}: weights ${relL2(r.gpuW, r.w).toExponential(2)}, displacement ${displacement.toExponential(2)}, ` + opt.slotNames.map((s, k) => `${s} ${slotErrs[k]!.toExponential(2)}`).join(', '));
  expect(record(name, 'weights', relL2(r.gpuW, r.w))).toBeLessThanOrEqual(tolerance);
  expect(record(name, 'displacement', displacement)).toBeLessThanOrEqual(tolerance);
  for (const err of slotErrs) expect(record(name, 'slots', err)).toBeLessThanOrEqual(tolerance);
}



/** A dispatch's kernel family, with the update's variant (vec4, tail) where it names one. */
const kernelName = (label: string): string => (/^optimizer-update:(vec4|tail):/.test(label) ? label.split(':').slice(0, 2).join(':') : label.split(':')[0]!);

describe('optimizer updates match their rule in float64', () => {
  for (const [name, make] of OPTIMIZER_CASES) {
    for (const n of [5, 1000]) {
      it(`${name}, n=${n}, 5 steps, rate changed between steps`, async () => {
        const e = engine();
        const opt = make();
        const w0 = randomArray(n, n + 1);
        const base = opt.learningRate * 10; // large steps make the displacement check meaningful
        const r = await runSteps(e, opt, w0, { gradients: gradientsFor(n), rates: [base, base, base / 2, base / 2, base / 4] });
        compare(`${name} n=${n}`, opt, r, w0);
        const pad = Math.floor(n / 2);
        if (opt.weightDecay === 0) expect([r.gpuW[pad], r.gpuW[pad + 1]]).toEqual([w0[pad], w0[pad + 1]]);
      });
    }
  }

  it('RMSprop divides by √(v + ε), not √v + ε', async () => {
    const e = engine();
    const n = 300;
    const opt = new RMSprop();
    const w0 = randomArray(n, 1, 1e-3); // weights near the step's size keep the displacement exact in f32
    const g = randomArray(n, 2).map((v) => (v < 0 ? -1e-4 : 1e-4));
    const { gpuW } = await runSteps(e, opt, w0, { gradients: [g] });
    const delta = gpuW.map((v, i) => v - w0[i]!);
    const inside = Float64Array.from(g, (gi) => (-1e-3 * gi) / Math.sqrt(0.1 * gi * gi + 1e-7));
    const outside = Float64Array.from(g, (gi) => (-1e-3 * gi) / (Math.sqrt(0.1 * gi * gi) + 1e-7));
    expect(relL2(delta, inside)).toBeLessThanOrEqual(1e-5);
    expect(relL2(delta, outside)).toBeGreaterThan(0.5);
  });

  it("Adadelta's step uses the accumulated gradient from before the step (TF.js), not Keras's updated one", async () => {
    const e = engine();
    const opt = new Adadelta({ learningRate: 1 });
    const w0 = new Float32Array([1, 1, 1]);
    const { gpuW } = await runSteps(e, opt, w0, { gradients: [new Float32Array([0.5, 0.1, -0.2])] });
    // At step 1 both accumulators are 0, so TF.js's step is exactly g.
    expect(Array.from(gpuW)).toEqual([0.5, 0.9, 1.2].map(Math.fround));
  });

  it("Adagrad's accumulator starts at initialAccumulatorValue at step 1", async () => {
    const e = engine();
    const opt = new Adagrad({ initialAccumulatorValue: 0.25 });
    const { gpuSlots } = await runSteps(e, opt, new Float32Array(3), { gradients: [new Float32Array([0, 0.5, 1])] });
    expect(Array.from(gpuSlots[0]!)).toEqual([0.25, 0.5, 1.25]);
  });
});

describe('gradient clipping and weight decay, against float64', () => {
  // Three weights with padding between them (offsets aligned to 64 floats, as the model lays them out).
  const segments: Segment[] = [
    { offset: 0, size: 50 },
    { offset: 64, size: 3 },
    { offset: 128, size: 77 },
  ];
  const n = 205;
  /** Gradients with one large weight, one small and one in between, zero in the padding. */
  function clippedGradients(): Float32Array[] {
    return [1, 2, 0.5].map((scale, k) => {
      const g = new Float32Array(n);
      segments.forEach((s, j) => g.set(randomArray(s.size, 10 * k + j, scale * [3, 0.01, 0.4][j]!), s.offset));
      return g;
    });
  }
  const cases: [string, () => Optimizer][] = [
    ['clipnorm 0.5 (per weight), SGD', () => new SGD({ learningRate: 0.1, clipnorm: 0.5 })],
    ['clipnorm 0.5, Adam', () => new Adam({ learningRate: 0.01, clipnorm: 0.5 })],
    ['globalClipnorm 1, SGD momentum', () => new SGD({ learningRate: 0.1, momentum: 0.9, globalClipnorm: 1 })],
    ['globalClipnorm 1, RMSprop', () => new RMSprop({ globalClipnorm: 1 })],
    ['clipvalue 0.3, SGD', () => new SGD({ learningRate: 0.1, clipvalue: 0.3 })],
    ['clipvalue 0.3, Nadam with weight decay', () => new Nadam({ learningRate: 0.01, clipvalue: 0.3, weightDecay: 0.2 })],
    ['weight decay 0.1, Adagrad', () => new Adagrad({ learningRate: 0.1, weightDecay: 0.1 })],
  ];
  for (const [name, make] of cases) {
    it(name, async () => {
      const e = engine();
      const opt = make();
      const w0 = randomArray(n, 7);
      for (let i = 0; i < n; i++) if (!segments.some((s) => i >= s.offset && i < s.offset + s.size)) w0[i] = 0;
      const r = await runSteps(e, opt, w0, { gradients: clippedGradients(), segments });
      compare(name, opt, r, w0);
      // Clipping changed the step: the same run without it lands elsewhere.
      if (opt.clipnorm ?? opt.clipvalue ?? opt.globalClipnorm) {
        const plain = references(opt, segments, { noClip: true });
        const w = toF64(w0);
        const slots = opt.slotNames.map(() => new Float64Array(n));
        clippedGradients().forEach((g, k) => plain(w, g, slots, opt.learningRate, k + 1));
        expect(relL2(r.gpuW.map((v, i) => v - w0[i]!), w.map((v, i) => v - w0[i]!))).toBeGreaterThan(1e-2);
      }
    });
  }

  it('clipping and the prologue add one dispatch each; a plain step is one update (the vec4 update and its tail: 205 floats)', () => {
    const e = engine();
    const views = (o: Optimizer) => {
      const v = uploadView(e, new Float32Array(n));
      const u = { buffer: e.uniform(16) };
      return o.dispatches(e, n, { params: v, grads: v, slots: o.slotNames.map(() => v), hyper: u, stepInfo: u, segments, scratch: (f) => nanBuffer(e, f) }).map((d) => kernelName(d.label));
    };
    const update = ['optimizer-update:vec4', 'optimizer-update:tail'];
    expect(views(new SGD({ momentum: 0.9 }))).toEqual(update);
    expect(views(new SGD({ clipvalue: 1 }))).toEqual(update);
    expect(views(new Adam())).toEqual(['optimizer-prologue', ...update]);
    expect(views(new SGD({ clipnorm: 1 }))).toEqual(['clip-norms', 'optimizer-prologue', ...update]);
    expect(views(new SGD({ learningRate: schedules.exponentialDecay({ initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.5 }) }))).toEqual(['optimizer-prologue', ...update]);
  });
});

describe('clipping inside fit(): the plan passes each weight\'s range', () => {
  /** One SGD step on a two-layer model (four weights, padded apart in the flat buffer): each weight's update. */
  async function oneStep(optimizer: Optimizer): Promise<Float32Array[]> {
    const m = sequential([layers.dense({ units: 5, activation: 'tanh', inputShape: [3] }), layers.dense({ units: 2 })]);
    m.compile({ optimizer, loss: 'meanSquaredError', engine: engine() });
    m.setWeights([randomArray(15, 1), randomArray(5, 2), randomArray(10, 3), randomArray(2, 4)].map((w, i) => tensor(w, [[3, 5], [5], [5, 2], [2]][i]!)));
    const before = (await m.getWeights()).map((w) => w.values);
    await m.fit(tensor(randomArray(12, 5, 3), [4, 3]), tensor(randomArray(8, 6, 3), [4, 2]), { epochs: 1, batchSize: 4, verbose: 0 });
    const after = (await m.getWeights()).map((w) => w.values);
    m.dispose();
    return after.map((w, i) => w.map((v, k) => v - before[i]![k]!));
  }

  it('clipnorm scales each weight\'s gradient, globalClipnorm all of them together', async () => {
    // The gradient itself: an unclipped step at rate 1 is −g.
    const grads = (await oneStep(new SGD({ learningRate: 1 }))).map((d) => toF64(d.map((v) => -v)));
    const norms = grads.map((g) => Math.sqrt(g.reduce((s, v) => s + v * v, 0)));
    const clipnorm = Math.min(...norms) * 2; // some weights clipped, some not
    expect(norms.some((n) => n > clipnorm) && norms.some((n) => n < clipnorm)).toBe(true);
    const perWeight = await oneStep(new SGD({ learningRate: 0.1, clipnorm }));
    perWeight.forEach((d, i) => expect(relL2(d, grads[i]!.map((g) => (-0.1 * g * clipnorm) / Math.max(norms[i]!, clipnorm))), `weight ${i}`).toBeLessThanOrEqual(1e-5));
    const global = Math.hypot(...norms);
    const globalStep = await oneStep(new SGD({ learningRate: 0.1, globalClipnorm: global / 3 }));
    globalStep.forEach((d, i) => expect(relL2(d, grads[i]!.map((g) => (-0.1 * g) / 3)), `weight ${i}`).toBeLessThanOrEqual(1e-5));
  });
});

describe("the GPU's bias corrections", () => {
  /** 1 − β^t on the GPU by STEP_MATH, for each (β, t). */
  async function oneMinusPowers(e: Engine, cases: [number, number][]): Promise<Float32Array> {
    const out = nanBuffer(e, cases.length);
    const code = `${STEP_MATH}
@group(0) @binding(0) var<storage, read_write> out: array<f32, ${cases.length}>;
@compute @workgroup_size(1)
fn main() {
  ${cases.map(([beta, t], k) => `out[${k}] = oneMinusPower(${Math.fround(Math.log(beta))}, ${t}.0);`).join('\n  ')}
}`;
    e.run([e.kernel({ key: `test-one-minus-power:${cases.join(';')}`, code, bindings: ['write'], workgroups: [1, 1, 1] }, [out])]);
    return readF32(e, out, cases.length);
  }

  it('1 − β^t at steps 1, 10, 1e3, 1e5 for β = 0.9, 0.999 (vs float64), and Adam\'s step size from the prologue', async () => {
    const e = engine();
    const steps = [1, 10, 1e3, 1e5];
    const cases = [0.9, 0.999].flatMap((beta) => steps.map((t) => [beta, t] as [number, number]));
    const got = await oneMinusPowers(e, cases);
    const lines = cases.map(([beta, t], k) => {
      const exact = -Math.expm1(t * Math.log(beta));
      const err = Math.abs(got[k]! - exact) / exact;
      // β rounded to f32, then 1 − β^t (roughly what TF.js's and Keras's f32 arithmetic gives).
      const f32Way = Math.abs(Math.fround(1 - Math.fround(Math.fround(beta) ** t)) - exact) / exact;
      expect(err, `β=${beta} t=${t}`).toBeLessThanOrEqual(5e-7);
      return `β=${beta} t=${t}: 1−β^t ${exact.toPrecision(6)}, relative error ${err.toExponential(1)} (with β rounded to f32: ${f32Way.toExponential(1)})`;
    });
    console.log(lines.join('\n'));

    // Adam's α = lr·√(1−β2^t)/(1−β1^t) and ε·√(1−β2^t), as the prologue writes them at those steps.
    const opt = new Adam({ learningRate: 0.01 });
    const v = uploadView(e, new Float32Array(3));
    const stepInfo = { buffer: e.uniform(STEP_INFO_BYTES) };
    const hyper = { buffer: e.uniform(HYPER_BYTES) };
    const scratch: BufferView[] = [];
    const dispatches = opt.dispatches(e, 3, { params: v, grads: v, slots: [v, v], hyper, stepInfo, scratch: (f) => scratch[scratch.push(nanBuffer(e, f)) - 1]! });
    // 3 floats: the vec4 variant's scalar tail is the whole update.
    expect(dispatches.map((d) => kernelName(d.label))).toEqual(['optimizer-prologue', 'optimizer-update:tail']);
    for (const t of steps) {
      e.write(stepInfo.buffer, stepInfoData(0, t, 0, 1));
      opt.prepareStep(e, hyper, t);
      e.run([dispatches[0]!]);
      const [lr, alpha, epsilonHat] = await readF32(e, scratch[0]!, 3);
      const c2 = -Math.expm1(t * Math.log(0.999));
      const exactAlpha = (0.01 * Math.sqrt(c2)) / -Math.expm1(t * Math.log(0.9));
      const alphaErr = Math.abs(alpha! - exactAlpha) / exactAlpha;
      const epsilonErr = Math.abs(epsilonHat! - 1e-7 * Math.sqrt(c2)) / (1e-7 * Math.sqrt(c2));
      console.log(`Adam at t=${t}: α relative error ${alphaErr.toExponential(1)}, ε·√(1−β2^t) ${epsilonErr.toExponential(1)} (vs float64)`);
      expect(lr).toBe(Math.fround(0.01));
      expect(alphaErr, `α at t=${t}`).toBeLessThanOrEqual(5e-7);
      expect(epsilonErr, `ε̂ at t=${t}`).toBeLessThanOrEqual(5e-7);
    }
  });
});

describe('optimizer objects', () => {
  it('carry Keras defaults, TF.js slot names and config', () => {
    expect(optimizers.rmsprop().getConfig()).toEqual({ learning_rate: 1e-3, rho: 0.9, momentum: 0, epsilon: 1e-7, centered: false });
    expect(new RMSprop({ momentum: 0.9, centered: true }).slotNames).toEqual(['rms', 'momentum', 'mg']);
    expect(optimizers.adam({ learningRate: 0.01, amsgrad: true }).slotNames).toEqual(['m', 'v', 'vhat']);
    expect(optimizers.adam({ learningRate: 0.01, amsgrad: true }).getConfig()).toEqual({ learning_rate: 0.01, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, amsgrad: true });
    expect(optimizers.sgd().slotNames).toEqual([]);
    expect(new SGD({ momentum: 0.9, nesterov: true }).slotNames).toEqual(['momentum']);
    expect(optimizers.momentum({ momentum: 0.9 }).getConfig()).toEqual({ learning_rate: 0.01, momentum: 0.9, use_nesterov: false });
    expect(optimizers.adagrad().getConfig()).toEqual({ learning_rate: 0.001, initial_accumulator_value: 0.1, epsilon: 1e-7 });
    expect(optimizers.adagrad().slotNames).toEqual(['accumulator']);
    expect(optimizers.adadelta().getConfig()).toEqual({ learning_rate: 0.001, rho: 0.95, epsilon: 1e-7 });
    expect(optimizers.adadelta().slotNames).toEqual(['accum_grad', 'accum_var']);
    expect(optimizers.adamax().getConfig()).toEqual({ learning_rate: 0.001, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7 });
    expect(optimizers.adamax().slotNames).toEqual(['m', 'v']);
    expect(optimizers.adamw().getConfig()).toEqual({ learning_rate: 0.001, weight_decay: 0.004, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, amsgrad: false });
    expect(optimizers.nadam({ clipnorm: 1 }).getConfig()).toEqual({ learning_rate: 0.001, clipnorm: 1, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7 });
    expect(Optimizer.HYPER_BYTES).toBe(HYPER_BYTES);
    expect(new Adam({ learningRate: 0.01 }).hyperparameters(3)).toEqual(new Float32Array([0.01, 0, 0, 0]));
  });

  it('resolve names (TF.js compile defaults for the names TF.js knows) and instances', () => {
    const cases: [string, string, number][] = [
      ['sgd', 'SGD', 0.01],
      ['SGD', 'SGD', 0.01],
      ['momentum', 'Momentum', 0.01],
      ['adagrad', 'Adagrad', 0.01],
      ['Adadelta', 'Adadelta', 1],
      ['adam', 'Adam', 0.001],
      ['adamax', 'Adamax', 0.002],
      ['rmsprop', 'RMSprop', 0.001],
      ['RMSProp', 'RMSprop', 0.001],
      ['adamw', 'AdamW', 0.001],
      ['nadam', 'Nadam', 0.001],
    ];
    for (const [name, className, lr] of cases) expect([resolveOptimizer(name).className, resolveOptimizer(name).learningRate]).toEqual([className, lr]);
    expect((resolveOptimizer('momentum') as Momentum).momentum).toBe(0.9);
    const mine = new Adam({ learningRate: 0.1 });
    expect(resolveOptimizer(mine)).toBe(mine);
    const known = 'known: sgd, momentum, adagrad, adadelta, adam, adamax, rmsprop, adamw, nadam';
    expect(() => resolveOptimizer('ftrl')).toThrow(`unknown optimizer 'ftrl'; ${known}`);
    expect(() => resolveOptimizer('toString')).toThrow(/unknown optimizer 'toString'/);
    expect(() => resolveOptimizer(3)).toThrow(/unknown optimizer 'number 3'/);
  });

  it('reject bad configs with clear errors', () => {
    for (const lr of [0, -1, NaN, Infinity]) expect(() => new RMSprop({ learningRate: lr })).toThrow(/RMSprop: learningRate must be a finite number > 0/);
    expect(() => new Adagrad({ learningRate: -0.1 })).toThrow(/Adagrad: learningRate must be a finite number > 0/);
    expect(() => new RMSprop({ rho: 1 })).toThrow(/rho must be in \[0, 1\)/);
    expect(() => new Adadelta({ rho: -0.1 })).toThrow(/Adadelta: rho must be in \[0, 1\)/);
    expect(() => new RMSprop({ epsilon: 0 })).toThrow(/epsilon must be a finite number > 0/);
    expect(() => new SGD({ momentum: -0.1 })).toThrow(/SGD: momentum must be in \[0, 1\]/);
    expect(() => new Momentum({} as never)).toThrow(/Momentum: momentum is required/);
    expect(() => new Adam({ beta1: 1 })).toThrow(/beta1 must be in \[0, 1\)/);
    expect(() => new Nadam({ beta2: -0.5 })).toThrow(/Nadam: beta2/);
    expect(() => new Adagrad({ initialAccumulatorValue: -1 })).toThrow(/initialAccumulatorValue must be a finite number ≥ 0/);
    expect(() => new Adamax({ decay: -1 })).toThrow(/Adamax: decay must be a finite number ≥ 0/);
    expect(() => new AdamW({ weightDecay: -0.1 })).toThrow(/AdamW: weightDecay must be a finite number ≥ 0/);
    expect(() => new AdamW({ weightDecay: null as never })).toThrow(/AdamW: weightDecay/);
    expect(() => new SGD({ clipnorm: 0 })).toThrow(/SGD: clipnorm must be a finite number > 0/);
    expect(() => new SGD({ clipvalue: -1 })).toThrow(/SGD: clipvalue must be a finite number > 0/);
    expect(() => new Adam({ clipnorm: 1, globalClipnorm: 1 })).toThrow(/Adam: only one of clipnorm, clipvalue and globalClipnorm can be set/);
    expect(() => new RMSprop({ centered: 'yes' as unknown as boolean })).toThrow(/centered must be true or false/);
    expect(() => new Adam({ learning_rate: 0.1 } as never)).toThrow(/Adam: unknown option 'learning_rate'; known: learningRate/);
    expect(() => new SGD(null as never)).toThrow(/config must be an object/);
    const o = new SGD();
    expect(() => (o.learningRate = -1)).toThrow(/learningRate/);
    const scheduled = new SGD({ learningRate: schedules.inverseTimeDecay({ initialLearningRate: 0.1, decaySteps: 1, decayRate: 1 }) });
    expect(() => (scheduled.learningRate = 0.1)).toThrow(/created with the learning-rate schedule InverseTimeDecay, so its learning rate cannot be set/);
  });

  it('check the slot count and the weight ranges when binding', () => {
    const e = engine();
    const v = uploadView(e, new Float32Array(4));
    const base = { params: v, grads: v, hyper: v, stepInfo: v, scratch: () => v };
    expect(() => new Adam().dispatches(e, 4, { ...base, slots: [v] })).toThrow(/Adam needs 2 slot buffers \(m, v\), got 1/);
    expect(() => new SGD({ clipnorm: 1 }).dispatches(e, 4, { ...base, slots: [], segments: [{ offset: 2, size: 3 }] })).toThrow(/SGD: weight ranges must be increasing, non-overlapping ranges within the 4 floats/);
  });

  it('upload the rate only when it changes', () => {
    const writes: number[] = [];
    const fake = { write: (_: unknown, data: Float32Array) => writes.push(data[0]!) } as unknown as Engine;
    const hyper = { buffer: {} as GPUBuffer };
    const o = new SGD({ learningRate: 0.5 });
    for (let step = 1; step <= 4; step++) o.prepareStep(fake, hyper, step);
    o.learningRate = 0.25;
    o.prepareStep(fake, hyper, 5);
    o.prepareStep(fake, hyper, 6);
    expect(writes).toEqual([0.5, 0.25]);
    // A schedule lives on the GPU: one write (of nothing used), and learningRate reports its value after the steps taken.
    const s = new SGD({ learningRate: schedules.piecewiseConstantDecay({ boundaries: [2], values: [1, 0.5] }) });
    expect(s.learningRate).toBe(1);
    s.prepareStep(fake, hyper, 3);
    expect(s.learningRate).toBe(0.5);
  });
});

describe("TF.js's tf.train.* constructors and loadLayersModel, for ported code", () => {
  it('take TF.js\'s positional arguments and build the same optimizers as optimizers.*', () => {
    const pairs: [Optimizer, Optimizer][] = [
      [train.sgd(0.1), optimizers.sgd({ learningRate: 0.1 })],
      [train.momentum(0.1, 0.8, true), optimizers.momentum({ learningRate: 0.1, momentum: 0.8, useNesterov: true })],
      [train.adagrad(0.05, 0.2), optimizers.adagrad({ learningRate: 0.05, initialAccumulatorValue: 0.2 })],
      [train.adadelta(), optimizers.adadelta({ learningRate: 0.001, rho: 0.95 })],
      [train.adam(0.01, 0.8, 0.99, 1e-6), optimizers.adam({ learningRate: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1e-6 })],
      [train.adamax(undefined, 0.85, 0.995, null, 0.01), optimizers.adamax({ learningRate: 0.002, beta1: 0.85, beta2: 0.995, decay: 0.01 })],
      [train.rmsprop(0.01, 0.8, 0.1, 1e-6, true), optimizers.rmsprop({ learningRate: 0.01, rho: 0.8, momentum: 0.1, epsilon: 1e-6, centered: true })],
    ];
    for (const [positional, named] of pairs) {
      expect(positional.className).toBe(named.className);
      expect(positional.getConfig()).toEqual(named.getConfig());
    }
    expect(() => train.adam(-1)).toThrow(/learningRate/);
    expect(loadLayersModel).toBe(loadModel);
  });
});
