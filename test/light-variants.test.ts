/**
 * The light ops' variant tables (src/ops/pool.ts): what each profile runs, and every variant of
 * max and average pooling, forced on a 'cpu' and a 'gpu' engine, against float64 references on
 * shapes that are not multiples of the workgroups (64, 256) nor always of the vec4 lanes, outputs
 * NaN-prefilled; each backward also against central differences of the float64 forward.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  avgPoolBackward,
  avgPoolBackwardTable,
  avgPoolForward,
  avgPoolForwardTable,
  maxPoolBackward,
  maxPoolBackwardTable,
  maxPoolForward,
  maxPoolForwardTable,
  poolGeometry,
  type PoolGeometry,
} from '../src/ops/pool.ts';
import { applicableNames, variantNames, type VariantTable } from '../src/ops/variants.ts';
import type { Engine } from '../src/runtime/engine.ts';
import { dot, finiteDifferences, nanBuffer, randomArray, readF32, relL2, toF64, uploadView, useEngine } from './helpers.ts';
import { avgPoolBackwardRef, avgPoolForwardRef, maxPoolBackwardRef, maxPoolForwardRef } from './reference/pool.ts';

const engines = { cpu: useEngine(), gpu: useEngine({ kernelStyle: 'tiled' }) };

const report: string[] = [];
afterAll(() => console.log(`light-op variants (relL2: float64 reference | central differences):\n${report.join('\n')}`));



// Disjoint windows with a remainder (vec4 lanes), overlapping 'same' windows (scalar lanes), disjoint 'same' windows with padding.
const GEOMETRIES: PoolGeometry[] = [
  poolGeometry(3, [7, 9, 8], [2, 2], [2, 2], 'valid'),
  poolGeometry(2, [6, 5, 3], [3, 3], [2, 2], 'same'),
  poolGeometry(2, [5, 7, 4], [2, 3], [3, 3], 'same'),
];

/** Every applicable variant of `table` on each engine; returns the names run. */
async function eachVariant(table: VariantTable<PoolGeometry, unknown>, g: PoolGeometry, run: (e: Engine, variant: string, label: string) => Promise<void>): Promise<Set<string>> {
  const covered = new Set<string>();
  for (const [name, engine] of Object.entries(engines)) {
    const e = engine();
    for (const variant of applicableNames(table, g, e.profile)) {
      await run(e, variant, `${table.op} ${variant} (${name} engine, ${table.key(g)})`);
      covered.add(variant);
    }
  }
  return covered;
}

