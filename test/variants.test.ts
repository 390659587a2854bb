/**
 * The device profile and the op families' variant tables (src/runtime/profile.ts,
 * src/ops/variants.ts): the profile on SwiftShader, each table's hand policy for a CPU profile,
 * a CPU profile with bounds checks and a synthetic GPU profile, forced variants that do not apply,
 * what describeVariants lists for a small model, and the variant matrix: every variant of every
 * family, forced, against a float64 reference (and its backward against central differences of
 * that reference) on shapes that are not multiples of its tiles, outputs NaN-prefilled.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { layers, optimizers, sequential, tensor, type LayersModel } from '../src/index.ts';
import { attentionBackward, attentionForward, attentionStatsFloats, attentionTable, type AttentionGeometry } from '../src/ops/attention.ts';
import { batchedMatmul, batchedMatmulBackward, batchedMatmulTable, type BatchedMatmulGeometry } from '../src/ops/batched-matmul.ts';
import { conv2dBackward, conv2dForward, conv2dGeometry, conv2dVariants, pooledForwardVariant, type Conv2DGeometry } from '../src/ops/conv2d.ts';
import { conv2dTransposeBackward, conv2dTransposeForward, conv2dTransposeGeometry } from '../src/ops/conv2d-transpose.ts';
import { conv2dForwardTable, conv2dInputGradTable, conv2dKernelGradTable, conv2dPooledForwardTable, conv2dTransposeForwardTable } from '../src/ops/conv2d-variants.ts';
import { denseBackward, denseForward, denseGeometry, denseTable } from '../src/ops/dense.ts';
import { depthwiseConv2dBackward, depthwiseConv2dForward, depthwiseConv2dGeometry, depthwiseKernelGradTable } from '../src/ops/depthwise-conv2d.ts';
import { batchNormTable, batchNormTrainBackward, batchNormTrainForward, layerNormBackward, layerNormForward, layerNormTable, lnGeometry, normGeometry } from '../src/ops/normalization.ts';
import { poolGeometry } from '../src/ops/pool.ts';
import { reduceBackwardDispatches, reduceDispatches, reduceTable } from '../src/ops/reduce.ts';
import { applicableNames, choose, variantNames, type VariantTable } from '../src/ops/variants.ts';
import { describeVariants, formatVariantTable } from '../src/runtime/describe-variants.ts';
import type { Engine, View } from '../src/runtime/engine.ts';
import type { DeviceProfile } from '../src/runtime/profile.ts';
import { STEP_INFO_BYTES, stepInfoData, type KernelStyle } from '../shaders/kernel.ts';
import { dot, finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';
import { attentionRef } from './reference/attention.ts';
import { conv2dBackwardRef, conv2dForwardRef } from './reference/conv2d.ts';
import { denseBackwardRef, denseForwardRef, batchedMatmulRef } from './reference/dense.ts';
import { maxPoolForwardRef } from './reference/pool.ts';

const engines = {
  cpu: useEngine(),
  checked: useEngine({ kernelStyle: 'registers', robustBufferAccess: true }),
  gpu: useEngine({ kernelStyle: 'tiled' }),
};
type EngineName = keyof typeof engines;

const report: string[] = [];
afterAll(() => console.log(`variant matrix (relL2: float64 reference | central differences):\n${report.join('\n')}`));

/** A GPU as the tables see one (no adapter needed): bounds-checked, no Winograd by default. */
const GPU_PROFILE: DeviceProfile = {
  vendor: 'nvidia',
  architecture: 'hopper',
  description: 'synthetic',
  fallback: false,
  kind: 'gpu',
  limits: {
    maxComputeWorkgroupStorageSize: 32768,
    maxComputeInvocationsPerWorkgroup: 1024,
    maxComputeWorkgroupSizeX: 1024,
    maxComputeWorkgroupSizeY: 1024,
    maxStorageBufferBindingSize: 2 ** 31,
    maxBufferSize: 2 ** 31,
    minStorageBufferOffsetAlignment: 256,
  },
  features: { subgroups: true, shaderF16: true, timestampQuery: true },
  boundsChecked: true,
  winograd: false,
};

const scratchOf = (e: Engine) => (bytes: number) => nanBuffer(e, Math.ceil(bytes / 4));

function stepInfo(e: Engine, rows: number): View {
  const buffer = e.uniform(STEP_INFO_BYTES, 'test step info');
  e.write(buffer, stepInfoData(0, 1, 0, rows));
  return { buffer, offset: 0, size: STEP_INFO_BYTES };
}

/** Reports a run's errors and checks them: the forward against float64 (1e-5), the backward against float64 and central differences (1e-4). */
function checkRun(label: string, forward: number, errs: { ref: number; fd: number }): void {
  const backward = 1e-4;
  report.push(`${label}: forward ${forward.toExponential(1)}, backward ${errs.ref.toExponential(1)} | ${errs.fd.toExponential(1)}`);
  expect(forward, `${label} forward`).toBeLessThanOrEqual(1e-5);
  expect(errs.ref, `${label} backward vs float64`).toBeLessThanOrEqual(backward);
  expect(errs.fd, `${label} backward vs central differences`).toBeLessThanOrEqual(backward);
}

/**
 * The gradient check of a backward: `got` (one array per input) against the float64 gradient of
 * L = Σ forward(inputs)·r by central differences over every coordinate (the reference: these shapes
 * are small) and, where given, against an analytic float64 gradient.
 */
