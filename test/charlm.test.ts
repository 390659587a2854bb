/**
 * The character-level language model (src/models/charlm.ts) and text generation
 * (src/models/generate.ts): both kinds build with outputs [T, vocab] and are causal (what
 * generation relies on), train on a slice of the shipped corpus (the loss falls), generate
 * deterministically from a seed, greedily at temperature 0 exactly as a host argmax over predict()
 * outputs, `length` characters of the vocabulary; the transformer LM round-trips through model.json;
 * options that cannot work are Errors naming the field.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { loadModel, optimizers, tensor, type LayersModel, type Tensor } from '../src/index.ts';
import { CharVocab, loadCorpus, textDataset, UNKNOWN_ID } from '../src/data/text.ts';
import { Random } from '../src/layers/initializers.ts';
import { charLanguageModel, type CharLmKind, type CharLmOptions } from '../src/models/charlm.ts';
import { generateText, generationMode, sampleIndex } from '../src/models/generate.ts';
import { charLmExample, parseCharLmArgs } from '../src/examples/charlm.ts';
import { captureOurs } from './artifacts.ts';
import { relL2, useEngine } from './helpers.ts';

const engine = useEngine();

const T = 12;
const KINDS: readonly CharLmKind[] = ['transformer', 'lstm'];
/** Tiny sizes: one block of width 16 (2 heads), or one LSTM of 16 units. */
const tiny = (kind: CharLmKind, vocabSize: number, extra: Partial<CharLmOptions> = {}): LayersModel =>
  charLanguageModel({ vocabSize, sequenceLength: T, kind, dModel: 16, heads: 2, blocks: 1, units: 16, seed: 7, ...extra });

/** Predictions as a flat float array (windows of `steps` ids). */
async function predicted(lm: LayersModel, ids: Int32Array, rows: number, steps = T): Promise<Float32Array> {
  return ((await lm.predict(tensor(ids, [rows, steps]), { batchSize: rows })) as Tensor<Float32Array>).dataSync();
}

const corpusSlice = async () => (await loadCorpus()).slice(40_000, 44_500);

