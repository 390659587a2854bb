/**
 * Multi-head attention as Keras's MultiHeadAttention computes it: the query, key and value
 * projections (dense products writing [rows, heads·dim], which is the [batch, T, heads, dim] layout
 * the fused attention reads), the fused attention (shaders/attention.ts: scores, masks, softmax,
 * dropout and the weighted sum in one kernel), and the output projection; their geometry and the
 * dispatches of the forward and backward passes. The MultiHeadAttention layer wraps it
 * (src/layers/attention.ts).
 */
import * as kernels from '../../shaders/attention.ts';
import { ATTENTION_STATS_PER_ROW, attentionBlock, attentionRows, type AttentionGeometry } from '../../shaders/attention.ts';
import type { KernelStyle } from '../../shaders/kernel.ts';
import { stepInfoData } from '../../shaders/kernel.ts';
import type { BufferView, Dispatch, Engine, View } from '../runtime/engine.ts';
import type { BenchRun } from '../runtime/tuning.ts';
import { always, choose, type VariantTable } from './variants.ts';
import { benchRun } from './bench-buffers.ts';
import { denseBackward, denseForward, denseGeometry, type DenseGeometry } from './dense.ts';
import { zeros } from './elementwise.ts';

export type { AttentionGeometry };

/** Checks the fused attention's geometry (sizes positive integers, rate in [0, 1)), naming `who`; returns it. */
export function attentionGeometry(g: AttentionGeometry, who = 'attention'): AttentionGeometry {
  for (const field of ['batch', 'heads', 'queries', 'keys', 'keyDim', 'valueDim'] as const) {
    const value = g[field];
    if (!Number.isInteger(value) || value <= 0 || value >= 2 ** 31) throw new Error(`${who}: ${field} must be a positive integer, got ${String(value)}`);
  }
  if (g.batch * g.heads * g.queries * g.keys >= 2 ** 32) throw new Error(`${who}: batch · heads · queries · keys must stay below 2^32 (the dropout hash indexes the probabilities), got ${g.batch * g.heads * g.queries * g.keys}`);
  if (typeof g.dropout !== 'number' || !(g.dropout >= 0 && g.dropout < 1)) throw new Error(`${who}: dropout must be a number in [0, 1), got ${String(g.dropout)}`);
  if (!Number.isInteger(g.seed) || g.seed < 0 || g.seed > 0xffffffff) throw new Error(`${who}: seed must be an integer in [0, 2^32), got ${String(g.seed)}`);
  return { ...g, mask: !!g.mask, causal: !!g.causal };
}

/** Floats of the row statistics the forward keeps for the backward ([batch, heads, queries, 2]). */
export function attentionStatsFloats(g: AttentionGeometry): number {
  return attentionRows(g) * ATTENTION_STATS_PER_ROW;
}

export interface AttentionForwardViews {
  /** [batch, queries, heads, keyDim] */
  q: BufferView;
  /** [batch, keys, heads, keyDim] */
  k: BufferView;
  /** [batch, keys, heads, valueDim] */
  v: BufferView;
  /** [batch, queries, keys]; required when g.mask. */
  mask?: BufferView;
  /** The plan's step uniform; required when g.dropout > 0. */
  stepInfo?: BufferView;
  /** [batch, queries, heads, valueDim], overwritten. */
  o: BufferView;
  /** attentionStatsFloats(g) floats, overwritten; the backward reads them. */
  stats: BufferView;
}

/** The forward's views (its outputs read here), and the gradients. */
export interface AttentionBackwardViews extends AttentionForwardViews {
  /** dL/dO, [batch, queries, heads, valueDim]. */
  dout: BufferView;
  /** Overwritten, in the layouts of q, k and v. */
  dq: BufferView;
  dk: BufferView;
  dv: BufferView;
}

function required<T>(value: T | null | undefined, what: string): T {
  if (value == null) throw new Error(`attention: ${what} is required`);
  return value;
}

