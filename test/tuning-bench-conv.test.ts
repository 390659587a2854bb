/**
 * The convolution family's bench builders (VariantTable.bench, src/runtime/tuning.ts): for every
 * variant of every conv table that applies to a sample geometry (odd shapes; CPU, bounds-checked
 * CPU and GPU profiles), the bench runs on buffers of its own, frees all of them, and builds the
 * pipelines the op builds for the same forced variant when called as a layer calls it (the ReLU
 * and the pool fused, so the geometry the bench gets is the one choose() saw); and a model using
 * the family, fitted on an exhaustively tuning engine, has every candidate of its ops measured.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createEngine, layers, sequential, tensor } from '../src/index.ts';
import {
  conv2dBackward,
  conv2dForward,
  conv2dForwardTable,
  conv2dGeometry,
  conv2dInputGradTable,
  conv2dKernelGradTable,
  conv2dPooledForwardTable,
  conv2dWeightGradients,
  type Conv2DGeometry,
} from '../src/ops/conv2d.ts';
import { conv2dTransposeForward, conv2dTransposeForwardTable, conv2dTransposeGeometry } from '../src/ops/conv2d-transpose.ts';
import { depthwiseConv2dBackward, depthwiseConv2dGeometry, depthwiseKernelGradTable } from '../src/ops/depthwise-conv2d.ts';
import { poolArgmaxWords } from '../src/ops/pool.ts';
import { applicableNames, type VariantTable } from '../src/ops/variants.ts';
import type { Dispatch, Engine, View } from '../src/runtime/engine.ts';
import { randomArray, useEngine } from './helpers.ts';

const engines = {
  cpu: useEngine(),
  checked: useEngine({ kernelStyle: 'registers', robustBufferAccess: true }),
  gpu: useEngine({ kernelStyle: 'tiled' }),
};

const report: string[] = [];
afterAll(() => console.log(`conv benches (engine table geometry: variants):\n${report.join('\n')}`));

/** Buffers of the plan-like calls (not the bench's), released after each case. */
function planMemory(e: Engine) {
  const buffers: GPUBuffer[] = [];
  const view = (floats: number): View => {
    const buffer = e.buffer(floats * 4, 'test plan-like');
    buffers.push(buffer);
    return { buffer, offset: 0, size: floats * 4 };
  };
  return { view, scratch: (bytes: number) => view(Math.ceil(bytes / 4)), release: () => buffers.splice(0).forEach((b) => e.release(b)) };
}

type Memory = ReturnType<typeof planMemory>;
const labels = (dispatches: readonly Dispatch[]) => dispatches.map((d) => d.label);
const sizes = (g: Conv2DGeometry) => ({ x: g.batch * g.inH * g.inW * g.inC, w: g.kH * g.kW * g.inC * g.outC, y: g.batch * g.outH * g.outW * g.outC });

/** conv2dBackward as the layer calls it (g with its ReLU; pooled as the forward ran), with or without dx. */
function layerBackward(e: Engine, g: Conv2DGeometry, m: Memory, pooled: boolean, withDx: boolean, forced: { inputGrad?: string; kernelGrad?: string }): Dispatch[] {
  const n = sizes(g);
  const views = { x: m.view(n.x), w: m.view(n.w), y: m.view(n.y), dy: m.view(n.y), dx: withDx ? m.view(n.x) : null, dw: m.view(n.w), db: m.view(g.outC), scratch: m.scratch };
  return conv2dBackward(e, g, views, undefined, { pooled, ...(forced as object) });
}

/**
 * The sample convolutions: Winograd, per-tap and direct variants on CPUs (15×13×8 → 12 'valid': its pooled backward's Winograd tiles leave out the last row and column), the
 * whole-patch product and the direct pooled forward (9×11×3 → 8), a strided one; each with a
 * fused ReLU and bias as a layer has them.
 */
