/**
 * Character-level text data (src/data/text.ts): the vocabulary (round trips through encoding and
 * JSON, unknown characters, frequency limits), windows shifted by one, seeded orders, the
 * train/validation split, the shipped corpus, and a tiny language model (embedding → dense(vocab)
 * over [B, T]) whose loss falls with fit and with fitDataset.
 */
import { describe, expect, it } from 'vitest';
import { layers, optimizers, sequential, tensor } from '../src/index.ts';
import { CharVocab, CORPUS_FILE, DEFAULT_UNKNOWN_CHAR, loadCorpus, textDataset, TextWindows, UNKNOWN_ID, type TextBatch } from '../src/data/text.ts';
import { useEngine } from './helpers.ts';

const engine = useEngine();

const text = 'the cat sat on the mat; the dog sat on the log.\n';

describe('CharVocab', () => {
  it('holds each character of the text once, sorted by code point, after the reserved unknown id', () => {
    const vocab = CharVocab.fromText(text);
    const distinct = [...new Set(text)].sort();
    expect(vocab.chars).toEqual([DEFAULT_UNKNOWN_CHAR, ...distinct]);
    expect(vocab.size).toBe(distinct.length + 1);
    expect(vocab.idOf('\n')).toBe(1);
    expect(UNKNOWN_ID).toBe(0);
  });

  it('encodes and decodes a text back to itself, characters beyond the BMP as one id', () => {
    const emoji = 'a🐈b🐈';
    const vocab = CharVocab.fromText(emoji + text);
    expect(vocab.encode(text).length).toBe(text.length);
    expect(vocab.decode(vocab.encode(text))).toBe(text);
    expect(vocab.encode(emoji).length).toBe(4);
    expect(vocab.decode(vocab.encode(emoji))).toBe(emoji);
    expect(vocab.decode(tensor(vocab.encode('cat'), [3]))).toBe('cat');
    expect(vocab.decode(Array.from(vocab.encode('dog')))).toBe('dog');
  });

  it('maps characters it does not hold to the unknown id, which decodes to U+FFFD or the character chosen', () => {
    const vocab = CharVocab.fromText(text);
    const ids = vocab.encode('cat!Z');
    expect(Array.from(ids.subarray(3))).toEqual([UNKNOWN_ID, UNKNOWN_ID]);
    expect(vocab.decode(ids)).toBe(`cat${DEFAULT_UNKNOWN_CHAR}${DEFAULT_UNKNOWN_CHAR}`);
    expect(CharVocab.fromText(text, { unknownChar: '?' }).decode(ids)).toBe('cat??');
  });

  it('keeps only the most frequent characters with maxSize or minCount', () => {
    const vocab = CharVocab.fromText('aaaabbbccd', { maxSize: 3 });
    expect(vocab.chars.slice(1)).toEqual(['a', 'b']);
    expect(vocab.decode(vocab.encode('abcd'))).toBe(`ab${DEFAULT_UNKNOWN_CHAR}${DEFAULT_UNKNOWN_CHAR}`);
    // Ties go to the lower code point.
    expect(CharVocab.fromText('ccbbaa', { maxSize: 3 }).chars.slice(1)).toEqual(['a', 'b']);
    expect(CharVocab.fromText('aaaabbbccd', { minCount: 3 }).chars.slice(1)).toEqual(['a', 'b']);
  });

  it('round-trips through JSON with the same ids', () => {
    const vocab = CharVocab.fromText(text, { unknownChar: '~' });
    const json = JSON.stringify(vocab);
    const back = CharVocab.fromJSON(json);
    expect(back.chars).toEqual(vocab.chars);
    expect(Array.from(back.encode('the log!'))).toEqual(Array.from(vocab.encode('the log!')));
    expect(CharVocab.fromJSON(JSON.parse(json)).decode([0, 1])).toBe('~\n');
  });

  it('rejects what cannot work, saying what was expected and what came', () => {
    expect(() => CharVocab.fromText(42 as never)).toThrow(/text must be a string, got 42/);
    expect(() => CharVocab.fromText(text, { maxSize: 1 })).toThrow(/maxSize must be at least 2/);
    expect(() => CharVocab.fromText(text, { minCount: 0 })).toThrow(/minCount must be a positive integer, got 0/);
    expect(() => CharVocab.fromText(text, { unknownChar: '??' })).toThrow(/unknownChar must be one character, got "\?\?"/);
    expect(() => CharVocab.fromText('', {})).toThrow(/no character of the text/);
    expect(() => CharVocab.fromJSON('{oops')).toThrow(/CharVocab.fromJSON: not JSON/);
    expect(() => CharVocab.fromJSON({ chars: ['?', 'a'] } as never)).toThrow(/expected \{ format: 'webgpu-train\/char-vocab', version: 1, chars \}/);
    expect(() => CharVocab.fromJSON({ format: 'webgpu-train/char-vocab', version: 1, chars: ['?', 'ab'] })).toThrow(/chars\[1\] must be one character, got "ab"/);
    expect(() => CharVocab.fromJSON({ format: 'webgpu-train/char-vocab', version: 1, chars: ['?', 'a', 'b', 'a'] })).toThrow(/"a" is both id 1 and id 3/);
    expect(() => CharVocab.fromText(text).decode([0, 99])).toThrow(/id 1 is 99, which is not an id of this vocabulary \(integers in \[0, \d+\)\)/);
  });
});