/** The bindings the mask and dropout add, in the kernels' order. */
function extras(g: AttentionGeometry, views: { mask?: BufferView; stepInfo?: BufferView }): BufferView[] {
  return [...(g.mask ? [required(views.mask, 'mask (with mask: true)')] : []), ...(g.dropout > 0 ? [required(views.stepInfo, 'stepInfo (with dropout)')] : [])];
}

export interface AttentionOptions {
  /** Rows each invocation owns; by default the variant's (attentionTable; shaders/attention.ts attentionBlock). */
  block?: number;
  /** Force a variant of attentionTable ('registers' or 'tiled'). */
  variant?: KernelStyle;
}

/** A short key of an attention's geometry for the variant records. */
export function attentionKey(g: AttentionGeometry): string {
  return `${g.batch}x${g.heads}h q${g.queries} k${g.keys} d${g.keyDim}/${g.valueDim}${g.mask ? ' mask' : ''}${g.dropout > 0 ? ' dropout' : ''}`;
}

/** The fused attention's variants: the rows an invocation owns (attentionBlock); both run anywhere, the profile's kind puts its own first. */
export const attentionTable: VariantTable<AttentionGeometry> = {
  op: 'attention',
  key: attentionKey,
  rows: [
    { name: 'registers', applies: (_g, p) => p.kind === 'cpu', why: 'CPU rasterizers: blocks of up to 4 rows share every load of the other operand (a computed-index load is a gather there).' },
    { name: 'tiled', applies: always, why: 'GPUs: one row per invocation, since registers are what limits a kernel there.' },
    { name: 'registers', applies: always, why: 'The row blocks run on GPUs too, behind one row per invocation.' },
  ],
  bench: attentionBench,
};

/** The fused attention's bench: the variant's forward and backward (dQ, dK, dV), the mask keeping everything, dropout seeded. */
function attentionBench(engine: Engine, geometry: AttentionGeometry, name: string): BenchRun {
  const g = attentionGeometry(geometry);
  return benchRun(engine, (s) => {
    const floats = { q: g.batch * g.queries * g.heads * g.keyDim, k: g.batch * g.keys * g.heads * g.keyDim, v: g.batch * g.keys * g.heads * g.valueDim, o: g.batch * g.queries * g.heads * g.valueDim };
    const [q, k, v] = [s.input(floats.q, 'bench attention q'), s.input(floats.k, 'bench attention k'), s.input(floats.v, 'bench attention v')];
    const mask = g.mask ? s.constant(g.batch * g.queries * g.keys, 1, 'bench attention mask') : undefined;
    const stepInfo = g.dropout > 0 ? s.uniform(stepInfoData(0, 1, g.seed, g.batch), 'bench attention step info') : undefined;
    const [o, stats] = [s.output(floats.o, 'bench attention o'), s.output(attentionStatsFloats(g), 'bench attention stats')];
    const [dout, dq, dk, dv] = [s.input(floats.o, 'bench attention dO'), s.output(floats.q, 'bench attention dQ'), s.output(floats.k, 'bench attention dK'), s.output(floats.v, 'bench attention dV')];
    const options = { variant: name as KernelStyle };
    const views = { q, k, v, mask, stepInfo, o, stats };
    return [...attentionForward(engine, g, views, options), ...attentionBackward(engine, g, { ...views, dout, dq, dk, dv }, options)];
  });
}

/** O = dropout(softmax(mask(Q·Kᵀ / sqrt(keyDim))))·V per head, and the statistics for the backward: one dispatch. */
export function attentionForward(engine: Engine, geometry: AttentionGeometry, views: AttentionForwardViews, options: AttentionOptions = {}): Dispatch[] {
  const g = attentionGeometry(geometry);
  return [engine.kernel(kernels.attentionForward(g, block(engine, g, options)), [views.q, views.k, views.v, ...extras(g, views), views.o, views.stats])];
}

