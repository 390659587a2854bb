/**
 * Embedding: the lookup and its deterministic table gradient against float64 references (NaN-filled
 * outputs, vocabularies that are not multiples of the workgroup sizes, repeated ids, unused rows,
 * several chunkings of the counting sort), the exact ascending summation order and run-to-run
 * bit equality, central finite differences, the host-side id check, configs and their errors,
 * twins trained beside TF.js 4.22 (cpu backend), and model.json both ways.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layers, loadModel, optimizers, sequential, tensor, type LayersModel, type ModelArtifacts } from '../src/index.ts';
import { Embedding } from '../src/layers/embedding.ts';
import { Random } from '../src/layers/initializers.ts';
import { checkIds, embeddingBackward, embeddingChunks, embeddingForward, embeddingGeometry, type EmbeddingGeometry } from '../src/ops/embedding.ts';
import type { View } from '../src/runtime/engine.ts';
import { dot, finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';
import { captureOurs, captureTf } from './artifacts.ts';

const engine = useEngine();

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** The largest error each check measured; EMBEDDING_ERRORS=1 prints them after the file. */
const worst = new Map<string, number>();
function record(what: string, err: number): number {
  worst.set(what, Math.max(worst.get(what) ?? 0, err));
  return err;
}
afterAll(() => {
  if (process.env.EMBEDDING_ERRORS) console.log([...worst].map(([what, err]) => `${what}: ${err.toExponential(2)}`).join('\n'));
});

// ---- float64 references ------------------------------------------------------------------------

function forwardRef(ids: ArrayLike<number>, w: ArrayLike<number>, g: EmbeddingGeometry): Float64Array {
  const y = new Float64Array(g.positions * g.dim);
  for (let p = 0; p < g.positions; p++) for (let c = 0; c < g.dim; c++) y[p * g.dim + c] = w[ids[p]! * g.dim + c]!;
  return y;
}

function backwardRef(ids: ArrayLike<number>, dy: ArrayLike<number>, g: EmbeddingGeometry): Float64Array {
  const dw = new Float64Array(g.vocab * g.dim);
  for (let p = 0; p < g.positions; p++) for (let c = 0; c < g.dim; c++) dw[ids[p]! * g.dim + c] += dy[p * g.dim + c]!;
  return dw;
}

/** The same sums in float32, position by position in ascending order: what the kernel must give bit for bit. */
function backwardAscendingF32(ids: ArrayLike<number>, dy: ArrayLike<number>, g: EmbeddingGeometry): Float32Array {
  const dw = new Float32Array(g.vocab * g.dim);
  for (let p = 0; p < g.positions; p++) for (let c = 0; c < g.dim; c++) dw[ids[p]! * g.dim + c] = Math.fround(dw[ids[p]! * g.dim + c]! + dy[p * g.dim + c]!);
  return dw;
}

/** Ids in [0, vocab) leaving some rows unused: a share `hot` of positions holds id `hotId`, the rest are drawn from the lower 3/4 of the vocabulary. */
function randomIds(n: number, vocab: number, seed: number, hot = 0, hotId = 0): Float32Array {
  const r = new Random(seed);
  return Float32Array.from({ length: n }, () => (r.uniform(0, 1) < hot ? hotId : Math.floor(r.uniform(0, 1) * Math.max(1, Math.floor((vocab * 3) / 4)))));
}

function scratchOf() {
  const e = engine();
  return (bytes: number, label: string): View => ({ buffer: e.buffer(bytes, label), offset: 0, size: bytes });
}

async function run(g: EmbeddingGeometry, ids: Float32Array, w: Float32Array, dy: Float32Array): Promise<{ y: Float32Array; dw: Float32Array }> {
  const e = engine();
  const y = nanBuffer(e, g.positions * g.dim);
  const dw = nanBuffer(e, g.vocab * g.dim);
  const idsView = uploadView(e, ids);
  e.run([...embeddingForward(e, g, { ids: idsView, w: uploadView(e, w), y }), ...embeddingBackward(e, g, { ids: idsView, dy: uploadView(e, dy), dw }, scratchOf())]);
  return { y: await readF32(e, y, g.positions * g.dim), dw: await readF32(e, dw, g.vocab * g.dim) };
}

