/**
 * The reduction op: sum, mean, max and min over a run of contiguous axes of a row-major tensor,
 * seen as [outer, axis, inner] → [outer, inner] (reduceGeometry), with the backward of each
 * (sum and mean broadcast dy back along the axis; max and min route it to each line's first
 * extreme), and sumToShape, the sum of a tensor down to a broadcast-compatible shape (the
 * gradient of a broadcast operand, ops/binary.ts).
 *
 * How it runs (reduceParts): lines that are few and long (a per-channel statistic over N·H·W,
 * outer = 1, inner = C) are cut into interleaved parts whose partial results go to scratch and are
 * reduced again (shaders/reduce.ts), until a pass has lines enough to fill the device or short
 * enough to take in one go; everything else is one invocation per output. Max and min have no
 * fixed tie rule to care about in the forward; their backward routes each line's gradient to its
 * first extreme (TF.js's max/min gradient gives it to every tied position instead; the two agree
 * whenever a line's extreme is unique).
 */
import * as kernels from '../../shaders/reduce.ts';
import type { ReduceGeometry, ReduceSource } from '../../shaders/reduce.ts';
import type { KernelStyle } from '../../shaders/kernel.ts';
import type { BufferView, Dispatch, Engine } from '../runtime/engine.ts';
import { formatShape, type Shape } from '../runtime/tensor.ts';
import type { BenchRun } from '../runtime/tuning.ts';
import { benchRun } from './bench-buffers.ts';
import { always, choose, kindFirst, paramsOf, type Variant, type VariantTable } from './variants.ts';

export type { ReduceGeometry, ReduceSource };

export const REDUCE_OPS = ['sum', 'mean', 'max', 'min'] as const;
export type ReduceOp = (typeof REDUCE_OPS)[number];

import type { Scratch } from '../runtime/engine.ts';
export type { Scratch };

/**
 * The [outer, axis, inner] view of reducing `axes` of `shape`: axes may be negative (from the
 * end), in any order, repeated; together with any size-1 axes between them they must form one
 * contiguous run (a reduction over separate runs is several reductions, see sumToShape). No axes
 * gives axis = 1: the reduction is a copy.
 */
export function reduceGeometry(shape: Shape, axes: number | readonly number[]): ReduceGeometry {
  const rank = shape.length;
  if (!shape.every((d) => Number.isInteger(d) && d >= 1)) throw new Error(`reduceGeometry: the shape must hold positive integers, got ${formatShape(shape)}`);
  const list = (typeof axes === 'number' ? [axes] : [...axes]).map((a) => {
    if (!Number.isInteger(a) || a < -rank || a >= rank) throw new Error(`reduceGeometry: axis ${a} is out of range for shape ${formatShape(shape)} (rank ${rank})`);
    return a < 0 ? a + rank : a;
  });
  const product = (from: number, to: number) => shape.slice(from, to).reduce((p, d) => p * d, 1);
  if (list.length === 0) return { outer: product(0, rank), axis: 1, inner: 1 };
  const sorted = [...new Set(list)].sort((a, b) => a - b);
  const first = sorted[0]!;
  const last = sorted[sorted.length - 1]!;
  for (let d = first; d <= last; d++) {
    if (!sorted.includes(d) && shape[d] !== 1) {
      throw new Error(`reduceGeometry: axes ${JSON.stringify(axes)} of shape ${formatShape(shape)} are not contiguous (axis ${d} of size ${shape[d]} lies between them)`);
    }
  }
  return { outer: product(0, first), axis: product(first, last + 1), inner: product(last + 1, rank) };
}

/** The reduced tensor's element count: outer · inner. */
export function reducedSize(g: ReduceGeometry): number {
  return g.outer * g.inner;
}

/** A variant's tuning: how many invocations keep the device busy, the longest line one invocation takes in one go, the fewest elements a part should hold. */
export interface ReduceTuning {
  target: number;
  longLine: number;
  minRun: number;
}

const REGISTERS: Variant<ReduceGeometry, ReduceTuning> = {
  name: 'registers',
  applies: always,
  params: { target: 1024, longLine: 256, minRun: 32 },
  note: 'bench/NOTES.md item 10',
  why: 'SwiftShader: a few cores, 4–8 lanes each, and a dispatch has a fixed cost, so passes must earn theirs.',
};
const TILED: Variant<ReduceGeometry, ReduceTuning> = {
  name: 'tiled',
  applies: always,
  params: { target: 32768, longLine: 1024, minRun: 32 },
  why: 'GPUs: tens of thousands of invocations to fill, so long lines are cut into more parts.',
};

/** A short key of a reduction's geometry for the variant records. */
export function reduceKey(g: ReduceGeometry): string {
  return `${g.outer}x[${g.axis}]x${g.inner}`;
}

/** The reductions' variants (how lines are cut into passes): both run anywhere; the profile's kind puts its own first. */
export const reduceTable: VariantTable<ReduceGeometry, ReduceTuning> = {
  op: 'reduce',
  key: reduceKey,
  rows: kindFirst(REGISTERS, TILED),
  bench: reduceBench,
};