/** dQ, dK and dV from dO and the forward's statistics: two dispatches (query rows, then key rows). */
export function attentionBackward(engine: Engine, geometry: AttentionGeometry, views: AttentionBackwardViews, options: AttentionOptions = {}): Dispatch[] {
  const g = attentionGeometry(geometry);
  const more = extras(g, views);
  return [
    engine.kernel(kernels.attentionBackwardQueries(g, block(engine, g, options)), [views.q, views.k, views.v, views.o, views.dout, ...more, views.stats, views.dq]),
    engine.kernel(kernels.attentionBackwardKeys(g, block(engine, g, options)), [views.q, views.k, views.v, views.dout, ...more, views.stats, views.dk, views.dv]),
  ];
}

function block(engine: Engine, g: AttentionGeometry, options: AttentionOptions): number {
  const rows = options.block ?? attentionBlock(choose(attentionTable, g, engine, options.variant).name as KernelStyle, g);
  if (!Number.isInteger(rows) || rows < 1 || rows > 8) throw new Error(`attention: block must be an integer in [1, 8], got ${String(rows)}`);
  return rows;
}

// ---- the whole layer: projections around the fused attention ------------------------------------

/** A multi-head attention for one batch size: the attention and the four projections. */
export interface MultiHeadAttentionGeometry {
  attention: AttentionGeometry;
  /** [batch·queries, query features] → [.., heads·keyDim] */
  query: DenseGeometry;
  /** [batch·keys, key features] → [.., heads·keyDim] */
  key: DenseGeometry;
  /** [batch·keys, value features] → [.., heads·valueDim] */
  value: DenseGeometry;
  /** [batch·queries, heads·valueDim] → [.., output features] */
  output: DenseGeometry;
}

/** The sizes of a multi-head attention: features of each input, the attention's, the output's. */
export interface MultiHeadAttentionSizes {
  attention: AttentionGeometry;
  queryFeatures: number;
  keyFeatures: number;
  valueFeatures: number;
  outputFeatures: number;
  bias: boolean;
}

/** The projections' dense geometries around `s.attention` (checked), naming `who` in errors. */
export function multiHeadAttentionGeometry(s: MultiHeadAttentionSizes, who = 'multiHeadAttention'): MultiHeadAttentionGeometry {
  const a = attentionGeometry(s.attention, who);
  const options = { bias: s.bias };
  return {
    attention: a,
    query: denseGeometry(a.batch, [a.queries, s.queryFeatures], a.heads * a.keyDim, options, `${who}: query projection`),
    key: denseGeometry(a.batch, [a.keys, s.keyFeatures], a.heads * a.keyDim, options, `${who}: key projection`),
    value: denseGeometry(a.batch, [a.keys, s.valueFeatures], a.heads * a.valueDim, options, `${who}: value projection`),
    output: denseGeometry(a.batch, [a.queries, a.heads * a.valueDim], s.outputFeatures, options, `${who}: output projection`),
  };
}

/** The projections' weights in Keras's order (a bias is absent without use_bias). */
export interface MultiHeadAttentionWeights {
  queryKernel: View;
  queryBias?: View;
  keyKernel: View;
  keyBias?: View;
  valueKernel: View;
  valueBias?: View;
  outputKernel: View;
  outputBias?: View;
}

/** What the forward computes besides the output, kept for the backward (plan-lifetime scratch). */
export interface MultiHeadAttentionState {
  q: View;
  k: View;
  v: View;
  o: View;
  stats: View;
}

/** Floats of each state buffer. */
export function multiHeadAttentionStateFloats(g: MultiHeadAttentionGeometry): Record<keyof MultiHeadAttentionState, number> {
  const a = g.attention;
  return {
    q: a.batch * a.queries * a.heads * a.keyDim,
    k: a.batch * a.keys * a.heads * a.keyDim,
    v: a.batch * a.keys * a.heads * a.valueDim,
    o: a.batch * a.queries * a.heads * a.valueDim,
    stats: attentionStatsFloats(a),
  };
}

