/**
 * The text tab's module worker: it owns its GPU device, the character vocabulary and the language
 * model, trains it (fitDataset in rounds of `sampleEvery` steps, validation after each) and
 * generates samples while training goes on. A sample runs on a second copy of the model that
 * takes the trained weights at its step, so each sample comes from one model, not from weights
 * that change under it; training and the sample then take turns, a few characters per step.
 */
import { createEngine, optimizers, textDataset, WebGPUUnavailableError, type CharVocab, type Engine, type LayersModel, type Logs, type Tensor, type TextDataset, type TextWindows } from '../src/index.ts';
import { charLanguageModel } from '../src/models/charlm.ts';
import { generateText } from '../src/models/generate.ts';
import type { FromTextWorker, TextSample, TextTrainConfig, ToTextWorker } from './text-protocol.ts';

/** Validation windows evaluated after each round, at most: spread over the held-out text. */
const MAX_VALIDATION_WINDOWS = 256;
/** The held-out end of the text. */
const VALIDATION_SPLIT = 0.1;
/** A text with fewer windows than this many batches gets overlapping windows (stride T/4). */
const MIN_BATCHES_PER_EPOCH = 4;
/** Partial samples go to the page at most this often. */
const SAMPLE_POST_MS = 100;

const scope = self as unknown as DedicatedWorkerGlobalScope;
let engine: Engine | undefined;
/** The model being trained, and its copy that generates samples. */
let trained: LayersModel | undefined;
let sampler: LayersModel | undefined;
let vocab: CharVocab | undefined;
let config: TextTrainConfig | undefined;
let training = false;
let stopRequested = false;
/** The steps done so far in the current run (the weights a sample takes). */
let stepsDone = 0;
let temperature = 0.8;
/** What samples continue (the page's prompt box). */
let prompt = '';
/** A sample asked for while training runs: it starts at the next step boundary. */
let requested: { length: number } | undefined;
/** The sample being generated, if any: samples run one at a time beside training. */
let sampling: Promise<void> | undefined;
let sampleId = 0;
/**
 * Training and the running sample take turns: a step's end waits until the sample has `target`
 * characters (or is done). On a GPU both are fast anyway; on a CPU adapter, where the queue runs
 * one thing at a time, the sample would otherwise get one character per training step.
 */
const turn = { generated: 0, target: 0, wake: undefined as (() => void) | undefined };
let queue: Promise<unknown> = Promise.resolve();

