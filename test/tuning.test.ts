/**
 * Tuning on first use (src/runtime/tuning.ts): the tuner keeps the hand policy's variant unless a
 * candidate beats it by the margin, times real dispatches, persists (a file) and moves between
 * engines as JSON; choose() takes a measured choice and asks for the unmeasured; a model's plan is
 * rebuilt with what tuning chose; 'off' runs the hand policy.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEngine, fileTuningStore, layers, sequential, tensor, type Engine } from '../src/index.ts';
import { fill } from '../shaders/elementwise.ts';
import { batchedMatmulTable } from '../src/ops/batched-matmul.ts';
import { choose } from '../src/ops/variants.ts';
import { adapterKey, timeRuns, Tuner, TUNING_MARGIN, type TuningRequest } from '../src/runtime/tuning.ts';
import { defaultTuneMode } from '../src/runtime/profile.ts';
import { randomArray, useEngine } from './helpers.ts';

const engine = useEngine();

/** A request whose candidates fill buffers of different sizes: `sizes[name]` floats, each filled `repeats` times. */
function fillRequest(e: Engine, op: string, sizes: Record<string, number>, repeats = 4): TuningRequest & { built: string[]; live: () => number } {
  const built: string[] = [];
  let live = 0;
  return {
    op,
    key: 'k',
    candidates: Object.keys(sizes),
    built,
    live: () => live,
    bench: (name) => {
      built.push(name);
      const n = sizes[name]!;
      const buffer = e.buffer(n * 4, `tuning test ${name}`);
      live++;
      const dispatches = Array.from({ length: repeats }, (_, i) => e.kernel(fill(n, i), [buffer]));
      return {
        dispatches,
        dispose: () => {
          e.release(buffer);
          live--;
        },
      };
    },
  };
}

