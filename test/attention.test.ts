/**
 * Attention (issue #18): the fused attention op (forward and both backward kernels) against
 * Keras's formulas in float64 (test/reference/attention.ts) on NaN-filled outputs and by central
 * finite differences, with no mask, a padding mask, causal masks, dropout and long sequences;
 * MultiHeadAttention end to end (projections included) against float64, every weight and input
 * gradient by finite differences; dropout in training only; configs and their errors; model.json
 * round trips in our format and a hand-written Keras config; PositionEmbedding; a GPT-style block
 * built from layers, its gradients checked against a float64 reference of the whole block, trained.
 * ATTENTION_ERRORS=1 prints the largest error of each check after the file.
 */
import { describe, expect, it } from 'vitest';
import { input, layers, loadModel, model, optimizers, tensor, type Layer, type LayersModel, type ModelArtifacts, type NamedWeight, type SymbolicTensor } from '../src/index.ts';
import { MultiHeadAttention } from '../src/layers/attention.ts';
import { PositionEmbedding } from '../src/layers/position-embedding.ts';
import { attentionBackward, attentionForward, attentionStatsFloats, type AttentionGeometry } from '../src/ops/attention.ts';
import { stepInfoData } from '../shaders/kernel.ts';
import type { View } from '../src/runtime/engine.ts';
import { attentionRef, dropoutKeeps, gptBlockLossRef, mhaLayerRef, paddingMask, type AttentionRefGeometry } from './reference/attention.ts';
import { dot, finiteDifferences, measuredErrors, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';
import { captureOurs } from './artifacts.ts';

const engine = useEngine();
const record = measuredErrors('ATTENTION_ERRORS', ['forward', 'backward', 'finite differences', 'agreement']);
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function scratch(bytes: number, label: string): View {
  return { buffer: engine().buffer(bytes, label), offset: 0, size: bytes };
}

/** The plan's per-step uniform with this step and seed. */
function stepUniform(step: number, seed: number, rows: number): View {
  const buffer = engine().uniform(16, 'step info');
  engine().write(buffer, stepInfoData(0, step, seed, rows));
  return { buffer, offset: 0, size: 16 };
}

// ---- the fused attention op ------------------------------------------------------------------------

interface OpCase {
  name: string;
  g: AttentionGeometry;
  mask?: Float32Array;
  /** Finite-difference coordinates per operand (all when omitted). */
  probes?: number;
}

const STEP = { step: 3, seed: 17 };
const opCases: OpCase[] = [
  { name: 'no mask, Tq 5 ≠ Tv 7, 3 heads, keyDim 5, valueDim 3', g: { batch: 2, heads: 3, queries: 5, keys: 7, keyDim: 5, valueDim: 3, mask: false, causal: false, dropout: 0, seed: 0 } },
  {
    name: 'padding mask with a fully masked row, 2 heads, keyDim 6, valueDim 4',
    g: { batch: 2, heads: 2, queries: 6, keys: 9, keyDim: 6, valueDim: 4, mask: true, causal: false, dropout: 0, seed: 0 },
    mask: paddingMask(2, 6, 9, [9, 5], [[1, 2]]),
  },
  { name: 'causal, Tq = Tv = 7, keyDim 8, valueDim 5', g: { batch: 2, heads: 2, queries: 7, keys: 7, keyDim: 8, valueDim: 5, mask: false, causal: true, dropout: 0, seed: 0 } },
  {
    name: 'causal and a padding mask, Tq 5 < Tv 8, 3 heads, keyDim 3, valueDim 7',
    g: { batch: 2, heads: 3, queries: 5, keys: 8, keyDim: 3, valueDim: 7, mask: true, causal: true, dropout: 0, seed: 0 },
    mask: paddingMask(2, 5, 8, [8, 3]),
  },
  { name: 'dropout 0.3 (training), keyDim 4, valueDim 6', g: { batch: 2, heads: 2, queries: 5, keys: 6, keyDim: 4, valueDim: 6, mask: false, causal: false, dropout: 0.3, seed: 12345 } },
  { name: 'long: T 256, keyDim 64, valueDim 64, causal', g: { batch: 1, heads: 1, queries: 256, keys: 256, keyDim: 64, valueDim: 64, mask: false, causal: true, dropout: 0, seed: 0 }, probes: 6 },
];

function refGeometry(g: AttentionGeometry): AttentionRefGeometry {
  return { ...g, keeps: g.dropout > 0 ? dropoutKeeps(g.dropout, g.seed, STEP.step, STEP.seed) : undefined };
}

describe('fused attention op', () => {
  for (const c of opCases) {
    it(`forward and backward match Keras's formulas in float64 and finite differences: ${c.name}`, async () => {
      const e = engine();
      const { g } = c;
      const nq = g.batch * g.queries * g.heads * g.keyDim;
      const nk = g.batch * g.keys * g.heads * g.keyDim;
      const nv = g.batch * g.keys * g.heads * g.valueDim;
      const no = g.batch * g.queries * g.heads * g.valueDim;
      const [q, k, v, dout] = [randomArray(nq, 1, 1.5), randomArray(nk, 2, 1.5), randomArray(nv, 3), randomArray(no, 4)];
      const views = { q: uploadView(e, q), k: uploadView(e, k), v: uploadView(e, v), mask: c.mask && uploadView(e, c.mask), stepInfo: stepUniform(STEP.step, STEP.seed, g.batch) };
      const [o, stats, dq, dk, dv] = [nanBuffer(e, no), nanBuffer(e, attentionStatsFloats(g)), nanBuffer(e, nq), nanBuffer(e, nk), nanBuffer(e, nv)];
      const dispatches = [...attentionForward(e, g, { ...views, o, stats }), ...attentionBackward(e, g, { ...views, o, stats, dout: uploadView(e, dout), dq, dk, dv })];
      expect(dispatches.length).toBe(3);
      e.run(dispatches);
      const rg = refGeometry(g);
      const want = attentionRef(q, k, v, rg, c.mask).o;
      expect(record(`attention: ${c.name}`, 'forward', relL2(await readF32(e, o, no), want))).toBeLessThanOrEqual(1e-5);
      const got = { q: await readF32(e, dq, nq), k: await readF32(e, dk, nk), v: await readF32(e, dv, nv) };
      const f64 = { q: toF64(q), k: toF64(k), v: toF64(v) };
      for (const name of ['q', 'k', 'v'] as const) {
        const idx = c.probes ? sampleIndices(f64[name].length, c.probes, 7) : undefined;
        const loss = (x: Float64Array) => dot(attentionRef(name === 'q' ? x : f64.q, name === 'k' ? x : f64.k, name === 'v' ? x : f64.v, rg, c.mask).o, dout);
        const fd = finiteDifferences(loss, f64[name], idx);
        expect(fd.some((d) => d !== 0)).toBe(true);
        expect(record(`attention: ${c.name}`, 'finite differences', relL2(idx ? pick(got[name], idx) : got[name], fd)), `d${name}`).toBeLessThanOrEqual(1e-5);
      }
    });
  }

  it('a fully masked row gives zeros and no gradient; dropout in training changes the output, its masks differ per step', async () => {
    const e = engine();
    const c = opCases[1]!;
    const g = c.g;
    const n = (dim: number, t: number) => g.batch * t * g.heads * dim;
    const q = randomArray(n(g.keyDim, g.queries), 5);
    const views = { q: uploadView(e, q), k: uploadView(e, randomArray(n(g.keyDim, g.keys), 6)), v: uploadView(e, randomArray(n(g.valueDim, g.keys), 7)), mask: uploadView(e, c.mask!) };
    const o = nanBuffer(e, n(g.valueDim, g.queries));
    e.run(attentionForward(e, g, { ...views, o, stats: nanBuffer(e, attentionStatsFloats(g)) }));
    const out = await readF32(e, o, n(g.valueDim, g.queries));
    // Batch 1, query 2 is blank: its heads' outputs are exactly 0.
    for (let h = 0; h < g.heads; h++) expect(Array.from(out.subarray(((1 * g.queries + 2) * g.heads + h) * g.valueDim, ((1 * g.queries + 2) * g.heads + h + 1) * g.valueDim))).toEqual(new Array(g.valueDim).fill(0));
    const d = opCases[4]!.g;
    const dn = (dim: number, t: number) => d.batch * t * d.heads * dim;
    const dviews = { q: uploadView(e, randomArray(dn(d.keyDim, d.queries), 8)), k: uploadView(e, randomArray(dn(d.keyDim, d.keys), 9)), v: uploadView(e, randomArray(dn(d.valueDim, d.keys), 10)) };
    const outputs: Float32Array[] = [];
    for (const [dropout, step] of [[0, 1], [d.dropout, 1], [d.dropout, 2]] as const) {
      const y = nanBuffer(e, dn(d.valueDim, d.queries));
      e.run(attentionForward(e, { ...d, dropout }, { ...dviews, stepInfo: stepUniform(step, STEP.seed, d.batch), o: y, stats: nanBuffer(e, attentionStatsFloats(d)) }));
      outputs.push(await readF32(e, y, dn(d.valueDim, d.queries)));
    }
    expect(relL2(outputs[1]!, outputs[0]!)).toBeGreaterThan(0.1);
    expect(relL2(outputs[2]!, outputs[1]!)).toBeGreaterThan(0.1);
  });

  it('blocks of 1 to 4 rows per invocation (tails included) give the same results', async () => {
    const e = engine();
    for (const c of [opCases[1]!, opCases[3]!, opCases[4]!]) {
      const { g } = c;
      const sizes = { q: g.batch * g.queries * g.heads * g.keyDim, k: g.batch * g.keys * g.heads * g.keyDim, v: g.batch * g.keys * g.heads * g.valueDim, o: g.batch * g.queries * g.heads * g.valueDim };
      const views = { q: uploadView(e, randomArray(sizes.q, 11)), k: uploadView(e, randomArray(sizes.k, 12)), v: uploadView(e, randomArray(sizes.v, 13)), mask: c.mask && uploadView(e, c.mask), stepInfo: stepUniform(STEP.step, STEP.seed, g.batch) };
      const dout = uploadView(e, randomArray(sizes.o, 14));
      const results: Float32Array[][] = [];
      for (const block of [1, 2, 3, 4]) {
        const out = { o: nanBuffer(e, sizes.o), stats: nanBuffer(e, attentionStatsFloats(g)), dq: nanBuffer(e, sizes.q), dk: nanBuffer(e, sizes.k), dv: nanBuffer(e, sizes.v) };
        e.run([...attentionForward(e, g, { ...views, ...out }, { block }), ...attentionBackward(e, g, { ...views, ...out, dout }, { block })]);
        results.push(await Promise.all([readF32(e, out.o, sizes.o), readF32(e, out.dq, sizes.q), readF32(e, out.dk, sizes.k), readF32(e, out.dv, sizes.v)]));
      }
      for (const r of results.slice(1)) r.forEach((a, i) => expect(relL2(a, results[0]![i]!), `${c.name}, output ${i}`).toBeLessThanOrEqual(1e-6));
    }
  });

  it('rejects geometries that cannot work', () => {
    const e = engine();
    const g = opCases[0]!.g;
    const v = nanBuffer(e, 4);
    expect(() => attentionForward(e, { ...g, heads: 0 }, { q: v, k: v, v, o: v, stats: v })).toThrow(/attention: heads must be a positive integer, got 0/);
    expect(() => attentionForward(e, { ...g, keyDim: 2.5 }, { q: v, k: v, v, o: v, stats: v })).toThrow(/keyDim must be a positive integer, got 2.5/);
    expect(() => attentionForward(e, { ...g, dropout: 1 }, { q: v, k: v, v, o: v, stats: v })).toThrow(/dropout must be a number in \[0, 1\), got 1/);
    expect(() => attentionForward(e, { ...g, mask: true }, { q: v, k: v, v, o: v, stats: v })).toThrow(/mask \(with mask: true\) is required/);
    expect(() => attentionForward(e, g, { q: v, k: v, v, o: v, stats: v }, { block: 0 })).toThrow(/block must be an integer in \[1, 8\], got 0/);
  });
});

// ---- MultiHeadAttention end to end -----------------------------------------------------------------

interface LayerRun {
  y: Float32Array;
  inputGrads: (Float32Array | null)[];
  weightGrads: Float32Array[];
  /** Dispatches of the forward and the backward. */
  dispatches: [number, number];
}

/** Runs a layer's forward and backward on the node's input shapes (batch `batch`); outputs NaN-prefilled. */
async function runLayer(layer: Layer, batch: number, inputShapes: number[][], inputs: Float32Array[], weights: Float32Array[], dy: Float32Array, options: { training: boolean; needGrads?: boolean[]; skipForward?: boolean }): Promise<LayerRun> {
  const e = engine();
  const outputShape = layer.computeOutputShape(inputShapes);
  const ny = batch * size(outputShape);
  const ctx = {
    engine: e,
    batch,
    inputs: inputs.map((x) => uploadView(e, x)),
    inputShapes,
    output: nanBuffer(e, ny),
    outputShape,
    weights: weights.map((w) => uploadView(e, w)),
    training: options.training,
    stepInfo: stepUniform(STEP.step, STEP.seed, batch),
    scratch,
    saved: new Map<string, View>(),
  };
  const inputGrads = inputs.map((x, i) => (options.needGrads?.[i] ?? true ? nanBuffer(e, x.length) : null));
  const weightGrads = weights.map((w) => nanBuffer(e, w.length));
  const forward = options.skipForward ? [] : layer.forward(ctx);
  const backward = layer.backward({ ...ctx, outputGrad: uploadView(e, dy), inputGrads, weightGrads });
  e.run([...forward, ...backward]);
  return {
    dispatches: [forward.length, backward.length],
    y: await readF32(e, ctx.output, ny),
    inputGrads: await Promise.all(inputGrads.map((g, i) => (g ? readF32(e, g, inputs[i]!.length) : null))),
    weightGrads: await Promise.all(weightGrads.map((g, i) => readF32(e, g, weights[i]!.length))),
  };
}

interface LayerCase {
  name: string;
  config: ConstructorParameters<typeof MultiHeadAttention>[0];
  shapes: { query: number[]; value: number[]; key?: number[] };
  mask?: (batch: number) => Float32Array;
  causal?: boolean;
  training?: boolean;
}

const BATCH = 2;
const layerCases: LayerCase[] = [
  { name: 'query, value and key distinct, Tq 4 ≠ Tv 5, 2 heads, keyDim 3, valueDim 5', config: { numHeads: 2, keyDim: 3, valueDim: 5 }, shapes: { query: [4, 6], value: [5, 5], key: [5, 3] } },
  {
    name: 'attention mask and useCausalMask, no bias, outputShape [2, 3], 3 heads',
    config: { numHeads: 3, keyDim: 2, valueDim: 4, useBias: false, outputShape: [2, 3] },
    shapes: { query: [5, 4], value: [6, 3] },
    mask: (b) => paddingMask(b, 5, 6, [6, 4]),
    causal: true,
  },
  { name: 'key = value (two inputs), dropout 0.25 in training', config: { numHeads: 2, keyDim: 4, dropout: 0.25 }, shapes: { query: [3, 5], value: [4, 5] }, training: true },
];

describe('MultiHeadAttention end to end', () => {
  for (const c of layerCases) {
    it(`forward and every weight and input gradient match Keras's formulas in float64: ${c.name}`, async () => {
      const layer = new MultiHeadAttention(c.config);
      const [q, v] = [input({ shape: c.shapes.query }), input({ shape: c.shapes.value })];
      const k = c.shapes.key ? input({ shape: c.shapes.key }) : undefined;
      const m = c.mask ? input({ shape: [c.shapes.query[0]!, c.shapes.value[0]!] }) : undefined;
      layer.apply(k ? [q, v, k] : [q, v], { attentionMask: m, useCausalMask: c.causal });
      const node = layer.inboundNodes[0]!;
      expect(node.inputs).toEqual([q, v, k ?? v, ...(m ? [m] : [])]);
      const shapes = node.inputs.map((t) => [...t.shape]);
      const xs = shapes.map((s, i) => (i === 3 ? c.mask!(BATCH) : randomArray(BATCH * size(s), 20 + i)));
      const specs = layer.weightSpecs(shapes);
      expect(specs.map((s) => s.name)).toEqual(['query/kernel', 'query/bias', 'key/kernel', 'key/bias', 'value/kernel', 'value/bias', 'attention_output/kernel', 'attention_output/bias'].filter((n) => layer.useBias || !n.endsWith('bias')));
      const ws = specs.map((s, i) => randomArray(size(s.shape), 40 + i, 0.6));
      const training = c.training ?? false;
      const dy = randomArray(BATCH * size(layer.computeOutputShape(shapes)), 60);
      const run = await runLayer(layer, BATCH, shapes, xs, ws, dy, { training, needGrads: shapes.map((_, i) => i < 3) });
      const want = mhaLayerRef(layer, STEP, BATCH, shapes, xs, ws, training);
      expect(record(`multiHeadAttention: ${c.name}`, 'forward', relL2(run.y, want))).toBeLessThanOrEqual(1e-5);
      const xs64 = xs.map(toF64);
      const ws64 = ws.map(toF64);
      const check = (all: Float32Array, at: Float64Array, f: (x: Float64Array) => Float64Array, what: string) => {
        const idx = sampleIndices(at.length, 24, at.length);
        const fd = finiteDifferences((x) => dot(f(x), dy), at, idx);
        const got = pick(all, idx);
        expect(all.every(Number.isFinite), what).toBe(true);
        if (what === 'key/bias') {
          // Adding one vector to every key adds a constant to each row of scores: the softmax ignores it.
          expect(Math.max(...fd.map(Math.abs))).toBeLessThanOrEqual(1e-8);
          expect(Math.max(...got.map(Math.abs))).toBeLessThanOrEqual(1e-5);
          return;
        }
        expect(fd.some((d) => d !== 0), what).toBe(true);
        expect(record(`multiHeadAttention: ${c.name}`, 'finite differences', relL2(got, fd)), what).toBeLessThanOrEqual(1e-5);
      };
      specs.forEach((s, i) => check(run.weightGrads[i]!, ws64[i]!, (x) => mhaLayerRef(layer, STEP, BATCH, shapes, xs64, ws64.map((w, j) => (j === i ? x : w)), training), s.name));
      for (let i = 0; i < 3; i++) check(run.inputGrads[i]!, xs64[i]!, (x) => mhaLayerRef(layer, STEP, BATCH, shapes, xs64.map((w, j) => (j === i ? x : w)), ws64, training), `input ${i}`);
      expect(run.inputGrads[3] ?? null).toBeNull();
    });
  }

  it('dropout only in training: inference equals a dropout-free layer with the same weights', async () => {
    const shapes = [[3, 5], [4, 5], [4, 5]];
    const xs = shapes.map((s, i) => randomArray(BATCH * size(s), 70 + i));
    const withDropout = new MultiHeadAttention({ numHeads: 2, keyDim: 4, dropout: 0.5 });
    const without = new MultiHeadAttention({ numHeads: 2, keyDim: 4 });
    const ws = withDropout.weightSpecs(shapes).map((s, i) => randomArray(size(s.shape), 80 + i, 0.6));
    const dy = randomArray(BATCH * 3 * 5, 90);
    const inference = await runLayer(withDropout, BATCH, shapes, xs, ws, dy, { training: false });
    const plain = await runLayer(without, BATCH, shapes, xs, ws, dy, { training: false });
    const trained = await runLayer(withDropout, BATCH, shapes, xs, ws, dy, { training: true });
    expect(relL2(inference.y, plain.y)).toBe(0);
    expect(relL2(trained.y, plain.y)).toBeGreaterThan(0.05);
  });

  it('five dispatches forward, ten backward; a mask asked for a gradient gets zeros; a backward without its forward recomputes it', async () => {
    const layer = new MultiHeadAttention({ numHeads: 1, keyDim: 2 });
    const shapes = [[3, 2], [4, 2], [4, 2], [3, 4]];
    const xs = [randomArray(6 * 2, 1), randomArray(8 * 2, 2), randomArray(8 * 2, 3), paddingMask(2, 3, 4, [4, 2])];
    const ws = layer.weightSpecs(shapes).map((s, i) => randomArray(size(s.shape), 5 + i));
    const dy = randomArray(12, 9);
    const run = await runLayer(layer, 2, shapes, xs, ws, dy, { training: true });
    expect(run.dispatches).toEqual([5, 11]);
    expect(Array.from(run.inputGrads[3]!)).toEqual(new Array(24).fill(0));
    const alone = await runLayer(layer, 2, shapes, xs, ws, dy, { training: true, skipForward: true, needGrads: [false, true, true, false] });
    expect(alone.dispatches).toEqual([0, 5 + 9]);
    expect(relL2(alone.y, run.y)).toBe(0);
    alone.weightGrads.forEach((g, i) => expect(relL2(g, run.weightGrads[i]!)).toBe(0));
    expect(relL2(alone.inputGrads[1]!, run.inputGrads[1]!)).toBe(0);
  });
});

// ---- configs and errors ----------------------------------------------------------------------------

describe('MultiHeadAttention config', () => {
  it("writes Keras's config and weights; reads Keras's back, tf.keras 2's input shapes and attention_axes [1] included", () => {
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 3, name: 'mha' });
    const defaults = { kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null };
    expect(layer.getConfig()).toEqual({
      ...{ name: 'mha', trainable: true, num_heads: 2, key_dim: 3, value_dim: 3, dropout: 0, use_bias: true, output_shape: null, attention_axes: null, seed: null, ...defaults },
      kernel_initializer: { class_name: 'VarianceScaling', config: { scale: 1, mode: 'fan_avg', distribution: 'uniform', seed: null } },
      bias_initializer: { class_name: 'Zeros', config: {} },
    });
    const specs = layer.weightSpecs([[5, 6], [7, 4], [7, 2]]).map((s) => `${s.name} [${s.shape.join(', ')}]`);
    expect(specs).toEqual(['query/kernel [6, 2, 3]', 'query/bias [2, 3]', 'key/kernel [2, 2, 3]', 'key/bias [2, 3]', 'value/kernel [4, 2, 3]', 'value/bias [2, 3]', 'attention_output/kernel [2, 3, 6]', 'attention_output/bias [6]']);
    // As tf.keras 2 writes it (built: attention_axes [1], the inputs' shapes).
    const keras = MultiHeadAttention.fromConfig({
      ...{ name: 'multi_head_attention', trainable: true, dtype: 'float32', num_heads: 4, key_dim: 8, value_dim: 5, dropout: 0.1, use_bias: false, output_shape: [3], attention_axes: [1], ...defaults },
      ...{ kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } }, bias_initializer: { class_name: 'Zeros', config: {} }, kernel_regularizer: { class_name: 'L1L2', config: { l1: 0, l2: 0.01 } } },
      ...{ query_shape: [null, 5, 6], key_shape: null, value_shape: [null, 7, 6] },
    });
    expect([keras.numHeads, keras.keyDim, keras.valueDim, keras.dropout, keras.useBias, keras.outputDims, keras.kernelInitializer]).toEqual([4, 8, 5, 0.1, false, [3], 'glorotUniform']);
    expect(keras.computeOutputShape([[5, 6], [7, 6], [7, 6]])).toEqual([5, 3]);
    expect(keras.weightSpecs([[5, 6], [7, 6], [7, 6]]).every((s) => s.name.endsWith('bias') || s.regularizer !== undefined)).toBe(true);
    expect(MultiHeadAttention.fromConfig({ name: 'c', num_heads: 1, key_dim: 2, use_causal_mask: true }).useCausalMask).toBe(true);
  });

  it('rejects configs that cannot work, naming the layer, the field, what it expects and what came', () => {
    const make = (config: object) => () => new MultiHeadAttention({ numHeads: 2, keyDim: 4, name: 'm', ...config });
    expect(make({ numHeads: 0 })).toThrow(/MultiHeadAttention m: numHeads must be a positive integer, got 0/);
    expect(make({ numHeads: 1.5 })).toThrow(/numHeads must be a positive integer, got 1.5/);
    expect(make({ keyDim: -3 })).toThrow(/MultiHeadAttention m: keyDim must be a positive integer, got -3/);
    expect(make({ keyDim: undefined })).toThrow(/keyDim must be a positive integer, got undefined/);
    expect(make({ valueDim: 0 })).toThrow(/valueDim must be a positive integer, got 0/);
    expect(make({ dropout: 1 })).toThrow(/dropout must be a number in \[0, 1\), got 1/);
    expect(make({ outputShape: [] })).toThrow(/outputShape must be a positive integer or a non-empty array.*got \[\]/);
    expect(make({ attentionAxes: [2] })).toThrow(/MultiHeadAttention m: attentionAxes must be null .*got \[2\]/);
    expect(make({ attentionAxes: [1, 2] })).toThrow(/attentionAxes .*got \[1,2\]/);
    expect(make({ activityRegularizer: 'l2' })).toThrow(/activityRegularizer is not supported .*got "l2"/);
    expect(make({ useCausalMask: 'yes' })).toThrow(/useCausalMask must be true or false, got "yes"/);
    expect(make({ seed: -1 })).toThrow(/seed must be null or an integer in \[0, 2\^32\), got -1/);
    expect(() => MultiHeadAttention.fromConfig({ name: 'k', num_heads: 2, key_dim: 4, attention_axes: [2] })).toThrow(/attentionAxes must be null/);
    expect(() => MultiHeadAttention.fromConfig({ name: 'k', num_heads: 2, key_dim: 4, return_attention_scores: true })).toThrow(/MultiHeadAttention: unknown config key 'return_attention_scores'/);
    expect(() => MultiHeadAttention.fromConfig({ name: 'k', num_heads: 2, key_dim: 4, query_shape: 'big' })).toThrow(/query_shape must be null or a shape/);
  });

  it('rejects inputs and call arguments that cannot work', () => {
    const [q, v, k] = [input({ shape: [5, 6] }), input({ shape: [7, 4] }), input({ shape: [7, 2] })];
    const mha = () => new MultiHeadAttention({ numHeads: 2, keyDim: 4, name: 'm' });
    expect(() => mha().apply(q)).toThrow(/layer m \(MultiHeadAttention\): apply\(\) takes \[query, value\] or \[query, value, key\]/);
    expect(() => mha().apply([q, v, k, k])).toThrow(/apply\(\) takes \[query, value\] or \[query, value, key\]/);
    expect(() => mha().apply([q, v], { attentionMask: input({ shape: [5, 6] }) })).toThrow(/layer m \(MultiHeadAttention\): the attention mask must have shape \[batch, Tq, Tv\] = \[null, ?5, ?7\], got \[null, ?5, ?6\]/);
    expect(() => mha().apply([q, v, input({ shape: [6, 2] })])).toThrow(/key and value must have the same steps/);
    expect(() => mha().apply([input({ shape: [2, 5, 6] }), v])).toThrow(/query must have shape \[batch, steps, features\] \(rank 3 with the batch.*got \[null, ?2, ?5, ?6\]/);
    expect(() => mha().apply([q, v], { causal: true } as object)).toThrow(/unknown call argument 'causal'; known: attentionMask, useCausalMask/);
    const shared = mha();
    shared.apply([q, v], { useCausalMask: true });
    expect(() => shared.apply([q, v])).not.toThrow();
    expect(() => shared.apply([q, v], { useCausalMask: false })).toThrow(/applied with useCausalMask false, but its earlier node\(s\) use true/);
    expect(() => shared.apply([q, input({ shape: [7, 5] })])).toThrow(/which need weights of shapes/);
  });
});