/** The reduction's bench: a sum of g in the variant's passes (every fold cuts its lines the same way). */
function reduceBench(engine: Engine, g: ReduceGeometry, name: string): BenchRun {
  return benchRun(engine, (s) => {
    const views = { x: s.input(g.outer * g.axis * g.inner, 'bench reduce x'), y: s.output(reducedSize(g), 'bench reduce y') };
    return reduceDispatches(engine, 'sum', g, views, s.scratch, { variant: name as KernelStyle });
  });
}

function tuningOf(variant: KernelStyle): ReduceTuning {
  return paramsOf(variant === 'tiled' ? TILED : REGISTERS, reduceTable.op);
}

/**
 * How many interleaved parts the first pass of reducing `g` cuts each line into (1: one pass, an
 * invocation per output). Lines get cut when they are long and too few to fill the device.
 */
export function reduceParts(style: KernelStyle, g: ReduceGeometry): number {
  const { target, longLine, minRun } = tuningOf(style);
  const lines = g.outer * g.inner;
  if (g.axis <= longLine) return 1;
  const wanted = Math.ceil(target / lines);
  if (wanted < 4) return 1;
  return Math.max(2, Math.min(wanted, Math.floor(g.axis / minRun)));
}

/** The passes reducing `g` runs: the parts of each pass over partials, ending with 1 (the finish). */
export function reducePasses(style: KernelStyle, g: ReduceGeometry): number[] {
  const passes: number[] = [];
  let axis = g.axis;
  for (;;) {
    const parts = reduceParts(style, { ...g, axis });
    passes.push(parts);
    if (parts === 1) return passes;
    axis = parts;
  }
}

export interface ReduceViews {
  /** The [outer, axis, inner] tensor; omitted when options.source computes it. */
  x?: BufferView;
  /** The [outer, inner] result (overwritten). */
  y: BufferView;
}

export interface ReduceOptions {
  /** Reduce a function of other bindings instead of views.x (shaders/reduce.ts ReduceSource). */
  source?: { kernel: ReduceSource; views: readonly BufferView[] };
  /** Multiplies a sum or mean (a mean is a sum scaled by 1/axis; this scales it further). */
  scale?: number;
  /** Force a variant of reduceTable ('registers' or 'tiled'). */
  variant?: KernelStyle;
}

function checkOp(who: string, op: ReduceOp): void {
  if (!(REDUCE_OPS as readonly string[]).includes(op)) throw new Error(`${who}: unknown reduction ${JSON.stringify(op)}; known: ${REDUCE_OPS.join(', ')}`);
}

function checkGeometry(who: string, g: ReduceGeometry): void {
  if (![g.outer, g.axis, g.inner].every((v) => Number.isInteger(v) && v >= 1)) throw new Error(`${who}: geometry must be positive integers { outer, axis, inner }, got ${JSON.stringify(g)}`);
}

/** y = op over the middle axis of x seen as [outer, axis, inner]. */
export function reduceDispatches(engine: Engine, op: ReduceOp, g: ReduceGeometry, views: ReduceViews, scratch: Scratch, options: ReduceOptions = {}): Dispatch[] {
  checkOp('reduceDispatches', op);
  checkGeometry(`reduceDispatches (${op})`, g);
  const fold = op === 'mean' ? 'sum' : op;
  if (options.scale !== undefined && fold !== 'sum') throw new Error(`reduceDispatches (${op}): only sum and mean take a scale`);
  const scale = (options.scale ?? 1) * (op === 'mean' ? 1 / g.axis : 1);
  let source: ReduceSource = options.source?.kernel ?? kernels.PLAIN_SOURCE;
  let reads: readonly BufferView[] = options.source?.views ?? [views.x ?? missing('views.x')];
  if (reads.length !== source.reads) throw new Error(`reduceDispatches: source ${source.key} reads ${source.reads} bindings, got ${reads.length} views`);
  const out: Dispatch[] = [];
  const variant = choose(reduceTable, g, engine, options.variant).name as KernelStyle;
  let geometry = g;
  for (;;) {
    const parts = reduceParts(variant, geometry);
    if (parts === 1) {
      out.push(engine.kernel(kernels.reduceLines(fold, geometry, source, scale), [...reads, views.y]));
      return out;
    }
    const partials = scratch(geometry.outer * parts * geometry.inner * 4, `reduce-${op}-partials`);
    out.push(engine.kernel(kernels.reducePartials(fold, geometry, parts, source), [...reads, partials]));
    source = kernels.PLAIN_SOURCE;
    reads = [partials];
    geometry = { ...geometry, axis: parts };
  }
}

function missing(what: string): never {
  throw new Error(`reduceDispatches: ${what} is required`);
}

export interface ReduceBackwardViews {
  /** The forward's input: read by max and min (which position got the extreme). */
  x?: BufferView;
  /** dL/dy, [outer, inner]. */
  dy: BufferView;
  /** dL/dx, [outer, axis, inner] (overwritten). */
  dx: BufferView;
}