export interface MultiHeadAttentionForwardViews {
  query: View;
  value: View;
  key: View;
  /** [batch, queries, keys]; required when the attention geometry has a mask. */
  mask?: View;
  stepInfo: View;
  weights: MultiHeadAttentionWeights;
  state: MultiHeadAttentionState;
  /** [batch, queries, output features], overwritten. */
  y: View;
}

/** Q, K, V projections, the fused attention, the output projection: five dispatches. */
export function multiHeadAttentionForward(engine: Engine, g: MultiHeadAttentionGeometry, views: MultiHeadAttentionForwardViews): Dispatch[] {
  const { weights: w, state } = views;
  return [
    ...denseForward(engine, g.query, { x: views.query, w: w.queryKernel, b: w.queryBias, y: state.q }),
    ...denseForward(engine, g.key, { x: views.key, w: w.keyKernel, b: w.keyBias, y: state.k }),
    ...denseForward(engine, g.value, { x: views.value, w: w.valueKernel, b: w.valueBias, y: state.v }),
    ...attentionForward(engine, g.attention, { ...state, mask: views.mask, stepInfo: views.stepInfo }),
    ...denseForward(engine, g.output, { x: state.o, w: w.outputKernel, b: w.outputBias, y: views.y }),
  ];
}

export interface MultiHeadAttentionBackwardViews extends Omit<MultiHeadAttentionForwardViews, 'y'> {
  /** dL/dy, [batch, queries, output features]. */
  dy: View;
  /** Where to write each input's gradient (overwrite); null: nobody needs it, nothing runs for it. */
  dQuery: View | null;
  dValue: View | null;
  dKey: View | null;
  /** The mask is not differentiable: its gradient, when asked for, is zeros. */
  dMask: View | null;
  /** The weights' gradients, as MultiHeadAttentionWeights. */
  grads: MultiHeadAttentionWeights;
  /** Plan-lifetime scratch of `floats` floats. */
  scratch(floats: number, label: string): View;
}

/**
 * The output projection's gradients, the fused attention's backward (two dispatches), then the
 * three projections' gradients: ten dispatches, fewer when an input needs no gradient.
 */
export function multiHeadAttentionBackward(engine: Engine, g: MultiHeadAttentionGeometry, views: MultiHeadAttentionBackwardViews): Dispatch[] {
  const { weights: w, grads, state } = views;
  const sizes = multiHeadAttentionStateFloats(g);
  const dout = views.scratch(sizes.o, 'attention dO');
  const dq = views.scratch(sizes.q, 'attention dQ');
  const dk = views.scratch(sizes.k, 'attention dK');
  const dv = views.scratch(sizes.v, 'attention dV');
  const scratch = (bytes: number, label: string) => views.scratch(Math.ceil(bytes / 4), label);
  const dispatches = [
    ...denseBackward(engine, g.output, { x: state.o, w: w.outputKernel, dy: views.dy, dx: dout, dw: grads.outputKernel, db: grads.outputBias, scratch }),
    ...attentionBackward(engine, g.attention, { ...state, mask: views.mask, stepInfo: views.stepInfo, dout, dq, dk, dv }),
    ...denseBackward(engine, g.query, { x: views.query, w: w.queryKernel, dy: dq, dx: views.dQuery, dw: grads.queryKernel, db: grads.queryBias, scratch }),
    ...denseBackward(engine, g.key, { x: views.key, w: w.keyKernel, dy: dk, dx: views.dKey, dw: grads.keyKernel, db: grads.keyBias, scratch }),
    ...denseBackward(engine, g.value, { x: views.value, w: w.valueKernel, dy: dv, dx: views.dValue, dw: grads.valueKernel, db: grads.valueBias, scratch }),
  ];
  if (views.dMask) dispatches.push(zeros(engine, views.dMask));
  return dispatches;
}
