/**
 * The bench's sequence models, as our engine builds them, with their data. 'lstm' is a text
 * classifier (embedding 64 → LSTM 128 → dense 2 softmax) on seeded synthetic ids and labels
 * generated here (nothing downloaded), so Node and the page train on the same bytes; tfjs.ts builds
 * the same model with TF.js layers. 'charlm' is the character-level language model of
 * src/models/charlm.ts (transformer or LSTM) on the corpus that ships with the project, measured
 * in tokens (characters) per second; only ours runs it.
 */
import { layers, sequential, Tensor, type LayersModel } from '../src/index.ts';
import { charLanguageModel, type CharLmKind } from '../src/models/charlm.ts';
import { textDataset, type TextDataset } from '../src/data/text.ts';
import { uniform, type BenchModel } from './models.ts';

export const LSTM_VOCABULARY = 10_000;
export const LSTM_SEQUENCE = 100;
export const LSTM_EMBEDDING = 64;
export const LSTM_UNITS = 128;
export const LSTM_CLASSES = 2;

/** Seeds of the synthetic training and test sequences. */
const TRAIN_SEED = 0x1d5eed;
const TEST_SEED = 0x1d7e57;

export const LSTM_DESCRIPTION =
  `LSTM text classifier on synthetic ids (seeded; vocabulary ${LSTM_VOCABULARY.toLocaleString('en')}, sequences of ${LSTM_SEQUENCE}, ` +
  `label: whether most ids are below ${LSTM_VOCABULARY / 2}): embedding ${LSTM_EMBEDDING}, LSTM ${LSTM_UNITS} (last output), dense ${LSTM_CLASSES} softmax; RMSprop`;

/** The classifier (about 0.72 M parameters, 640 k of them the embedding table). */
export function lstmClassifier(seed?: number): LayersModel {
  return sequential({
    name: 'lstm_classifier',
    seed,
    layers: [
      layers.embedding({ inputDim: LSTM_VOCABULARY, outputDim: LSTM_EMBEDDING, inputShape: [LSTM_SEQUENCE] }),
      layers.lstm({ units: LSTM_UNITS }),
      layers.dense({ units: LSTM_CLASSES, activation: 'softmax' }),
    ],
  });
}

/**
 * `n` synthetic sequences: ids uniform in [0, vocabulary) as float32 [n, 100] (what an Embedding
 * takes in TF.js and here); label 1 where more than half the ids lie in the lower half of the
 * vocabulary (something an LSTM can learn, so the fit loss says it trained).
 */
export function syntheticSequences(n: number, split: 'train' | 'test'): { ids: Float32Array; labels: Int32Array } {
  const next = uniform(split === 'train' ? TRAIN_SEED : TEST_SEED);
  const ids = new Float32Array(n * LSTM_SEQUENCE);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let low = 0;
    for (let t = 0; t < LSTM_SEQUENCE; t++) {
      const id = Math.floor(next() * LSTM_VOCABULARY);
      ids[i * LSTM_SEQUENCE + t] = id;
      if (id < LSTM_VOCABULARY / 2) low++;
    }
    labels[i] = low * 2 > LSTM_SEQUENCE ? 1 : 0;
  }
  return { ids, labels };
}

export function lstmModel(): BenchModel {
  return {
    name: 'lstm',
    build: () => lstmClassifier(),
    train: (n) => {
      const { ids, labels } = syntheticSequences(n, 'train');
      return { x: new Tensor(ids, [n, LSTM_SEQUENCE]), y: new Tensor(labels, [n]) };
    },
    test: (n) => new Tensor(syntheticSequences(n, 'test').ids, [n, LSTM_SEQUENCE]),
  };
}

export function charlmDescription(kind: CharLmKind, sequenceLength: number, vocabSize: number): string {
  return (
    `character-level language model (src/models/charlm.ts, kind '${kind}') on the shipped corpus (The Devil's Dictionary): ` +
    `windows of ${sequenceLength} characters, vocabulary ${vocabSize}, next-character sparse crossentropy at every position; Adam; ` +
    `throughput in tokens (characters) per second = batch × ${sequenceLength} / step time`
  );
}

/**
 * The language model on `text` (the corpus: loadCorpus() in Node, fetched in a page): windows of
 * `sequenceLength` characters with a stride of a quarter window, so that even long runs have
 * windows to spare; the test windows come from the held-out end of the text.
 */
export function charlmModel(text: string, kind: CharLmKind, sequenceLength: number): BenchModel & { data: TextDataset } {
  const data = textDataset(text, { windowSize: sequenceLength, stride: Math.max(1, sequenceLength >> 2) });
  const take = (windows: NonNullable<TextDataset['validation']>, n: number, what: string) => {
    if (n > windows.count) throw new Error(`the charlm benchmark needs ${n} ${what} windows of ${sequenceLength} characters but the corpus gives ${windows.count}`);
    return windows.gather(Uint32Array.from({ length: n }, (_, i) => i));
  };
  return {
    name: 'charlm',
    variant: kind,
    tokensPerSample: sequenceLength,
    optimizer: 'adam',
    data,
    build: () => charLanguageModel({ vocabSize: data.vocab.size, sequenceLength, kind }),
    train: (n) => {
      const { xs, ys } = take(data.train, n, 'training');
      return { x: xs, y: ys };
    },
    // Fresh bytes each call: gather copies the ids.
    test: (n) => take(data.validation!, n, 'validation').xs,
  };
}
