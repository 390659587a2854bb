/**
 * Float64 references of Keras's formulas for test/attention.test.ts: MultiHeadAttention
 * (keras/src/layers/attention/multi_head_attention.py: EinsumDense projections, query scaled by
 * 1/sqrt(key_dim), keras/src/layers/activations/softmax.py's masked softmax: masked scores
 * replaced by -1e9, masked probabilities zeroed after the softmax, dropout on the probabilities),
 * keras_hub's PositionEmbedding, and a GPT-style block built from those and Keras's Embedding,
 * LayerNormalization and Dense. Tensors are flat row-major arrays in Keras's layouts.
 */

/** Keras's Softmax replaces masked float32 scores by this (its _large_negative_number). */
export const KERAS_MASKED_SCORE = -1e9;

/** The hash of shaders/dropout.ts (PCG, Jarzynski & Olano 2020) in u32 arithmetic. */
export function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul((state >>> ((state >>> 28) + 4)) ^ state, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** The dropout the kernels apply: element `flat` is kept, given the layer's seed and the step uniform's step and seed. */
export function dropoutKeeps(rate: number, layerSeed: number, step: number, seed: number): (flat: number) => boolean {
  const threshold = Math.min(0xffffffff, Math.round(rate * 4294967296));
  const stepHash = pcg((step ^ pcg((seed ^ layerSeed) >>> 0)) >>> 0);
  return (flat) => pcg((flat ^ stepHash) >>> 0) >= threshold;
}

export interface AttentionRefGeometry {
  batch: number;
  heads: number;
  queries: number;
  keys: number;
  keyDim: number;
  valueDim: number;
  causal: boolean;
  /** Rate; 0 for none. */
  dropout: number;
  /** Which probabilities dropout keeps (flat index in [batch, heads, queries, keys]); required with dropout. */
  keeps?: (flat: number) => boolean;
}

/**
 * Keras's attention between projected q [b, Tq, h, dk], k [b, Tv, h, dk], v [b, Tv, h, dv], with an
 * optional mask [b, Tq, Tv]: o [b, Tq, h, dv] and the probabilities p [b, h, Tq, Tv] (before dropout).
 */
export function attentionRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, g: AttentionRefGeometry, mask?: ArrayLike<number>): { o: Float64Array; p: Float64Array } {
  const { batch, heads: H, queries: Tq, keys: Tv, keyDim: dk, valueDim: dv } = g;
  const scale = 1 / Math.sqrt(dk);
  const o = new Float64Array(batch * Tq * H * dv);
  const p = new Float64Array(batch * H * Tq * Tv);
  const scores = new Float64Array(Tv);
  const keep = new Array<boolean>(Tv);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Tq; i++) {
        const row = (b * H + h) * Tq + i;
        for (let j = 0; j < Tv; j++) {
          let s = 0;
          for (let c = 0; c < dk; c++) s += q[((b * Tq + i) * H + h) * dk + c]! * scale * k[((b * Tv + j) * H + h) * dk + c]!;
          keep[j] = (mask ? mask[(b * Tq + i) * Tv + j] !== 0 : true) && (!g.causal || j <= i);
          scores[j] = keep[j] ? s : KERAS_MASKED_SCORE;
        }
        const max = Math.max(...scores);
        let sum = 0;
        for (let j = 0; j < Tv; j++) sum += Math.exp(scores[j]! - max);
        for (let j = 0; j < Tv; j++) {
          const pj = keep[j] ? Math.exp(scores[j]! - max) / sum : 0;
          p[row * Tv + j] = pj;
          const dropped = g.dropout > 0 ? (g.keeps!(row * Tv + j) ? pj / (1 - g.dropout) : 0) : pj;
          for (let c = 0; c < dv; c++) o[((b * Tq + i) * H + h) * dv + c] += dropped * v[((b * Tv + j) * H + h) * dv + c]!;
        }
      }
    }
  }
  return { o, p };
}

/** x [rows, inputs] · w [inputs, units] + b. */
export function denseRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | undefined, rows: number, inputs: number, units: number): Float64Array {
  const y = new Float64Array(rows * units);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < units; o++) {
      let s = b ? b[o]! : 0;
      for (let c = 0; c < inputs; c++) s += x[r * inputs + c]! * w[c * units + o]!;
      y[r * units + o] = s;
    }
  }
  return y;
}