/**
 * dx from dy: sum broadcasts dy along the axis, mean also divides by its length; max and min give
 * each line's dy to the line's first maximum (minimum) and zero elsewhere.
 */
export function reduceBackwardDispatches(engine: Engine, op: ReduceOp, g: ReduceGeometry, views: ReduceBackwardViews, scratch: Scratch, variant?: KernelStyle): Dispatch[] {
  checkOp('reduceBackwardDispatches', op);
  checkGeometry(`reduceBackwardDispatches (${op})`, g);
  if (op === 'sum' || op === 'mean') return [engine.kernel(kernels.broadcastAlongAxis(g, op === 'mean' ? 1 / g.axis : 1), [views.dy, views.dx])];
  if (!views.x) throw new Error(`reduceBackwardDispatches (${op}): views.x (the forward's input) is required`);
  const idx = scratch(reducedSize(g) * 4, `reduce-arg${op}`);
  return [...argReduceDispatches(engine, op, g, { x: views.x, idx }, scratch, variant), engine.kernel(kernels.routeToPosition(g), [views.dy, idx, views.dx])];
}

/** idx (u32, [outer, inner]) = the position along the axis of each line's first maximum (minimum). */
export function argReduceDispatches(engine: Engine, op: 'max' | 'min', g: ReduceGeometry, views: { x: BufferView; idx: BufferView }, scratch: Scratch, variant?: KernelStyle): Dispatch[] {
  checkGeometry(`arg${op}`, g);
  const parts = reduceParts(choose(reduceTable, g, engine, variant).name as KernelStyle, g);
  if (parts === 1) return [engine.kernel(kernels.argReduceLines(op, g), [views.x, views.idx])];
  const partials = scratch(g.outer * parts * g.inner * 8, `arg${op}-partials`);
  return [engine.kernel(kernels.argReducePartials(op, g, parts), [views.x, partials]), engine.kernel(kernels.argReduceFinish(op, g, parts), [partials, views.idx])];
}

/**
 * The axes a tensor of shape `from` is summed over to give `to`, a shape it was broadcast from
 * (NumPy's rule: `to` right-aligned, each of its sizes equal to from's or 1), as runs: the sizes
 * of `from` with size-1 axes dropped and neighbours of the same kind merged, each run kept or
 * reduced.
 */
export function broadcastRuns(from: Shape, to: Shape): { size: number; reduced: boolean }[] {
  if (to.length > from.length) throw new Error(`sumToShape: ${formatShape(to)} has more axes than ${formatShape(from)}`);
  const padded = [...Array<number>(from.length - to.length).fill(1), ...to];
  const runs: { size: number; reduced: boolean }[] = [];
  from.forEach((size, d) => {
    const t = padded[d]!;
    if (t !== size && t !== 1) throw new Error(`sumToShape: ${formatShape(from)} does not reduce to ${formatShape(to)} (axis ${d}: ${size} to ${t})`);
    if (size === 1) return;
    const reduced = t === 1;
    const last = runs[runs.length - 1];
    if (last && last.reduced === reduced) last.size *= size;
    else runs.push({ size, reduced });
  });
  return runs;
}

/**
 * y (shape `to`) = the sum of x (shape `from`) over the axes where `to` has 1 or nothing, times
 * `options.scale`: one reduction per run of reduced axes, innermost first (intermediates in
 * scratch), the first one reading options.source when given.
 */
export function sumToShape(engine: Engine, from: Shape, to: Shape, views: ReduceViews, scratch: Scratch, options: ReduceOptions = {}): Dispatch[] {
  let runs = broadcastRuns(from, to);
  const out: Dispatch[] = [];
  let source = options.source;
  let x = views.x;
  if (!runs.some((r) => r.reduced)) {
    // Nothing to reduce: a copy (or a map of the source), one invocation per element.
    const n = runs.reduce((p, r) => p * r.size, 1);
    return reduceDispatches(engine, 'sum', { outer: n, axis: 1, inner: 1 }, { x, y: views.y }, scratch, options);
  }
  for (;;) {
    const q = runs.map((r) => r.reduced).lastIndexOf(true);
    const product = (rs: typeof runs) => rs.reduce((p, r) => p * r.size, 1);
    const g = { outer: product(runs.slice(0, q)), axis: runs[q]!.size, inner: product(runs.slice(q + 1)) };
    const rest = [...runs.slice(0, q), ...runs.slice(q + 1)];
    const lastPass = !rest.some((r) => r.reduced);
    const y = lastPass ? views.y : scratch(reducedSize(g) * 4, 'sum-to-shape');
    out.push(...reduceDispatches(engine, 'sum', g, { x, y }, scratch, { source, scale: lastPass ? options.scale : undefined }));
    if (lastPass) return out;
    source = undefined;
    x = y;
    // The kept runs on either side of the one just reduced are now neighbours: merge them.
    runs = rest.reduce<typeof runs>((acc, r) => {
      const last = acc[acc.length - 1];
      if (last && last.reduced === r.reduced) last.size *= r.size;
      else acc.push({ ...r });
      return acc;
    }, []);
  }
}