// ---- the op --------------------------------------------------------------------------------------

interface OpCase {
  name: string;
  batch: number;
  idShape: number[];
  vocab: number;
  dim: number;
  hot?: number;
}

const opCases: OpCase[] = [
  { name: 'vocab 37, dim 5 (scalar lanes), one chunk', batch: 3, idShape: [7], vocab: 37, dim: 5 },
  { name: 'vocab 70, dim 8 (vec4 lanes), ids [4, 3]', batch: 2, idShape: [4, 3], vocab: 70, dim: 8 },
  { name: 'vocab 1001, dim 6, 700 positions in 3 chunks (the last shorter), id 0 in half of them', batch: 7, idShape: [100], vocab: 1001, dim: 6, hot: 0.5 },
  { name: 'vocab 50021, dim 1: the count table budget allows 2 chunks of 1000', batch: 4, idShape: [500], vocab: 50021, dim: 1, hot: 0.2 },
  { name: 'a language-model step: vocab 3001, dim 12, 64 × 40 ids', batch: 64, idShape: [40], vocab: 3001, dim: 12, hot: 0.1 },
];

describe('embedding op', () => {
  for (const c of opCases) {
    it(`forward and backward match float64; the gradient is the ascending float32 sum bit for bit: ${c.name}`, async () => {
      const g = embeddingGeometry(c.batch, c.idShape, c.vocab, c.dim);
      const ids = randomIds(g.positions, g.vocab, g.positions + 1, c.hot ?? 0, 0);
      const w = randomArray(g.vocab * g.dim, 2);
      const dy = randomArray(g.positions * g.dim, 3);
      const { y, dw } = await run(g, ids, w, dy);
      expect(record('forward vs float64', relL2(y, forwardRef(ids, w, g)))).toBe(0);
      expect(record('backward vs float64', relL2(dw, backwardRef(ids, dy, g)))).toBeLessThanOrEqual(1e-6);
      const exact = backwardAscendingF32(ids, dy, g);
      const mismatches = exact.reduce((n, v, i) => n + (Object.is(v, dw[i]) ? 0 : 1), 0);
      expect(mismatches, 'elements differing from the ascending float32 sum').toBe(0);
      // Rows no id hits are zeros (the NaN prefill is gone).
      const used = new Set(ids);
      const unused = Array.from({ length: g.vocab }, (_, v) => v).filter((v) => !used.has(v));
      expect(unused.length).toBeGreaterThan(0);
      for (const v of unused.slice(0, 50)) expect(Array.from(dw.subarray(v * g.dim, (v + 1) * g.dim))).toEqual(Array(g.dim).fill(0));
    });
  }

  it('chunks the positions as the budget allows', () => {
    expect(embeddingChunks(embeddingGeometry(3, [7], 37, 5))).toEqual({ chunks: 1, chunkLength: 21 });
    expect(embeddingChunks(embeddingGeometry(7, [100], 1001, 6))).toEqual({ chunks: 3, chunkLength: 234 });
    expect(embeddingChunks(embeddingGeometry(4, [500], 50021, 1))).toEqual({ chunks: 2, chunkLength: 1000 });
    expect(embeddingChunks(embeddingGeometry(64, [40], 3001, 12))).toEqual({ chunks: 10, chunkLength: 256 });
    expect(embeddingChunks(embeddingGeometry(8, [1000], 300007, 4))).toEqual({ chunks: 1, chunkLength: 8000 });
  });

  it('the embeddings gradient equals central finite differences of a random linear functional', async () => {
    const g = embeddingGeometry(5, [9], 23, 7);
    const ids = randomIds(g.positions, g.vocab, 11, 0.3, 4);
    const w = randomArray(g.vocab * g.dim, 12);
    const r = randomArray(g.positions * g.dim, 13);
    const { dw } = await run(g, ids, w, r);
    const idx = [...sampleIndices(g.vocab * g.dim, 40, 14), 4 * g.dim, 4 * g.dim + 6];
    const fd = finiteDifferences((ww) => dot(forwardRef(ids, ww, g), r), toF64(w), idx);
    expect(record('backward vs finite differences', relL2(pick(dw, idx), fd))).toBeLessThanOrEqual(1e-6);
  });

  it('is deterministic: two runs of the backward give the same bits', async () => {
    const e = engine();
    const g = embeddingGeometry(32, [64], 257, 9);
    const ids = randomIds(g.positions, g.vocab, 21, 0.4, 7);
    const dy = uploadView(e, randomArray(g.positions * g.dim, 22, 100));
    const idsView = uploadView(e, ids);
    const [a, b] = [nanBuffer(e, g.vocab * g.dim), nanBuffer(e, g.vocab * g.dim)];
    e.run([...embeddingBackward(e, g, { ids: idsView, dy, dw: a }, scratchOf()), ...embeddingBackward(e, g, { ids: idsView, dy, dw: b }, scratchOf())]);
    const [x, y] = [new Uint32Array(await e.read(a)), new Uint32Array(await e.read(b))];
    expect(x.length).toBe(y.length);
    expect(x.every((v, i) => v === y[i])).toBe(true);
  });

  it('an id outside [0, vocab) or not an integer looks up zeros and gets no gradient (no access leaves the table)', async () => {
    const g = embeddingGeometry(1, [8], 5, 4);
    const ids = Float32Array.from([1, -1, 5, 2.5, NaN, 1e9, 4, 1]);
    const w = randomArray(g.vocab * g.dim, 31);
    const dy = randomArray(g.positions * g.dim, 32);
    const { y, dw } = await run(g, ids, w, dy);
    const valid = (id: number) => Number.isInteger(id) && id >= 0 && id < g.vocab;
    const want = Array.from(ids).flatMap((id) => (valid(id) ? Array.from(w.subarray(id * 4, id * 4 + 4)) : [0, 0, 0, 0]));
    expect(Array.from(y)).toEqual(want);
    const kept = Float32Array.from(ids, (id) => (valid(id) ? id : 0));
    const dyKept = dy.map((v, i) => (valid(ids[Math.floor(i / 4)]!) ? v : 0));
    expect(relL2(dw, backwardRef(kept, dyKept, g))).toBeLessThanOrEqual(1e-7);
  });

  it('checkIds names the sample, the value and its position', () => {
    expect(() => checkIds(Float32Array.from([0, 1, 2, 3, 4, 7]), [3], 10, 5, 'emb')).toThrow(/^emb: input 11 holds id 7 at position 2; ids must be integers in \[0, 5\)$/);
    expect(() => checkIds([0, 1, 2, 3, -1, 0], [2, 3], 0, 5, 'emb')).toThrow(/input 0 holds id -1 at position \[1, 1\]/);
    expect(() => checkIds([0, 1.5], [2], 4, 5, 'emb')).toThrow(/input 4 holds id 1.5 at position 1/);
    expect(() => checkIds([NaN], [1], 0, 5, 'emb')).toThrow(/holds id NaN/);
    expect(() => checkIds(Int32Array.from([0, 4, 3, 1]), [2], 0, 5, 'emb')).not.toThrow();
  });
});