// ---- model.json ------------------------------------------------------------------------------------

describe('MultiHeadAttention in model.json', () => {
  it("round trip in our format (Keras's call arguments in inbound_nodes): causal self-attention, cross-attention with a key and a mask", async () => {
    const tokens = input({ shape: [5, 6], name: 'tokens' });
    const context = input({ shape: [7, 4], name: 'context' });
    const keys = input({ shape: [7, 3], name: 'keys' });
    const mask = input({ shape: [5, 7], name: 'mask' });
    const self = layers.multiHeadAttention({ numHeads: 2, keyDim: 3, name: 'self' }).apply([tokens, tokens], { useCausalMask: true });
    const cross = layers.multiHeadAttention({ numHeads: 3, keyDim: 2, valueDim: 4, outputShape: 5, dropout: 0.1, name: 'cross' }).apply([self, context, keys], { attentionMask: mask });
    const ours = model({ inputs: [tokens, context, keys, mask], outputs: layers.dense({ units: 2, name: 'head' }).apply(cross) });
    ours.useEngine(engine());
    const data = () => [tensor(randomArray(3 * 30, 1), [3, 5, 6]), tensor(randomArray(3 * 28, 2), [3, 7, 4]), tensor(randomArray(3 * 21, 3), [3, 7, 3]), tensor(paddingMask(3, 5, 7, [7, 2, 5]), [3, 5, 7])];
    const expected = ((await ours.predict(data())) as { dataSync(): Float32Array }).dataSync();
    const artifacts = await captureOurs(ours);
    const entries = (artifacts.modelTopology as unknown as { config: { layers: { name: string; inbound_nodes: unknown }[] } }).config.layers;
    const nodes = (name: string) => entries.find((l) => l.name === name)!.inbound_nodes;
    expect(nodes('self')).toEqual([[['tokens', 0, 0, { value: ['tokens', 0, 0], use_causal_mask: true }]]]);
    expect(nodes('cross')).toEqual([[['self', 0, 0, { value: ['context', 0, 0], key: ['keys', 0, 0], attention_mask: ['mask', 0, 0] }]]]);
    expect(nodes('head')).toEqual([[['cross', 0, 0, {}]]]);
    const loaded = await loadModel({ load: async () => artifacts }, { engine: engine() });
    expect((loaded.getLayer('self') as MultiHeadAttention).useCausalMask).toBe(true);
    expect((loaded.getLayer('cross') as MultiHeadAttention).useCausalMask).toBe(false);
    const got = ((await loaded.predict(data())) as { dataSync(): Float32Array }).dataSync();
    expect(record('model.json round trip', 'agreement', relL2(got, expected))).toBeLessThanOrEqual(1e-6);
    ours.dispose();
    loaded.dispose();
  });

  it('loads a hand-written tf.keras 2 model.json: MultiHeadAttention(x, x, use_causal_mask=True)', async () => {
    const shapes = [[5, 6], [5, 6], [5, 6]];
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 3, useCausalMask: true });
    const specs = layer.weightSpecs(shapes);
    const ws = specs.map((s, i) => randomArray(size(s.shape), 100 + i, 0.6));
    const bytes = new Float32Array(ws.reduce((n, w) => n + w.length, 0));
    ws.reduce((at, w) => (bytes.set(w, at), at + w.length), 0);
    const mhaConfig = { name: 'multi_head_attention', trainable: true, dtype: 'float32', num_heads: 2, key_dim: 3, value_dim: 3, dropout: 0.0, use_bias: true, output_shape: null, attention_axes: [1] };
    const artifacts = {
      modelTopology: {
        class_name: 'Functional',
        config: {
          name: 'model',
          layers: [
            { class_name: 'InputLayer', config: { batch_input_shape: [null, 5, 6], dtype: 'float32', sparse: false, ragged: false, name: 'input_1' }, name: 'input_1', inbound_nodes: [] },
            {
              class_name: 'MultiHeadAttention',
              config: { ...mhaConfig, kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } }, bias_initializer: { class_name: 'Zeros', config: {} }, query_shape: [null, 5, 6], key_shape: [null, 5, 6], value_shape: [null, 5, 6] },
              name: 'multi_head_attention',
              inbound_nodes: [[['input_1', 0, 0, { value: ['input_1', 0, 0], use_causal_mask: true }]]],
            },
          ],
          input_layers: [['input_1', 0, 0]],
          output_layers: [['multi_head_attention', 0, 0]],
        },
        keras_version: '2.15.0',
        backend: 'tensorflow',
      },
      weightSpecs: specs.map((s) => ({ name: `multi_head_attention/${s.name}`, shape: [...s.shape], dtype: 'float32' })),
      weightData: bytes.buffer,
      format: 'layers-model',
    };
    const loaded = await loadModel({ load: async () => artifacts as unknown as ModelArtifacts }, { engine: engine() });
    const x = randomArray(2 * 30, 110);
    const got = ((await loaded.predict(tensor(x, [2, 5, 6]))) as { dataSync(): Float32Array }).dataSync();
    expect(record('hand-written Keras model.json', 'agreement', relL2(got, mhaLayerRef(layer, STEP, 2, shapes, [x, x, x], ws, false)))).toBeLessThanOrEqual(1e-5);
    loaded.dispose();
    const withArgs = (kwargs: object, className = 'MultiHeadAttention', config: object = mhaConfig) => {
      const t = structuredClone(artifacts) as { modelTopology: { config: { layers: Record<string, unknown>[] } } };
      Object.assign(t.modelTopology.config.layers[1]!, { class_name: className, config, inbound_nodes: [[['input_1', 0, 0, kwargs]]] });
      return loadModel({ load: async () => t as unknown as ModelArtifacts }, { engine: engine() });
    };
    await expect(withArgs({ value: ['input_1', 0, 0], return_attention_scores: true })).rejects.toThrow(/return_attention_scores true is not supported/);
    await expect(withArgs({ value: ['input_1', 0, 0], query_mask: null })).rejects.toThrow(/unknown call argument 'query_mask'/);
    await expect(withArgs({ training: true }, 'Dense', { name: 'multi_head_attention', units: 2 })).rejects.toThrow(/call arguments \{"training":true\} are not supported by Dense layers/);
  });
});

