/**
 * The reduction op (src/ops/reduce.ts): sum, mean, max and min over [outer, axis, inner] against
 * float64 references, one-pass and multi-pass (a per-channel reduction over 64·13·13 rows of 10
 * channels, a single line of 100 000), on NaN-prefilled outputs and scratch; every backward
 * against the reference and central finite differences of it; first-extreme routing under ties;
 * sumToShape over separate runs of axes; reduceGeometry's normalization and its errors.
 */
import { describe, expect, it } from 'vitest';
import type { Engine } from '../src/runtime/engine.ts';
import { Random } from '../src/layers/initializers.ts';
import {
  argReduceDispatches,
  reduceBackwardDispatches,
  reduceDispatches,
  reduceGeometry,
  reducePasses,
  sumToShape,
  REDUCE_OPS,
  type ReduceGeometry,
  type ReduceOp,
  type Scratch,
} from '../src/ops/reduce.ts';
import { finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, uploadView, useEngine, measuredErrors } from './helpers.ts';
import { argFirstRef, reduceBackwardRef, reduceIndex, reduceRef } from './reference/reduce.ts';

const engines = {
  registers: useEngine({ kernelStyle: 'registers' }),
  tiled: useEngine({ kernelStyle: 'tiled' }),
  /** Registers, with the bounds checks browsers always have. */
  checked: useEngine({ kernelStyle: 'registers', robustBufferAccess: true }),
};

// ---- measured errors, printed at the end with OP_ERRORS=1 ---------------------------------------

const record = measuredErrors('OP_ERRORS', ['fwd', 'bwd', 'fd']);

/** max |a − e| / max(|e|, scale): a relative error that a near-zero sum cannot blow up. */
function maxError(actual: ArrayLike<number>, expected: ArrayLike<number>, scale: number): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    if (!Number.isFinite(a)) return Infinity;
    worst = Math.max(worst, Math.abs(a - expected[i]!) / Math.max(Math.abs(expected[i]!), scale));
  }
  return worst;
}

// ---- runners -----------------------------------------------------------------------------------

/** A Scratch whose buffers start as NaN, so a pass that leaves partials unwritten fails. */
function nanScratch(e: Engine, taken: { bytes: number; label: string }[] = []): Scratch {
  return (bytes, label) => {
    taken.push({ bytes, label });
    return nanBuffer(e, Math.ceil(bytes / 4));
  };
}

async function runReduce(e: Engine, op: ReduceOp, g: ReduceGeometry, x: Float32Array, dy: Float32Array) {
  const n = g.outer * g.axis * g.inner;
  const m = g.outer * g.inner;
  const xv = uploadView(e, x);
  const y = nanBuffer(e, m);
  const dx = nanBuffer(e, n);
  const scratch = nanScratch(e);
  e.run([...reduceDispatches(e, op, g, { x: xv, y }, scratch), ...reduceBackwardDispatches(e, op, g, { x: xv, dy: uploadView(e, dy), dx }, scratch)]);
  return { y: await readF32(e, y, m), dx: await readF32(e, dx, n) };
}

// ---- tests ---------------------------------------------------------------------------------