// ---- the layer -----------------------------------------------------------------------------------

describe('Embedding layer', () => {
  it('checkInputData rejects out-of-range and fractional ids, naming the layer, the sample and the value', () => {
    const layer = layers.embedding({ inputDim: 10, outputDim: 3, name: 'tokens' });
    expect(() => layer.checkInputData(Float32Array.from([1, 2, 3, 4, 10, 5]), [3], 8)).toThrow(
      /^layer tokens \(Embedding\): input 9 holds id 10 at position 1; ids must be integers in \[0, 10\)$/,
    );
    expect(() => layer.checkInputData([0, 0.5], [2], 0)).toThrow(/layer tokens \(Embedding\): input 0 holds id 0.5 at position 1/);
    expect(() => layer.checkInputData([9, 0, 3, 2], [2, 2], 0)).not.toThrow();
  });

  it('the model checks ids before it uploads them: fit and predict fail naming the sample and the value; the weights stay', async () => {
    const m = sequential([layers.embedding({ inputDim: 6, outputDim: 2, inputLength: 3, name: 'ids' }), layers.flatten(), layers.dense({ units: 2 })]);
    m.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', engine: engine() });
    const before = await m.getWeights();
    const ids = Int32Array.from([0, 1, 2, 3, 4, 5, 5, 6, 1]);
    await expect(m.fit(tensor(ids, [3, 3]), tensor(Int32Array.from([0, 1, 0]), [3]))).rejects.toThrow(/layer ids \(Embedding\): input 2 holds id 6 at position 1/);
    await expect(m.predict(tensor(Uint8Array.from([0, 1, 2]), [1, 3]))).rejects.toThrow(/ids must come as an int32 or float32 tensor, got uint8/);
    expect((await m.getWeights()).map((w) => w.values)).toEqual(before.map((w) => w.values));
    await expect(m.predict(tensor(Int32Array.from([5, 0, 1]), [1, 3]))).resolves.toBeDefined();
  });

  it('shapes: ids of any rank get outputDim appended; inputLength sets and checks the input shape', () => {
    expect(new Embedding({ inputDim: 5, outputDim: 3 }).computeOutputShape([[7]])).toEqual([7, 3]);
    expect(new Embedding({ inputDim: 5, outputDim: 3 }).computeOutputShape([[2, 4]])).toEqual([2, 4, 3]);
    const withLength = new Embedding({ inputDim: 5, outputDim: 3, inputLength: 6 });
    expect(withLength.batchInputShape).toEqual([null, 6]);
    expect(withLength.computeOutputShape([[6]])).toEqual([6, 3]);
    expect(() => new Embedding({ inputDim: 5, outputDim: 3, inputLength: 6, name: 'e' }).computeOutputShape([[5]])).toThrow(/layer e \(Embedding\): inputLength \[6\] does not match the input's per-sample shape \[5\]/);
    expect(new Embedding({ inputDim: 5, outputDim: 3, inputLength: [2, 3] }).batchInputShape).toEqual([null, 2, 3]);
    expect(new Embedding({ inputDim: 5, outputDim: 3, inputShape: [4], inputLength: 4 }).batchInputShape).toEqual([null, 4]);
    expect(new Embedding({ inputDim: 5, outputDim: 3 }).weightSpecs()[0]).toMatchObject({ name: 'embeddings', shape: [5, 3], initializer: 'randomUniform' });
  });

  it('rejects configs that cannot work, naming the layer, the field, what it expects and what came', () => {
    expect(() => layers.embedding({ inputDim: 0, outputDim: 3, name: 'e' })).toThrow(/Embedding e: inputDim must be a positive integer of at most 16777216 \(ids are float32\), got 0/);
    expect(() => layers.embedding({ inputDim: 2 ** 24 + 1, outputDim: 3, name: 'e' })).toThrow(/Embedding e: inputDim .*got 16777217/);
    expect(() => layers.embedding({ inputDim: 4, outputDim: 2.5, name: 'e' })).toThrow(/Embedding e: outputDim must be a positive integer, got 2.5/);
    // maskZero true works now (test/masking.test.ts); anything but a boolean is an Error.
    expect(layers.embedding({ inputDim: 4, outputDim: 2, maskZero: true, name: 'e' }).getConfig().mask_zero).toBe(true);
    expect(() => layers.embedding({ inputDim: 4, outputDim: 2, maskZero: 'yes' as unknown as boolean, name: 'e' })).toThrow(/Embedding e: maskZero must be true or false, got "yes"/);
    expect(() => layers.embedding({ inputDim: 4, outputDim: 2, inputLength: 0 })).toThrow(/inputLength must be a positive integer or an array of them, got 0/);
    expect(() => layers.embedding({ inputDim: 4, outputDim: 2, embeddingsInitializer: 'nope', name: 'e' })).toThrow(/Embedding e: embeddingsInitializer/);
    expect(() => layers.embedding({ inputDim: 4, outputDim: 2, embeddingsRegularizer: 'l3' as unknown as null, name: 'e' })).toThrow(/Embedding e: embeddingsRegularizer: unknown regularizer 'l3'/);
    expect(() => layers.embedding(undefined as unknown as { inputDim: number; outputDim: number })).toThrow(/Embedding: expected a config object/);
    expect(() => new Embedding({ inputDim: 4, outputDim: 2, name: 'e' }).computeOutputShape([[3], [3]])).toThrow(/layer e \(Embedding\) takes 1 input, got 2/);
  });

  it('reads Keras configs, refusing what it cannot honour', () => {
    const e = Embedding.fromConfig({
      name: 'e',
      input_dim: 12,
      output_dim: 4,
      embeddings_initializer: { class_name: 'RandomNormal', config: { mean: 0, stddev: 0.1, seed: null } },
      embeddings_regularizer: null,
      activity_regularizer: null,
      embeddings_constraint: null,
      mask_zero: false,
      input_length: null,
      batch_input_shape: [null, null],
      trainable: true,
      dtype: 'float32',
    });
    expect([e.name, e.inputDim, e.outputDim, e.embeddingsInitializer, e.batchInputShape]).toEqual(['e', 12, 4, { kind: 'randomNormal', mean: 0, stddev: 0.1, seed: null }, undefined]);
    expect(Embedding.fromConfig({ name: 'f', input_dim: 3, output_dim: 2, input_length: 5 }).batchInputShape).toEqual([null, 5]);
    expect(Embedding.fromConfig({ name: 'e', input_dim: 3, output_dim: 2, mask_zero: true }).maskZero).toBe(true);
    expect(() => Embedding.fromConfig({ name: 'e', input_dim: 3, output_dim: 2, embeddings_constraint: { class_name: 'RadialConstraint', config: {} } })).toThrow(/Embedding: embeddings_constraint: unknown constraint class 'RadialConstraint'/);
    expect(() => Embedding.fromConfig({ name: 'e', input_dim: 3, output_dim: 2, sparse: true })).toThrow(/Embedding: unknown config key 'sparse'/);
  });
});

// ---- twins with TF.js and model.json -------------------------------------------------------------

const N = 12;
const SEQ = 6;
const VOCAB = 29;
const CLASSES = 4;

/** Ids [N, SEQ] (int32, as a user holds them) with repeats and unused rows, and a class per sample. */
function data(seed: number): { ids: Int32Array; labels: Float32Array } {
  const ids = Int32Array.from(randomIds(N * SEQ, VOCAB, seed, 0.25, 3));
  const labels = Float32Array.from({ length: N }, (_, i) => (ids[i * SEQ]! + i) % CLASSES);
  return { ids, labels };
}

/**
 * Copies our initial weights into TF.js, trains both 3 Adam steps (TF.js's defaults), and compares
 * updates and predictions.
 */
async function trainBoth(ours: LayersModel, theirs: tf.LayersModel, seed: number, label: string): Promise<void> {
  const { ids, labels } = data(seed);
  ours.compile({ optimizer: optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
  theirs.compile({ optimizer: tf.train.adam(0.01), loss: 'sparseCategoricalCrossentropy' });
  const start = await ours.getWeights();
  theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
  const steps = { epochs: 1, batchSize: 4, shuffle: false, verbose: 0 as const };
  await theirs.fit(tf.tensor(ids, [N, SEQ], 'int32'), tf.tensor(labels, [N, 1]), steps);
  await ours.fit(tensor(ids, [N, SEQ]), tensor(labels, [N]), steps);
  const want = theirs.getWeights().map((t) => t.dataSync());
  for (const [i, w] of (await ours.getWeights()).entries()) {
    const delta = w.values.map((v, k) => v - start[i]!.values[k]!);
    const wantDelta = want[i]!.map((v, k) => v - start[i]!.values[k]!);
    expect(record(`twin ${label}: weight updates`, relL2(delta, wantDelta)), `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
  }
  const probe = data(seed + 1).ids;
  const got = (await ours.predict(tensor(probe, [N, SEQ]))).values;
  expect(record(`twin ${label}: predictions`, relL2(got, (theirs.predict(tf.tensor(probe, [N, SEQ], 'int32')) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
}

describe('twins with TF.js (cpu backend), Adam, 3 steps', () => {
  it('embedding (inputLength) → flatten → dense softmax, sparse categorical crossentropy', async () => {
    const ours = sequential([layers.embedding({ inputDim: VOCAB, outputDim: 5, inputLength: SEQ }), layers.flatten(), layers.dense({ units: CLASSES, activation: 'softmax' })]);
    const theirs = tf.sequential({ layers: [tf.layers.embedding({ inputDim: VOCAB, outputDim: 5, inputLength: SEQ }), tf.layers.flatten(), tf.layers.dense({ units: CLASSES, activation: 'softmax' })] });
    await trainBoth(ours, theirs, 40, 'embedding → flatten → dense');
  });

  it('embedding (inputShape) → globalAveragePooling1d → dense tanh → dense softmax', async () => {
    const ours = sequential([
      layers.embedding({ inputDim: VOCAB, outputDim: 8, inputShape: [SEQ] }),
      layers.globalAveragePooling1d(),
      layers.dense({ units: 6, activation: 'tanh' }),
      layers.dense({ units: CLASSES, activation: 'softmax' }),
    ]);
    const theirs = tf.sequential({
      layers: [
        tf.layers.embedding({ inputDim: VOCAB, outputDim: 8, inputShape: [SEQ] }),
        tf.layers.globalAveragePooling1d({}),
        tf.layers.dense({ units: 6, activation: 'tanh' }),
        tf.layers.dense({ units: CLASSES, activation: 'softmax' }),
      ],
    });
    await trainBoth(ours, theirs, 50, 'embedding → globalAveragePooling1d → dense');
  });
});


describe('model.json with TF.js', () => {
  it("ours loads in TF.js and TF.js's loads here with the same predictions; the config equals TF.js's", async () => {
    const config = { inputDim: VOCAB, outputDim: 4, inputLength: SEQ, maskZero: false, embeddingsInitializer: 'randomNormal', name: 'tokens' } as const;
    const ours = sequential([layers.embedding(config), layers.flatten({ name: 'flat' }), layers.dense({ units: 3, name: 'head' })]);
    ours.compile({ optimizer: 'adam', loss: 'meanSquaredError', engine: engine() });
    const theirs = tf.sequential({ layers: [tf.layers.embedding(config), tf.layers.flatten({ name: 'flat' }), tf.layers.dense({ units: 3, name: 'head' })] });
    const ids = data(60).ids;
    const expected = (await ours.predict(tensor(ids, [N, SEQ]))).values;

    const artifacts = await captureOurs(ours);
    const tfLoaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts as unknown as tf.io.ModelArtifacts));
    expect(record('model.json ours → TF.js predictions', relL2((tfLoaded.predict(tf.tensor(ids, [N, SEQ], 'int32')) as tf.Tensor).dataSync(), expected))).toBeLessThanOrEqual(1e-6);

    const tfJson = (await captureTf(theirs)).modelTopology as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
    const tfEmbedding = tfJson.config.layers.find((l) => l.class_name === 'Embedding')!;
    const ourEmbedding = ours.layers.find((l) => l.name === 'tokens')!;
    expect(ourEmbedding.getConfig()).toEqual({ ...tfEmbedding.config, dtype: 'float32' });

    theirs.setWeights((await ours.getWeights()).map((w) => tf.tensor(w.values, w.shape)));
    const loaded = await loadModel({ load: async () => (await captureTf(theirs)) as unknown as ModelArtifacts }, { engine: engine() });
    expect(record('model.json TF.js → ours predictions', relL2((await loaded.predict(tensor(ids, [N, SEQ]))).values, expected))).toBeLessThanOrEqual(1e-6);
    ours.dispose();
    loaded.dispose();
  });
});
