/**
 * Issue #20, part B: the benches of the matrix products, normalizations, reduce and attention
 * (each variant on scratch buffers of its own, freed by dispose, building the kernels a plan
 * builds), the tiled matmul's rows of dense and batchedMatmul against float64, and tuning end to end.
 */
import { describe, expect, it } from 'vitest';
import { createEngine, layers, model, input, sequential, tensor, type Engine } from '../src/index.ts';
import type { Dispatch, View } from '../src/runtime/engine.ts';
import { applicableNames, type VariantTable } from '../src/ops/variants.ts';
import { denseBackward, denseForward, denseGeometry, denseTable } from '../src/ops/dense.ts';
import { batchedMatmul, batchedMatmulBackward, batchedMatmulTable, type BatchedMatmulGeometry, type BatchedMatmulVariant } from '../src/ops/batched-matmul.ts';
import { batchNormTable, batchNormTrainBackward, batchNormTrainForward, layerNormBackward, layerNormForward, layerNormTable, lnCounts, lnGeometry, normGeometry } from '../src/ops/normalization.ts';
import { reduceDispatches, reduceTable } from '../src/ops/reduce.ts';
import { attentionBackward, attentionForward, attentionStatsFloats, attentionTable, type AttentionGeometry } from '../src/ops/attention.ts';
import { STEP_INFO_BYTES, stepInfoData, type KernelStyle } from '../shaders/kernel.ts';
import { dot, finiteDifferences, nanBuffer, randomArray, readF32, relL2, toF64, uploadView, useEngine } from './helpers.ts';
import { denseBackwardRef, denseForwardRef, batchedMatmulRef } from './reference/dense.ts';

const engines = { cpu: useEngine(), gpu: useEngine({ kernelStyle: 'tiled' }) };
const scratchOf = (e: Engine) => (bytes: number) => nanBuffer(e, Math.ceil(bytes / 4));
const out = (e: Engine, n: number) => nanBuffer(e, n);
function stepInfo(e: Engine, rows: number): View {
  const buffer = e.uniform(STEP_INFO_BYTES, 'test step info');
  e.write(buffer, stepInfoData(0, 1, 3, rows));
  return { buffer, offset: 0, size: STEP_INFO_BYTES };
}
const AFFINE = { scale: true, center: true, epsilon: 1e-3, momentum: 0.99 };

// ---- the benches ---------------------------------------------------------------------------------

/** A table, sample geometries (odd shapes), and the plan-like call of a variant on the test's own buffers. */
interface Case {
  table: VariantTable<never, unknown>;
  geometries: unknown[];
  planLike(e: Engine, g: never, name: string): Dispatch[];
}

