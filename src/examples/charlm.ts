/**
 * The character-level language model example (issue #18), in Node:
 *   npm start -- --example charlm [--text FILE] [--kind transformer|lstm] [--epochs 5] [--minutes M]
 * trains charLanguageModel on the shipped corpus (or FILE), reports each epoch's training and
 * validation loss in bits per character with a sample generated at temperature 0.8, and saves the
 * model (TF.js layers format) with its vocabulary (vocab.json) beside it.
 */
import { parseArgs } from 'node:util';
import { loadCorpus, textDataset } from '../data/text.ts';
import { charLanguageModel, type CharLmKind } from '../models/charlm.ts';
import { generateText } from '../models/generate.ts';
import { optimizers } from '../optimizers.ts';
import { createEngine, setDefaultEngine } from '../runtime/engine.ts';

export const CHARLM_USAGE = `usage: npm start -- --example charlm [--text FILE] [--kind transformer|lstm] [--epochs 5] [--minutes M]
       [--epoch-batches N] [--seq-len 64] [--batch-size 32] [--learning-rate 0.003] [--seed 1] [--save DIR]
       [--prompt TEXT] [--sample-length 200] [--temperature 0.8]
  --text     train on this UTF-8 file instead of the shipped corpus (data/corpus/devils-dictionary.txt)
  --kind     transformer (default): two GPT-style blocks; lstm: one LSTM of 128 units
  --epoch-batches  report (validation loss, a sample) every N batches instead of once per pass over the text
  --minutes  stop after this many minutes of training (mid-epoch if need be); --epochs, if given, still bounds the run
  --save     where to save the model and vocab.json; default weights/charlm-<kind>, '' not at all
  --prompt   the samples' prompt; default 'POLITICS, n.  ' (a new entry) for the shipped corpus, none (a line's start) for --text`;

const LN2 = Math.log(2);
const DICTIONARY_PROMPT = 'POLITICS, n.  ';

