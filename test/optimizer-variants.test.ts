/**
 * The optimizer update's variant table (src/optimizers/update-variants.ts): what each profile
 * runs, and every rule in both variants, forced, on a 'cpu' and a 'gpu' engine, against the
 * float64 references over several steps: 1,037 floats (neither a multiple of 4 nor of 256: the
 * vec4 variant's tail runs), views at a nonzero offset in buffers whose floats around the view
 * must stay put, slots checked too; then every clipping mode (per-weight norms at offsets that are
 * and are not multiples of 4, global norm, value) and weight decay, and sizes below 4.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { STEP_INFO_BYTES, stepInfoData } from '../shaders/kernel.ts';
import { updateKernel } from '../shaders/optimizers.ts';
import { sgdRule } from '../shaders/update-rules.ts';
import { optimizerUpdateTable, updateDispatches } from '../src/optimizers/update-variants.ts';
import { Adadelta, Adagrad, Adam, Adamax, AdamW, HYPER_BYTES, Momentum, Nadam, Optimizer, RMSprop, SGD, schedules } from '../src/optimizers.ts';
import { applicableNames, variantNames } from '../src/ops/variants.ts';
import { Usage, type BufferView, type Engine } from '../src/runtime/engine.ts';
import { nanBuffer, randomArray, readF32, relL2, toF64, useEngine } from './helpers.ts';
import { OPTIMIZER_CASES, references, type Segment } from './reference/optimizers.ts';

const engines = { cpu: useEngine(), gpu: useEngine({ kernelStyle: 'tiled' }) };
const VARIANTS = variantNames(optimizerUpdateTable);

const report: string[] = [];
afterAll(() => console.log(`optimizer update variants (relL2 vs float64: weights | displacement | worst slot):\n${report.join('\n')}`));

/** Floats before each view (one storage offset alignment) and after it, which must stay put. */
const HEAD = 64;
const TAIL_GUARD = 7;
const SENTINEL = 12345.5;

/** A view of n floats at offset HEAD floats in a buffer of sentinels, holding `data`. */
function guardedView(e: Engine, data: Float32Array): Required<BufferView> {
  const all = new Float32Array(HEAD + data.length + TAIL_GUARD).fill(SENTINEL);
  all.set(data, HEAD);
  return { buffer: e.upload(all), offset: HEAD * 4, size: data.length * 4 };
}

/** The view's floats, after checking that the guards around it kept their sentinels. */
async function readGuarded(e: Engine, view: Required<BufferView>, n: number, label: string): Promise<Float32Array> {
  const all = await readF32(e, { buffer: view.buffer, offset: 0, size: (HEAD + n + TAIL_GUARD) * 4 }, HEAD + n + TAIL_GUARD);
  const guards = [...all.subarray(0, HEAD), ...all.subarray(HEAD + n)];
  expect(
    guards.every((v) => v === SENTINEL),
    `${label}: the floats around the view stay put`,
  ).toBe(true);
  return all.slice(HEAD, HEAD + n);
}

/** Gradients whose scale changes between steps, zero outside the weights' ranges. */
function gradients(n: number, segments: readonly Segment[], seed: number, scales = [1, 0.2, 3, 0.05]): Float32Array[] {
  return scales.map((scale, k) => {
    const g = randomArray(n, seed + k, scale);
    for (let i = 0; i < n; i++) if (!segments.some((s) => i >= s.offset && i < s.offset + s.size)) g[i] = 0;
    return g;
  });
}

/**
 * Runs `steps` steps of `opt` forced to `variant` (StepInfo's step 1, 2, …, the rate halved after
 * the second) and the float64 reference; checks weights, displacement and slots; returns the labels' errors.
 */