/** MultiHeadAttention's weights in Keras's layouts (EinsumDense kernels flatten to dense ones). */
export interface MhaRefWeights {
  queryKernel: ArrayLike<number>;
  queryBias?: ArrayLike<number>;
  keyKernel: ArrayLike<number>;
  keyBias?: ArrayLike<number>;
  valueKernel: ArrayLike<number>;
  valueBias?: ArrayLike<number>;
  outputKernel: ArrayLike<number>;
  outputBias?: ArrayLike<number>;
}

export interface MhaRefSizes extends AttentionRefGeometry {
  queryFeatures: number;
  valueFeatures: number;
  keyFeatures: number;
  outputFeatures: number;
}

/** Keras's MultiHeadAttention call: query [b, Tq, dq], value [b, Tv, dv], key [b, Tv, dk], mask [b, Tq, Tv] → [b, Tq, out]. */
export function mhaRef(x: { query: ArrayLike<number>; value: ArrayLike<number>; key: ArrayLike<number>; mask?: ArrayLike<number> }, w: MhaRefWeights, s: MhaRefSizes): Float64Array {
  const q = denseRef(x.query, w.queryKernel, w.queryBias, s.batch * s.queries, s.queryFeatures, s.heads * s.keyDim);
  const k = denseRef(x.key, w.keyKernel, w.keyBias, s.batch * s.keys, s.keyFeatures, s.heads * s.keyDim);
  const v = denseRef(x.value, w.valueKernel, w.valueBias, s.batch * s.keys, s.valueFeatures, s.heads * s.valueDim);
  const { o } = attentionRef(q, k, v, s, x.mask);
  return denseRef(o, w.outputKernel, w.outputBias, s.batch * s.queries, s.heads * s.valueDim, s.outputFeatures);
}

/** What mhaLayerRef reads of a MultiHeadAttention layer. */
export interface MhaLayerLike {
  numHeads: number;
  keyDim: number;
  valueDim: number;
  dropout: number;
  dropoutSeed: number;
  useCausalMask: boolean;
  weightSpecs(shapes: readonly (readonly number[])[]): readonly { name: string }[];
  computeOutputShape(shapes: readonly (readonly number[])[]): readonly number[];
}

/**
 * A MultiHeadAttention layer's output in float64 from flat inputs in its node's order [query,
 * value, key(, mask)] and weights in its weightSpecs order; in training its dropout keeps what the
 * kernels keep at `step`.
 */
export function mhaLayerRef(layer: MhaLayerLike, step: { step: number; seed: number }, batch: number, shapes: number[][], xs: ArrayLike<number>[], ws: ArrayLike<number>[], training: boolean): Float64Array {
  const byName = new Map(layer.weightSpecs(shapes).map((s, i) => [s.name, ws[i]!]));
  const w = (p: string, kind: string) => byName.get(`${p}/${kind}`)!;
  const weights = { queryKernel: w('query', 'kernel'), queryBias: w('query', 'bias'), keyKernel: w('key', 'kernel'), keyBias: w('key', 'bias'), valueKernel: w('value', 'kernel'), valueBias: w('value', 'bias'), outputKernel: w('attention_output', 'kernel'), outputBias: w('attention_output', 'bias') };
  const [q, v, k] = shapes as [number[], number[], number[]];
  const dropout = training ? layer.dropout : 0;
  const sizes: MhaRefSizes = {
    batch,
    heads: layer.numHeads,
    queries: q[0]!,
    keys: v[0]!,
    keyDim: layer.keyDim,
    valueDim: layer.valueDim,
    causal: layer.useCausalMask,
    dropout,
    keeps: dropout > 0 ? dropoutKeeps(dropout, layer.dropoutSeed, step.step, step.seed) : undefined,
    queryFeatures: q[1]!,
    valueFeatures: v[1]!,
    keyFeatures: k[1]!,
    outputFeatures: layer.computeOutputShape(shapes).slice(1).reduce((a, b) => a * b, 1),
  };
  return mhaRef({ query: xs[0]!, value: xs[1]!, key: xs[2]!, mask: xs[3] }, weights, sizes);
}