const CONVS = {
  wide: conv2dGeometry({ batch: 2, inputShape: [15, 13, 8], filters: 12, kernelSize: [3, 3], padding: 'valid', relu: true }),
  patches: conv2dGeometry({ batch: 2, inputShape: [9, 11, 3], filters: 8, kernelSize: [3, 3], padding: 'same', relu: true }),
  strided: conv2dGeometry({ batch: 3, inputShape: [9, 7, 5], filters: 6, kernelSize: [3, 2], strides: [2, 2], padding: 'valid', relu: true }),
};

/**
 * One table's check: for g as choose() sees it and every applicable variant, the bench's
 * dispatches run, its buffers come back, and its pipeline keys are `planLike(name)`'s.
 */
async function checkBenches<G>(e: Engine, engineName: string, table: VariantTable<G, unknown>, g: G, planLike: (name: string, m: Memory) => string[]): Promise<string[]> {
  const names = applicableNames(table, g, e.profile);
  expect(names.length, `${table.op} ${table.key(g)}: no variant applies`).toBeGreaterThan(0);
  for (const name of names) {
    const before = e.stats().bytesInUse;
    const run = table.bench!(e, g, name);
    expect(e.stats().bytesInUse, `${table.op} ${name}: the bench allocates its own buffers`).toBeGreaterThan(before);
    e.run(run.dispatches);
    await e.sync();
    run.dispose();
    expect(e.stats().bytesInUse, `${table.op} ${name}: dispose frees every buffer`).toBe(before);
    const m = planMemory(e);
    const expected = planLike(name, m);
    m.release();
    expect(labels(run.dispatches), `${engineName} ${table.op} ${name} ${table.key(g)}`).toEqual(expected);
  }
  report.push(`${engineName} ${table.op} ${table.key(g)}: ${names.join(', ')}`);
  return names;
}

