/**
 * Shared test machinery: one engine per test file, seeded random data, NaN-filled outputs (so an
 * element a kernel forgets to write fails the comparison), relative L2 error, and central finite
 * differences of float64 references.
 */
import { afterAll, beforeAll } from 'vitest';
import { createEngine, type Engine, type BufferView } from '../src/runtime/engine.ts';
import { Random } from '../src/layers/initializers.ts';
import { fill } from '../shaders/elementwise.ts';

/** Creates the file's engine in beforeAll and disposes it in afterAll. */
export function useEngine(options: Parameters<typeof createEngine>[0] = {}): () => Engine {
  let engine: Engine | undefined;
  beforeAll(async () => {
    engine = await createEngine(options);
  });
  afterAll(() => engine?.dispose());
  return () => {
    if (!engine) throw new Error('engine not ready');
    return engine;
  };
}

/** Values in [-scale, scale), never all zero; seeded. */
export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = new Random(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.uniform(-scale, scale);
  return a;
}

export function toF64(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a);
}

/** ||a - b|| / ||b||; NaN anywhere gives Infinity so it fails any tolerance. */
export function relL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length mismatch: ${actual.length} vs ${expected.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!Number.isFinite(a)) return Infinity;
    num += (a - e) ** 2;
    den += e ** 2;
  }
  if (den === 0) return num === 0 ? 0 : Infinity;
  return Math.sqrt(num / den);
}

/** A view of a fresh buffer of `n` float32 filled with NaN. */
export function nanBuffer(engine: Engine, n: number): Required<BufferView> {
  const buffer = engine.buffer(n * 4, 'nan-filled');
  engine.run([engine.kernel(fill(n, NaN), [{ buffer, offset: 0, size: n * 4 }])]);
  return { buffer, offset: 0, size: n * 4 };
}

export function uploadView(engine: Engine, data: Float32Array | Uint32Array | Int32Array): Required<BufferView> {
  const buffer = engine.upload(data);
  return { buffer, offset: 0, size: data.byteLength };
}

export async function readF32(engine: Engine, view: BufferView, n: number): Promise<Float32Array> {
  return new Float32Array(await engine.read(view, n * 4));
}

/**
 * Central finite differences of the scalar f at `x`, for the coordinates `indices`
 * (all of them when omitted): (f(x + h·e_i) − f(x − h·e_i)) / 2h in float64.
 */
export function finiteDifferences(f: (x: Float64Array) => number, x: Float64Array, indices?: number[], h = 1e-5): Float64Array {
  const idx = indices ?? Array.from({ length: x.length }, (_, i) => i);
  const out = new Float64Array(idx.length);
  const probe = Float64Array.from(x);
  idx.forEach((i, k) => {
    const saved = probe[i]!;
    probe[i] = saved + h;
    const plus = f(probe);
    probe[i] = saved - h;
    const minus = f(probe);
    probe[i] = saved;
    out[k] = (plus - minus) / (2 * h);
  });
  return out;
}

/** `count` distinct indices in [0, n), seeded, for finite-difference spot checks of big tensors. */
export function sampleIndices(n: number, count: number, seed: number): number[] {
  if (count >= n) return Array.from({ length: n }, (_, i) => i);
  return Array.from(new Random(seed).permutation(n).slice(0, count));
}

/** Σ y·r: the scalar whose gradient w.r.t. y is r, used to turn a backward pass into a gradient check. */
export function dot(y: ArrayLike<number>, r: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i]! * r[i]!;
  return s;
}

export function pick(a: ArrayLike<number>, indices: number[]): Float64Array {
  return Float64Array.from(indices, (i) => a[i]!);
}

/**
 * A table of the worst error measured per case and metric, printed after the file's tests when the
 * environment variable `envVar` is set (the figures closing notes quote). Returns `record`, which
 * keeps the maximum and hands the value back for the assertion.
 */
export function measuredErrors(envVar: string, columns: readonly string[]): (name: string, metric: string, value: number) => number {
  const measured = new Map<string, Record<string, number>>();
  afterAll(() => {
    if (!process.env[envVar]) return;
    const lines = [['case', ...columns].join('\t')];
    for (const [name, row] of measured) lines.push([name, ...columns.map((c) => (row[c] === undefined ? '-' : row[c]!.toExponential(1)))].join('\t'));
    console.log(lines.join('\n'));
  });
  return (name, metric, value) => {
    const row = measured.get(name) ?? {};
    row[metric] = Math.max(row[metric] ?? 0, value);
    measured.set(name, row);
    return value;
  };
}

