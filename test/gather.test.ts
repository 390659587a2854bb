import { describe, expect, it } from 'vitest';
import { gatherImages, gatherLabels } from '../shaders/gather.ts';
import { STEP_INFO_BYTES, stepInfoData } from '../shaders/kernel.ts';
import { Random } from '../src/layers/initializers.ts';
import { loadMnist } from '../src/data/mnist.ts';
import { sparseLabelsToU32 } from '../src/data/labels.ts';
import type { Engine } from '../src/runtime/engine.ts';
import { Tensor } from '../src/runtime/tensor.ts';
import { nanBuffer, randomArray, readF32, uploadView, useEngine } from './helpers.ts';

const engine = useEngine();
function stepBuffer(e: Engine): GPUBuffer {
  return e.uniform(STEP_INFO_BYTES, 'step-info');
}

describe('gatherLabels of sequences: a class index per position', () => {
  it('sparse [N, T] labels gather T per batch row, padding rows clamped into the data; the key names T', async () => {
    const e = engine();
    const [batch, samples, steps, classes] = [6, 17, 5, 7];
    const labels = Int32Array.from(randomArray(samples * steps, 3), (v) => Math.floor((v + 1) * 3.5) % classes);
    const perm = new Random(4).permutation(samples);
    const data = uploadView(e, sparseLabelsToU32(new Tensor(labels, [samples, steps]), classes, 'labels', [steps]));
    for (const offset of [0, samples - batch]) {
      const step = stepBuffer(e);
      writeStepInfo(e, step, offset);
      const out = nanBuffer(e, batch * steps);
      e.run([e.kernel(gatherLabels(batch, 'sparse', classes, steps), [data, uploadView(e, perm), step, out])]);
      const got = new Uint32Array(await e.read(out, batch * steps * 4));
      expectExact(got, gatherRef(labels, steps, perm, offset, batch));
    }
    expect(gatherLabels(6, 'sparse', 7, 5).key).not.toBe(gatherLabels(6, 'sparse', 7).key);
    expect(gatherLabels(6, 'sparse', 7, 1).key).toBe(gatherLabels(6, 'sparse', 7).key);
    expect(() => gatherLabels(6, 'sparse', 7, 0)).toThrow(/positions must be a positive integer, got 0/);
  });
});

function writeStepInfo(e: Engine, buffer: GPUBuffer, offset: number): void {
  e.write(buffer, stepInfoData(offset, 0, 0, 0));
}

function randomBytes(n: number, seed: number): Uint8Array {
  const r = new Random(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r.next() * 256));
}

/** The CPU reference: out[b, f] = f32(data[perm[offset + b], f]) · f32(scale), rounded to f32 once. */
function gatherRef(data: ArrayLike<number>, features: number, perm: Uint32Array, offset: number, batch: number, scale = 1): Float32Array {
  const s = Math.fround(scale);
  const out = new Float32Array(batch * features);
  for (let b = 0; b < batch; b++) {
    const row = perm[offset + b]!;
    for (let f = 0; f < features; f++) out[b * features + f] = Math.fround(data[row * features + f]! * s);
  }
  return out;
}

/**
 * Exact comparison that reports the first mismatch and the count: a gather either moves the right
 * values or not, and vitest's diff of two 50,000-element arrays would take minutes to print.
 */
function expectExact(got: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(got.length).toBe(want.length);
  let first = -1;
  let mismatches = 0;
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) {
      mismatches++;
      if (first < 0) first = i;
    }
  }
  const report = first < 0 ? null : { mismatches, first, got: got[first], want: want[first] };
  expect(report).toBeNull();
}