describe('conv2d benches', () => {
  for (const engineName of ['cpu', 'checked', 'gpu'] as const) {
    it(`forward, pooled forward, input and kernel gradients on the ${engineName} profile`, async () => {
      const e = engines[engineName]();
      const seen = new Set<string>();
      // Bounds checks reorder the wide convolution's rows only; the others run as on the CPU profile.
      for (const g of engineName === 'checked' ? [CONVS.wide] : Object.values(CONVS)) {
        const n = sizes(g);
        const forward = await checkBenches(e, engineName, conv2dForwardTable, g, (name, m) =>
          labels(conv2dForward(e, g, { x: m.view(n.x), w: m.view(n.w), b: m.view(g.outC), y: m.view(n.y), scratch: m.scratch, saved: new Map() }, undefined, { forward: name as never })),
        );
        forward.forEach((v) => seen.add(`forward ${v}`));
        // The pooled forward: the layer passes g unpooled with `pooled`; choose() sees pooledOutput.
        const pooled = { ...g, pooledOutput: true };
        if (applicableNames(conv2dPooledForwardTable, pooled, e.profile).length > 0) {
          const [pH, pW] = [g.outH >> 1, g.outW >> 1];
          const names = await checkBenches(e, engineName, conv2dPooledForwardTable, pooled, (name, m) => {
            const views = { x: m.view(n.x), w: m.view(n.w), b: m.view(g.outC), y: m.view(g.batch * pH * pW * g.outC), argmax: m.view(poolArgmaxWords(g.batch, [pH, pW, g.outC])), scratch: m.scratch, saved: new Map() };
            return labels(conv2dForward(e, g, views, undefined, { pooled: true, forward: name as never }));
          });
          names.forEach((v) => seen.add(`pooled ${v}`));
        }
        // The pooled backward's geometries (pooledOutput) do not depend on the profile: the CPU and GPU profiles check them.
        for (const pool of engineName === 'checked' ? [false] : [false, true]) {
          // The backward's kernels see g without its ReLU (dy masked first), pooledOutput as the forward ran.
          const seenByChoose: Conv2DGeometry = { ...g, relu: false, ...(pool ? { pooledOutput: true } : {}) };
          const kernelGrad = await checkBenches(e, engineName, conv2dKernelGradTable, seenByChoose, (name, m) => {
            const all = labels(layerBackward(e, g, m, pool, false, { kernelGrad: name }));
            return all.slice(1); // after the ReLU mask
          });
          const hand = kernelGrad[0]!;
          const inputGrad = await checkBenches(e, engineName, conv2dInputGradTable, seenByChoose, (name, m) => {
            // The input gradient's dispatches: the backward with dx less the one without, between the mask and dW.
            const withDx = labels(layerBackward(e, g, m, pool, true, { inputGrad: name, kernelGrad: hand }));
            const without = labels(layerBackward(e, g, m, pool, false, { kernelGrad: hand }));
            expect(withDx.slice(withDx.length - without.length + 1)).toEqual(without.slice(1));
            return withDx.slice(1, withDx.length - without.length + 1);
          });
          kernelGrad.forEach((v) => seen.add(`kernelGrad ${v}`));
          inputGrad.forEach((v) => seen.add(`inputGrad ${v}`));
        }
        if (engineName === 'checked') continue;
        // conv2dWeightGradients called directly (as the transposed convolution's backward does) agrees too.
        const plain = { ...g, relu: false };
        await checkBenches(e, engineName, conv2dKernelGradTable, plain, (name, m) =>
          labels(conv2dWeightGradients(e, plain, { x: m.view(n.x), dy: m.view(n.y), dw: m.view(n.w), db: m.view(g.outC), scratch: m.scratch }, undefined, { kernelGrad: name as never })),
        );
      }
      // Every variant of each table ran on the profile that offers it.
      const wide = ['forward winograd', 'forward taps', 'forward direct', 'pooled winograd', 'inputGrad winograd', 'inputGrad taps', 'inputGrad direct', 'kernelGrad winograd', 'kernelGrad direct'];
      const expected = { gpu: ['forward gemm-64x64', 'forward gemm-32x32', 'forward tiled', 'pooled gemm-64x64', 'pooled gemm-32x32', 'inputGrad gemm-64x64', 'inputGrad gemm-32x32', 'inputGrad tiled', 'kernelGrad gemm-64x64', 'kernelGrad gemm-32x32', 'kernelGrad tiled'], checked: wide, cpu: [...wide, 'forward patches', 'pooled direct'] }[engineName];
      expect([...seen].sort()).toEqual(expected.sort());
    });
  }
});

describe('conv2dTranspose and depthwise benches', () => {
  for (const engineName of ['cpu', 'gpu'] as const) {
    it(`transposed forward and depthwise kernel gradient on the ${engineName} profile`, async () => {
      const e = engines[engineName]();
      for (const g of [
        conv2dTransposeGeometry({ batch: 2, inputShape: [5, 7, 6], filters: 5, kernelSize: [3, 3], strides: [2, 2], padding: 'same', relu: true }),
        conv2dTransposeGeometry({ batch: 3, inputShape: [4, 3, 3], filters: 7, kernelSize: [2, 3], padding: 'valid', useBias: false }),
      ]) {
        const names = await checkBenches(e, engineName, conv2dTransposeForwardTable, g, (name, m) => {
          const views = { x: m.view(g.batch * g.outH * g.outW * g.outC), w: m.view(g.kH * g.kW * g.inC * g.outC), b: m.view(g.inC), y: m.view(g.batch * g.inH * g.inW * g.inC), scratch: m.scratch };
          return labels(conv2dTransposeForward(e, g, views, undefined, name as never));
        });
        expect(names).toEqual(engineName === 'gpu' ? ['gemm-64x64', 'gemm-32x32', 'tiled'] : ['direct']);
      }
      for (const g of [
        depthwiseConv2dGeometry({ batch: 2, inputShape: [7, 9, 3], kernelSize: [3, 3], depthMultiplier: 2, padding: 'same', relu: true }),
        depthwiseConv2dGeometry({ batch: 3, inputShape: [11, 6, 5], kernelSize: [2, 3], strides: [2, 1], useBias: false }),
      ]) {
        const outC = g.inC * g.multiplier;
        const seenByChoose = { ...g, relu: false };
        const names = await checkBenches(e, engineName, depthwiseKernelGradTable, seenByChoose, (name, m) => {
          // The layer's backward as a first layer runs it (no dx): the ReLU mask, then dW and db.
          const views = {
            x: m.view(g.batch * g.inH * g.inW * g.inC),
            w: m.view(g.kH * g.kW * outC),
            y: m.view(g.batch * g.outH * g.outW * outC),
            dy: m.view(g.batch * g.outH * g.outW * outC),
            dx: null,
            dw: m.view(g.kH * g.kW * outC),
            db: m.view(outC),
            scratch: m.scratch,
          };
          return labels(depthwiseConv2dBackward(e, g, views, { kernelGrad: name })).slice(g.relu ? 1 : 0);
        });
        expect(names).toEqual(engineName === 'gpu' ? ['tiled', 'registers'] : ['registers', 'tiled']);
      }
    });
  }
});