describe('the tuner', () => {
  it('keeps the fastest candidate when it beats the hand policy by the margin, and the hand policy otherwise', async () => {
    const e = engine();
    const tuner = new Tuner(e.profile, 'exhaustive');
    // The hand policy's variant (listed first) fills 64 times the floats of the other.
    const slowHand = fillRequest(e, 'test.slowHand', { hand: 1 << 20, other: 1 << 14 });
    // Two candidates of the same work: noise alone must not move the choice.
    const equal = fillRequest(e, 'test.equal', { hand: 1 << 16, twin: 1 << 16 });
    tuner.request(slowHand);
    tuner.request(equal);
    expect(tuner.hasPending).toBe(true);
    const changed = await tuner.tunePending(e);
    expect(changed.map((r) => r.op)).toEqual(['test.slowHand']);
    expect(tuner.chosen('test.slowHand', 'k')).toBe('other');
    expect(tuner.chosen('test.equal', 'k')).toBe('hand');
    const record = tuner.list().find((r) => r.op === 'test.slowHand')!;
    expect(record.ms.other!).toBeLessThan((1 - TUNING_MARGIN) * record.ms.hand!);
    expect(Object.keys(record.ms)).toEqual(['hand', 'other']);
    // Each candidate built once, its scratch freed.
    expect(slowHand.built).toEqual(['hand', 'other']);
    expect(slowHand.live()).toBe(0);
    expect(tuner.stats()).toMatchObject({ mode: 'exhaustive', geometries: 2, candidates: 4, changed: 1 });
    // A measured geometry is not measured again; one candidate is nothing to tune.
    tuner.request(fillRequest(e, 'test.slowHand', { hand: 1, other: 1 }));
    tuner.request(fillRequest(e, 'test.single', { only: 1 }));
    expect(tuner.hasPending).toBe(false);
  });

  it("'off' never measures and never overrides the hand policy", async () => {
    const e = engine();
    const tuner = new Tuner(e.profile, 'off');
    tuner.request(fillRequest(e, 'test.off', { hand: 1 << 20, other: 1 }));
    expect(tuner.hasPending).toBe(false);
    expect(await tuner.tunePending(e)).toEqual([]);
    expect(tuner.stats().geometries).toBe(0);
  });

  it('times with the GPU timestamps where the device has them', async () => {
    const e = engine();
    const buffer = e.buffer(4 << 20, 'timed');
    const small = await timeRuns(e, [e.kernel(fill(1 << 10, 1), [buffer])], 5);
    const large = await timeRuns(e, [e.kernel(fill(1 << 20, 1), [buffer])], 5);
    e.release(buffer);
    expect(small.length).toBe(5);
    expect(small.every((t) => t >= 0 && Number.isFinite(t))).toBe(true);
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[2]!;
    expect(median(large)).toBeGreaterThan(median(small));
    console.log(`timing by ${e.hasTimestamps ? 'timestamp queries' : 'wall time'}: fill of 1 K floats ${median(small).toFixed(3)} ms, of 1 M floats ${median(large).toFixed(3)} ms`);
  });

  it('persists to a file and moves between engines as JSON; a malformed import is an Error', async () => {
    const e = engine();
    const dir = await mkdtemp(join(tmpdir(), 'tuning-'));
    try {
      const path = join(dir, 'sub', 'tuning.json');
      const tuner = new Tuner(e.profile, 'first-use', fileTuningStore(path));
      tuner.request(fillRequest(e, 'test.persist', { hand: 1 << 20, other: 1 << 12 }));
      await tuner.tunePending(e);
      const saved = JSON.parse(await readFile(path, 'utf8'));
      expect(saved.adapters[adapterKey(e.profile)]['test.persist|k'].variant).toBe('other');
      // A new tuner on the same store knows the choice without measuring.
      const again = new Tuner(e.profile, 'first-use', fileTuningStore(path));
      await again.load();
      expect(again.chosen('test.persist', 'k')).toBe('other');
      const probe = fillRequest(e, 'test.persist', { hand: 1, other: 1 });
      again.request(probe);
      expect(again.hasPending).toBe(false);
      // Export → import on an engine; records of other adapters ride along without applying.
      const other = await createEngine({ tune: 'first-use', tuningStore: false });
      try {
        const file = tuner.export();
        file.adapters['some other adapter'] = { 'x|k': { op: 'x', key: 'k', variant: 'b', hand: 'a', ms: { a: 2, b: 1 } } };
        other.importTuning(file);
        expect(other.tuning.chosen('test.persist', 'k')).toBe('other');
        expect(other.tuning.chosen('x', 'k')).toBeUndefined();
        expect(other.exportTuning().adapters['some other adapter']).toBeDefined();
        expect(() => other.importTuning({ format: 'nope' })).toThrow(/importTuning\(\): expected \{ format: 'webgpu-train-tuning', version: 1/);
        expect(() => other.importTuning({ format: 'webgpu-train-tuning', version: 1, adapters: { a: { 'x|k': { op: 'y' } } } })).toThrow(/record 'x\|k' of adapter 'a'/);
      } finally {
        other.dispose();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('tuning in the engine and the model', () => {
  it("choose() takes a measured choice, asks for an unmeasured geometry, and leaves 'off' engines alone", async () => {
    const e = await createEngine({ tune: 'first-use', tuningStore: false });
    try {
      const g = { batch: 2, m: 5, k: 7, n: 3, transposeA: false, transposeB: false };
      const hand = choose(batchedMatmulTable, g as never, e).name;
      expect(hand).toBe('registers');
      // Its bench builders make the request measurable (tables without one are never tuned).
      expect(e.tuning.hasPending).toBe(!!batchedMatmulTable.bench);
      const other = hand === 'registers' ? 'tiled' : 'registers';
      e.importTuning({ format: 'webgpu-train-tuning', version: 1, adapters: { [adapterKey(e.profile)]: { [`batchedMatmul|${batchedMatmulTable.key(g as never)}`]: { op: 'batchedMatmul', key: batchedMatmulTable.key(g as never), variant: other, hand, ms: {} } } } });
      expect(choose(batchedMatmulTable, g as never, e).name).toBe(other);
      // A forced variant still wins over a measured one.
      expect(choose(batchedMatmulTable, g as never, e, hand).name).toBe(hand);
    } finally {
      e.dispose();
    }
    const off = engine();
    expect(off.tuning.mode).toBe('off');
    expect(off.stats().tuning).toMatchObject({ mode: 'off', geometries: 0 });
  });

  it('a model trains with what tuning chose: describeVariants shows measured and imported choices per layer', async () => {
    const e = await createEngine({ tune: 'first-use', tuningStore: false });
    try {
      const m = sequential({
        layers: [layers.dense({ units: 6, inputShape: [5], activation: 'relu', name: 'd1' }), layers.layerNormalization({ name: 'ln' }), layers.dense({ units: 3, activation: 'softmax', name: 'd2' })],
      });
      m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', engine: e });
      const before = await m.describeVariants({ batchSize: 4 });
      expect(new Set(before.map((r) => r.layer))).toEqual(new Set(['d1', 'ln', 'd2', 'optimizer']));
      const x = tensor(randomArray(8 * 5, 3), [8, 5]);
      const y = tensor(Float32Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? 1 : 0)), [8, 3]);
      await m.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
      const stats = e.stats().tuning;
      console.log(`tuning after one fit: ${JSON.stringify(stats)}; records ${JSON.stringify(e.tuning.list().map((r) => [r.op, r.hand, r.variant, r.ms]))}`);
      // The layer normalization has two variants on every profile: its geometries were measured.
      expect(stats.geometries).toBeGreaterThan(0);
      expect(e.tuning.list().some((r) => r.op.startsWith('layerNorm'))).toBe(true);
      // An imported choice that differs from the hand policy is what the next plan runs.
      const row = before.find((r) => r.layer === 'ln')!;
      const other = row.variant === 'registers' ? 'tiled' : 'registers';
      e.importTuning({ format: 'webgpu-train-tuning', version: 1, adapters: { [adapterKey(e.profile)]: { [`${row.op}|${row.key}`]: { op: row.op, key: row.key, variant: other, hand: row.variant, ms: {} } } } });
      const after = await m.describeVariants({ batchSize: 4 });
      expect(after.find((r) => r.layer === 'ln' && r.op === row.op && r.key === row.key)!.variant).toBe(other);
      for (const r of e.tuning.list()) {
        const shown = after.find((a) => a.op === r.op && a.key === r.key);
        if (shown) expect(shown.variant).toBe(r.variant);
      }
      m.dispose();
    } finally {
      e.dispose();
    }
  });

  it("defaults to 'first-use' on GPUs only: not on CPU adapters, nor on a fallback adapter forced to the 'gpu' kernels", async () => {
    const base = engine().profile;
    expect(defaultTuneMode({ ...base, kind: 'gpu', fallback: false })).toBe('first-use');
    expect(defaultTuneMode({ ...base, kind: 'gpu', fallback: true })).toBe('off');
    expect(defaultTuneMode({ ...base, kind: 'cpu', fallback: false })).toBe('off');
    const e = await createEngine({ kernelStyle: 'tiled' });
    try {
      expect(e.profile).toMatchObject({ kind: 'gpu', fallback: true });
      expect(e.stats().tuning.mode).toBe('off');
    } finally {
      e.dispose();
    }
  });

  it('rejects an unknown tune mode', async () => {
    await expect(createEngine({ tune: 'sometimes' as never })).rejects.toThrow(/createEngine\(\): tune must be 'off', 'first-use' or 'exhaustive', got "sometimes"/);
  });
});