describe('reduceGeometry', () => {
  it('views any contiguous run of axes as [outer, axis, inner]', () => {
    expect(reduceGeometry([2, 3, 4], [1])).toEqual({ outer: 2, axis: 3, inner: 4 });
    expect(reduceGeometry([2, 3, 4], -1)).toEqual({ outer: 6, axis: 4, inner: 1 });
    expect(reduceGeometry([2, 3, 4], [1, 0])).toEqual({ outer: 1, axis: 6, inner: 4 });
    expect(reduceGeometry([64, 13, 13, 10], [0, 1, 2])).toEqual({ outer: 1, axis: 64 * 13 * 13, inner: 10 });
    expect(reduceGeometry([3, 1, 5], [0, 2])).toEqual({ outer: 1, axis: 15, inner: 1 }); // a size-1 axis between them
    expect(reduceGeometry([3, 4], [0, 0, -2])).toEqual({ outer: 1, axis: 3, inner: 4 });
    expect(reduceGeometry([3, 4], [])).toEqual({ outer: 12, axis: 1, inner: 1 });
  });
  it('names what is wrong', () => {
    expect(() => reduceGeometry([3, 4, 5], [0, 2])).toThrow(/not contiguous \(axis 1 of size 4/);
    expect(() => reduceGeometry([3, 4], [2])).toThrow(/axis 2 is out of range for shape \[3, 4\]/);
    expect(() => reduceGeometry([3, 0], [0])).toThrow(/positive integers/);
  });
});

describe('reduction strategy', () => {
  it('cuts few long lines into interleaved parts and keeps the rest one pass', () => {
    const perChannel = { outer: 1, axis: 64 * 13 * 13, inner: 10 };
    expect(reducePasses('registers', perChannel)).toEqual([103, 1]);
    expect(reducePasses('tiled', perChannel)).toEqual([338, 1]);
    expect(reducePasses('registers', { outer: 1, axis: 100_000, inner: 1 })).toEqual([1024, 32, 1]);
    expect(reducePasses('registers', { outer: 3, axis: 7, inner: 5 })).toEqual([1]);
    expect(reducePasses('registers', { outer: 4096, axis: 1000, inner: 1 })).toEqual([1]);
  });
});

/** Geometries: small and odd, rows (inner 1), long lines through 2 and 3 passes, axis 1. */
const GEOMETRIES: { name: string; g: ReduceGeometry }[] = [
  { name: 'small 3x7x5', g: { outer: 3, axis: 7, inner: 5 } },
  { name: 'rows 37x300x1', g: { outer: 37, axis: 300, inner: 1 } },
  { name: 'per-channel 1x10816x10', g: { outer: 1, axis: 64 * 13 * 13, inner: 10 } },
  { name: 'long 2x513x3', g: { outer: 2, axis: 513, inner: 3 } },
  { name: 'one line 1x100000x1', g: { outer: 1, axis: 100_000, inner: 1 } },
  { name: 'axis 1 5x1x3', g: { outer: 5, axis: 1, inner: 3 } },
];

describe.each(['registers', 'tiled', 'checked'] as const)('reductions (%s)', (style) => {
  for (const { name, g } of GEOMETRIES) {
    for (const op of REDUCE_OPS) {
      it(`${op} over ${name}: forward and backward match float64 and finite differences`, async () => {
        const e = engines[style]();
        const n = g.outer * g.axis * g.inner;
        const seed = n + op.length;
        const x = randomArray(n, seed);
        const dy = randomArray(g.outer * g.inner, seed + 1);
        const { y, dx } = await runReduce(e, op, g, x, dy);
        const y64 = reduceRef(x, g, op);
        // A sum of m values of size ~1 carries rounding of order √m·ε relative to their magnitude.
        const magnitude = op === 'sum' ? Math.sqrt(g.axis) : op === 'mean' ? 1 / Math.sqrt(g.axis) : 1;
        expect(record(`${op} ${name} ${style}`, 'fwd', maxError(y, y64, magnitude))).toBeLessThanOrEqual(op === 'max' || op === 'min' ? 0 : 2e-6);
        const dx64 = reduceBackwardRef(x, dy, g, op);
        expect(record(`${op} ${name} ${style}`, 'bwd', relL2(dx, dx64))).toBeLessThanOrEqual(1e-7);
        // Finite differences of Σ dy·reduce(x): at every extreme position (where max/min route) and elsewhere.
        const extremes = op === 'max' || op === 'min' ? Array.from(argFirstRef(x, g, op), (j, r) => reduceIndex(g, Math.floor(r / g.inner), j, r % g.inner)).slice(0, 24) : [];
        const indices = [...new Set([...extremes, ...sampleIndices(n, 24, seed + 2)])];
        const f = (v: Float64Array) => reduceRef(v, g, op).reduce((s, yr, r) => s + yr * dy[r]!, 0);
        const fd = finiteDifferences(f, Float64Array.from(x), indices, 1e-6);
        expect(record(`${op} ${name} ${style}`, 'fd', relL2(pick(dx, indices), fd))).toBeLessThanOrEqual(1e-6);
      });
    }
  }
});

describe('max and min backward under ties', () => {
  it('route each line’s gradient to its first extreme, as a one-pass and a multi-pass arg-reduction', async () => {
    const e = engines.registers();
    for (const g of [
      { outer: 4, axis: 9, inner: 3 },
      { outer: 1, axis: 4000, inner: 2 },
    ]) {
      // Values on a coarse grid: every line has its extreme several times.
      const r = new Random(5);
      const n = g.outer * g.axis * g.inner;
      const x = Float32Array.from({ length: n }, () => Math.round(r.uniform(-2, 2)));
      const dy = randomArray(g.outer * g.inner, 6);
      for (const op of ['max', 'min'] as const) {
        const { dx } = await runReduce(e, op, g, x, dy);
        expect(Array.from(dx)).toEqual(Array.from(reduceBackwardRef(x, dy, g, op), Math.fround));
        const idx = uploadView(e, new Uint32Array(g.outer * g.inner).fill(0xffffffff));
        e.run(argReduceDispatches(e, op, g, { x: uploadView(e, x), idx }, nanScratch(e)));
        expect(Array.from(new Uint32Array(await e.read(idx, g.outer * g.inner * 4)))).toEqual(Array.from(argFirstRef(x, g, op)));
      }
    }
  });
});

describe('sumToShape', () => {
  /** Σ of x (shape from) over the axes where `to` (right-aligned) is 1 or missing. */
  function sumTo64(x: Float32Array, from: number[], to: number[]): Float64Array {
    const padded = [...Array<number>(from.length - to.length).fill(1), ...to];
    const y = new Float64Array(padded.reduce((a, b) => a * b, 1));
    const coord = new Array<number>(from.length).fill(0);
    for (let k = 0; k < x.length; k++) {
      let rem = k;
      for (let d = from.length - 1; d >= 0; d--) {
        coord[d] = rem % from[d]!;
        rem = Math.floor(rem / from[d]!);
      }
      let t = 0;
      for (let d = 0; d < from.length; d++) t = t * padded[d]! + (padded[d] === 1 ? 0 : coord[d]!);
      y[t]! += x[k]!;
    }
    return y;
  }

  it.each([
    { from: [3, 4, 5], to: [3, 1, 5], passes: 1 },
    { from: [3, 4, 5], to: [4, 5], passes: 1 },
    { from: [3, 4, 5], to: [1], passes: 1 },
    { from: [2, 3, 4, 5], to: [1, 3, 1, 5], passes: 2 },
    { from: [6, 5, 4, 3], to: [5, 1, 3], passes: 2 },
    { from: [7, 1, 300, 2], to: [7, 1, 1, 2], passes: 1 },
    { from: [3, 4], to: [3, 4], passes: 1 },
  ])('sums $from down to $to', async ({ from, to, passes }) => {
    const e = engines.registers();
    const n = from.reduce((a, b) => a * b, 1);
    const m = to.reduce((a, b) => a * b, 1);
    const x = randomArray(n, n + m);
    const y = nanBuffer(e, m);
    const taken: { bytes: number; label: string }[] = [];
    const dispatches = sumToShape(e, from, to, { x: uploadView(e, x), y }, nanScratch(e, taken), { scale: -0.5 });
    expect(taken.filter((t) => t.label === 'sum-to-shape').length).toBe(passes - 1);
    e.run(dispatches);
    const expected = sumTo64(x, from, to).map((v) => -0.5 * v);
    expect(record(`sumToShape ${from}→${to}`, 'fwd', relL2(await readF32(e, y, m), expected))).toBeLessThanOrEqual(1e-6);
  });

  it('rejects shapes that do not reduce', () => {
    const e = engines.registers();
    const y = nanBuffer(e, 4);
    expect(() => sumToShape(e, [3, 4], [2, 4], { x: y, y }, nanScratch(e))).toThrow(/\[3, 4\] does not reduce to \[2, 4\]/);
    expect(() => sumToShape(e, [4], [1, 4], { x: y, y }, nanScratch(e))).toThrow(/more axes/);
  });
});