describe('TextWindows', () => {
  const vocab = CharVocab.fromText(text);
  const ids = vocab.encode(text);

  it('gives each input window and its target shifted by one character', () => {
    const windows = new TextWindows(ids, { windowSize: 8 });
    expect(windows.count).toBe(Math.floor((text.length - 9) / 8) + 1);
    const { xs, ys } = windows.tensors();
    expect([xs.shape, ys.shape, xs.dtype, ys.dtype]).toEqual([[windows.count, 8], [windows.count, 8], 'int32', 'int32']);
    const x = xs.dataSync();
    const y = ys.dataSync();
    for (let w = 0; w < windows.count; w++) {
      const input = vocab.decode(x.subarray(w * 8, w * 8 + 8));
      const target = vocab.decode(y.subarray(w * 8, w * 8 + 8));
      expect(input).toBe(text.slice(w * 8, w * 8 + 8));
      expect(target).toBe(text.slice(w * 8 + 1, w * 8 + 9));
      expect(target.slice(0, 7)).toBe(input.slice(1));
    }
    const overlapping = new TextWindows(ids, { windowSize: 5, stride: 2 });
    expect(overlapping.count).toBe(Math.floor((ids.length - 6) / 2) + 1);
    expect(vocab.decode(overlapping.window(3).input)).toBe(text.slice(6, 11));
    expect(vocab.decode(overlapping.window(overlapping.count - 1).target).length).toBe(5);
  });

  it('draws seeded orders: the same seed gives the same batches, each epoch another order, every window once per epoch', () => {
    const windows = new TextWindows(ids, { windowSize: 4, stride: 3 });
    const firstOf = (b: TextBatch) => Array.from(b.xs.dataSync());
    const epoch0 = [...windows.batches(5, { seed: 7 })].map(firstOf);
    expect([...windows.batches(5, { seed: 7 })].map(firstOf)).toEqual(epoch0);
    expect([...windows.batches(5, { seed: 8 })].map(firstOf)).not.toEqual(epoch0);
    const batches = windows.batches(5, { seed: 7 });
    const e0 = [...batches].map(firstOf);
    const e1 = [...batches].map(firstOf);
    expect(e0).toEqual(epoch0);
    expect(e1).not.toEqual(e0);
    expect([...batches.epoch(1)].map(firstOf)).toEqual(e1);
    // Every window exactly once per epoch: the windows' starts, recovered from the inputs.
    const starts = (epoch: number[][]) => epoch.flatMap((flat) => Array.from({ length: flat.length / 4 }, (_, k) => vocab.decode(flat.slice(k * 4, k * 4 + 4)))).sort();
    const all = Array.from({ length: windows.count }, (_, i) => vocab.decode(windows.window(i).input)).sort();
    expect(starts(e0)).toEqual(all);
    expect(starts(e1)).toEqual(all);
    expect(batches.length).toBe(Math.ceil(windows.count / 5));
    expect(windows.batches(5, { dropRemainder: true }).length).toBe(Math.floor(windows.count / 5));
    expect([...windows.batches(5, { shuffle: false })].map(firstOf).flat()).toEqual(Array.from(windows.tensors().xs.dataSync()));
    expect(Array.from(windows.tensors({ shuffle: true, seed: 3 }).ys.dataSync())).toEqual(Array.from(windows.tensors({ shuffle: true, seed: 3 }).ys.dataSync()));
  });

  it('splits the end of the text off for validation: no validation character is trained on', () => {
    const long = text.repeat(10);
    const { vocab: v, train, validation } = textDataset(long, { windowSize: 10, validationSplit: 0.2 });
    const cut = Math.round(long.length * 0.8);
    expect(v.decode(train.ids)).toBe(long.slice(0, cut));
    expect(v.decode(validation!.ids)).toBe(long.slice(cut));
    expect(textDataset(long, { windowSize: 10, validationSplit: 0 }).validation).toBeNull();
    const given = CharVocab.fromText('the');
    expect(textDataset(long, { windowSize: 10, vocab: given }).vocab).toBe(given);
  });

  it('rejects what cannot work', () => {
    expect(() => new TextWindows(ids, { windowSize: 0 })).toThrow(/windowSize must be a positive integer, got 0/);
    expect(() => new TextWindows(ids, { windowSize: 4, stride: 1.5 })).toThrow(/stride must be a positive integer, got 1.5/);
    expect(() => new TextWindows(ids, { windowSize: ids.length })).toThrow(new RegExp(`need ${ids.length + 1} characters, but the text has ${ids.length}`));
    expect(() => new TextWindows(Array.from(ids) as never, { windowSize: 4 })).toThrow(/ids must be an Int32Array/);
    expect(() => new TextWindows(ids, { windowSize: 4 }).window(1000)).toThrow(/index must be an integer in \[0, \d+\), got 1000/);
    expect(() => new TextWindows(ids, { windowSize: 4 }).batches(0)).toThrow(/batchSize must be a positive integer, got 0/);
    expect(() => new TextWindows(ids, { windowSize: 4 }).batches(1000, { dropRemainder: true })).toThrow(/make no full batch of 1000/);
    expect(() => textDataset(text, { windowSize: 8, validationSplit: 1 })).toThrow(/validationSplit must be a number in \[0, 1\), got 1/);
    expect(() => textDataset(text, { windowSize: 8, validationSplit: 0.1 })).toThrow(/textDataset: the validation part \(characters 43 to 48 of 48, validationSplit 0.1\): TextWindows: a window of 8 characters and its target need 9 characters, but the text has 5/);
  });
});