const attention: AttentionGeometry = { batch: 2, heads: 3, queries: 5, keys: 7, keyDim: 4, valueDim: 3, mask: true, causal: false, dropout: 0.1, seed: 7 };
const cases: Case[] = [
  {
    table: denseTable as never,
    geometries: [denseGeometry(3, [7, 11], 9, { relu: true }), denseGeometry(300, [5], 3)],
    planLike: (e, g: ReturnType<typeof denseGeometry>, name) => {
      const [x, w, b, y, dy, dx, dw, db] = [g.rows * g.inputs, g.inputs * g.units, g.units, g.rows * g.units, g.rows * g.units, g.rows * g.inputs, g.inputs * g.units, g.units].map((n) => out(e, n));
      return [...denseForward(e, g, { x: x!, w: w!, b, y: y! }, name), ...denseBackward(e, g, { x: x!, w: w!, y, dy: dy!, dx: dx!, dw: dw!, db, scratch: scratchOf(e) }, name)];
    },
  },
  {
    table: batchedMatmulTable as never,
    geometries: [{ batch: 2, m: 37, n: 35, k: 19, transposeA: true, transposeB: false }],
    planLike: (e, g: BatchedMatmulGeometry, name) => batchedMatmul(e, g, { a: out(e, g.batch * g.m * g.k), b: out(e, g.batch * g.k * g.n), c: out(e, g.batch * g.m * g.n) }, { variant: name as BatchedMatmulVariant }),
  },
  {
    table: batchNormTable as never,
    geometries: [normGeometry(6, [3, 7, 5], -1, 'test')],
    planLike: (e, g: ReturnType<typeof normGeometry>, name) => {
      const n = g.batch * g.perSample * g.channels * g.inner;
      const C = g.channels;
      const info = stepInfo(e, g.batch);
      const [x, gamma, beta, dy, mean, variance, mm, mv, y, dx, dg, dbeta] = [n, C, C, n, C, C, C, C, n, n, C, C].map((k) => out(e, k));
      const t = { variant: name as KernelStyle };
      return [
        ...batchNormTrainForward(e, g, AFFINE, { x: x!, stepInfo: info, mean: mean!, variance: variance!, movingMean: mm!, movingVariance: mv!, gamma, beta, y: y!, scratch: scratchOf(e) }, t),
        ...batchNormTrainBackward(e, g, AFFINE, { x: x!, dy: dy!, mean: mean!, variance: variance!, gamma, stepInfo: info, dx: dx!, dgamma: dg, dbeta, scratch: scratchOf(e) }, t),
      ];
    },
  },
  {
    table: layerNormTable as never,
    geometries: [lnGeometry(5, [7, 9], [-1], 'test')],
    planLike: (e, g: ReturnType<typeof lnGeometry>, name) => {
      const { groups, normalized: N } = lnCounts(g);
      const [x, gamma, beta, dy, y, rm, ri, dx, dg, db] = [groups * N, N, N, groups * N, groups * N, groups, groups, groups * N, N, N].map((k) => out(e, k));
      return [
        ...layerNormForward(e, g, AFFINE, { x: x!, gamma, beta, y: y!, rowMean: rm!, rowInv: ri! }),
        ...layerNormBackward(e, g, AFFINE, { x: x!, dy: dy!, rowMean: rm!, rowInv: ri!, gamma, stepInfo: stepInfo(e, g.batch), dx: dx!, dgamma: dg, dbeta: db, scratch: scratchOf(e) }, name as KernelStyle),
      ];
    },
  },
  {
    table: reduceTable as never,
    geometries: [{ outer: 3, axis: 2001, inner: 5 }, { outer: 2, axis: 7, inner: 3 }],
    planLike: (e, g: { outer: number; axis: number; inner: number }, name) => reduceDispatches(e, 'sum', g, { x: out(e, g.outer * g.axis * g.inner), y: out(e, g.outer * g.inner) }, scratchOf(e), { variant: name as KernelStyle }),
  },
  {
    table: attentionTable as never,
    geometries: [attention, { ...attention, mask: false, dropout: 0 }],
    planLike: (e, g: AttentionGeometry, name) => {
      const [q, k, v, o, dq, dk, dv, dout] = [g.queries * g.keyDim, g.keys * g.keyDim, g.keys * g.valueDim, g.queries * g.valueDim, g.queries * g.keyDim, g.keys * g.keyDim, g.keys * g.valueDim, g.queries * g.valueDim].map((n) => out(e, n * g.batch * g.heads));
      const views = { q: q!, k: k!, v: v!, o: o!, stats: out(e, attentionStatsFloats(g)), mask: g.mask ? out(e, g.batch * g.queries * g.keys) : undefined, stepInfo: g.dropout > 0 ? stepInfo(e, g.batch) : undefined };
      const options = { variant: name as KernelStyle };
      return [...attentionForward(e, g, views, options), ...attentionBackward(e, g, { ...views, dout: dout!, dq: dq!, dk: dk!, dv: dv! }, options)];
    },
  },
];