function post(message: FromTextWorker): void {
  scope.postMessage(message);
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

async function init(): Promise<void> {
  try {
    engine = await createEngine();
  } catch (err) {
    if (err instanceof WebGPUUnavailableError) {
      post({ type: 'unavailable', message: err.message });
      return;
    }
    throw err;
  }
  post({ type: 'ready', adapter: engine.adapterDescription, fallbackAdapter: engine.isFallbackAdapter });
}

/** The text as windows: non-overlapping, unless that leaves fewer than MIN_BATCHES_PER_EPOCH batches. */
function windowsOf(text: string, c: TextTrainConfig): { data: TextDataset; stride: number } {
  const T = c.sequenceLength;
  const plain = textDataset(text, { windowSize: T, validationSplit: VALIDATION_SPLIT });
  if (plain.train.count >= MIN_BATCHES_PER_EPOCH * c.batchSize || T < 4) return { data: plain, stride: T };
  const stride = Math.ceil(T / 4);
  return { data: textDataset(text, { windowSize: T, stride, validationSplit: VALIDATION_SPLIT, vocab: plain.vocab }), stride };
}

/** At most MAX_VALIDATION_WINDOWS windows, evenly spread, as [x, y] tensors. */
function validationTensors(windows: TextWindows): [Tensor, Tensor] {
  const n = Math.min(windows.count, MAX_VALIDATION_WINDOWS);
  const picked = Uint32Array.from({ length: n }, (_, i) => Math.floor((i * windows.count) / n));
  const { xs, ys } = windows.gather(picked);
  return [xs, ys];
}

/**
 * Starts a sample unless one is running: copies the trained weights into the sampler, then
 * generates on the copy without holding training up, the partial text going to the page as it
 * grows. Resolves once the weights are copied (the caller awaits only that readback); the sample
 * itself is `sampling`.
 */
function startSample(length: number): Promise<void> {
  if (!trained || !sampler || sampling) return Promise.resolve();
  const [model, source, words] = [sampler, trained, vocab!];
  const id = ++sampleId;
  const base: Omit<TextSample, 'text' | 'done' | 'ms'> = { id, step: stepsDone, temperature, prompt };
  let copied!: () => void;
  const weightsCopied = new Promise<void>((resolve) => (copied = resolve));
  sampling = (async () => {
    try {
      model.setWeights(await source.getWeights());
    } finally {
      copied();
    }
    const started = performance.now();
    let lastPost = 0;
    turn.generated = 0;
    const text = await generateText(model, words, {
      prompt: base.prompt,
      length,
      temperature: base.temperature,
      seed: config!.seed + id,
      onText: (soFar) => {
        sampled(soFar.length);
        const now = performance.now();
        if (now - lastPost < SAMPLE_POST_MS) return;
        lastPost = now;
        post({ type: 'sample', ...base, text: soFar, done: false, ms: now - started });
      },
    });
    post({ type: 'sample', ...base, text, done: true, ms: performance.now() - started });
  })()
    .catch((err: unknown) => post({ type: 'sampleError', message: errorText(err) }))
    .finally(() => {
      sampling = undefined;
      sampled(Infinity);
    });
  return weightsCopied;
}

/** The sample has `count` characters (or, with Infinity, is done): a step waiting for it goes on once it has enough. */
function sampled(count: number): void {
  turn.generated = count;
  if (turn.wake && count >= turn.target) {
    const wake = turn.wake;
    turn.wake = undefined;
    wake();
  }
}

/** Training's side of the turns: resolves once the running sample has `chars` more characters, or at once if none runs. */
function sampleTurn(chars: number): Promise<void> {
  if (!sampling) return Promise.resolve();
  turn.target = turn.generated + chars;
  return new Promise<void>((resolve) => (turn.wake = resolve));
}

/** Every batch of every epoch, without end: fitDataset's rounds take `batchesPerEpoch` at a time. */
function* endless(data: TextDataset, batchSize: number, seed: number) {
  const batches = data.train.batches(batchSize, { seed, dropRemainder: true });
  for (let epoch = 0; ; epoch++) yield* batches.epoch(epoch);
}

async function train(c: TextTrainConfig, text: string): Promise<void> {
  if (!engine) throw new Error('WebGPU is not ready yet');
  if (training) throw new Error('training is already running');
  training = true;
  stopRequested = false;
  try {
    await sampling;
    trained?.dispose();
    sampler?.dispose();
    trained = sampler = undefined;
    config = c;
    temperature = c.temperature;
    prompt = c.prompt;
    requested = undefined;
    stepsDone = 0;
    const { data, stride } = windowsOf(text, c);
    vocab = data.vocab;
    if (!data.validation) throw new Error('the text has no validation part');
    const batchSize = Math.min(c.batchSize, data.train.count);
    const width = c.kind === 'transformer' ? { dModel: c.width } : { units: c.width };
    const options = { vocabSize: vocab.size, sequenceLength: c.sequenceLength, kind: c.kind, blocks: c.blocks, seed: c.seed, ...width };
    const model = charLanguageModel(options);
    trained = model;
    sampler = charLanguageModel(options);
    sampler.useEngine(engine);
    model.compile({ optimizer: optimizers.adam({ learningRate: c.learningRate }), loss: 'sparseCategoricalCrossentropy', engine });
    const stepsPerEpoch = Math.floor(data.train.count / batchSize);
    const stepsPerRound = Math.max(1, Math.min(c.sampleEvery, stepsPerEpoch * c.epochs));
    const rounds = Math.ceil((stepsPerEpoch * c.epochs) / stepsPerRound);
    const totalSteps = rounds * stepsPerRound;
    post({
      type: 'info',
      summary: model.summary(),
      params: model.countParams(),
      chars: [...vocab.chars],
      characters: [...text].length,
      trainWindows: data.train.count,
      validationWindows: data.validation.count,
      stride,
      batchSize,
      stepsPerEpoch,
      stepsPerRound,
      totalSteps,
    });
    post({ type: 'phase', phase: 'compiling' });
    const started = performance.now();
    let seen = 0;
    let lossSum = 0;
    let nextSample = c.sampleEvery;
    // A sample gets enough characters per step to finish in half the steps between samples.
    const charsPerStep = Math.max(1, Math.ceil((2 * c.sampleLength) / c.sampleEvery));
    await model.fitDataset(endless(data, batchSize, c.seed), {
      epochs: rounds,
      batchesPerEpoch: stepsPerRound,
      validationData: validationTensors(data.validation),
      validationBatchSize: batchSize,
      verbose: 0,
      logEveryMs: 0,
      callbacks: {
        onEpochBegin: () => {
          seen = lossSum = 0;
        },
        onBatchEnd: async (_batch: number, logs: Logs) => {
          const size = logs.size as number;
          const count = seen + size;
          const batchLoss = (logs.loss * count - lossSum) / size;
          seen = count;
          lossSum = logs.loss * count;
          stepsDone++;
          if (stepsDone === 1) post({ type: 'phase', phase: 'training' });
          post({ type: 'step', step: stepsDone, totalSteps, bpc: Math.max(0, batchLoss) / Math.LN2, roundBpc: logs.loss / Math.LN2, elapsedMs: performance.now() - started });
          if (stopRequested) model.stopTraining = true;
          // Due every sampleEvery steps, or at the first step after a sample that outlasted that; the last step's is the final sample.
          else if ((requested || stepsDone >= nextSample) && stepsDone < totalSteps && !sampling) {
            if (!requested) nextSample = stepsDone + c.sampleEvery;
            const length = requested?.length ?? c.sampleLength;
            requested = undefined;
            await startSample(length);
          }
          if (!model.stopTraining) await sampleTurn(charsPerStep);
        },
        onEpochEnd: (_round: number, logs: Logs) => {
          post({ type: 'round', step: stepsDone, bpc: logs.loss / Math.LN2, valBpc: (logs.val_loss ?? NaN) / Math.LN2 });
        },
      },
    });
    const trainMs = performance.now() - started;
    // The trained model's own sample: after the one in progress, from the final weights.
    await sampling;
    await startSample(c.sampleLength);
    await sampling;
    post({ type: 'phase', phase: 'done', stopped: stopRequested, trainMs });
  } finally {
    training = false;
  }
}

/** Runs requests one at a time; errors go to the page instead of vanishing. */
function enqueue(task: () => Promise<void>): void {
  queue = queue.then(task).catch((err: unknown) => post({ type: 'error', message: errorText(err) }));
}

scope.onmessage = (event: MessageEvent<ToTextWorker>) => {
  const message = event.data;
  switch (message.type) {
    case 'init':
      enqueue(init);
      break;
    case 'train':
      enqueue(() => train(message.config, message.text));
      break;
    case 'stop':
      if (training) stopRequested = true;
      break;
    case 'temperature':
      temperature = message.value;
      post({ type: 'temperature', value: temperature });
      break;
    case 'prompt':
      prompt = message.value;
      break;
    case 'sample':
      prompt = message.prompt;
      // During training it starts at the next step (the weights are copied between steps); after it, in turn.
      if (training) requested = { length: message.length };
      else
        enqueue(async () => {
          if (!trained) throw new Error('train a model first');
          await startSample(message.length);
          await sampling;
        });
      break;
  }
};