describe('pool variant tables', () => {
  it("what each profile runs: the CPU rasterizer's launches first on 'cpu', workgroups of 256 first on 'gpu'", () => {
    const cpu = engines.cpu().profile;
    const gpu = engines.gpu().profile;
    // The tutorial CNN's pool at batch 64, and an overlapping 3×3/2 pool.
    const tutorial = poolGeometry(64, [26, 26, 32], [2, 2], [2, 2], 'valid');
    const overlapping = poolGeometry(64, [13, 13, 32], [3, 3], [2, 2], 'same');
    for (const forward of [maxPoolForwardTable, avgPoolForwardTable]) {
      expect(applicableNames(forward, tutorial, cpu)).toEqual(['direct']);
      expect(applicableNames(forward, tutorial, gpu)).toEqual(['direct-wg256', 'direct']);
    }
    for (const backward of [maxPoolBackwardTable, avgPoolBackwardTable]) {
      expect(applicableNames(backward, tutorial, cpu)).toEqual(['cells', 'gather']);
      expect(applicableNames(backward, overlapping, cpu)).toEqual(['gather']);
      expect(applicableNames(backward, tutorial, gpu)).toEqual(['gather-wg256', 'cells', 'gather']);
      expect(applicableNames(backward, overlapping, gpu)).toEqual(['gather-wg256', 'gather']);
    }
    for (const table of [maxPoolForwardTable, maxPoolBackwardTable, avgPoolForwardTable, avgPoolBackwardTable] as VariantTable<PoolGeometry, unknown>[]) {
      for (const row of table.rows) {
        expect(row.why.length, `${table.op} ${row.name}`).toBeGreaterThan(20);
        if (row.note) expect(row.note).toMatch(/^bench\/NOTES\.md item \d+$/);
      }
      expect(table.bench, `${table.op} can bench its variants`).toBeTypeOf('function');
    }
    // The GPU rows launch 4 times fewer, 4 times larger workgroups: the tutorial pool's forward fills 338 of 256.
    const e = engines.gpu();
    const [wide] = maxPoolForward(e, tutorial, { x: nanBuffer(e, 4), y: nanBuffer(e, 4) }, 'direct-wg256');
    const [narrow] = maxPoolForward(e, tutorial, { x: nanBuffer(e, 4), y: nanBuffer(e, 4) }, 'direct');
    expect(wide!.workgroups).toEqual([338, 1, 1]);
    expect(narrow!.workgroups).toEqual([1352, 1, 1]);
  });

  it("a forced variant that does not apply is an Error naming the op, the variant and the applicable ones", () => {
    const e = engines.cpu();
    const v = nanBuffer(e, 4);
    expect(() => maxPoolForward(e, GEOMETRIES[0]!, { x: v, y: v }, 'direct-wg256')).toThrow(/maxPool\.forward: the variant 'direct-wg256' does not apply here \(applicable: direct; geometry 3x7x9x8 pool2x2 s2x2 -> 3x4\)/);
    expect(() => avgPoolBackward(e, GEOMETRIES[1]!, { dy: v, dx: v }, 'cells')).toThrow(/avgPool\.backward: the variant 'cells' does not apply here \(applicable: gather;/);
  });
});

describe('pool variants, forced, against float64', () => {
  it('max pooling: forward and backward (plain and ReLU-masked) of every variant', async () => {
    const covered = { forward: new Set<string>(), backward: new Set<string>() };
    for (const [gi, g] of GEOMETRIES.entries()) {
      const nx = g.batch * g.height * g.width * g.channels;
      const ny = g.batch * g.outHeight * g.outWidth * g.channels;
      // Continuous values (no ties) so that central differences see one maximum per window; half of them ≤ 0 for the ReLU mask.
      const x = randomArray(nx, 200 + gi);
      const dy = randomArray(ny, 210 + gi);
      const want = maxPoolForwardRef(x, g);
      const wantDx = maxPoolBackwardRef(x, dy, g);
      const fd = finiteDifferences((v) => dot(maxPoolForwardRef(v, g), dy), toF64(x));
      const masked = wantDx.map((v, i) => (x[i]! > 0 ? v : 0));
      for (const v of await eachVariant(maxPoolForwardTable, g, async (e, variant, label) => {
        const y = nanBuffer(e, ny);
        e.run(maxPoolForward(e, g, { x: uploadView(e, x), y }, variant));
        const err = relL2(await readF32(e, y, ny), want);
        report.push(`${label}: forward ${err.toExponential(1)}`);
        expect(err, label).toBeLessThanOrEqual(1e-6);
      })) covered.forward.add(v);
      for (const v of await eachVariant(maxPoolBackwardTable, g, async (e, variant, label) => {
        const [xv, dyv] = [uploadView(e, x), uploadView(e, dy)];
        const [dx, dxMasked] = [nanBuffer(e, nx), nanBuffer(e, nx)];
        e.run([...maxPoolBackward(e, g, { x: xv, dy: dyv, dx }, {}, variant), ...maxPoolBackward(e, g, { x: xv, dy: dyv, dx: dxMasked }, { reluMask: true }, variant)]);
        const got = await readF32(e, dx, nx);
        const [errRef, errFd, errMask] = [relL2(got, wantDx), relL2(got, fd), relL2(await readF32(e, dxMasked, nx), masked)];
        report.push(`${label}: backward ${errRef.toExponential(1)} | ${errFd.toExponential(1)}, ReLU-masked ${errMask.toExponential(1)}`);
        expect(errRef, `${label} vs float64`).toBeLessThanOrEqual(1e-6);
        expect(errFd, `${label} vs central differences`).toBeLessThanOrEqual(1e-4);
        expect(errMask, `${label} ReLU-masked`).toBeLessThanOrEqual(1e-6);
      })) covered.backward.add(v);
    }
    expect([...covered.forward].sort()).toEqual(variantNames(maxPoolForwardTable).sort());
    expect([...covered.backward].sort()).toEqual(variantNames(maxPoolBackwardTable).sort());
  });

  it('average pooling: forward and backward of every variant', async () => {
    const covered = { forward: new Set<string>(), backward: new Set<string>() };
    for (const [gi, g] of GEOMETRIES.entries()) {
      const nx = g.batch * g.height * g.width * g.channels;
      const ny = g.batch * g.outHeight * g.outWidth * g.channels;
      const x = randomArray(nx, 220 + gi);
      const dy = randomArray(ny, 230 + gi);
      const want = avgPoolForwardRef(x, g);
      const wantDx = avgPoolBackwardRef(dy, g);
      const fd = finiteDifferences((v) => dot(avgPoolForwardRef(v, g), dy), toF64(x));
      for (const v of await eachVariant(avgPoolForwardTable, g, async (e, variant, label) => {
        const y = nanBuffer(e, ny);
        e.run(avgPoolForward(e, g, { x: uploadView(e, x), y }, variant));
        const err = relL2(await readF32(e, y, ny), want);
        report.push(`${label}: forward ${err.toExponential(1)}`);
        expect(err, label).toBeLessThanOrEqual(1e-6);
      })) covered.forward.add(v);
      for (const v of await eachVariant(avgPoolBackwardTable, g, async (e, variant, label) => {
        const dx = nanBuffer(e, nx);
        e.run(avgPoolBackward(e, g, { dy: uploadView(e, dy), dx }, variant));
        const got = await readF32(e, dx, nx);
        const [errRef, errFd] = [relL2(got, wantDx), relL2(got, fd)];
        report.push(`${label}: backward ${errRef.toExponential(1)} | ${errFd.toExponential(1)}`);
        expect(errRef, `${label} vs float64`).toBeLessThanOrEqual(1e-6);
        expect(errFd, `${label} vs central differences`).toBeLessThanOrEqual(1e-4);
      })) covered.backward.add(v);
    }
    expect([...covered.forward].sort()).toEqual(variantNames(avgPoolForwardTable).sort());
    expect([...covered.backward].sort()).toEqual(variantNames(avgPoolBackwardTable).sort());
  });
});
