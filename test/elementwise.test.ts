import { describe, expect, it } from 'vitest';
import { reluBackward, reluForward, sum } from '../shaders/elementwise.ts';
import { finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine, dot } from './helpers.ts';

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