describe('the shipped corpus', () => {
  it(`loads ${CORPUS_FILE}: public-domain English prose, 200 KB to 1.5 MB, with its SOURCE.md`, async () => {
    const corpus = await loadCorpus();
    expect(corpus.length).toBeGreaterThan(200_000);
    expect(corpus.length).toBeLessThan(1_500_000);
    expect(corpus).toMatch(/A Public Domain Text, Copyright Expired/);
    expect(corpus).toMatch(/^ZOOLOGY, n\. {2}The science and history of the animal kingdom/m);
    const vocab = CharVocab.fromText(corpus);
    expect(vocab.size).toBeLessThan(100);
    expect(vocab.decode(vocab.encode(corpus))).toBe(corpus);
    const { readFile } = await import('node:fs/promises');
    expect(await readFile('data/corpus/SOURCE.md', 'utf8')).toMatch(/public domain/);
    await expect(loadCorpus('data/corpus/missing.txt')).rejects.toThrow(/loadCorpus: cannot read data\/corpus\/missing.txt/);
  });
});

describe('a tiny character-level language model', () => {
  it('embedding → dense(vocab) over [B, T] learns from the corpus, with fit and with fitDataset', async () => {
    const corpus = (await loadCorpus()).slice(20_000, 32_000);
    const { vocab, train, validation } = textDataset(corpus, { windowSize: 16, validationSplit: 0.1 });
    const build = () => {
      const lm = sequential([layers.embedding({ inputDim: vocab.size, outputDim: 12, inputShape: [16] }), layers.dense({ units: vocab.size, activation: 'softmax' })]);
      lm.compile({ optimizer: optimizers.adam({ learningRate: 0.02 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], engine: engine() });
      return lm;
    };
    const { xs, ys } = train.tensors({ shuffle: true, seed: 1 });
    const valData = validation!.tensors();
    const viaFit = build();
    const before = await viaFit.evaluate(valData.xs, valData.ys);
    expect(before.loss).toBeGreaterThan(Math.log(vocab.size) - 0.5);
    const history = await viaFit.fit(xs, ys, { epochs: 3, batchSize: 32, verbose: 0, validationData: [valData.xs, valData.ys] });
    expect(history.loss[2]!).toBeLessThan(history.loss[0]!);
    // A bigram model of English: well below the uniform guess's ln(vocab).
    expect(history.val_loss[2]!).toBeLessThan(before.loss - 1);
    expect(history.val_accuracy[2]!).toBeGreaterThan(0.2);
    const viaDataset = build();
    const streamed = await viaDataset.fitDataset(train.batches(32, { seed: 1 }), { epochs: 3, verbose: 0, validationData: valData ? [valData.xs, valData.ys] : undefined });
    expect(streamed.loss[2]!).toBeLessThan(streamed.loss[0]!);
    expect(streamed.val_loss[2]!).toBeLessThan(before.loss - 1);
    if (process.env.TEXT_LM) console.log({ vocab: vocab.size, before: before.loss, fit: history.history, fitDataset: streamed.history });
    viaFit.dispose();
    viaDataset.dispose();
  });
});