/** The example's options from the CLI's arguments (undefined for --help); an Error names the flag, what it takes and what came. */
export function parseCharLmArgs(argv: readonly string[]) {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      example: { type: 'string' },
      text: { type: 'string' },
      kind: { type: 'string', default: 'transformer' },
      epochs: { type: 'string' },
      'epoch-batches': { type: 'string' },
      minutes: { type: 'string' },
      'seq-len': { type: 'string', default: '64' },
      'batch-size': { type: 'string', default: '32' },
      'learning-rate': { type: 'string', default: '0.003' },
      seed: { type: 'string', default: '1' },
      save: { type: 'string' },
      prompt: { type: 'string' },
      'sample-length': { type: 'string', default: '200' },
      temperature: { type: 'string', default: '0.8' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  const number = (name: keyof typeof values, min: number, integer: boolean): number | undefined => {
    const raw = values[name] as string | undefined;
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got '${raw}'\n${CHARLM_USAGE}`);
    return n;
  };
  const kind = values.kind as CharLmKind;
  if (kind !== 'transformer' && kind !== 'lstm') throw new Error(`--kind must be transformer or lstm, got '${values.kind}'\n${CHARLM_USAGE}`);
  const learningRate = number('learning-rate', 0, false)!;
  if (learningRate <= 0) throw new Error(`--learning-rate must be a number > 0, got '${values['learning-rate']}'\n${CHARLM_USAGE}`);
  return {
    text: values.text,
    kind,
    // With --minutes, the time ends the run unless --epochs is given too.
    epochs: number('epochs', 1, true) ?? (values.minutes === undefined ? 5 : Infinity),
    epochBatches: number('epoch-batches', 1, true),
    minutes: number('minutes', 0, false),
    sequenceLength: number('seq-len', 2, true)!,
    batchSize: number('batch-size', 1, true)!,
    learningRate,
    seed: number('seed', 0, true)!,
    save: values.save ?? `weights/charlm-${kind}`,
    // The shipped corpus is a dictionary: by default its samples start a new entry.
    prompt: values.prompt ?? (values.text === undefined ? DICTIONARY_PROMPT : ''),
    sampleLength: number('sample-length', 0, true)!,
    temperature: number('temperature', 0, false)!,
  };
}

const bits = (nats: number | undefined) => (nats === undefined ? '—' : (nats / LN2).toFixed(3));

/** Runs the example with the CLI's arguments (`--example charlm` among them). */
export async function charLmExample(argv: readonly string[]): Promise<void> {
  const opts = parseCharLmArgs(argv);
  if (!opts) {
    console.log(CHARLM_USAGE);
    return;
  }
  const engine = await createEngine();
  setDefaultEngine(engine);
  console.log(`WebGPU adapter: ${engine.adapterDescription} (kernels: ${engine.kernelStyle})`);

  const text = await loadCorpus(opts.text);
  const { vocab, train, validation } = textDataset(text, { windowSize: opts.sequenceLength, validationSplit: 0.1 });
  console.log(`${opts.text ?? 'The Devil\u2019s Dictionary (data/corpus)'}: ${text.length} characters, ${vocab.size} ids; ${train.count} training and ${validation!.count} validation windows of ${opts.sequenceLength}`);

  const lm = charLanguageModel({ vocabSize: vocab.size, sequenceLength: opts.sequenceLength, kind: opts.kind, seed: opts.seed });
  lm.compile({ optimizer: optimizers.adam({ learningRate: opts.learningRate }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  lm.summary({ print: true });

  const val = validation!.tensors();
  const before = await lm.evaluate(val.xs, val.ys, { batchSize: opts.batchSize });
  console.log(`\nbefore training: validation ${bits(before.loss)} bits/char (uniform over the vocabulary: ${Math.log2(vocab.size).toFixed(3)})`);

  // An epoch is one pass over the training windows (each pass in a new seeded order), or --epoch-batches batches of that stream.
  const epochWindows = opts.epochBatches === undefined ? train.count : opts.epochBatches * opts.batchSize;
  let order: Uint32Array = new Uint32Array(0);
  let next = 0;
  let passes = 0;
  const nextWindows = (): Uint32Array => {
    const out = new Uint32Array(epochWindows);
    for (let filled = 0; filled < epochWindows; ) {
      if (next === order.length) [order, next] = [train.order({ shuffle: true, seed: opts.seed + passes++ }), 0];
      const take = Math.min(epochWindows - filled, order.length - next);
      out.set(order.subarray(next, next + take), filled);
      [filled, next] = [filled + take, next + take];
    }
    return out;
  };

  const limitMs = opts.minutes === undefined ? Infinity : opts.minutes * 60_000;
  let trainedMs = 0;
  let tokens = 0;
  for (let epoch = 0; epoch < opts.epochs && trainedMs < limitMs; epoch++) {
    const { xs, ys } = train.gather(nextWindows());
    const epochBatches = Math.ceil(epochWindows / opts.batchSize);
    let batches = epochBatches;
    let shown = performance.now();
    const epochStart = performance.now();
    const history = await lm.fit(xs, ys, {
      batchSize: opts.batchSize,
      shuffle: false,
      seed: opts.seed + epoch,
      verbose: 0,
      callbacks: {
        // Called after every batch; its logs are refreshed from the GPU every 500 ms. Fit stops after the batch that sets stopTraining.
        onBatchEnd: (batch, logs) => {
          const now = performance.now();
          if (now - shown >= 15_000) {
            console.log(`  epoch ${epoch + 1}: batch ${batch + 1}/${epochBatches}, loss ${bits(logs.loss)} bits/char so far`);
            shown = now;
          }
          if (trainedMs + now - epochStart < limitMs) return;
          lm.stopTraining = true;
          batches = batch + 1;
        },
      },
    });
    const epochMs = performance.now() - epochStart;
    trainedMs += epochMs;
    const epochTokens = Math.min(epochWindows, batches * opts.batchSize) * opts.sequenceLength;
    tokens += epochTokens;
    const valStart = performance.now();
    const valLoss = (await lm.evaluate(val.xs, val.ys, { batchSize: opts.batchSize })).loss;
    const valMs = performance.now() - valStart;
    console.log(
      `epoch ${epoch + 1}${batches < epochBatches ? ` (stopped after ${batches} of ${epochBatches} batches)` : ''}, ${(trainedMs / 60_000).toFixed(1)} min of training: ` +
        `loss ${bits(history.history.loss[0])} bits/char, validation ${bits(valLoss)} bits/char; ${(epochTokens / (epochMs / 1000)).toFixed(0)} tokens/s (validation ${(valMs / 1000).toFixed(1)} s)`,
    );
    const sampleStart = performance.now();
    const sample = await generateText(lm, vocab, { prompt: opts.prompt, length: opts.sampleLength, temperature: opts.temperature, seed: opts.seed + epoch });
    const perChar = (performance.now() - sampleStart) / Math.max(1, opts.sampleLength);
    console.log(`sample (temperature ${opts.temperature}, ${perChar.toFixed(1)} ms/char):\n${opts.prompt}${sample}\n`);
  }
  console.log(`Trained ${tokens} tokens in ${(trainedMs / 1000).toFixed(1)} s: ${(tokens / (trainedMs / 1000)).toFixed(0)} tokens/s (training steps only)`);

  if (opts.save) {
    await lm.save(`file://${opts.save}`);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(`${opts.save}/vocab.json`, JSON.stringify(vocab));
    console.log(`Saved the model to ${opts.save}/model.json and its vocabulary to ${opts.save}/vocab.json (CharVocab.fromJSON)`);
  }
  lm.dispose();
  engine.dispose();
}