describe('gatherImages', () => {
  // 784 takes the word-per-invocation path; 5, 3 and 6 make rows straddle u32 words at every phase.
  const cases = [
    { features: 784, batch: 64, samples: 300 },
    { features: 784, batch: 32, samples: 300 }, // a partial last batch
    { features: 5, batch: 7, samples: 101 },
    { features: 3, batch: 13, samples: 50 },
    { features: 6, batch: 9, samples: 40 },
    { features: 8, batch: 1, samples: 3 },
  ];
  for (const { features, batch, samples } of cases) {
    it(`uint8 → f32 · 1/255, features=${features}, batch=${batch}`, async () => {
      const e = engine();
      const data = randomBytes(samples * features, features * 31 + batch);
      // Byte 255 and 0 at known places: the extremes must survive the unpacking.
      data[0] = 255;
      data[data.length - 1] = 255;
      data[1] = 0;
      const perm = new Random(features + batch).permutation(samples);
      // Offsets in the middle of the permutation, and at its very end (the partial last batch).
      for (const offset of [Math.floor(samples / 3), samples - batch]) {
        const step = stepBuffer(e);
        writeStepInfo(e, step, offset);
        const out = nanBuffer(e, batch * features);
        const dataset = e.upload(data);
        e.run([e.kernel(gatherImages(batch, features, 'uint8', { scale: 1 / 255 }), [dataset, uploadView(e, perm), step, out])]);
        const got = await readF32(e, out, batch * features);
        expectExact(got, gatherRef(data, features, perm, offset, batch, 1 / 255));
      }
    });

    it(`float32 as is and scaled, features=${features}, batch=${batch}`, async () => {
      const e = engine();
      const data = randomArray(samples * features, features + 7 * batch, 3);
      const perm = new Random(features * 5 + batch).permutation(samples);
      const offset = Math.floor(samples / 2) - Math.floor(batch / 2);
      const step = stepBuffer(e);
      writeStepInfo(e, step, offset);
      const dataset = uploadView(e, data);
      const permView = uploadView(e, perm);
      const plain = nanBuffer(e, batch * features);
      const scaled = nanBuffer(e, batch * features);
      e.run([
        e.kernel(gatherImages(batch, features, 'float32'), [dataset, permView, step, plain]),
        e.kernel(gatherImages(batch, features, 'float32', { scale: -0.5 }), [dataset, permView, step, scaled]),
      ]);
      expectExact(await readF32(e, plain, batch * features), gatherRef(data, features, perm, offset, batch));
      expectExact(await readF32(e, scaled, batch * features), gatherRef(data, features, perm, offset, batch, -0.5));
    });
  }

  it('replays one dispatch for successive steps, changing only the uniform', async () => {
    const e = engine();
    const features = 784;
    const batch = 16;
    const samples = 64;
    const data = randomBytes(samples * features, 99);
    const perm = new Random(5).permutation(samples);
    const step = stepBuffer(e);
    const out = nanBuffer(e, batch * features);
    const dispatch = e.kernel(gatherImages(batch, features, 'uint8', { scale: 1 / 255 }), [e.upload(data), uploadView(e, perm), step, out]);
    const bindGroups = e.stats().bindGroupsCreated;
    for (let offset = 0; offset < samples; offset += batch) {
      writeStepInfo(e, step, offset);
      e.run([dispatch]);
      expectExact(await readF32(e, out, batch * features), gatherRef(data, features, perm, offset, batch, 1 / 255));
    }
    expect(e.stats().bindGroupsCreated).toBe(bindGroups);
  });

  it('clamps a stale offset and out-of-range rows to the bindings instead of reading past them', async () => {
    // Node runs without bounds checks: a replayed step whose StepInfo another plan rewrote must not
    // read past the buffers (it crashed SwiftShader). Clamped, it repeats the last position / row.
    const e = engine();
    const features = 8;
    const batch = 4;
    const samples = 6;
    const data = randomBytes(samples * features, 7);
    const perm = Uint32Array.from([5, 0, 3, 1, 2, 4]);
    const bad = Uint32Array.from([1, 1_000_000, 2, 0xffffffff, 4, 3]);
    const step = stepBuffer(e);
    const images = nanBuffer(e, batch * features);
    const labels = e.buffer(batch * 4);
    const labelData = uploadView(e, Uint32Array.from([0, 1, 2, 3, 4, 5]));
    const dataset = e.upload(data);
    const lastRow = (row: number) => Array.from(data.subarray(row * features, (row + 1) * features), (v) => v);
    // Offset 5 of 6 positions: positions 5, 6, 7, 8 → 5, 5, 5, 5 (row 4 of perm).
    writeStepInfo(e, step, samples - 1);
    e.run([
      e.kernel(gatherImages(batch, features, 'uint8'), [dataset, uploadView(e, perm), step, images]),
      e.kernel(gatherLabels(batch, 'sparse', 10), [labelData, uploadView(e, perm), step, labels]),
    ]);
    expectExact(await readF32(e, images, batch * features), Float32Array.from([0, 1, 2, 3].flatMap(() => lastRow(4))));
    expect(Array.from(new Uint32Array(await e.read({ buffer: labels, offset: 0, size: batch * 4 })))).toEqual([4, 4, 4, 4]);
    // Rows past the dataset read within it (the last word); the valid ones are exact.
    writeStepInfo(e, step, 0);
    e.run([e.kernel(gatherImages(batch, features, 'uint8'), [dataset, uploadView(e, bad), step, images])]);
    const got = await readF32(e, images, batch * features);
    expectExact(got.subarray(0, features), Float32Array.from(lastRow(1)));
    expectExact(got.subarray(2 * features, 3 * features), Float32Array.from(lastRow(2)));
    expect(Array.from(got).every((v) => Number.isInteger(v) && v >= 0 && v <= 255)).toBe(true);
  });

  it('gathers real MNIST batches from the whole training set on the GPU', async () => {
    const e = engine();
    const { train } = await loadMnist();
    const n = train.labels.size;
    const features = 28 * 28;
    const perm = new Random(2024).permutation(n);
    const dataset = e.upload(train.images.values);
    const permView = uploadView(e, perm);
    const step = stepBuffer(e);
    // The last two batches of an epoch at batch 64: a full one and the partial one of 32.
    for (const [offset, batch] of [[936 * 64, 64], [937 * 64, 32]] as const) {
      writeStepInfo(e, step, offset);
      const out = nanBuffer(e, batch * features);
      e.run([e.kernel(gatherImages(batch, features, 'uint8', { scale: 1 / 255 }), [dataset, permView, step, out])]);
      expectExact(await readF32(e, out, batch * features), gatherRef(train.images.values, features, perm, offset, batch, 1 / 255));
    }
    e.release(dataset);
  });

  it('rejects bad arguments with clear errors', () => {
    expect(() => gatherImages(0, 784, 'uint8')).toThrow(/gatherImages: batch must be a positive integer, got 0/);
    expect(() => gatherImages(64, 78.4, 'uint8')).toThrow(/features must be a positive integer, got 78.4/);
    expect(() => gatherImages(64, 784, 'int8' as never)).toThrow(/source must be 'uint8' or 'float32', got int8/);
    expect(() => gatherImages(64, 784, 'uint8', { scale: NaN })).toThrow(/non-finite/);
    expect(() => gatherLabels(64, 'onehot' as never, 10)).toThrow(/source must be 'sparse' or 'dense'/);
    expect(() => gatherLabels(64, 'dense', 0)).toThrow(/classes must be a positive integer, got 0/);
  });

  it('names every baked constant in the pipeline key', () => {
    const keys = new Set([
      gatherImages(64, 784, 'uint8', { scale: 1 / 255 }).key,
      gatherImages(32, 784, 'uint8', { scale: 1 / 255 }).key,
      gatherImages(64, 784, 'uint8').key,
      gatherImages(64, 784, 'float32').key,
      gatherImages(64, 780, 'uint8').key,
      gatherLabels(64, 'sparse', 10).key,
      gatherLabels(32, 'sparse', 10).key,
      gatherLabels(64, 'dense', 10).key,
      gatherLabels(64, 'dense', 3).key,
    ]);
    expect(keys.size).toBe(9);
  });
});