describe('tuning a model of the family', () => {
  it('an exhaustively tuning engine measures every candidate of the conv ops a fit runs', async () => {
    const e = await createEngine({ tune: 'exhaustive', tuningStore: false });
    try {
      const model = sequential({
        layers: [
          layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', inputShape: [13, 11, 8], name: 'dw' }),
          layers.conv2d({ filters: 12, kernelSize: 3, padding: 'same', name: 'conv' }),
          layers.flatten({}),
          layers.dense({ units: 3, activation: 'softmax' }),
        ],
      });
      model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', engine: e });
      const x = tensor(randomArray(2 * 13 * 11 * 8, 5), [2, 13, 11, 8]);
      const y = tensor(Float32Array.from([1, 0, 0, 0, 0, 1]), [2, 3]);
      await model.fit(x, y, { epochs: 1, batchSize: 2, verbose: 0 });
      const stats = e.stats().tuning;
      expect(stats.geometries).toBeGreaterThan(0);
      const records = Object.values(e.exportTuning().adapters).flatMap((r) => Object.values(r));
      console.log(`conv tuning after one fit: ${JSON.stringify(stats)}\n${records.map((r) => `  ${r.op} ${r.key}: ${r.variant} (hand ${r.hand}) ${JSON.stringify(r.ms)}`).join('\n')}`);
      // The geometries the layers' choose() calls see: the convolution's (its backward's too: no ReLU), the depthwise one's.
      const conv = conv2dGeometry({ batch: 2, inputShape: [13, 11, 8], filters: 12, kernelSize: [3, 3], padding: 'same' });
      const depthwise = depthwiseConv2dGeometry({ batch: 2, inputShape: [13, 11, 8], kernelSize: [3, 3], padding: 'same' });
      const expected: [VariantTable<never, unknown>, unknown][] = [
        [conv2dForwardTable, conv],
        [conv2dInputGradTable, conv],
        [conv2dKernelGradTable, conv],
        [depthwiseKernelGradTable, depthwise],
      ] as never;
      for (const [table, g] of expected) {
        const record = records.find((r) => r.op === table.op && r.key === table.key(g as never));
        expect(record, `a record for ${table.op} ${table.key(g as never)}`).toBeDefined();
        const candidates = applicableNames(table, g as never, e.profile);
        expect(candidates.length).toBeGreaterThan(1);
        expect(Object.keys(record!.ms), `${table.op}: every candidate timed`).toEqual(candidates);
        for (const [name, ms] of Object.entries(record!.ms)) expect(Number.isFinite(ms) && ms > 0, `${table.op} ${name}: ${ms} ms`).toBe(true);
        expect(record!.hand).toBe(candidates[0]);
      }
      model.dispose();
    } finally {
      e.dispose();
    }
  });
});
