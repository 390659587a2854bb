/**
 * The elementwise kernels against float64 (ReLU also by central differences), and the flat
 * kernels' variant table: what each profile runs, and every kernel in every variant, forced on a
 * 'cpu' and a 'gpu' engine, on counts that are and are not multiples of 4 (neither of 256).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { reluBackward, reluForward, sum } from '../shaders/elementwise.ts';
import { flatDispatch, flatKernel, flatTable } from '../src/ops/elementwise.ts';
import { applicableNames, variantNames } from '../src/ops/variants.ts';
import { finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine, dot } from './helpers.ts';
import { FLAT_CASES } from './reference/elementwise.ts';

const engine = useEngine();

describe('elementwise kernels', () => {
  for (const n of [1, 255, 1000, 70_001]) {
    it(`relu forward/backward, n=${n}`, async () => {
      const e = engine();
      const x = randomArray(n, n);
      const dy = randomArray(n, n + 1);
      const xv = uploadView(e, x);
      const y = nanBuffer(e, n);
      const dyv = uploadView(e, dy);
      const dx = nanBuffer(e, n);
      e.run([e.kernel(reluForward(n), [xv, y]), e.kernel(reluBackward(n), [y, dyv, dx])]);
      const yRef = toF64(x).map((v) => Math.max(v, 0));
      const dxRef = toF64(x).map((v, i) => (v > 0 ? dy[i]! : 0));
      expect(relL2(await readF32(e, y, n), yRef)).toBeLessThanOrEqual(1e-7);
      expect(relL2(await readF32(e, dx, n), dxRef)).toBeLessThanOrEqual(1e-7);
      const idx = sampleIndices(n, 20, 7);
      const fd = finiteDifferences((xx) => dot(xx.map((v) => Math.max(v, 0)), dy), toF64(x), idx);
      expect(relL2(pick(await readF32(e, dx, n), idx), fd)).toBeLessThanOrEqual(1e-4);
    });
  }

  it('sums three inputs', async () => {
    const e = engine();
    const n = 3001;
    const [a, b, c] = [1, 2, 3].map((s) => randomArray(n, s));
    const out = nanBuffer(e, n);
    e.run([e.kernel(sum(n, 3), [uploadView(e, a!), uploadView(e, b!), uploadView(e, c!), out])]);
    const ref = toF64(a!).map((v, i) => v + b![i]! + c![i]!);
    expect(relL2(await readF32(e, out, n), ref)).toBeLessThanOrEqual(1e-6);
  });
});

// ---- the flat kernels' variant table (src/ops/elementwise.ts) ----------------------------------

const engines = { cpu: engine, gpu: useEngine({ kernelStyle: 'tiled' }) };
const report: string[] = [];
afterAll(() => console.log(`flat elementwise variants (relL2 vs float64 | central differences):\n${report.join('\n')}`));

describe('flat elementwise variant table', () => {
  it("what each profile runs: 'vec4' first wherever the count is a multiple of 4, else 'scalar'; every row explains itself", () => {
    for (const e of [engines.cpu(), engines.gpu()]) {
      for (const { op } of FLAT_CASES) {
        expect(applicableNames(flatTable, { op, n: 1_384_448 }, e.profile)).toEqual(['vec4', 'scalar']);
        expect(applicableNames(flatTable, { op, n: 1037 }, e.profile)).toEqual(['scalar']);
      }
    }
    expect(flatTable.key({ op: { kind: 'activationBackward', activation: { kind: 'tanh' } }, n: 8 })).toBe('activationBackward tanh 8');
    expect(flatTable.bench).toBeTypeOf('function');
    for (const row of flatTable.rows) {
      expect(row.why.length, row.name).toBeGreaterThan(20);
      if (row.note) expect(row.note).toMatch(/^bench\/NOTES\.md item \d+$/);
    }
    const e = engines.cpu();
    const v = nanBuffer(e, 1036);
    expect(flatDispatch(e, { op: { kind: 'scale', factor: 2 }, n: 1036 }, [v, v]).workgroups).toEqual([2, 1, 1]);
    expect(flatDispatch(e, { op: { kind: 'scale', factor: 2 }, n: 1036 }, [v, v], 'scalar').workgroups).toEqual([5, 1, 1]);
    expect(() => flatDispatch(e, { op: { kind: 'fill', value: 0 }, n: 1037 }, [v], 'vec4')).toThrow(/elementwise\.flat: the variant 'vec4' does not apply here \(applicable: scalar; geometry fill 1037\)/);
    // The scalar rows are the kernels of before, byte for byte.
    expect(flatKernel({ op: { kind: 'sum', inputs: 2 }, n: 1036 }, 1)).toEqual(sum(1036, 2));
  });

  // 1036: a multiple of 4 (259 vec4s), of neither 256 nor 1024; 1037: scalar only.
  for (const { op, inputs, ref, f } of FLAT_CASES) {
    const name = `${op.kind}${'activation' in op ? ` ${op.activation.kind}` : ''}${op.kind === 'sum' ? ` of ${op.inputs}` : ''}`;
    it(`${name}: every variant on both engines against float64, outputs NaN-prefilled`, async () => {
      const covered = new Set<string>();
      for (const n of [1036, 1037]) {
        const xs = Array.from({ length: inputs }, (_, k) => randomArray(n, 40 + 7 * n + k, 3));
        const before = randomArray(n, 39 + n);
        const want = ref(xs.map(toF64), toF64(before));
        for (const [engineName, engine] of Object.entries(engines)) {
          const e = engine();
          for (const variant of applicableNames(flatTable, { op, n }, e.profile)) {
            const out = op.kind === 'accumulate' ? uploadView(e, before) : nanBuffer(e, n);
            e.run([flatDispatch(e, { op, n }, [...xs.map((x) => uploadView(e, x)), out], variant)]);
            const got = await readF32(e, out, n);
            const err = relL2(got, want);
            let line = `${name} ${variant} (${engineName} engine, n=${n}): ${err.toExponential(1)}`;
            expect(err, line).toBeLessThanOrEqual(1e-6);
            if (f) {
              // The backward against central differences of Σ f(x)·dy.
              const idx = sampleIndices(n, 30, n);
              const fd = finiteDifferences((x) => idx.reduce((s, i) => s + f(x[i]!) * xs[1]![i]!, 0), toF64(xs[0]!), idx);
              const errFd = relL2(pick(got, idx), fd);
              line += ` | ${errFd.toExponential(1)}`;
              expect(errFd, line).toBeLessThanOrEqual(1e-5);
            }
            report.push(line);
            covered.add(variant);
          }
        }
      }
      expect([...covered].sort()).toEqual(variantNames(flatTable).sort());
    });
  }
});