describe('charLanguageModel', () => {
  for (const kind of KINDS) {
    it(`${kind}: ids [T] → probabilities [T, vocab], each step seeing only the steps before it`, async () => {
      const vocabSize = 11;
      const lm = tiny(kind, vocabSize);
      lm.useEngine(engine());
      expect(lm.inputs[0]!.shape).toEqual([T]);
      expect(lm.outputs[0]!.shape).toEqual([T, vocabSize]);
      const r = new Random(3);
      const ids = Int32Array.from({ length: 2 * T }, () => Math.floor(r.next() * vocabSize));
      const probs = await predicted(lm, ids, 2);
      expect(probs.length).toBe(2 * T * vocabSize);
      for (let row = 0; row < 2 * T; row++) {
        const sum = probs.subarray(row * vocabSize, (row + 1) * vocabSize).reduce((a, b) => a + b, 0);
        expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
      }
      // Changing the ids from step 5 on leaves steps 0 … 4 as they were, and changes step 5.
      const changed = ids.slice();
      for (const base of [0, T]) for (let t = 5; t < T; t++) changed[base + t] = (ids[base + t]! + 1 + t) % vocabSize;
      const after = await predicted(lm, changed, 2);
      for (const base of [0, T]) {
        const prefix = (p: Float32Array) => p.subarray(base * vocabSize, (base + 5) * vocabSize);
        expect(relL2(prefix(after), prefix(probs))).toBeLessThanOrEqual(1e-6);
        const step5 = (p: Float32Array) => p.subarray((base + 5) * vocabSize, (base + 6) * vocabSize);
        expect(relL2(step5(after), step5(probs))).toBeGreaterThan(1e-4);
      }
      lm.dispose();
    });
  }

  it('the default transformer is two pre-LN blocks with a causal attention; the LSTM kind one LSTM of 128 units', () => {
    const gpt = charLanguageModel({ vocabSize: 80, sequenceLength: 64 });
    const names = gpt.layers.map((l) => `${l.name}:${l.className}`);
    expect(names).toContain('block2_attention:MultiHeadAttention');
    expect(names).not.toContain('block3_attention:MultiHeadAttention');
    expect(names.at(-2)).toBe('final_ln:LayerNormalization');
    expect(names.at(-1)).toBe('next_char:Dense');
    expect((gpt.getLayer('block1_attention') as unknown as { useCausalMask: boolean }).useCausalMask).toBe(true);
    const lstm = charLanguageModel({ vocabSize: 80, sequenceLength: 64, kind: 'lstm' });
    expect(lstm.layers.map((l) => l.className)).toEqual(['InputLayer', 'Embedding', 'LSTM', 'Dense']);
    expect((lstm.getLayer('lstm1') as unknown as { units: number }).units).toBe(128);
    // A dropout rate adds Dropout layers and the attention's own dropout.
    const dropped = charLanguageModel({ vocabSize: 80, sequenceLength: 64, dropout: 0.1, blocks: 1 });
    expect(dropped.layers.filter((l) => l.className === 'Dropout').length).toBe(3);
    for (const m of [gpt, lstm, dropped]) m.dispose();
  });

  for (const kind of KINDS) {
    it(`${kind}: a few epochs on a slice of the corpus make the training and validation loss fall`, async () => {
      const { vocab, train, validation } = textDataset(await corpusSlice(), { windowSize: T, validationSplit: 0.1 });
      const lm = tiny(kind, vocab.size);
      lm.compile({ optimizer: optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
      const { xs, ys } = train.tensors();
      const val = validation!.tensors();
      const before = await lm.evaluate(val.xs, val.ys, { batchSize: 64 });
      const history = await lm.fit(xs, ys, { epochs: 3, batchSize: 32, seed: 1, verbose: 0, validationData: [val.xs, val.ys] });
      const losses = history.history.loss;
      const valLosses = history.history.val_loss;
      if (process.env.CHARLM_TEST_LOG) console.log(kind, { before: before.loss, loss: losses, val_loss: valLosses });
      expect(before.loss).toBeGreaterThan(Math.log(vocab.size) - 0.5);
      expect(losses[2]!).toBeLessThan(losses[0]!);
      expect(valLosses[2]!).toBeLessThan(before.loss - 0.8);
      lm.dispose();
    });
  }
});

describe('generateText', () => {
  /** A model that has learned a little, so that its distributions are far from uniform. */
  async function trained(kind: CharLmKind): Promise<{ lm: LayersModel; vocab: CharVocab }> {
    const { vocab, train } = textDataset(await corpusSlice(), { windowSize: T, validationSplit: 0 });
    const lm = tiny(kind, vocab.size);
    lm.compile({ optimizer: optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
    const { xs, ys } = train.tensors();
    await lm.fit(xs, ys, { epochs: 1, batchSize: 32, verbose: 0 });
    return { lm, vocab };
  }

  /**
   * The greedy chain by hand: each step predict() on the text so far (its last T characters, or the
   * text followed by other ids while it is shorter: a causal model ignores them), the float64
   * argmax over the real characters at the last real step.
   */
  async function greedyReference(lm: LayersModel, vocab: CharVocab, prompt: string, length: number, steps = T): Promise<string> {
    const ids = Array.from(vocab.encode(prompt));
    let out = '';
    for (let n = 0; n < length; n++) {
      const window = ids.slice(-steps);
      const used = window.length;
      while (window.length < steps) window.push((window.length * 5) % vocab.size);
      const probs = Float64Array.from(await predicted(lm, Int32Array.from(window), 1, steps));
      let best = -1;
      for (let c = 0; c < vocab.size; c++) if (c !== UNKNOWN_ID && (best < 0 || probs[(used - 1) * vocab.size + c]! > probs[(used - 1) * vocab.size + best]!)) best = c;
      ids.push(best);
      out += vocab.chars[best];
    }
    return out;
  }

  for (const kind of KINDS) {
    it(`${kind}: temperature 0 is the argmax chain of predict() outputs, across the window's end`, async () => {
      const { lm, vocab } = await trained(kind);
      // A prompt shorter than T whose continuation runs past T (the window then slides), and one longer than T.
      for (const prompt of ['The ', 'DICTIONARY, n.  A malevolent literary device']) {
        const length = 14;
        // The LSTM carries its states by default (tested below): here it reruns the window too.
        const greedy = await generateText(lm, vocab, { prompt, length, temperature: 0, reusePrefix: false });
        expect(greedy).toBe(await greedyReference(lm, vocab, prompt, length));
      }
      lm.dispose();
    });
  }

  it('an LSTM carries its states: one step per character, the greedy text of a model whose window holds the whole text', async () => {
    const { lm, vocab } = await trained('lstm');
    expect(generationMode(lm)).toEqual({ mode: 'state' });
    const transformer = tiny('transformer', vocab.size);
    expect(generationMode(transformer)).toEqual({ mode: 'window', reason: 'the model has no recurrent layer to carry the state' });
    transformer.dispose();
    // The states start from zeros at the prompt's last T characters and go on past T: a model of a
    // longer window (the LSTM's weights do not depend on T) sees the same text in one window.
    const prompt = 'DICTIONARY, n.  A malevolent literary device';
    const length = 16;
    const context = prompt.slice(-T);
    const long = tiny('lstm', vocab.size, { sequenceLength: T + length });
    long.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', engine: engine() });
    long.setWeights(await lm.getWeights());
    expect(await generateText(lm, vocab, { prompt, length, temperature: 0 })).toBe(await greedyReference(long, vocab, context, length, T + length));
    // Per character: one cell dispatch, the final states' copy and the two state inputs' gathers, against T cell dispatches.
    const e = engine();
    const dispatches = async (reusePrefix: boolean) => {
      const before = e.stats().dispatches;
      await generateText(lm, vocab, { prompt: 'A', length, temperature: 0, reusePrefix });
      return (e.stats().dispatches - before) / length;
    };
    const [byState, byWindow] = [await dispatches(true), await dispatches(false)];
    console.log(`dispatches per generated character (T = ${T}): ${byState} carrying the states, ${byWindow} rerunning the window`);
    expect(byWindow - byState).toBe(T - 4);
    // The twin follows the model's training: after more steps, the state carrying still matches a fresh copy.
    const { xs, ys } = textDataset(await corpusSlice(), { windowSize: T, validationSplit: 0 }).train.tensors();
    await lm.fit(xs, ys, { epochs: 1, batchSize: 32, verbose: 0 });
    long.setWeights(await lm.getWeights());
    expect(await generateText(lm, vocab, { prompt, length, temperature: 0 })).toBe(await greedyReference(long, vocab, context, length, T + length));
    long.dispose();
    lm.dispose();
  });

  it('is deterministic with a seed, returns `length` characters of the vocabulary and reports each one', async () => {
    const { lm, vocab } = await trained('transformer');
    const seen: string[] = [];
    const a = await generateText(lm, vocab, { prompt: 'A ', length: 40, temperature: 1, seed: 5, onText: (t) => seen.push(t) });
    const b = await generateText(lm, vocab, { prompt: 'A ', length: 40, temperature: 1, seed: 5 });
    const c = await generateText(lm, vocab, { prompt: 'A ', length: 40, temperature: 1, seed: 6 });
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect([...a].length).toBe(40);
    const real = new Set(vocab.chars.slice(1));
    expect([...a].every((ch) => real.has(ch))).toBe(true);
    expect(seen.length).toBe(40);
    expect(seen.every((t, i) => [...t].length === i + 1 && a.startsWith(t))).toBe(true);
    // An empty prompt starts after a line break; length 0 gives ''.
    expect([...(await generateText(lm, vocab, { prompt: '', length: 3, temperature: 0.5 }))].length).toBe(3);
    expect(await generateText(lm, vocab, { prompt: 'x', length: 0, temperature: 0.5 })).toBe('');
    lm.dispose();
  });

  it('samples p^(1/temperature), renormalized: frequencies over many draws, never the unknown id', () => {
    const probs = [0.5, 0.1, 0.3, 0.6];
    const weights = new Float64Array(4);
    for (const temperature of [1, 0.5, 2]) {
      const r = new Random(11);
      const counts = [0, 0, 0, 0];
      const draws = 20_000;
      for (let k = 0; k < draws; k++) counts[sampleIndex(probs, 0, 4, temperature, r, weights)]!++;
      const p = probs.slice(1).map((q) => q ** (1 / temperature));
      const total = p.reduce((x, y) => x + y, 0);
      expect(counts[0]).toBe(0);
      for (let i = 1; i < 4; i++) expect(Math.abs(counts[i]! / draws - p[i - 1]! / total)).toBeLessThan(0.015);
    }
    expect(sampleIndex([0.9, 0.05, 0.05, 0.07, 0.02], 1, 4, 0, new Random(1), weights)).toBe(2);
  });

  it('rejects what cannot work, naming the field', async () => {
    const vocab = CharVocab.fromText('abc');
    const lm = tiny('lstm', vocab.size);
    const run = (o: Record<string, unknown>, v: CharVocab = vocab) => generateText(lm, v, { prompt: 'a', length: 2, temperature: 1, ...o } as never);
    await expect(run({ temperature: -1 })).rejects.toThrow(/temperature must be a finite number ≥ 0, got -1/);
    await expect(run({ length: 1.5 })).rejects.toThrow(/length must be a non-negative integer, got 1.5/);
    await expect(run({ prompt: 3 })).rejects.toThrow(/prompt must be a string, got number/);
    await expect(run({ seed: 0.5 })).rejects.toThrow(/seed must be an integer, got 0.5/);
    await expect(run({}, CharVocab.fromText('abcdef'))).rejects.toThrow(/the model predicts 4 classes, but the vocabulary has 7 ids/);
    lm.dispose();
  });
});

describe('model.json', () => {
  it('the transformer LM round-trips: the loaded model predicts the same', async () => {
    const { vocab, train } = textDataset(await corpusSlice(), { windowSize: T, validationSplit: 0 });
    const lm = tiny('transformer', vocab.size, { blocks: 2, dropout: 0.1 });
    lm.compile({ optimizer: optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
    const { xs, ys } = train.gather(Uint32Array.from({ length: 64 }, (_, i) => i));
    await lm.fit(xs, ys, { epochs: 1, batchSize: 32, verbose: 0 });
    const expected = await predicted(lm, xs.dataSync().subarray(0, 4 * T), 4);
    const loaded = await loadModel({ load: async () => await captureOurs(lm) }, { engine: engine() });
    expect(loaded.layers.map((l) => l.name)).toEqual(lm.layers.map((l) => l.name));
    const error = relL2(await predicted(loaded, xs.dataSync().subarray(0, 4 * T), 4), expected);
    if (process.env.CHARLM_TEST_LOG) console.log('model.json round trip relL2', error);
    expect(error).toBeLessThanOrEqual(1e-6);
    lm.dispose();
    loaded.dispose();
  });
});

describe('charLanguageModel options', () => {
  it('rejects what cannot work, naming the field, what was expected and what came', () => {
    const make = (o: Partial<CharLmOptions>) => () => charLanguageModel({ vocabSize: 10, sequenceLength: 8, ...o });
    expect(make({ kind: 'gru' as CharLmKind })).toThrow(/charLanguageModel: kind must be 'transformer' or 'lstm', got "gru"/);
    expect(make({ vocabSize: 1 })).toThrow(/vocabSize must be at least 2 .*got 1/);
    expect(make({ sequenceLength: 0 })).toThrow(/sequenceLength must be a positive integer, got 0/);
    expect(make({ dModel: 30, heads: 4 })).toThrow(/dModel must be a multiple of heads .*got dModel 30 and heads 4/);
    expect(make({ blocks: 1.5 })).toThrow(/blocks must be a positive integer, got 1.5/);
    expect(make({ units: '8' as unknown as number })).toThrow(/units must be a positive integer, got "8"/);
    expect(make({ dropout: 1 })).toThrow(/dropout must be a number in \[0, 1\), got 1/);
    expect(make({ seed: 0.5 })).toThrow(/seed must be an integer, got 0.5/);
    expect(() => charLanguageModel(undefined as never)).toThrow(/expected options like \{ vocabSize: 80, sequenceLength: 64 \}/);
    // dModel need not divide by heads for the LSTM, which has none.
    charLanguageModel({ vocabSize: 10, sequenceLength: 8, kind: 'lstm', dModel: 30 }).dispose();
  });
});

describe('npm start -- --example charlm', () => {
  it('parses its flags with the defaults, and rejects what cannot work', () => {
    const o = parseCharLmArgs(['--example', 'charlm'])!;
    expect(o).toMatchObject({ kind: 'transformer', epochs: 5, sequenceLength: 64, batchSize: 32, temperature: 0.8, save: 'weights/charlm-transformer', prompt: 'POLITICS, n.  ' });
    // --minutes alone: the time ends the run; with --epochs too, whichever comes first.
    expect(parseCharLmArgs(['--minutes', '2.5', '--kind', 'lstm', '--text', 'a.txt'])).toMatchObject({ minutes: 2.5, epochs: Infinity, save: 'weights/charlm-lstm', prompt: '' });
    expect(parseCharLmArgs(['--minutes', '1', '--epochs', '3'])).toMatchObject({ minutes: 1, epochs: 3 });
    expect(parseCharLmArgs(['--help'])).toBeUndefined();
    expect(() => parseCharLmArgs(['--kind', 'gru'])).toThrow(/--kind must be transformer or lstm, got 'gru'/);
    expect(() => parseCharLmArgs(['--epochs', '0'])).toThrow(/--epochs must be an integer ≥ 1, got '0'/);
    expect(() => parseCharLmArgs(['--temperature', 'hot'])).toThrow(/--temperature must be a number ≥ 0, got 'hot'/);
    expect(() => parseCharLmArgs(['--learning-rate', '0'])).toThrow(/--learning-rate must be a number > 0, got '0'/);
    expect(() => parseCharLmArgs(['--seq-len', '1'])).toThrow(/--seq-len must be an integer ≥ 2, got '1'/);
  });

  it('trains on a --text file, reports bits per character with a sample, and saves a model and vocabulary that load and generate', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'charlm-'));
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.join(' ')));
    try {
      await writeFile(join(dir, 'text.txt'), (await corpusSlice()).slice(0, 1500));
      const save = join(dir, 'lm');
      await charLmExample(['--example', 'charlm', '--text', join(dir, 'text.txt'), '--kind', 'lstm', '--seq-len', '8', '--epochs', '2', '--epoch-batches', '3', '--sample-length', '6', '--save', save]);
      const epochs = lines.filter((l) => /^epoch \d/.test(l));
      expect(epochs.length).toBe(2);
      expect(epochs[1]).toMatch(/^epoch 2, [\d.]+ min of training: loss [\d.]+ bits\/char, validation [\d.]+ bits\/char; \d+ tokens\/s/);
      expect(lines.filter((l) => l.startsWith('sample (temperature 0.8')).length).toBe(2);
      expect(lines.at(-1)).toMatch(/Saved the model to .*model.json and its vocabulary to .*vocab.json/);
      const vocab = CharVocab.fromJSON(await readFile(join(save, 'vocab.json'), 'utf8'));
      const lm = await loadModel(`file://${save}`, { engine: engine() });
      expect([...(await generateText(lm, vocab, { prompt: 'the ', length: 5, temperature: 0.8 }))].length).toBe(5);
      lm.dispose();
    } finally {
      log.mockRestore();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