describe('benches: every applicable variant on scratch of its own, the plan\'s kernels', () => {
  for (const c of cases) {
    it(`${c.table.op}`, async () => {
      const seen = new Set<string>();
      for (const engineName of ['cpu', 'gpu'] as const) {
        const e = engines[engineName]();
        for (const g of c.geometries) {
          const names = applicableNames(c.table, g as never, e.profile);
          expect(names.length, `${c.table.op} ${c.table.key(g as never)} on ${engineName}`).toBeGreaterThan(0);
          for (const name of names) {
            const before = e.stats().bytesInUse;
            const bench = c.table.bench!(e, g as never, name);
            expect(bench.dispatches.length).toBeGreaterThan(0);
            e.run(bench.dispatches);
            await e.sync();
            bench.dispose();
            expect(e.stats().bytesInUse, `${c.table.op} ${name}: bytes in use after dispose`).toBe(before);
            expect(bench.dispatches.map((d) => d.label), `${c.table.op} ${name} (${engineName}): the plan's kernels`).toEqual(c.planLike(e, g as never, name).map((d) => d.label));
            seen.add(name);
          }
        }
      }
      // Every name of the table ran on one of the profiles.
      expect([...seen].sort()).toEqual([...new Set(c.table.rows.map((r) => r.name))].sort());
    });
  }

  it('a failing build releases what it allocated; a forced variant that does not apply is an Error', () => {
    const e = engines.cpu();
    const before = e.stats().bytesInUse;
    expect(() => denseTable.bench!(e, denseGeometry(3, [4], 5), 'tiled-64x64')).toThrow(/dense: the variant 'tiled-64x64' does not apply here/);
    expect(e.stats().bytesInUse).toBe(before);
  });
});

// ---- the tiled matmul as rows ----------------------------------------------------------------------

const report: string[] = [];