async function check(e: Engine, engineName: string, name: string, opt: Optimizer, variant: string, n: number, segments: Segment[], tolerance = 1e-5): Promise<void> {
  const label = `${name} ${variant} (${engineName} engine, n=${n})`;
  const w0 = randomArray(n, n + 3);
  const grads = gradients(n, segments, 17 * n);
  const params = guardedView(e, w0);
  const gradView = guardedView(e, new Float32Array(n));
  const slots = opt.slotNames.map(() => guardedView(e, new Float32Array(n)));
  const hyper = { buffer: e.device.createBuffer({ size: HYPER_BYTES, usage: Usage.UNIFORM | Usage.COPY_DST, label: 'optimizer-hyper' }) };
  const stepInfo = { buffer: e.uniform(STEP_INFO_BYTES, 'step-info') };
  const dispatches = opt.dispatches(e, n, { params, grads: gradView, slots, hyper, stepInfo, segments, scratch: (floats) => nanBuffer(e, floats) }, variant);
  const ref = references(opt, segments);
  const w = toF64(w0);
  const refSlots = opt.slotNames.map(() => new Float64Array(n));
  const base = opt.learningRateSchedule ? undefined : opt.learningRate * 10;
  grads.forEach((g, k) => {
    if (base !== undefined) opt.learningRate = k < 2 ? base : base / 2;
    e.write(stepInfo.buffer, stepInfoData(0, k + 1, 0, 1));
    opt.prepareStep(e, hyper, k + 1);
    e.write(gradView, g);
    e.run(dispatches);
    ref(w, g, refSlots, opt.learningRateSchedule ? opt.learningRateSchedule.valueAt(k) : opt.learningRate, k + 1);
  });
  const gpuW = await readGuarded(e, params, n, `${label} params`);
  const gpuSlots = await Promise.all(slots.map((s, k) => readGuarded(e, s, n, `${label} ${opt.slotNames[k]}`)));
  hyper.buffer.destroy();
  const errW = relL2(gpuW, w);
  const errD = relL2(
    gpuW.map((v, i) => v - w0[i]!),
    w.map((v, i) => v - w0[i]!),
  );
  const errSlots = gpuSlots.map((s, k) => relL2(s, refSlots[k]!));
  report.push(`${label}: ${errW.toExponential(1)} | ${errD.toExponential(1)} | ${errSlots.length ? Math.max(...errSlots).toExponential(1) : '-'}`);
  expect(errW, `${label} weights`).toBeLessThanOrEqual(tolerance);
  expect(errD, `${label} displacement`).toBeLessThanOrEqual(tolerance);
  errSlots.forEach((err, k) => expect(err, `${label} slot ${opt.slotNames[k]}`).toBeLessThanOrEqual(tolerance));
}

/** Every optimizer case, and one whose rate follows a schedule (read on the GPU). */
const RULES: [string, () => Optimizer][] = [
  ...OPTIMIZER_CASES,
  ['sgd scheduled', () => new SGD({ learningRate: schedules.exponentialDecay({ initialLearningRate: 0.1, decaySteps: 2, decayRate: 0.5 }) })],
];

describe('optimizer update variant table', () => {
  it("what each profile runs: 'vec4' first on 'cpu' and 'gpu' alike; every row explains itself", () => {
    const g = { n: 104_320, rule: sgdRule({ momentum: 0, nesterov: false }), options: { clip: { kind: 'none' as const }, weightDecay: 0 } };
    expect(applicableNames(optimizerUpdateTable, g, engines.cpu().profile)).toEqual(['vec4', 'scalar']);
    expect(applicableNames(optimizerUpdateTable, g, engines.gpu().profile)).toEqual(['vec4', 'scalar']);
    expect(applicableNames(optimizerUpdateTable, { ...g, n: 1037 }, engines.cpu().profile)).toEqual(['vec4', 'scalar']);
    expect(optimizerUpdateTable.key(g)).toBe('104320 sgd');
    expect(optimizerUpdateTable.key({ ...g, options: { clip: { kind: 'norm', clipnorm: 1, segments: [{ offset: 0, size: 8 }] }, weightDecay: 0 } })).toBe('104320 sgd clipnorm=1.0');
    expect(optimizerUpdateTable.bench).toBeTypeOf('function');
    for (const row of optimizerUpdateTable.rows) {
      expect(row.why.length, row.name).toBeGreaterThan(20);
      if (row.note) expect(row.note).toMatch(/^bench\/NOTES\.md item \d+$/);
    }
  });

  it("the chosen row is what runs: a quarter of the invocations for 'vec4', a scalar tail when n mod 4 ≠ 0", () => {
    const e = engines.cpu();
    const v = nanBuffer(e, 1037);
    const u = { buffer: e.uniform(16) };
    const g = { n: 1037, rule: sgdRule({ momentum: 0, nesterov: false }), options: { clip: { kind: 'none' as const }, weightDecay: 0 } };
    const labels = (variant?: string, n = 1037) => updateDispatches(e, { ...g, n }, [v, v, u], variant).map((d) => `${d.label.split(':').slice(0, 2).join(':')} ${d.workgroups.join('x')}`);
    expect(labels()).toEqual(['optimizer-update:vec4 2x1x1', 'optimizer-update:tail 1x1x1']);
    expect(labels('scalar')).toEqual(['optimizer-update:1037 5x1x1']);
    expect(labels('vec4')).toEqual(['optimizer-update:vec4 2x1x1', 'optimizer-update:tail 1x1x1']);
    expect(labels('vec4', 1024)).toEqual(['optimizer-update:vec4 1x1x1']);
    expect(labels('vec4', 3)).toEqual(['optimizer-update:tail 1x1x1']);
    // The scalar row is the kernel updateKernel always built.
    expect(updateDispatches(e, g, [v, v, u], 'scalar')[0]!.label).toBe(updateKernel(1037, g.rule, g.options).key);
    expect(() => updateDispatches(e, g, [v, v, u], 'vec8')).toThrow(/optimizer\.update: the variant 'vec8' does not apply here \(applicable: vec4, scalar; geometry 1037 sgd\)/);
  });
});

