/**
 * The loss variant table (src/ops/losses/loss-variants.ts): what each profile runs, and every loss
 * forced to each variant ('one-workgroup', 'partials') on a 'gpu' engine (and to 'partials' on a
 * 'cpu' one; test/losses.test.ts runs 'one-workgroup' there), plain,
 * sample-weighted and masked, with and without accuracy (evaluation), against a float64 reference
 * of the weighted / masked mean (loss, gradient, central differences, metrics accumulator), on
 * [5, 7, 13] with 4 real rows (nothing a multiple of the workgroups), wide rows of 1031, and launches
 * past MAX_PARTS workgroups (each invocation strides). Gradients and scratch are NaN-prefilled.
 * Then a small sequence model trained one step with each loss on a 'gpu' engine (which runs
 * 'partials') logs the loss a 'cpu' engine does.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_PARTS, partialsLaunch } from '../shaders/loss-partials.ts';
import { rowLossSpec } from '../shaders/losses.ts';
import { layers, sequential, tensor } from '../src/index.ts';
import { lossNames, resolveLoss } from '../src/ops/losses/index.ts';
import { lossTable } from '../src/ops/losses/loss-variants.ts';
import { applicableNames, variantNames } from '../src/ops/variants.ts';
import { finiteDifferences, nanBuffer, pick, randomArray, relL2, sampleIndices, toF64, useEngine } from './helpers.ts';
import { relError, runLoss } from './loss-runner.ts';
import { LOSS_CASES, lossMeanRef, uniform } from './reference/losses.ts';

const engines = { cpu: useEngine(), gpu: useEngine({ kernelStyle: 'tiled' }) };
const VARIANTS = variantNames(lossTable);

const report: string[] = [];
afterAll(() => console.log(`loss variants (relL2 of the gradient and relative error of the loss vs float64 | partials vs one-workgroup):\n${report.join('\n')}`));

// ---- the table ---------------------------------------------------------------------------------

describe('the loss variant table', () => {
  const spec = (batch: number, positions: number, width: number) => rowLossSpec('sparseSoftmaxCrossentropy', { batch, positions, width }, { withGradient: true, accuracy: 'sparse' });
  it("one workgroup first on 'cpu' profiles, the partial sums first on 'gpu' ones when the batch spans workgroups; partials only with scratch", () => {
    const cpu = engines.cpu().profile;
    const gpu = engines.gpu().profile;
    // A classifier head at batch 64, and a character model's [64, 64, 100] output.
    const head = spec(64, 1, 10);
    const sequences = spec(64, 64, 100);
    expect(applicableNames(lossTable, { spec: head, scratch: true }, cpu)).toEqual(['one-workgroup', 'partials']);
    expect(applicableNames(lossTable, { spec: sequences, scratch: true }, cpu)).toEqual(['one-workgroup', 'partials']);
    expect(applicableNames(lossTable, { spec: head, scratch: true }, gpu)).toEqual(['one-workgroup', 'partials']);
    expect(applicableNames(lossTable, { spec: sequences, scratch: true }, gpu)).toEqual(['partials', 'one-workgroup']);
    for (const p of [cpu, gpu]) expect(applicableNames(lossTable, { spec: sequences, scratch: false }, p)).toEqual(['one-workgroup']);
    // 4096 positions over workgroups of 64; elementwise losses launch an element per invocation, at most MAX_PARTS workgroups.
    expect(partialsLaunch(sequences)).toEqual({ wg: 64, parts: 64 });
    for (const row of lossTable.rows) expect(row.why.length, row.name).toBeGreaterThan(20);
    expect(lossTable.bench).toBeTypeOf('function');
    // Forcing 'partials' without scratch names what applies.
    const e = engines.gpu();
    const views = { output: nanBuffer(e, 4), labels: nanBuffer(e, 4), grad: null, metrics: nanBuffer(e, 8), stepInfo: nanBuffer(e, 4) };
    expect(() => resolveLoss('sparseCategoricalCrossentropy').dispatches(e, { batch: 64, outputShape: [64, 100] }, views, { fused: true, accuracy: null, variant: 'partials' })).toThrow(
      /loss: the variant 'partials' does not apply here \(applicable: one-workgroup; geometry sparseSoftmaxCrossentropy 64x64x100 metrics-only no-accuracy\)/,
    );
  });

  it('benches every variant on scratch buffers of its own', async () => {
    const e = engines.gpu();
    for (const masked of [false, true]) {
      const s = rowLossSpec('softmaxCrossentropy', { batch: 3, positions: 70, width: 9 }, { withGradient: true, accuracy: 'categorical', sampleWeights: true, ...(masked ? { maskPositions: 70 } : {}) });
      for (const name of VARIANTS) {
        const run = lossTable.bench!(e, { spec: s, scratch: true }, name);
        expect(run.dispatches).toHaveLength(name === 'one-workgroup' ? 1 : masked ? 3 : 2);
        e.run(run.dispatches);
        await e.read(nanBuffer(e, 1), 4);
        run.dispose();
      }
    }
  });
});

// ---- every loss, forced to each variant --------------------------------------------------------

const [BATCH, POSITIONS, WIDTH, ROWS] = [5, 7, 13, 4];
const MODES = ['plain', 'weighted', 'masked'] as const;

describe('every loss on each variant against float64: [5, 7, 13] with 4 real rows', () => {
  for (const c of LOSS_CASES) {
    for (const mode of MODES) {
      const op = resolveLoss(c.loss);
      const title = `${c.loss}${op.fuses ? (c.fused ? ` (fused ${op.fuses})` : ' (on probabilities)') : ''} ${mode}`;
      it(title, async () => {
        const sparse = op.labels === 'sparse';
        const shape = [POSITIONS, WIDTH];
        const seed = c.loss.length * 31 + (c.fused ? 7 : 0) + MODES.indexOf(mode);
        const { y: yReal, t: tReal } = c.data(ROWS * POSITIONS, WIDTH, seed);
        const y = new Float32Array(BATCH * POSITIONS * WIDTH).fill(NaN);
        y.set(yReal);
        const t = sparse ? new Uint32Array(BATCH * POSITIONS).fill(999) : new Float32Array(BATCH * POSITIONS * WIDTH).fill(NaN);
        t.set(tReal);
        const weights = mode === 'weighted' ? uniform(BATCH, seed + 5, 0.2, 2) : undefined;
        // Some positions masked, one real row wholly; the padding row's mask is 1 (it must not count).
        const mask = mode === 'masked' ? Float32Array.from({ length: BATCH * POSITIONS }, (_, q) => (Math.floor(q / POSITIONS) === 1 || q % 3 === 2 ? 0 : 1)) : undefined;
        const accuracy = op.accuracy(shape);
        const o = { rows: ROWS, positions: POSITIONS, width: WIDTH, ...(weights ? { weights } : {}), ...(mask ? { mask } : {}) };
        const ref = lossMeanRef(c, yReal, tReal, { ...o, accuracy });
        const idx = sampleIndices(yReal.length, 16, seed);
        const fd = finiteDifferences((x) => lossMeanRef(c, x, tReal, { ...o, accuracy: null }).loss, toF64(yReal), idx);
        const real = ROWS * POSITIONS * WIDTH;
        const results = new Map<string, { loss: number; grad: Float32Array }>();
        // Both variants on the 'gpu' engine; 'partials' (the same WGSL) on the 'cpu' one without weights or mask
        // (test/losses.test.ts runs 'one-workgroup' there).
        for (const [engineName, engine] of Object.entries(engines)) {
          for (const variant of VARIANTS.filter((v) => engineName === 'gpu' || (v === 'partials' && mode === 'plain'))) {
            const e = engine();
            const run = { batch: BATCH, shape, rows: ROWS, fused: c.fused, weights, mask, variant };
            const got = await runLoss(e, c.loss, y, t, { ...run, accuracy, gradient: true });
            const loss = got.lossSum / got.count;
            const grad = got.grad!;
            const label = `${title} ${variant} (${engineName})`;
            expect(got.count, label).toBe(ROWS * POSITIONS);
            expect(relError(loss, ref.loss), `${label} loss`).toBeLessThanOrEqual(1e-5);
            expect(relL2(grad.subarray(0, real), ref.grad), `${label} gradient`).toBeLessThanOrEqual(1e-5);
            expect(relL2(pick(grad, idx), fd), `${label} vs central differences`).toBeLessThanOrEqual(1e-4);
            expect(Array.from(grad.subarray(real)), `${label} padding rows`).toEqual(new Array(y.length - real).fill(0));
            expect({ correct: got.correct, accuracyCount: got.accuracyCount }, `${label} accuracy`).toEqual({ correct: ref.correct, accuracyCount: ref.accuracyCount });
            expect(got.dispatches, label).toBe(variant === 'one-workgroup' ? 1 : mask ? 3 : 2);
            results.set(`${engineName} ${variant}`, { loss, grad });
            if (engineName !== 'gpu') continue;
            // Evaluation, without accuracy: the same loss, nothing counted.
            const evaluation = await runLoss(e, c.loss, y, t, { ...run, accuracy: null, gradient: false });
            expect(relError(evaluation.lossSum, got.lossSum), `${label} evaluation`).toBeLessThanOrEqual(1e-6);
            expect([evaluation.count, evaluation.correct, evaluation.accuracyCount]).toEqual([ROWS * POSITIONS, 0, 0]);
          }
        }
        const one = results.get('gpu one-workgroup')!;
        const partial = results.get('gpu partials')!;
        const [lossErr, gradErr] = [relError(partial.loss, one.loss), relL2(partial.grad, one.grad)];
        expect(lossErr).toBeLessThanOrEqual(1e-6);
        expect(gradErr).toBeLessThanOrEqual(1e-6);
        report.push(`  ${title}: gradient ${relL2(partial.grad.subarray(0, real), ref.grad).toExponential(1)}, loss ${relError(partial.loss, ref.loss).toExponential(1)} | ${gradErr.toExponential(1)}, ${lossErr.toExponential(1)}`);
      });
    }
  }
});

// ---- wide rows and long launches ---------------------------------------------------------------

describe('wide rows, and launches past MAX_PARTS workgroups', () => {
  const wide = ['sparseCategoricalCrossentropy', 'categoricalCrossentropy', 'meanSquaredError', 'binaryCrossentropy', 'cosineProximity'];
  for (const loss of wide) {
    it(`${loss} on [2, 3, 1031]`, async () => {
      const c = LOSS_CASES.find((v) => v.loss === loss && (v.fused || !resolveLoss(loss).fuses))!;
      const [batch, positions, width] = [2, 3, 1031];
      const { y, t } = c.data(batch * positions, width, 77);
      const ref = lossMeanRef(c, y, t, { rows: batch, positions, width, accuracy: resolveLoss(loss).accuracy([positions, width]) });
      for (const variant of VARIANTS) {
        const got = await runLoss(engines.gpu(), loss, y, t, { batch, shape: [positions, width], rows: batch, fused: c.fused, accuracy: resolveLoss(loss).accuracy([positions, width]), gradient: true, variant });
        expect(relError(got.lossSum / got.count, ref.loss), `${variant} loss`).toBeLessThanOrEqual(1e-5);
        expect(relL2(got.grad!, ref.grad), `${variant} gradient`).toBeLessThanOrEqual(1e-5);
        expect([got.correct, got.accuracyCount]).toEqual([ref.correct, ref.accuracyCount]);
      }
    });
  }

  // Elementwise: more than 256 × MAX_PARTS elements; row-wise: more than 64 × MAX_PARTS positions.
  for (const [loss, batch, positions, width] of [
    ['meanSquaredError', 2, 1, 140_001],
    ['sparseCategoricalCrossentropy', 1, 66_001, 2],
  ] as const) {
    it(`${loss} on [${batch}, ${positions}, ${width}]: each invocation strides`, async () => {
      const c = LOSS_CASES.find((v) => v.loss === loss && (v.fused || !resolveLoss(loss).fuses))!;
      const spec = resolveLoss(loss).labels === 'sparse' ? rowLossSpec('sparseSoftmaxCrossentropy', { batch, positions, width }, { withGradient: true, accuracy: null }) : null;
      if (spec) expect(partialsLaunch(spec).parts).toBe(MAX_PARTS);
      const { y, t } = c.data(batch * positions, width, 78);
      const ref = lossMeanRef(c, y, t, { rows: batch, positions, width, accuracy: null });
      const got = await runLoss(engines.gpu(), loss, y, t, { batch, shape: positions > 1 ? [positions, width] : [width], rows: batch, fused: c.fused, accuracy: null, gradient: true, variant: 'partials' });
      const [lossErr, gradErr] = [relError(got.lossSum / got.count, ref.loss), relL2(got.grad!, ref.grad)];
      report.push(`  ${loss} [${batch}, ${positions}, ${width}] partials: gradient ${gradErr.toExponential(1)}, loss ${lossErr.toExponential(1)}`);
      expect(lossErr).toBeLessThanOrEqual(1e-5);
      expect(gradErr).toBeLessThanOrEqual(1e-5);
    });
  }
});

// ---- models ------------------------------------------------------------------------------------

describe("a sequence model trained one step with each loss logs the same loss on a 'gpu' engine (partials) as on a 'cpu' one", () => {
  const [N, T, F, UNITS] = [8, 10, 3, 5];
  const activationFor = (loss: string) =>
    ['categoricalCrossentropy', 'sparseCategoricalCrossentropy'].includes(loss) ? 'softmax' : ['binaryCrossentropy', 'poisson', 'kullbackLeiblerDivergence', 'meanSquaredLogarithmicError'].includes(loss) ? 'sigmoid' : 'linear';
  for (const loss of lossNames()) {
    it(loss, async () => {
      const c = LOSS_CASES.find((v) => v.loss === loss)!;
      const x = randomArray(N * T * F, 41);
      const { t } = c.data(N * T, UNITS, 42);
      const sparse = resolveLoss(loss).labels === 'sparse';
      const labels = sparse ? tensor(Int32Array.from(t), [N, T]) : tensor(t as Float32Array, [N, T, UNITS]);
      const losses: number[] = [];
      let weights: Awaited<ReturnType<ReturnType<typeof sequential>['getWeights']>> | undefined;
      for (const [name, engine] of Object.entries(engines)) {
        const e = engine();
        const m = sequential([layers.dense({ units: UNITS, activation: activationFor(loss), inputShape: [T, F] })]);
        m.compile({ optimizer: 'sgd', loss, engine: e });
        if (weights) m.setWeights(weights);
        else weights = await m.getWeights();
        const before = e.variantChoices().length;
        const history = await m.fit(tensor(x, [N, T, F]), labels, { epochs: 1, batchSize: N, shuffle: false, verbose: 0 });
        const chosen = e.variantChoices().slice(before).filter((v) => v.op === 'loss').map((v) => v.variant);
        // The hand policy's choice (a tuning engine may rebuild the plan with a measured one after it).
        expect(chosen[0], name).toBe(name === 'gpu' ? 'partials' : 'one-workgroup');
        losses.push(history.history.loss![0]!);
        m.dispose();
      }
      expect(Number.isFinite(losses[0]!)).toBe(true);
      expect(relError(losses[1]!, losses[0]!)).toBeLessThanOrEqual(1e-5);
    });
  }
});