describe("the tiled matmul's rows, forced on a 'gpu' profile, against float64", () => {
  it('dense: forward, dx, dW and db of every tiled row (relu and linear, odd shapes); central differences on a small shape', async () => {
    const e = engines.gpu();
    const shapes = [denseGeometry(3, [7, 11], 9, { relu: true }), denseGeometry(300, [5], 3), denseGeometry(2, [13], 6, { bias: false }), denseGeometry(5, [3], 2, { relu: true })];
    const covered = new Set<string>();
    for (const [si, g] of shapes.entries()) {
      const [x, w, b, r] = [g.rows * g.inputs, g.inputs * g.units, g.units, g.rows * g.units].map((n, i) => randomArray(n, 40 + 10 * si + i)) as [Float32Array, Float32Array, Float32Array, Float32Array];
      const bias = g.bias ? b : null;
      const want = denseForwardRef(x, w, bias, g);
      const exact = denseBackwardRef(x, w, want, r, g);
      for (const name of applicableNames(denseTable, g, e.profile).filter((n) => n.startsWith('tiled'))) {
        const [xv, wv, bv, rv] = [x, w, b, r].map((a) => uploadView(e, a));
        const [y, dx, dw, db] = [r.length, x.length, w.length, b.length].map((n) => nanBuffer(e, n));
        e.run([
          ...denseForward(e, g, { x: xv!, w: wv!, b: g.bias ? bv : undefined, y: y! }, name),
          ...denseBackward(e, g, { x: xv!, w: wv!, y, dy: rv!, dx: dx!, dw: dw!, db: g.bias ? db : undefined, scratch: scratchOf(e) }, name),
        ]);
        const errY = relL2(await readF32(e, y!, r.length), want);
        const errs = [relL2(await readF32(e, dx!, x.length), exact.dx), relL2(await readF32(e, dw!, w.length), exact.dw), g.bias ? relL2(await readF32(e, db!, b.length), exact.db) : 0];
        let fd = 0;
        if (si === 3) {
          // Central differences of L = Σ y·r in x, W and b.
          const inputs = [x, w, b].map(toF64);
          const f = (i: number) => (v: Float64Array) => dot(denseForwardRef(...(inputs.map((a, j) => (j === i ? v : a)) as [Float64Array, Float64Array, Float64Array]), g), r);
          const got = [await readF32(e, dx!, x.length), await readF32(e, dw!, w.length), await readF32(e, db!, b.length)];
          fd = Math.max(...inputs.map((a, i) => relL2(got[i]!, finiteDifferences(f(i), a))));
          expect(fd, `${name} central differences`).toBeLessThanOrEqual(1e-4);
        }
        report.push(`dense ${name} ${denseTable.key(g)}${g.bias ? '' : ' nobias'}: forward ${errY.toExponential(1)}, dx/dW/db ${errs.map((v) => v.toExponential(1)).join('/')}${si === 3 ? `, central differences ${fd.toExponential(1)}` : ''}`);
        expect(errY, `${name} forward`).toBeLessThanOrEqual(1e-5);
        for (const err of errs) expect(err, `${name} backward`).toBeLessThanOrEqual(1e-5);
        covered.add(name);
      }
    }
    expect([...covered].sort()).toEqual(['tiled-128x64', 'tiled-64x64', 'tiled-64x64-splitk4']);
  });

  it('batchedMatmul: C, dA and dB of every tiled row, all four transposes; central differences on a small shape', async () => {
    const e = engines.gpu();
    const covered = new Set<string>();
    const shapes: BatchedMatmulGeometry[] = [
      { batch: 2, m: 37, n: 35, k: 19, transposeA: false, transposeB: false },
      { batch: 3, m: 5, n: 9, k: 7, transposeA: true, transposeB: false },
      { batch: 1, m: 6, n: 13, k: 5, transposeA: false, transposeB: true },
      { batch: 2, m: 3, n: 4, k: 5, transposeA: true, transposeB: true },
    ];
    for (const [si, g] of shapes.entries()) {
      const forward = ([as, bs]: Float64Array[]) => batchedMatmulRef(as!, bs!, g);
      const [a, bm, r] = [g.batch * g.m * g.k, g.batch * g.k * g.n, g.batch * g.m * g.n].map((n, i) => randomArray(n, 70 + 10 * si + i)) as [Float32Array, Float32Array, Float32Array];
      const inputs = [a, bm].map(toF64);
      const want = forward(inputs);
      // The exact gradients of Σ C·r by central differences (exact for a bilinear map up to rounding).
      const grads = inputs.map((v, i) => finiteDifferences((p) => dot(forward(inputs.map((q, j) => (j === i ? p : q))), r), v));
      for (const name of applicableNames(batchedMatmulTable, g, e.profile).filter((n) => n.startsWith('tiled-'))) {
        const [av, bv, rv] = [a, bm, r].map((v) => uploadView(e, v));
        const [c, da, db] = [r.length, a.length, bm.length].map((n) => nanBuffer(e, n));
        const options = { variant: name as BatchedMatmulVariant };
        e.run([...batchedMatmul(e, g, { a: av!, b: bv!, c: c! }, options), ...batchedMatmulBackward(e, g, { a: av!, b: bv!, dc: rv!, da: da!, db: db! }, options)]);
        const errC = relL2(await readF32(e, c!, r.length), want);
        const errs = [relL2(await readF32(e, da!, a.length), grads[0]!), relL2(await readF32(e, db!, bm.length), grads[1]!)];
        report.push(`batchedMatmul ${name} ${batchedMatmulTable.key(g)}: C ${errC.toExponential(1)}, dA/dB vs central differences ${errs.map((v) => v.toExponential(1)).join('/')}`);
        expect(errC, `${name} C`).toBeLessThanOrEqual(1e-5);
        for (const err of errs) expect(err, `${name} gradients`).toBeLessThanOrEqual(1e-4);
        covered.add(name);
      }
    }
    expect([...covered].sort()).toEqual(['tiled-128x64', 'tiled-64x64']);
    console.log(`tiled rows (relL2):\n${report.join('\n')}`);
  });

  it("a dense model trained 2 steps on a 'tiled' engine matches a 'registers' engine", async () => {
    const weightsAfter = async (kernelStyle: 'tiled' | 'registers') => {
      const e = await createEngine({ kernelStyle });
      try {
        const m = sequential({ seed: 5, layers: [layers.dense({ units: 9, inputShape: [7], activation: 'relu' }), layers.dense({ units: 3, activation: 'softmax' })] });
        m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', engine: e });
        const x = tensor(randomArray(10 * 7, 8), [10, 7]);
        const y = tensor(Float32Array.from({ length: 30 }, (_, i) => (i % 3 === Math.floor(i / 3) % 3 ? 1 : 0)), [10, 3]);
        await m.fit(x, y, { epochs: 1, batchSize: 5, shuffle: false, verbose: 0 });
        const choices = e.variantChoices().filter((c) => c.op === 'dense').map((c) => c.variant);
        const w = (await m.getWeights()).map((t) => Float32Array.from(t.dataSync()));
        m.dispose();
        return { w, choices };
      } finally {
        e.dispose();
      }
    };
    const tiled = await weightsAfter('tiled');
    const registers = await weightsAfter('registers');
    expect(new Set(tiled.choices)).toEqual(new Set(['tiled-64x64']));
    expect(new Set(registers.choices)).toEqual(new Set(['registers-blocks']));
    const errs = tiled.w.map((w, i) => relL2(w, registers.w[i]!));
    console.log(`dense model, 2 SGD steps, tiled vs registers weights relL2: ${errs.map((v) => v.toExponential(1)).join(', ')}`);
    for (const err of errs) expect(err).toBeLessThanOrEqual(1e-5);
  });
});