describe('optimizer update variants, forced, against float64', () => {
  const n = 1037;
  const whole: Segment[] = [{ offset: 0, size: n }];
  for (const [name, make] of RULES) {
    it(`${name}: both variants on both engines, 4 steps`, async () => {
      for (const [engineName, engine] of Object.entries(engines)) {
        for (const variant of VARIANTS) await check(engine(), engineName, name, make(), variant, n, whole);
      }
    });
  }

  // Per-weight ranges as the model lays them out (offsets multiples of 64) and at odd offsets (a vec4 straddles two weights).
  const aligned: Segment[] = [
    { offset: 0, size: 50 },
    { offset: 64, size: 3 },
    { offset: 128, size: 900 },
  ];
  const odd: Segment[] = [
    { offset: 0, size: 50 },
    { offset: 53, size: 3 },
    { offset: 130, size: 800 },
    { offset: 931, size: 106 },
  ];
  const clipped: [string, () => Optimizer, Segment[]][] = [
    ['clipnorm, aligned weights, SGD', () => new SGD({ learningRate: 0.1, clipnorm: 0.5 }), aligned],
    ['clipnorm, odd offsets, Adam', () => new Adam({ learningRate: 0.01, clipnorm: 0.5 }), odd],
    ['clipnorm, odd offsets, Adagrad with weight decay', () => new Adagrad({ learningRate: 0.1, clipnorm: 2, weightDecay: 0.1 }), odd],
    ['globalClipnorm, RMSprop centered momentum', () => new RMSprop({ globalClipnorm: 1, centered: true, momentum: 0.5 }), odd],
    ['globalClipnorm, Adadelta', () => new Adadelta({ learningRate: 1, globalClipnorm: 1 }), aligned],
    ['clipvalue, Nadam with weight decay', () => new Nadam({ learningRate: 0.01, clipvalue: 0.3, weightDecay: 0.2 }), aligned],
    ['clipvalue, Adamax', () => new Adamax({ clipvalue: 0.3 }), odd],
    ['clipvalue, Momentum nesterov', () => new Momentum({ momentum: 0.7, useNesterov: true, clipvalue: 0.3 }), whole],
    ['weight decay, AdamW', () => new AdamW({ weightDecay: 0.05 }), whole],
  ];
  for (const [name, make, segments] of clipped) {
    it(`${name}: both variants on both engines`, async () => {
      for (const [engineName, engine] of Object.entries(engines)) {
        for (const variant of VARIANTS) await check(engine(), engineName, name, make(), variant, n, segments);
      }
    });
  }

  it('sizes below and just above 4: only the tail, and one vec4 with a tail of 2', async () => {
    for (const size of [3, 6]) {
      for (const variant of VARIANTS) await check(engines.gpu(), 'gpu', 'adam amsgrad', new Adam({ amsgrad: true }), variant, size, [{ offset: 0, size }]);
    }
  });
});