// ---- PositionEmbedding ------------------------------------------------------------------------------

describe('PositionEmbedding', () => {
  for (const [steps, length] of [[5, 7], [6, 6]] as const) {
    it(`returns the table's first rows for every sample; its gradient sums them (steps ${steps}, sequenceLength ${length})`, async () => {
      const layer = new PositionEmbedding({ sequenceLength: length });
      const shapes = [[steps, 3]];
      expect(layer.computeOutputShape(shapes)).toEqual([steps, 3]);
      expect(layer.weightSpecs(shapes).map((s) => s.shape)).toEqual([[length, 3]]);
      const table = randomArray(length * 3, 1);
      const dy = randomArray(4 * steps * 3, 2);
      const run = await runLayer(layer, 4, shapes, [randomArray(4 * steps * 3, 3)], [table], dy, { training: true });
      const want = Float64Array.from({ length: 4 * steps * 3 }, (_, i) => table[i % (steps * 3)]!);
      const grad = Float64Array.from({ length: length * 3 }, (_, i) => (i < steps * 3 ? [0, 1, 2, 3].reduce((sum, b) => sum + dy[b * steps * 3 + i]!, 0) : 0));
      expect(record('positionEmbedding', 'forward', relL2(run.y, want))).toBe(0);
      expect(record('positionEmbedding', 'backward', relL2(run.weightGrads[0]!, grad))).toBeLessThanOrEqual(1e-7);
      expect(Array.from(run.inputGrads[0]!)).toEqual(new Array(4 * steps * 3).fill(0));
    });
  }

  it("keras_hub's config both ways; errors name the layer, the field and what came", () => {
    const layer = new PositionEmbedding({ sequenceLength: 8, name: 'pos' });
    expect(layer.getConfig()).toEqual({ name: 'pos', trainable: true, sequence_length: 8, hierarchical_alpha: 0.4, initializer: { class_name: 'VarianceScaling', config: { scale: 1, mode: 'fan_avg', distribution: 'uniform', seed: null } } });
    const hub = PositionEmbedding.fromConfig({ name: 'p', trainable: true, dtype: 'float32', sequence_length: 16, hierarchical_alpha: 0.4, initializer: { module: 'keras.initializers', class_name: 'RandomNormal', config: { mean: 0, stddev: 0.02, seed: null }, registered_name: null } });
    expect([hub.sequenceLength, hub.initializer]).toEqual([16, { kind: 'randomNormal', mean: 0, stddev: 0.02, seed: null }]);
    expect(PositionEmbedding.fromConfig({ name: 'nlp', sequence_length: 4 }).hierarchicalAlpha).toBe(0.4);
    expect(() => new PositionEmbedding({ sequenceLength: 0, name: 'p' })).toThrow(/PositionEmbedding p: sequenceLength must be a positive integer, got 0/);
    expect(() => new PositionEmbedding({ sequenceLength: 4, hierarchicalAlpha: Number.NaN, name: 'p' })).toThrow(/hierarchicalAlpha must be a finite number/);
    expect(() => layer.computeOutputShape([[9, 4]])).toThrow(/layer pos \(PositionEmbedding\): the input has 9 steps, more than sequenceLength 8; keras_hub's hierarchical extension/);
    expect(() => layer.computeOutputShape([[4]])).toThrow(/expects inputs of shape \[batch, \.\.\., steps, features\].*got \[null, ?4\]/);
    expect(() => PositionEmbedding.fromConfig({ name: 'p', sequence_length: 4, seq_axis: 1 })).toThrow(/unknown config key 'seq_axis'/);
  });
});

// ---- a GPT-style block -----------------------------------------------------------------------------

const GPT = { batch: 3, steps: 6, vocab: 7, dim: 8, heads: 2, keyDim: 4, hidden: 12, epsilon: 1e-3 };

/** embedding → add(token, positionEmbedding) → layerNormalization → causal MHA → add → layerNormalization → dense relu → dense → add → dense softmax. */
function gptBlock(): LayersModel {
  const ids = input({ shape: [GPT.steps], name: 'ids' });
  const tok = layers.embedding({ inputDim: GPT.vocab, outputDim: GPT.dim, name: 'tok' }).apply(ids);
  // A table longer than the sequence: its last rows get zero gradients.
  const x = layers.add().apply([tok, layers.positionEmbedding({ sequenceLength: GPT.steps + 2, name: 'pos' }).apply(tok)]);
  const h = layers.layerNormalization({ name: 'ln1' }).apply(x);
  const x2 = layers.add().apply([x, layers.multiHeadAttention({ numHeads: GPT.heads, keyDim: GPT.keyDim, name: 'mha' }).apply([h, h], { useCausalMask: true })]);
  const f = layers.dense({ units: GPT.hidden, activation: 'relu', name: 'ff1' }).apply(layers.layerNormalization({ name: 'ln2' }).apply(x2));
  const x3 = layers.add().apply([x2, layers.dense({ units: GPT.dim, name: 'ff2' }).apply(f)]);
  return model({ inputs: ids, outputs: layers.dense({ units: GPT.vocab, activation: 'softmax', name: 'head' }).apply(x3) as SymbolicTensor });
}

/** Token ids and next-token targets: each sequence counts up from a start, modulo the vocabulary. */
function gptData(samples: number): { ids: Float32Array; labels: Int32Array; oneHot: Float32Array } {
  const ids = Float32Array.from({ length: samples * GPT.steps }, (_, i) => (Math.floor(i / GPT.steps) * 3 + (i % GPT.steps)) % GPT.vocab);
  const labels = Int32Array.from(ids, (id) => (id + 1) % GPT.vocab);
  const oneHot = new Float32Array(labels.length * GPT.vocab);
  labels.forEach((l, r) => (oneHot[r * GPT.vocab + l] = 1));
  return { ids, labels, oneHot };
}

describe('a GPT-style block built from layers', () => {
  const { ids, labels, oneHot } = gptData(GPT.batch);
  /** The block's initial weights, and the float64 loss and gradient there at sampled coordinates (one set for both label forms). */
  let start: { weights: NamedWeight[]; loss: number; samples: { weight: number; index: number; gradient: number }[] } | undefined;
  function reference(weights: NamedWeight[]): NonNullable<typeof start> {
    const byName = new Map(weights.map((w) => [w.name, toF64(w.values)]));
    const lossAt = (name: string, x: Float64Array) => gptBlockLossRef(ids, labels, (n) => (n === name ? x : byName.get(n)!), GPT);
    const samples = weights.flatMap((w, i) => {
      const idx = sampleIndices(w.values.length, 16, i + 1);
      const fd = finiteDifferences((x) => lossAt(w.name, x), byName.get(w.name)!, idx);
      return idx.map((index, k) => ({ weight: i, index, gradient: fd[k]! }));
    });
    return { weights, loss: lossAt('', new Float64Array()), samples };
  }

  /** One SGD step (learning rate 1) from the shared start: the loss it reports and each weight's move. */
  async function step(loss: 'categoricalCrossentropy' | 'sparseCategoricalCrossentropy', what: string): Promise<LayersModel> {
    const block = gptBlock();
    block.compile({ optimizer: optimizers.sgd({ learningRate: 1 }), loss, engine: engine() });
    if (start) block.setWeights(start.weights);
    else start = reference(await block.getWeights());
    const y = loss === 'categoricalCrossentropy' ? tensor(oneHot, [GPT.batch, GPT.steps, GPT.vocab]) : tensor(labels, [GPT.batch, GPT.steps]);
    const history = await block.fit(tensor(ids, [GPT.batch, GPT.steps]), y, { epochs: 1, batchSize: GPT.batch, shuffle: false, verbose: 0 });
    expect(record(`GPT block, ${what}: loss`, 'agreement', Math.abs(history.loss[0]! - start.loss) / start.loss)).toBeLessThanOrEqual(1e-5);
    const after = await block.getWeights();
    const moved = start.samples.map((s) => start!.weights[s.weight]!.values[s.index]! - after[s.weight]!.values[s.index]!);
    expect(record(`GPT block, ${what}: gradients`, 'finite differences', relL2(moved, start.samples.map((s) => s.gradient)))).toBeLessThanOrEqual(1e-3);
    // The position table's rows past the sequence never move.
    const pos = after.findIndex((w) => w.name === 'pos/embeddings');
    expect(Array.from(after[pos]!.values.subarray(GPT.steps * GPT.dim))).toEqual(Array.from(start.weights[pos]!.values.subarray(GPT.steps * GPT.dim)));
    return block;
  }

  it('one SGD step moves every weight by the float64 gradient of the whole block (one-hot targets [N, T, vocab]); model.json round trip', async () => {
    const block = await step('categoricalCrossentropy', 'one-hot targets');
    const x = tensor(ids, [GPT.batch, GPT.steps]);
    const expected = ((await block.predict(x)) as { dataSync(): Float32Array }).dataSync();
    const loaded = await loadModel({ load: async () => await captureOurs(block) }, { engine: engine() });
    const reloaded = ((await loaded.predict(x)) as { dataSync(): Float32Array }).dataSync();
    expect(record('GPT block: model.json round trip', 'agreement', relL2(reloaded, expected))).toBeLessThanOrEqual(1e-6);
    block.dispose();
    loaded.dispose();
  });

  it('the same with sparseCategoricalCrossentropy over [B, T, vocab] (class indices [N, T]), then it trains: the loss falls', async () => {
    (await step('sparseCategoricalCrossentropy', 'class indices')).dispose();
    const block = gptBlock();
    const data = gptData(6);
    block.compile({ optimizer: optimizers.adam({ learningRate: 0.02 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
    const history = await block.fit(tensor(data.ids, [6, GPT.steps]), tensor(data.labels, [6, GPT.steps]), { epochs: 30, batchSize: 3, shuffle: false, verbose: 0 });
    const losses = history.loss;
    expect(losses[losses.length - 1]!).toBeLessThan(0.5 * losses[0]!);
    block.dispose();
  });
});