// ---- tuning end to end -------------------------------------------------------------------------------

describe('tune: exhaustive measures every candidate of these families', () => {
  const check = (e: Engine, ops: string[]) => {
    expect(e.stats().tuning.geometries).toBeGreaterThan(0);
    const records = Object.values(e.exportTuning().adapters).flatMap((r) => Object.values(r));
    for (const op of ops) {
      const mine = records.filter((r) => r.op === op);
      expect(mine.length, `records of ${op}`).toBeGreaterThan(0);
      for (const r of mine) {
        expect(Object.keys(r.ms).length, `${op} ${r.key}: every candidate measured`).toBeGreaterThan(1);
        for (const ms of Object.values(r.ms)) expect(ms).toBeGreaterThanOrEqual(0);
      }
    }
    console.log(`tuned: ${records.map((r) => `${r.op} ${r.key}: ${Object.entries(r.ms).map(([n, ms]) => `${n} ${ms.toFixed(2)} ms`).join(', ')} → ${r.variant}`).join('\n')}`);
  };

  it("dense (a 'tiled' engine), batchNorm, layerNorm: a sequential model", async () => {
    const e = await createEngine({ tune: 'exhaustive', tuningStore: false, kernelStyle: 'tiled' });
    try {
      const m = sequential({ layers: [layers.dense({ units: 6, inputShape: [5], activation: 'relu' }), layers.batchNormalization({}), layers.layerNormalization({}), layers.dense({ units: 3, activation: 'softmax' })] });
      m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', engine: e });
      const x = tensor(randomArray(4 * 5, 3), [4, 5]);
      const y = tensor(Float32Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? 1 : 0)), [4, 3]);
      await m.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
      check(e, ['dense', 'batchNorm', 'layerNorm']);
      m.dispose();
    } finally {
      e.dispose();
    }
  });

  it('batchedMatmul (Dot), attention (MultiHeadAttention), reduce (a broadcast Add): a functional model', async () => {
    const e = await createEngine({ tune: 'exhaustive', tuningStore: false });
    try {
      const q = input({ shape: [3, 4] });
      const v = input({ shape: [5, 4] });
      const att = layers.multiHeadAttention({ numHeads: 2, keyDim: 3 }).apply([q, v]) as never;
      const d = layers.dot({ axes: 2 }).apply([att, v]) as never; // [3, 5]
      const row = input({ shape: [1, 5] });
      const bias = layers.dense({ units: 5 }).apply(row) as never; // [1, 5], a gradient someone needs
      const sum = layers.add({}).apply([d, bias]) as never; // broadcast over 3: its gradient is a reduction
      const m = model({ inputs: [q, v, row], outputs: layers.flatten({}).apply(sum) as never });
      m.compile({ optimizer: 'sgd', loss: 'meanSquaredError', engine: e });
      const xs = [tensor(randomArray(2 * 12, 4), [2, 3, 4]), tensor(randomArray(2 * 20, 5), [2, 5, 4]), tensor(randomArray(2 * 5, 6), [2, 1, 5])];
      await m.fit(xs, tensor(randomArray(2 * 15, 7), [2, 15]), { epochs: 1, batchSize: 2, verbose: 0 });
      check(e, ['batchedMatmul', 'attention', 'reduce']);
      m.dispose();
    } finally {
      e.dispose();
    }
  });
});