/** A padding mask [batch, Tq, Tv]: sample b sees its first lengths[b] keys; the rows in `blank` see none. */
export function paddingMask(batch: number, queries: number, keys: number, lengths: number[], blank: [number, number][] = []): Float32Array {
  const m = new Float32Array(batch * queries * keys);
  for (let b = 0; b < batch; b++) for (let i = 0; i < queries; i++) for (let j = 0; j < keys; j++) m[(b * queries + i) * keys + j] = j < lengths[b]! ? 1 : 0;
  for (const [b, i] of blank) m.fill(0, (b * queries + i) * keys, (b * queries + i + 1) * keys);
  return m;
}

/** Keras's LayerNormalization over the last axis of [rows, width]. */
export function layerNormRef(x: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>, rows: number, width: number, epsilon: number): Float64Array {
  const y = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let c = 0; c < width; c++) mean += x[r * width + c]! / width;
    let variance = 0;
    for (let c = 0; c < width; c++) variance += (x[r * width + c]! - mean) ** 2 / width;
    const inv = 1 / Math.sqrt(variance + epsilon);
    for (let c = 0; c < width; c++) y[r * width + c] = (x[r * width + c]! - mean) * inv * gamma[c]! + beta[c]!;
  }
  return y;
}

export interface GptBlockSizes {
  batch: number;
  steps: number;
  vocab: number;
  dim: number;
  heads: number;
  keyDim: number;
  hidden: number;
  /** LayerNormalization's epsilon (TF.js's default 1e-3). */
  epsilon: number;
}

const add = (a: ArrayLike<number>, b: ArrayLike<number>) => Float64Array.from(a, (v, i) => v + b[i]!);

/**
 * The GPT-style block's mean crossentropy over every position: ids → token embedding + keras_hub
 * position embedding → LayerNormalization → causal MultiHeadAttention (self) → residual add →
 * LayerNormalization → Dense relu → Dense → residual add → Dense logits → softmax. `w(name)` gives
 * a weight by its model name ('tok/embeddings', 'mha/query/kernel', …).
 */
export function gptBlockLossRef(ids: ArrayLike<number>, labels: ArrayLike<number>, w: (name: string) => ArrayLike<number>, s: GptBlockSizes): number {
  const rows = s.batch * s.steps;
  const table = w('tok/embeddings');
  const positions = w('pos/embeddings');
  const x = new Float64Array(rows * s.dim);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < s.dim; c++) x[r * s.dim + c] = table[ids[r]! * s.dim + c]! + positions[(r % s.steps) * s.dim + c]!;
  }
  const h = layerNormRef(x, w('ln1/gamma'), w('ln1/beta'), rows, s.dim, s.epsilon);
  const weights: MhaRefWeights = {
    queryKernel: w('mha/query/kernel'),
    queryBias: w('mha/query/bias'),
    keyKernel: w('mha/key/kernel'),
    keyBias: w('mha/key/bias'),
    valueKernel: w('mha/value/kernel'),
    valueBias: w('mha/value/bias'),
    outputKernel: w('mha/attention_output/kernel'),
    outputBias: w('mha/attention_output/bias'),
  };
  const sizes: MhaRefSizes = { batch: s.batch, heads: s.heads, queries: s.steps, keys: s.steps, keyDim: s.keyDim, valueDim: s.keyDim, causal: true, dropout: 0, queryFeatures: s.dim, valueFeatures: s.dim, keyFeatures: s.dim, outputFeatures: s.dim };
  const x2 = add(x, mhaRef({ query: h, value: h, key: h }, weights, sizes));
  const h2 = layerNormRef(x2, w('ln2/gamma'), w('ln2/beta'), rows, s.dim, s.epsilon);
  const f = denseRef(h2, w('ff1/kernel'), w('ff1/bias'), rows, s.dim, s.hidden).map((v) => Math.max(v, 0));
  const x3 = add(x2, denseRef(f, w('ff2/kernel'), w('ff2/bias'), rows, s.hidden, s.dim));
  const logits = denseRef(x3, w('head/kernel'), w('head/bias'), rows, s.dim, s.vocab);
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    const row = logits.subarray(r * s.vocab, (r + 1) * s.vocab);
    const max = Math.max(...row);
    const logSum = Math.log(row.reduce((sum, v) => sum + Math.exp(v - max), 0)) + max;
    loss += logSum - row[labels[r]!]!;
  }
  return loss / rows;
}