function gradientErrors(forward: (inputs: Float64Array[]) => ArrayLike<number>, inputs: Float32Array[], r: ArrayLike<number>, got: Float32Array[], exact?: Float64Array[]): { ref: number; fd: number } {
  const x64 = inputs.map(toF64);
  let ref = 0;
  let fd = 0;
  x64.forEach((x, i) => {
    // Large inputs get 60 sampled coordinates, which only checks against an analytic gradient.
    const idx = exact && x.length > 300 ? sampleIndices(x.length, 60, 11 + i) : undefined;
    const differences = finiteDifferences((v) => dot(forward(x64.map((a, j) => (j === i ? v : a))), r), x, idx);
    fd = Math.max(fd, relL2(idx ? pick(got[i]!, idx) : got[i]!, differences));
    ref = Math.max(ref, exact ? relL2(got[i]!, exact[i]!) : relL2(got[i]!, differences));
  });
  return { ref, fd };
}

/** Runs each forced variant of `table` that applies on each engine; returns the names covered (every one must be). */
async function eachVariant<G, P>(table: VariantTable<G, P>, g: G, names: EngineName[], run: (engine: Engine, variant: string, label: string) => Promise<void>): Promise<Set<string>> {
  const covered = new Set<string>();
  for (const name of names) {
    const e = engines[name]();
    for (const variant of applicableNames(table, g, e.profile)) {
      await run(e, variant, `${table.op} ${variant} (${name} engine, ${table.key(g)})`);
      covered.add(variant);
    }
  }
  return covered;
}

// ---- the profile -------------------------------------------------------------------------------

