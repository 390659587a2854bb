/**
 * A character-level language model (issue #18): ids [T] in, a distribution over the vocabulary at
 * every step out ([T, vocab]), trained with sparseCategoricalCrossentropy on windows whose target
 * is the input shifted by one (src/data/text.ts). Two kinds:
 *
 * - 'transformer' (default): a GPT-style decoder. Token embedding plus keras_hub's position
 *   embedding, then `blocks` pre-LN blocks, each x + MHA(LN(x)) with a causal mask and
 *   x + MLP(LN(x)) (dense 4·dModel gelu → dense dModel), a final LayerNormalization and a dense
 *   softmax over the vocabulary.
 * - 'lstm': token embedding, `blocks` stacked LSTMs (returnSequences), a dense softmax.
 *
 * The output layer is a softmax, not linear logits: our losses take no `fromLogits`; instead the
 * plan folds a final softmax into the crossentropy (the kernel reads the logits, exact and stable,
 * src/ops/losses/crossentropy.ts), so training sees logits anyway, while predict() gives the
 * probabilities that sampling needs, and model.json is what Keras or TF.js would load.
 *
 * Every step only sees the steps at or before it (causal mask; a forward LSTM), so the output at
 * step t is the next-character distribution given characters 0 … t: generation can feed a prompt
 * shorter than T at the start of the window and read step t (src/models/generate.ts).
 */
import { layers } from '../layers/all.ts';
import type { SymbolicTensor } from '../layers/layer.ts';
import { input, model } from '../model/containers.ts';
import type { LayersModel } from '../model/layers-model.ts';

export type CharLmKind = 'transformer' | 'lstm';

export interface CharLmOptions {
  /** Ids in all (CharVocab.size): the embedding's rows and the output's classes. */
  vocabSize: number;
  /** T: characters per window, the longest context the model sees. */
  sequenceLength: number;
  /** Default 'transformer'. */
  kind?: CharLmKind;
  /** Embedding width (and the transformer's model width). Default 64 (transformer), 32 (lstm). */
  dModel?: number;
  /** Attention heads (transformer); dModel must be a multiple. Default 4. */
  heads?: number;
  /** Transformer blocks, or stacked LSTMs. Default 2 (transformer), 1 (lstm). */
  blocks?: number;
  /** LSTM units (lstm). Default 128. */
  units?: number;
  /** Dropout rate: attention probabilities, the residual branches and the embedding (transformer), between the LSTMs and the head (lstm). Default 0. */
  dropout?: number;
  /** The initial weights' seed (and the dropout masks'), through the model's seed. */
  seed?: number;
}

/** The options with every default filled in, as charLanguageModel builds them. */
export type ResolvedCharLmOptions = Required<Omit<CharLmOptions, 'seed'>> & { seed: number | undefined };