describe('gatherLabels', () => {
  for (const { batch, samples } of [
    { batch: 64, samples: 1000 },
    { batch: 5, samples: 23 },
  ]) {
    it(`sparse and one-hot, batch=${batch}`, async () => {
      const e = engine();
      const classes = 10;
      const r = new Random(batch);
      const labels = Int32Array.from({ length: samples }, () => Math.floor(r.next() * classes));
      const perm = new Random(batch + 1).permutation(samples);
      const oneHot = randomArray(samples * classes, batch + 2); // any values: the gather must not care
      const permView = uploadView(e, perm);
      const sparseData = uploadView(e, sparseLabelsToU32(labels, classes));
      const oneHotData = uploadView(e, oneHot);
      for (const offset of [0, Math.floor(samples / 2) - 1, samples - batch]) {
        const step = stepBuffer(e);
        writeStepInfo(e, step, offset);
        const sparseOut = nanBuffer(e, batch); // NaN's bit pattern 0x7fc00000 is no class index
        const oneHotOut = nanBuffer(e, batch * classes);
        e.run([
          e.kernel(gatherLabels(batch, 'sparse', classes), [sparseData, permView, step, sparseOut]),
          e.kernel(gatherLabels(batch, 'dense', classes), [oneHotData, permView, step, oneHotOut]),
        ]);
        const sparseGot = new Uint32Array(await e.read(sparseOut, batch * 4));
        const sparseRef = Uint32Array.from({ length: batch }, (_, b) => labels[perm[offset + b]!]!);
        expectExact(sparseGot, sparseRef);
        expectExact(await readF32(e, oneHotOut, batch * classes), gatherRef(oneHot, classes, perm, offset, batch));
      }
    });
  }
});