describe('device profile', () => {
  it('SwiftShader: a fallback adapter of kind cpu, no bounds checks in Node, Winograd on, limits and features from the device', () => {
    const e = engines.cpu();
    const p = e.profile;
    expect(p.architecture).toBe('swiftshader');
    expect(p.fallback).toBe(true);
    expect(p.kind).toBe('cpu');
    expect(p.boundsChecked).toBe(false);
    expect(p.winograd).toBe(true);
    expect(p.limits.maxComputeInvocationsPerWorkgroup).toBe(e.limits.maxComputeInvocationsPerWorkgroup);
    expect(p.limits.maxStorageBufferBindingSize).toBe(e.limits.maxStorageBufferBindingSize);
    expect(p.limits.minStorageBufferOffsetAlignment).toBe(e.limits.minStorageBufferOffsetAlignment);
    expect(p.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(16384);
    expect(p.features.timestampQuery).toBe(e.hasTimestamps);
    expect(p.features.subgroups).toBe(e.device.features.has('subgroups'));
    expect(p.features.shaderF16).toBe(e.device.features.has('shader-f16'));
    expect(Object.isFrozen(p)).toBe(true);
    expect(e.stats().profile).toBe(p);
    expect(e.stats().kernelStyle).toBe('registers');
    expect(e.kernelStyle).toBe('registers');
  });

  it("kernelStyle overrides the kind ('tiled' → gpu: Winograd off by default); robustBufferAccess sets boundsChecked", () => {
    const gpu = engines.gpu().profile;
    expect([gpu.kind, gpu.fallback, gpu.winograd, gpu.boundsChecked]).toEqual(['gpu', true, false, false]);
    expect(engines.gpu().stats().kernelStyle).toBe('tiled');
    const checked = engines.checked().profile;
    expect([checked.kind, checked.boundsChecked, checked.winograd]).toEqual(['cpu', true, true]);
  });
});

// ---- the tables' hand policy -------------------------------------------------------------------

describe('variant tables: what each profile runs', () => {
  const conv = (batch: number, inputShape: number[], filters: number, extra: Partial<Parameters<typeof conv2dGeometry>[0]> = {}) =>
    conv2dGeometry({ batch, inputShape, filters, kernelSize: [3, 3], ...extra });
  // The tutorial CNN's three convolutions at batch 64, a dilated and a strided one.
  const conv1 = conv(64, [28, 28, 1], 32);
  const conv2 = conv(64, [13, 13, 32], 64);
  const conv3 = conv(64, [5, 5, 64], 64);
  const dilatedConv = conv(8, [16, 16, 16], 16, { dilationRate: [2, 2], padding: 'same' });
  const strided = conv(8, [16, 16, 16], 32, { strides: [2, 2], padding: 'same' });

  it('conv2d: forward, input gradient, kernel gradient and pooled forward per profile', () => {
    const cpu = engines.cpu().profile;
    const checked = { ...cpu, boundsChecked: true };
    const lists = (p: DeviceProfile, g: Conv2DGeometry) => ({ ...conv2dVariants({ profile: p }, g), pooled: applicableNames(conv2dPooledForwardTable, { ...g, pooledOutput: true }, p) });
    expect(lists(cpu, conv1)).toEqual({ forward: ['patches', 'direct'], inputGrad: ['direct'], kernelGrad: ['direct'], pooled: ['direct'] });
    expect(lists(checked, conv1)).toEqual({ forward: ['patches', 'direct'], inputGrad: ['direct'], kernelGrad: ['direct'], pooled: ['direct'] });
    expect(lists(cpu, conv2)).toEqual({ forward: ['winograd', 'direct', 'taps'], inputGrad: ['winograd', 'taps', 'direct'], kernelGrad: ['winograd', 'direct'], pooled: ['winograd'] });
    // Under bounds checks conv2's input gradient goes direct: Winograd saves less than three quarters there.
    expect(lists(checked, conv2)).toEqual({ forward: ['winograd', 'direct', 'taps'], inputGrad: ['direct', 'winograd', 'taps'], kernelGrad: ['winograd', 'direct'], pooled: ['winograd'] });
    // conv3's 3×3 outputs: one F(3×3) tile; no whole 2×2 window block to pool into, and the by-rows kernel cannot pool.
    expect(lists(cpu, conv3)).toEqual({ forward: ['winograd', 'direct', 'taps'], inputGrad: ['taps', 'direct'], kernelGrad: ['winograd', 'direct'], pooled: [] });
    expect(lists(checked, conv3)).toEqual({ forward: ['winograd', 'direct', 'taps'], inputGrad: ['direct', 'taps'], kernelGrad: ['winograd', 'direct'], pooled: [] });
    expect(lists(cpu, dilatedConv)).toEqual({ forward: ['direct'], inputGrad: ['direct'], kernelGrad: ['direct'], pooled: [] });
    expect(lists(cpu, strided)).toEqual({ forward: ['direct', 'taps'], inputGrad: ['taps', 'direct'], kernelGrad: ['direct'], pooled: ['direct'] });
    expect(lists(checked, strided)).toEqual({ forward: ['direct', 'taps'], inputGrad: ['direct', 'taps'], kernelGrad: ['direct'], pooled: ['direct'] });
    // On a GPU the implicit GEMMs on the configurable tiled product come first, pooling as their epilogue; every dW here is few output tiles over many pixels: split-K.
    const gemm = ['gemm-64x64', 'gemm-32x32', 'tiled'];
    for (const g of [conv1, conv2, conv3, dilatedConv, strided]) {
      expect(lists(GPU_PROFILE, g)).toEqual({ forward: gemm, inputGrad: gemm, kernelGrad: ['gemm-splitk', 'gemm-64x64', 'gemm-32x32', 'gemm-splitk2', 'tiled'], pooled: ['gemm-64x64', 'gemm-32x32'] });
    }
    // Winograd turned off on a CPU: the slice products without it.
    expect(conv2dVariants({ profile: { ...cpu, winograd: false } }, conv2)).toEqual({ forward: ['direct', 'taps'], inputGrad: ['taps', 'direct'], kernelGrad: ['direct'] });
    expect(pooledForwardVariant({ profile: GPU_PROFILE }, conv1)).toBe('gemm-64x64');
    expect(applicableNames(conv2dTransposeForwardTable, conv2, cpu)).toEqual(['direct']);
    expect(applicableNames(conv2dTransposeForwardTable, conv2, GPU_PROFILE)).toEqual(['gemm-64x64', 'gemm-32x32', 'tiled']);
  });

  it('the other families: the profile kind puts its own variant first, the other after it', () => {
    const cpu = engines.cpu().profile;
    const checked = { ...cpu, boundsChecked: true };
    const matmul: BatchedMatmulGeometry = { batch: 8, m: 64, n: 64, k: 32, transposeA: false, transposeB: true };
    const attention: AttentionGeometry = { batch: 2, heads: 4, queries: 16, keys: 16, keyDim: 8, valueDim: 8, mask: false, causal: false, dropout: 0, seed: 0 };
    const depthwise = depthwiseConv2dGeometry({ batch: 8, inputShape: [16, 16, 32], kernelSize: [3, 3] });
    const cases: [VariantTable<never, unknown>, unknown, string[], string[]][] = [
      // On a GPU the configurable tiled product (shaders/tiled-matmul.ts) comes first.
      [batchedMatmulTable as never, matmul, ['registers', 'tiled'], ['tiled-64x64', 'tiled-128x64', 'tiled', 'registers']],
      [attentionTable as never, attention, ['registers', 'tiled'], ['tiled', 'registers']],
      [depthwiseKernelGradTable as never, depthwise, ['registers', 'tiled'], ['tiled', 'registers']],
      [batchNormTable as never, normGeometry(32, [8, 8, 16], -1, 'test'), ['registers', 'tiled'], ['tiled', 'registers']],
      [layerNormTable as never, lnGeometry(32, [10, 64], [-1], 'test'), ['registers', 'tiled'], ['tiled', 'registers']],
      [reduceTable as never, { outer: 1, axis: 50000, inner: 16 }, ['registers', 'tiled'], ['tiled', 'registers']],
      [denseTable as never, denseGeometry(64, [784], 128), ['registers-blocks'], ['tiled-64x64', 'tiled-128x64', 'registers-blocks']],
    ];
    for (const [table, g, onCpu, onGpu] of cases) {
      expect(applicableNames(table, g as never, cpu), `${table.op} on a CPU`).toEqual(onCpu);
      expect(applicableNames(table, g as never, checked), `${table.op} on a CPU with checks`).toEqual(onCpu);
      expect(applicableNames(table, g as never, GPU_PROFILE), `${table.op} on a GPU`).toEqual(onGpu);
    }
  });

  it('every row says why it stands where it does; notes cite bench/NOTES.md items', () => {
    const tables = [conv2dForwardTable, conv2dInputGradTable, conv2dKernelGradTable, conv2dPooledForwardTable, conv2dTransposeForwardTable, batchedMatmulTable, attentionTable, depthwiseKernelGradTable, batchNormTable, layerNormTable, reduceTable, denseTable] as VariantTable<unknown, unknown>[];
    for (const table of tables) {
      for (const row of table.rows) {
        expect(row.why.length, `${table.op} ${row.name}`).toBeGreaterThan(20);
        if (row.note) expect(row.note, `${table.op} ${row.name}`).toMatch(/^bench\/NOTES\.md item \d+$/);
      }
    }
  });
});

// ---- forcing ------------------------------------------------------------------------------------

describe('forced variants', () => {
  it('a forced variant that does not apply is an Error naming the op, the variant and the applicable ones', () => {
    const e = engines.cpu();
    const dilatedConv = conv2dGeometry({ batch: 2, inputShape: [9, 9, 8], filters: 8, kernelSize: [3, 3], dilationRate: [2, 2] });
    const v = nanBuffer(e, 4);
    const scratch = scratchOf(e);
    expect(() => conv2dForward(e, dilatedConv, { x: v, w: v, b: v, y: v, scratch }, undefined, { forward: 'winograd' })).toThrow(
      /conv2d\.forward: the variant 'winograd' does not apply here \(applicable: direct; geometry 2x9x9x8 k3x3 s1 d2x2 -> 5x5x8\)/,
    );
    expect(() => conv2dBackward(e, dilatedConv, { x: v, w: v, y: v, dy: v, dx: v, dw: v, db: v, scratch }, undefined, { inputGrad: 'tiled' })).toThrow(/conv2d\.inputGrad: the variant 'tiled' does not apply here \(applicable: direct;/);
    const matmul: BatchedMatmulGeometry = { batch: 1, m: 2, n: 2, k: 2, transposeA: false, transposeB: false };
    expect(() => batchedMatmul(e, matmul, { a: v, b: v, c: v }, { variant: 'blocked' as KernelStyle })).toThrow(/batchedMatmul: the variant 'blocked' does not apply here \(applicable: registers, tiled;/);
    expect(() => choose(denseTable, denseGeometry(2, [3], 4), { profile: GPU_PROFILE }, 'tiled')).toThrow(/dense: the variant 'tiled' does not apply here \(applicable: tiled-64x64, tiled-128x64, registers-blocks; geometry 2x3 -> 4\)/);
    expect(() => choose(denseTable, denseGeometry(2, [3], 4), { profile: engines.cpu().profile }, 'tiled-64x64')).toThrow(/dense: the variant 'tiled-64x64' does not apply here \(applicable: registers-blocks;/);
  });

  it('choose records the choice on the engine, under the current scope', () => {
    const e = engines.cpu();
    const g = denseGeometry(3, [5], 7);
    const { choices } = e.recordVariantChoices(() => e.withScope('outer', () => e.withScope('inner', () => choose(denseTable, g, e))));
    expect(choices).toEqual([{ scope: 'outer/inner', op: 'dense', variant: 'registers-blocks', key: '3x5 -> 7' }]);
    expect(e.variantChoices()).toContainEqual(choices[0]);
  });
});

// ---- describeVariants ----------------------------------------------------------------------------

describe('describeVariants', () => {
  it("lists what a small conv + dense model's train plan runs", async () => {
    const e = engines.cpu();
    const m: LayersModel = sequential([
      layers.conv2d({ inputShape: [10, 9, 1], filters: 8, kernelSize: 3, activation: 'relu' }),
      layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu' }),
      layers.flatten(),
      layers.dense({ units: 3, activation: 'softmax' }),
    ]);
    m.compile({ optimizer: optimizers.sgd({ learningRate: 0.01 }), loss: 'categoricalCrossentropy', engine: e });
    const rows = await m.describeVariants({ batchSize: 3 });
    const ops = rows.map((r) => `${r.op} ${r.variant}`);
    const conv2 = conv2dGeometry({ batch: 3, inputShape: [8, 7, 8], filters: 8, kernelSize: [3, 3], relu: true });
    expect(ops).toContain(`conv2d.forward ${conv2dVariants(e, conv2).forward[0]}`);
    expect(ops).toContain(`conv2d.inputGrad ${conv2dVariants(e, { ...conv2, relu: false }).inputGrad[0]}`);
    expect(ops).toContain('conv2d.kernelGrad direct');
    expect(ops).toContain('dense registers-blocks');
    expect(rows.find((r) => r.op === 'dense')!.key).toBe('3x240 -> 3');
    // One row per distinct choice, each in the scope of the layer that made it, or the optimizer's.
    expect(new Set(rows.map((r) => JSON.stringify(r))).size).toBe(rows.length);
    const names = [...m.layers.map((l) => l.name), 'optimizer'];
    for (const r of rows) expect(names, r.layer).toContain(r.layer);
    expect(rows.find((r) => r.op === 'optimizer.update')!.layer).toBe('optimizer');
    expect(rows.find((r) => r.op === 'dense')!.layer).toBe(m.layers[3]!.name);
    const text = formatVariantTable(rows);
    expect(text.split('\n')[0]).toMatch(/^layer\s+op\s+variant\s+geometry$/);
    expect(text.split('\n')).toHaveLength(rows.length + 1);
    report.push(`describeVariants (train plan, batch 3):\n${text}`);
    // Predict plans choose too (no backward); an uncompiled mode is an Error.
    const predictRows = await m.describeVariants({ batchSize: 3, mode: 'predict' });
    expect(predictRows.some((r) => r.op === 'conv2d.inputGrad')).toBe(false);
    expect(predictRows.some((r) => r.op === 'conv2d.forward')).toBe(true);
    await expect(m.describeVariants({ batchSize: 0 })).rejects.toThrow(/describeVariants\(\): batchSize must be a positive integer, got 0/);
    m.dispose();
  });
});

// ---- the variant matrix --------------------------------------------------------------------------

const CONV_NAMES: EngineName[] = ['cpu', 'checked', 'gpu'];

describe('variant matrix: every variant of every family, forced, against float64', () => {
  it('conv2d: forward, input gradient and kernel gradient variants (plus the pooled forward)', async () => {
    // Winograd and per-tap products (vector channels, stride 1), the whole-patch product (one channel), a strided one (direct and tiled kernels; dilated ones are conv2d.test.ts's).
    const geometries = [
      conv2dGeometry({ batch: 2, inputShape: [9, 8, 8], filters: 12, kernelSize: [3, 3] }),
      conv2dGeometry({ batch: 3, inputShape: [7, 9, 1], filters: 8, kernelSize: [3, 3], padding: 'same' }),
      conv2dGeometry({ batch: 2, inputShape: [7, 6, 3], filters: 5, kernelSize: [3, 2], strides: [2, 2], padding: 'same' }),
    ];
    const covered = { forward: new Set<string>(), inputGrad: new Set<string>(), kernelGrad: new Set<string>(), pooled: new Set<string>() };
    for (const [gi, g] of geometries.entries()) {
      const seed = 10 * gi + 1;
      const [x, w, b, r] = [g.batch * g.inH * g.inW * g.inC, g.kH * g.kW * g.inC * g.outC, g.outC, g.batch * g.outH * g.outW * g.outC].map((n, i) => randomArray(n, seed + i)) as [Float32Array, Float32Array, Float32Array, Float32Array];
      const ref = conv2dForwardRef(g, x, w, b);
      const exact = conv2dBackwardRef(g, x, w, ref.pre, r);
      const forward = ([xs, ws, bs]: Float64Array[]) => conv2dForwardRef(g, xs!, ws!, bs!).y;
      // Bounds checks change only the slice products' layouts: the strided case (direct kernels only) skips that engine.
      for (const name of gi < 2 ? CONV_NAMES : CONV_NAMES.filter((n) => n !== 'checked')) {
        const e = engines[name]();
        const lists = conv2dVariants(e, g);
        const rounds = Math.max(lists.forward.length, lists.inputGrad.length, lists.kernelGrad.length);
        for (let i = 0; i < rounds; i++) {
          const options = { forward: lists.forward[Math.min(i, lists.forward.length - 1)]!, inputGrad: lists.inputGrad[Math.min(i, lists.inputGrad.length - 1)]!, kernelGrad: lists.kernelGrad[Math.min(i, lists.kernelGrad.length - 1)]! };
          const label = `conv2d ${options.forward}/${options.inputGrad}/${options.kernelGrad} (${name}, ${conv2dForwardTable.key(g)})`;
          const [xv, wv, bv, rv] = [x, w, b, r].map((a) => uploadView(e, a)) as View[];
          const y = nanBuffer(e, r.length);
          e.run(conv2dForward(e, g, { x: xv!, w: wv!, b: bv, y, scratch: scratchOf(e) }, undefined, options));
          const errY = relL2(await readF32(e, y, r.length), ref.y);
          const [dx, dw, db] = [x.length, w.length, b.length].map((n) => nanBuffer(e, n)) as View[];
          e.run(conv2dBackward(e, g, { x: xv!, w: wv!, y, dy: rv!, dx: dx!, dw: dw!, db: db!, scratch: scratchOf(e) }, undefined, options));
          const got = [await readF32(e, dx!, x.length), await readF32(e, dw!, w.length), await readF32(e, db!, b.length)];
          const errs = gradientErrors(forward, [x, w, b], r, got, [exact.dx, exact.dw, exact.db]);
          checkRun(label, errY, errs);
          covered.forward.add(options.forward);
          covered.inputGrad.add(options.inputGrad);
          covered.kernelGrad.add(options.kernelGrad);
        }
        // The pooled forward (inference: the 2×2 max pool before the store).
        const pool = poolGeometry(g.batch, [g.outH, g.outW, g.outC], [2, 2], [2, 2], 'valid');
        const pooledRef = maxPoolForwardRef(ref.y, pool);
        for (const variant of applicableNames(conv2dPooledForwardTable, { ...g, pooledOutput: true }, e.profile)) {
          const [xv, wv, bv] = [x, w, b].map((a) => uploadView(e, a)) as View[];
          const y = nanBuffer(e, pooledRef.length);
          e.run(conv2dForward(e, g, { x: xv!, w: wv!, b: bv, y, scratch: scratchOf(e) }, undefined, { pooled: true, forward: variant as 'direct' }));
          const err = relL2(await readF32(e, y, pooledRef.length), pooledRef);
          report.push(`conv2d.pooledForward ${variant} (${name}, ${conv2dForwardTable.key(g)}): forward ${err.toExponential(1)}`);
          expect(err, `pooled ${variant}`).toBeLessThanOrEqual(1e-5);
          covered.pooled.add(variant);
        }
      }
    }
    expect([...covered.forward].sort()).toEqual(variantNames(conv2dForwardTable).sort());
    expect([...covered.inputGrad].sort()).toEqual(variantNames(conv2dInputGradTable).sort());
    // Split-K's rows need over 512 output pixels: test/conv-gemm.test.ts forces them.
    expect([...covered.kernelGrad].sort()).toEqual(variantNames(conv2dKernelGradTable).filter((n) => !n.startsWith('gemm-splitk')).sort());
    expect([...covered.pooled].sort()).toEqual(variantNames(conv2dPooledForwardTable).sort());
  }, 300_000); // every conv2d variant compiles on SwiftShader: minutes when the machine is shared

  it('conv2dTranspose: direct and tiled forward, and the backward through the conv2d tables', async () => {
    const g = conv2dTransposeGeometry({ batch: 2, inputShape: [4, 3, 5], filters: 6, kernelSize: [3, 3], strides: [2, 2], padding: 'same' });
    // The transposed input is g's output [outH, outW, outC]; its output g's input [inH, inW, inC].
    const [x, w, b, r] = [g.batch * g.outH * g.outW * g.outC, g.kH * g.kW * g.inC * g.outC, g.inC, g.batch * g.inH * g.inW * g.inC].map((n, i) => randomArray(n, 70 + i)) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const plain: Conv2DGeometry = { ...g, relu: false, bias: false };
    const transposeRef = ([xs, ws, bs]: Float64Array[]) => {
      const dx = conv2dBackwardRef(plain, new Float64Array(r.length), ws!, new Float64Array(xs!.length), xs!).dx;
      return dx.map((v, i) => v + bs![i % g.inC]!);
    };
    const want = transposeRef([x, w, b].map(toF64));
    const covered = new Set<string>();
    for (const name of ['cpu', 'gpu'] as const) {
      const e = engines[name]();
      for (const variant of applicableNames(conv2dTransposeForwardTable, g, e.profile)) {
        const label = `conv2dTranspose.forward ${variant} (${name}, ${conv2dTransposeForwardTable.key(g)})`;
        const [xv, wv, bv, rv] = [x, w, b, r].map((a) => uploadView(e, a)) as View[];
        const y = nanBuffer(e, r.length);
        e.run(conv2dTransposeForward(e, g, { x: xv!, w: wv!, b: bv, y, scratch: scratchOf(e) }, undefined, variant as 'direct'));
        const errY = relL2(await readF32(e, y, r.length), want);
        const [dx, dw, db] = [x.length, w.length, b.length].map((n) => nanBuffer(e, n)) as View[];
        e.run(conv2dTransposeBackward(e, g, { x: xv!, w: wv!, y, dy: rv!, dx: dx!, dw: dw!, db: db!, scratch: scratchOf(e) }));
        const got = [await readF32(e, dx!, x.length), await readF32(e, dw!, w.length), await readF32(e, db!, b.length)];
        const errs = gradientErrors(transposeRef, [x, w, b], r, got);
        checkRun(label, errY, errs);
        covered.add(variant);
      }
    }
    expect([...covered].sort()).toEqual(variantNames(conv2dTransposeForwardTable).sort());
  });

  it('depthwiseConv2d: the kernel gradient reductions (registers, tiled)', async () => {
    const g = depthwiseConv2dGeometry({ batch: 3, inputShape: [9, 7, 3], kernelSize: [3, 2], depthMultiplier: 2, padding: 'same' });
    const outC = g.inC * g.multiplier;
    const [x, w, b, r] = [g.batch * g.inH * g.inW * g.inC, g.kH * g.kW * outC, outC, g.batch * g.outH * g.outW * outC].map((n, i) => randomArray(n, 80 + i)) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const forward = ([xs, ws, bs]: Float64Array[]) => {
      const y = new Float64Array(r.length);
      for (let n = 0; n < g.batch; n++)
        for (let oy = 0; oy < g.outH; oy++)
          for (let ox = 0; ox < g.outW; ox++)
            for (let c = 0; c < g.inC; c++)
              for (let m = 0; m < g.multiplier; m++) {
                const o = c * g.multiplier + m;
                let s = bs![o]!;
                for (let ky = 0; ky < g.kH; ky++)
                  for (let kx = 0; kx < g.kW; kx++) {
                    const iy = oy * g.strideH + ky * g.dilationH - g.padTop;
                    const ix = ox * g.strideW + kx * g.dilationW - g.padLeft;
                    if (iy >= 0 && iy < g.inH && ix >= 0 && ix < g.inW) s += xs![((n * g.inH + iy) * g.inW + ix) * g.inC + c]! * ws![(ky * g.kW + kx) * outC + o]!;
                  }
                y[((n * g.outH + oy) * g.outW + ox) * outC + o] = s;
              }
      return y;
    };
    const want = forward([x, w, b].map(toF64));
    const covered = await eachVariant(depthwiseKernelGradTable, g, ['cpu', 'gpu'], async (e, variant, label) => {
      const [xv, wv, bv, rv] = [x, w, b, r].map((a) => uploadView(e, a)) as View[];
      const y = nanBuffer(e, r.length);
      e.run(depthwiseConv2dForward(e, g, { x: xv!, w: wv!, b: bv, y }));
      const errY = relL2(await readF32(e, y, r.length), want);
      const [dx, dw, db] = [x.length, w.length, b.length].map((n) => nanBuffer(e, n)) as View[];
      e.run(depthwiseConv2dBackward(e, g, { x: xv!, w: wv!, y, dy: rv!, dx: dx!, dw: dw!, db: db!, scratch: scratchOf(e) }, { kernelGrad: variant }));
      const errs = gradientErrors(forward, [x, w, b], r, [await readF32(e, dx!, x.length), await readF32(e, dw!, w.length), await readF32(e, db!, b.length)]);
      checkRun(label, errY, errs);
    });
    expect([...covered].sort()).toEqual(variantNames(depthwiseKernelGradTable).sort());
  });

  it('batchedMatmul: registers and tiled, forward and both gradients', async () => {
    const g: BatchedMatmulGeometry = { batch: 2, m: 37, n: 35, k: 19, transposeA: true, transposeB: false };
    const [a, bm, r] = [g.batch * g.m * g.k, g.batch * g.k * g.n, g.batch * g.m * g.n].map((n, i) => randomArray(n, 90 + i)) as [Float32Array, Float32Array, Float32Array];
    const forward = ([as, bs]: Float64Array[]) => batchedMatmulRef(as!, bs!, g);
    const want = forward([a, bm].map(toF64));
    const covered = await eachVariant(batchedMatmulTable, g, ['cpu', 'gpu'], async (e, variant, label) => {
      const [av, bv, rv] = [a, bm, r].map((v) => uploadView(e, v)) as View[];
      const c = nanBuffer(e, r.length);
      const [da, db] = [a.length, bm.length].map((n) => nanBuffer(e, n)) as View[];
      const options = { variant: variant as KernelStyle };
      e.run([...batchedMatmul(e, g, { a: av!, b: bv!, c }, options), ...batchedMatmulBackward(e, g, { a: av!, b: bv!, dc: rv!, da: da!, db: db! }, options)]);
      const errY = relL2(await readF32(e, c, r.length), want);
      const errs = gradientErrors(forward, [a, bm], r, [await readF32(e, da!, a.length), await readF32(e, db!, bm.length)]);
      checkRun(label, errY, errs);
    });
    expect([...covered].sort()).toEqual(variantNames(batchedMatmulTable).sort());
  });

  it('batchNormalization and layerNormalization: registers and tiled, training forward and backward', async () => {
    const EPS = 1e-3;
    // BatchNormalization over channels 5 of [batch 6, 3, 7, 5] (4 real rows).
    const g = normGeometry(6, [3, 7, 5], -1, 'test');
    const rows = 4;
    const C = g.channels;
    const total = 6 * 3 * 7 * C;
    const real = rows * 3 * 7 * C;
    const [x, r, gamma, beta] = [randomArray(total, 101, 2), randomArray(total, 102), randomArray(C, 103).map((v) => v + 1.2), randomArray(C, 104)];
    const bn = ([xs, gs, bs]: Float64Array[]) => {
      const mean = new Float64Array(C);
      const variance = new Float64Array(C);
      const count = real / C;
      for (let i = 0; i < real; i++) mean[i % C] += xs![i]! / count;
      for (let i = 0; i < real; i++) variance[i % C] += (xs![i]! - mean[i % C]!) ** 2 / count;
      return Float64Array.from({ length: real }, (_, i) => ((xs![i]! - mean[i % C]!) / Math.sqrt(variance[i % C]! + EPS)) * gs![i % C]! + bs![i % C]!);
    };
    const want = bn([x.slice(0, real), gamma, beta].map(toF64));
    const realR = r.slice(0, real);
    const bnCovered = await eachVariant(batchNormTable, g, ['cpu'], async (e, variant, label) => {
      const [xv, rv, gv, bv] = [x, r, gamma, beta].map((a) => uploadView(e, a)) as View[];
      const [mean, variance, y, dx, dg, db] = [C, C, total, total, C, C].map((n) => nanBuffer(e, n)) as View[];
      const info = stepInfo(e, rows);
      const f = { epsilon: EPS, scale: true, center: true, momentum: 0.9 };
      const io = { x: xv!, stepInfo: info, mean: mean!, variance: variance!, gamma: gv, scratch: scratchOf(e) };
      const t = { variant: variant as KernelStyle };
      e.run([
        ...batchNormTrainForward(e, g, f, { ...io, movingMean: null, movingVariance: null, beta: bv, y: y! }, t),
        ...batchNormTrainBackward(e, g, f, { ...io, dy: rv!, dx: dx!, dgamma: dg, dbeta: db }, t),
      ]);
      const errY = relL2((await readF32(e, y!, total)).slice(0, real), want);
      const gotDx = await readF32(e, dx!, total);
      const errs = gradientErrors(bn, [x.slice(0, real), gamma, beta], realR, [gotDx.slice(0, real), await readF32(e, dg!, C), await readF32(e, db!, C)]);
      checkRun(label, errY, errs);
      expect(Array.from(gotDx.slice(real)).every((v) => v === 0), `${label}: the padding rows get no gradient`).toBe(true);
    });
    expect([...bnCovered].sort()).toEqual(variantNames(batchNormTable).sort());

    // LayerNormalization over the last axis of [batch 5, 3, 9].
    const lg = lnGeometry(5, [3, 9], [-1], 'test');
    const width = 9;
    const lnTotal = 5 * 3 * width;
    const [lx, lr, lgamma, lbeta] = [randomArray(lnTotal, 111, 2), randomArray(lnTotal, 112), randomArray(width, 113).map((v) => v + 1.2), randomArray(width, 114)];
    const ln = ([xs, gs, bs]: Float64Array[]) => {
      const y = new Float64Array(lnTotal);
      for (let row = 0; row < lnTotal / width; row++) {
        const line = xs!.subarray(row * width, (row + 1) * width);
        const mean = line.reduce((s, v) => s + v, 0) / width;
        const variance = line.reduce((s, v) => s + (v - mean) ** 2, 0) / width;
        for (let j = 0; j < width; j++) y[row * width + j] = ((line[j]! - mean) / Math.sqrt(variance + EPS)) * gs![j]! + bs![j]!;
      }
      return y;
    };
    const lnWant = ln([lx, lgamma, lbeta].map(toF64));
    const lnCovered = await eachVariant(layerNormTable, lg, ['cpu'], async (e, variant, label) => {
      const [xv, rv, gv, bv] = [lx, lr, lgamma, lbeta].map((a) => uploadView(e, a)) as View[];
      const groups = lnTotal / width;
      const [y, rm, ri, dx, dg, db] = [lnTotal, groups, groups, lnTotal, width, width].map((n) => nanBuffer(e, n)) as View[];
      const f = { epsilon: EPS, scale: true, center: true };
      e.run([
        ...layerNormForward(e, lg, f, { x: xv!, gamma: gv, beta: bv, y: y!, rowMean: rm!, rowInv: ri! }),
        ...layerNormBackward(e, lg, f, { x: xv!, dy: rv!, rowMean: rm!, rowInv: ri!, gamma: gv, stepInfo: stepInfo(e, 5), dx: dx!, dgamma: dg, dbeta: db, scratch: scratchOf(e) }, variant as KernelStyle),
      ]);
      const errY = relL2(await readF32(e, y!, lnTotal), lnWant);
      const errs = gradientErrors(ln, [lx, lgamma, lbeta], lr, [await readF32(e, dx!, lnTotal), await readF32(e, dg!, width), await readF32(e, db!, width)]);
      checkRun(label, errY, errs);
    });
    expect([...lnCovered].sort()).toEqual(variantNames(layerNormTable).sort());
  });

  it('reduce: registers and tiled (18 parts against one pass), sum and max with their backward', async () => {
    const g = { outer: 2, axis: 600, inner: 3 };
    const n = g.outer * g.axis * g.inner;
    const [x, r] = [randomArray(n, 121), randomArray(g.outer * g.inner, 122)];
    const reduceRef = (op: 'sum' | 'max') => ([xs]: Float64Array[]) => {
      const y = new Float64Array(g.outer * g.inner).fill(op === 'sum' ? 0 : -Infinity);
      for (let o = 0; o < g.outer; o++)
        for (let a = 0; a < g.axis; a++)
          for (let i = 0; i < g.inner; i++) {
            const v = xs![(o * g.axis + a) * g.inner + i]!;
            const k = o * g.inner + i;
            y[k] = op === 'sum' ? y[k]! + v : Math.max(y[k]!, v);
          }
      return y;
    };
    const covered = await eachVariant(reduceTable, g, ['cpu'], async (e, variant, label) => {
      for (const op of ['sum', 'max'] as const) {
        const [xv, rv] = [x, r].map((a) => uploadView(e, a)) as View[];
        const [y, dx] = [g.outer * g.inner, n].map((k) => nanBuffer(e, k)) as View[];
        const scratch = scratchOf(e);
        e.run([...reduceDispatches(e, op, g, { x: xv!, y: y! }, scratch, { variant: variant as KernelStyle }), ...reduceBackwardDispatches(e, op, g, { x: xv!, dy: rv!, dx: dx! }, scratch, variant as KernelStyle)]);
        const errY = relL2(await readF32(e, y!, g.outer * g.inner), reduceRef(op)([toF64(x)]));
        const errs = gradientErrors(reduceRef(op), [x], r, [await readF32(e, dx!, n)]);
        checkRun(`${label} ${op}`, errY, errs);
      }
    });
    expect([...covered].sort()).toEqual(variantNames(reduceTable).sort());
  });

  it('attention: registers (row blocks) and tiled (one row), forward and backward', async () => {
    const g: AttentionGeometry = { batch: 2, heads: 2, queries: 5, keys: 7, keyDim: 6, valueDim: 5, mask: false, causal: true, dropout: 0, seed: 0 };
    const [nq, nk, nv, no] = [g.batch * g.queries * g.heads * g.keyDim, g.batch * g.keys * g.heads * g.keyDim, g.batch * g.keys * g.heads * g.valueDim, g.batch * g.queries * g.heads * g.valueDim];
    const [q, k, v, r] = [randomArray(nq, 131, 1.5), randomArray(nk, 132, 1.5), randomArray(nv, 133), randomArray(no, 134)];
    const forward = ([qs, ks, vs]: Float64Array[]) => attentionRef(qs!, ks!, vs!, g).o;
    const want = forward([q, k, v].map(toF64));
    const covered = await eachVariant(attentionTable, g, ['cpu'], async (e, variant, label) => {
      const views = { q: uploadView(e, q), k: uploadView(e, k), v: uploadView(e, v) };
      const [o, stats, dq, dk, dv] = [no, attentionStatsFloats(g), nq, nk, nv].map((n) => nanBuffer(e, n)) as View[];
      const options = { variant: variant as KernelStyle };
      e.run([...attentionForward(e, g, { ...views, o: o!, stats: stats! }, options), ...attentionBackward(e, g, { ...views, o: o!, stats: stats!, dout: uploadView(e, r), dq: dq!, dk: dk!, dv: dv! }, options)]);
      const errY = relL2(await readF32(e, o!, no), want);
      const errs = gradientErrors(forward, [q, k, v], r, [await readF32(e, dq!, nq), await readF32(e, dk!, nk), await readF32(e, dv!, nv)]);
      checkRun(label, errY, errs);
    });
    expect([...covered].sort()).toEqual(variantNames(attentionTable).sort());
  });

  it('dense: registers-blocks and the tiled products (split-K for dW included), forward and backward', async () => {
    // 300 rows of 13 → 7: few weights over many rows, where the split-K row applies.
    const g = denseGeometry(2, [150, 13], 7);
    const [x, w, b, r] = [g.rows * g.inputs, g.inputs * g.units, g.units, g.rows * g.units].map((n, i) => randomArray(n, 140 + i)) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const forward = ([xs, ws, bs]: Float64Array[]) => denseForwardRef(xs!, ws!, bs!, g);
    const want = forward([x, w, b].map(toF64));
    const exact = denseBackwardRef(x, w, want, r, g);
    const covered = await eachVariant(denseTable, g, ['cpu', 'gpu'], async (e, variant, label) => {
      const [xv, wv, bv, rv] = [x, w, b, r].map((a) => uploadView(e, a)) as View[];
      const [y, dx, dw, db] = [r.length, x.length, w.length, b.length].map((n) => nanBuffer(e, n)) as View[];
      e.run([...denseForward(e, g, { x: xv!, w: wv!, b: bv, y: y! }, variant), ...denseBackward(e, g, { x: xv!, w: wv!, dy: rv!, dx: dx!, dw: dw!, db: db!, scratch: scratchOf(e) }, variant)]);
      const errY = relL2(await readF32(e, y!, r.length), want);
      const errs = gradientErrors(forward, [x, w, b], r, [await readF32(e, dx!, x.length), await readF32(e, dw!, w.length), await readF32(e, db!, b.length)], [exact.dx, exact.dw, exact.db]);
      checkRun(label, errY, errs);
    });
    expect([...covered].sort()).toEqual(variantNames(denseTable).sort());
  });
});