function positiveInteger(value: unknown, field: string, fallback?: number): number {
  const v = value === undefined ? fallback : value;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`charLanguageModel: ${field} must be a positive integer, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
  return v;
}

/** Checks the options and fills in the defaults; an Error names the field, what was expected and what came. */
export function resolveCharLmOptions(options: CharLmOptions): ResolvedCharLmOptions {
  if (!options || typeof options !== 'object') throw new Error(`charLanguageModel: expected options like { vocabSize: 80, sequenceLength: 64 }, got ${String(options)}`);
  const kind = options.kind ?? 'transformer';
  if (kind !== 'transformer' && kind !== 'lstm') throw new Error(`charLanguageModel: kind must be 'transformer' or 'lstm', got ${JSON.stringify(kind)}`);
  const transformer = kind === 'transformer';
  const vocabSize = positiveInteger(options.vocabSize, 'vocabSize');
  if (vocabSize < 2) throw new Error(`charLanguageModel: vocabSize must be at least 2 (the unknown id and one character), got ${vocabSize}`);
  const sequenceLength = positiveInteger(options.sequenceLength, 'sequenceLength');
  const dModel = positiveInteger(options.dModel, 'dModel', transformer ? 64 : 32);
  const heads = positiveInteger(options.heads, 'heads', 4);
  if (transformer && dModel % heads !== 0) throw new Error(`charLanguageModel: dModel must be a multiple of heads (each head gets dModel / heads features), got dModel ${dModel} and heads ${heads}`);
  const blocks = positiveInteger(options.blocks, 'blocks', transformer ? 2 : 1);
  const units = positiveInteger(options.units, 'units', 128);
  const dropout = options.dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) throw new Error(`charLanguageModel: dropout must be a number in [0, 1), got ${String(options.dropout)}`);
  const seed = options.seed;
  if (seed !== undefined && (typeof seed !== 'number' || !Number.isInteger(seed))) throw new Error(`charLanguageModel: seed must be an integer, got ${String(seed)}`);
  return { vocabSize, sequenceLength, kind, dModel, heads, blocks, units, dropout, seed };
}

/** A GPT-style pre-LN block: x + MHA(LN(x)) with a causal mask, then x + MLP(LN(x)). */
function transformerBlock(x: SymbolicTensor, o: ResolvedCharLmOptions, prefix: string): SymbolicTensor {
  const drop = (t: SymbolicTensor, name: string) => (o.dropout > 0 ? layers.dropout({ rate: o.dropout, name: `${prefix}_${name}` }).apply(t) : t);
  const h = layers.layerNormalization({ name: `${prefix}_ln1` }).apply(x);
  const attention = layers.multiHeadAttention({ numHeads: o.heads, keyDim: o.dModel / o.heads, dropout: o.dropout, name: `${prefix}_attention` }).apply([h, h], { useCausalMask: true });
  x = layers.add({ name: `${prefix}_add1` }).apply([x, drop(attention, 'attention_dropout')]);
  const f = layers.dense({ units: 4 * o.dModel, activation: 'gelu', name: `${prefix}_mlp1` }).apply(layers.layerNormalization({ name: `${prefix}_ln2` }).apply(x));
  const mlp = layers.dense({ units: o.dModel, name: `${prefix}_mlp2` }).apply(f);
  return layers.add({ name: `${prefix}_add2` }).apply([x, drop(mlp, 'mlp_dropout')]);
}

/** Builds the (uncompiled) language model: ids [T] → next-character probabilities [T, vocab]; compile it with sparseCategoricalCrossentropy. */
export function charLanguageModel(options: CharLmOptions): LayersModel {
  const o = resolveCharLmOptions(options);
  const ids = input({ shape: [o.sequenceLength], name: 'ids' });
  const tokens = layers.embedding({ inputDim: o.vocabSize, outputDim: o.dModel, name: 'token_embedding' }).apply(ids);
  let x: SymbolicTensor;
  if (o.kind === 'transformer') {
    const positions = layers.positionEmbedding({ sequenceLength: o.sequenceLength, name: 'position_embedding' }).apply(tokens);
    x = layers.add({ name: 'embeddings' }).apply([tokens, positions]);
    if (o.dropout > 0) x = layers.dropout({ rate: o.dropout, name: 'embedding_dropout' }).apply(x);
    for (let b = 0; b < o.blocks; b++) x = transformerBlock(x, o, `block${b + 1}`);
    x = layers.layerNormalization({ name: 'final_ln' }).apply(x);
  } else {
    x = tokens;
    for (let b = 0; b < o.blocks; b++) x = layers.lstm({ units: o.units, returnSequences: true, name: `lstm${b + 1}` }).apply(x);
    if (o.dropout > 0) x = layers.dropout({ rate: o.dropout, name: 'lstm_dropout' }).apply(x);
  }
  const probabilities = layers.dense({ units: o.vocabSize, activation: 'softmax', name: 'next_char' }).apply(x);
  return model({ name: `char_${o.kind}`, seed: o.seed, inputs: ids, outputs: probabilities });
}
