/**
 * The demo's module worker: it owns the GPU device, the dataset and the model, and does all
 * training and inference, so that the page's main thread only renders and stays responsive.
 */
import { createEngine, mnistFromIdx, mnistModel, tensor, toCategorical, WebGPUUnavailableError, type Engine, type LayersModel, type Logs, type MnistModelName } from '../src/index.ts';
import type { Mnist, MnistBuffers } from '../src/data/mnist.ts';
import { argmaxRow, CLASSES, crossentropy } from './metrics.ts';
import type { EvaluationResult, FromWorker, SavedBase, ToWorker, TrainConfig, TransferConfig } from './protocol.ts';
import { findSavedBase, saveBase, TransferSession } from './worker-transfer.ts';

const PIXELS = 28 * 28;
const FILES: Record<keyof MnistBuffers, string> = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};
/** Test images predicted per request: bounds GPU memory and lets the page show evaluation progress. */
const EVAL_CHUNK = 500;
const EVAL_BATCH = 100;

const scope = self as unknown as DedicatedWorkerGlobalScope;
let engine: Engine | undefined;
let mnist: Mnist | undefined;
let current: LayersModel | undefined;
let currentName: MnistModelName = 'cnn';
/** The model kept in IndexedDB (the transfer panel's 'saved' base), once known. */
let savedBase: SavedBase | null = null;
const transfer = new TransferSession();
let training = false;
let paused: { resume: () => void; promise: Promise<void> } | undefined;
let stopRequested = false;
/** Serializes GPU work that arrives while training runs (classify requests wait for their turn). */
let queue: Promise<unknown> = Promise.resolve();

function post(message: FromWorker, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

async function fetchAll(): Promise<MnistBuffers> {
  const base = `${import.meta.env.BASE_URL}mnist/`;
  const responses = await Promise.all(
    Object.values(FILES).map(async (name) => {
      const response = await fetch(base + name);
      if (!response.ok || !response.body) throw new Error(`cannot load ${base + name}: HTTP ${response.status}`);
      return response;
    }),
  );
  const total = responses.reduce((n, r) => n + Number(r.headers.get('content-length') ?? 0), 0);
  let loaded = 0;
  let lastPost = 0;
  const bodies = await Promise.all(
    responses.map(async (response) => {
      const reader = response.body!.getReader();
      const parts: Uint8Array[] = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        loaded += value.byteLength;
        if (performance.now() - lastPost > 50) {
          lastPost = performance.now();
          post({ type: 'loading', loaded, total });
        }
      }
      const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
      let offset = 0;
      for (const p of parts) {
        bytes.set(p, offset);
        offset += p.byteLength;
      }
      return bytes;
    }),
  );
  post({ type: 'loading', loaded: total, total });
  const [trainImages, trainLabels, testImages, testLabels] = bodies as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  return { trainImages, trainLabels, testImages, testLabels };
}

async function load(): Promise<void> {
  try {
    engine = await createEngine();
  } catch (err) {
    if (err instanceof WebGPUUnavailableError) {
      post({ type: 'unavailable', message: err.message });
      return;
    }
    throw err;
  }
  mnist = mnistFromIdx(await fetchAll());
  savedBase = await findSavedBase().catch(() => null);
  post({ type: 'saved', base: savedBase });
  post({
    type: 'ready',
    adapter: engine.adapterDescription,
    fallbackAdapter: engine.isFallbackAdapter,
    trainAvailable: mnist.train.labels.shape[0]!,
    testAvailable: mnist.test.labels.shape[0]!,
  });
}

function rows(data: Uint8Array, count: number): Uint8Array {
  return data.subarray(0, count * PIXELS);
}

async function train(config: TrainConfig): Promise<void> {
  if (!engine || !mnist) throw new Error('the dataset is not loaded yet');
  if (training) throw new Error('training is already running');
  training = true;
  stopRequested = false;
  try {
    current?.dispose();
    current = undefined;
    // Only the tutorial CNN has both definitions; the others are built their one way.
    const model = mnistModel(config.model, config.model === 'cnn' ? { api: config.style } : {});
    current = model;
    currentName = config.model;
    post({ type: 'summary', text: model.summary(), params: model.countParams() });
    const sparse = config.labels === 'integer';
    model.compile({
      optimizer: config.optimizer,
      loss: sparse ? 'sparseCategoricalCrossentropy' : 'categoricalCrossentropy',
      metrics: ['accuracy'],
      engine,
    });
    const n = Math.min(config.trainCount, mnist.train.labels.shape[0]!);
    const x = tensor(rows(mnist.train.images.values, n), [n, 28, 28, 1]);
    const labels = tensor(mnist.train.labels.values.subarray(0, n), [n]);
    const y = sparse ? labels : toCategorical(labels, CLASSES);

    const batchesPerEpoch = Math.ceil(n / config.batchSize);
    const samplesTotal = n * config.epochs;
    let trainMs = 0;
    let activeSince = performance.now();
    let epoch = 0;
    // Running sums of the epoch so far, to recover each batch's own loss and accuracy.
    let seen = 0;
    let lossSum = 0;
    let correct = 0;
    post({ type: 'phase', phase: 'compiling' });
    await model.fit(x, y, {
      epochs: config.epochs,
      batchSize: config.batchSize,
      verbose: 0,
      // Every batch: the curves show each batch, and a readback per multi-millisecond step is cheap.
      logEveryMs: 0,
      callbacks: {
        onEpochBegin: (e) => {
          epoch = e;
          seen = lossSum = correct = 0;
        },
        onBatchEnd: async (batch, logs) => {
          const count = seen + logs.size;
          const accuracy = logs.accuracy ?? NaN;
          const batchLoss = (logs.loss * count - lossSum) / logs.size;
          const batchAccuracy = (accuracy * count - correct) / logs.size;
          seen = count;
          lossSum = logs.loss * count;
          correct = accuracy * count;
          const now = performance.now();
          post({
            type: 'batch',
            epoch,
            epochs: config.epochs,
            batch,
            batchesPerEpoch,
            samplesDone: epoch * n + count,
            samplesTotal,
            elapsedMs: trainMs + (now - activeSince),
            loss: logs.loss,
            accuracy,
            batchLoss: Math.max(0, batchLoss),
            batchAccuracy: Math.min(1, Math.max(0, batchAccuracy)),
          });
          if (batch === 0 && epoch === 0) post({ type: 'phase', phase: 'training' });
          if (paused && !stopRequested) {
            trainMs += now - activeSince;
            post({ type: 'phase', phase: 'paused' });
            await paused.promise;
            activeSince = performance.now();
            if (!stopRequested) post({ type: 'phase', phase: 'training' });
          }
          if (stopRequested) model.stopTraining = true;
        },
        onEpochEnd: (e, logs: Logs) => {
          post({ type: 'epoch', epoch: e, loss: logs.loss, accuracy: logs.accuracy ?? NaN });
        },
      },
    });
    trainMs += performance.now() - activeSince;
    post({ type: 'phase', phase: 'evaluating' });
    const result = await evaluate(model, config.testCount, trainMs, stopRequested);
    post({ type: 'result', ...result }, [result.probabilities.buffer, result.labels.buffer, ...result.misclassified.map((m) => m.image.buffer)]);
  } finally {
    training = false;
    paused = undefined;
  }
  // Kept for a later visit's transfer learning (after `training` is off: drawings may be classified
  // meanwhile, queued behind this); a browser without IndexedDB space only loses that.
  try {
    savedBase = await saveBase(current, config.model);
  } catch {
    // savedBase stays what it was
  }
  post({ type: 'saved', base: savedBase });
}

/** Predicts the first `count` test images and scores them on the host. */
async function evaluate(model: LayersModel, count: number, trainMs: number, stopped: boolean): Promise<EvaluationResult> {
  const test = mnist!.test;
  const n = Math.min(count, test.labels.shape[0]!);
  const started = performance.now();
  const probabilities = new Float32Array(n * CLASSES);
  for (let start = 0; start < n; start += EVAL_CHUNK) {
    const size = Math.min(EVAL_CHUNK, n - start);
    const x = tensor(test.images.values.subarray(start * PIXELS, (start + size) * PIXELS), [size, 28, 28, 1]);
    const p = await model.predict(x, { batchSize: Math.min(EVAL_BATCH, size) });
    probabilities.set(p.values, start * CLASSES);
    post({ type: 'evalProgress', done: start + size, total: n });
  }
  const labels = Uint8Array.from(test.labels.values.subarray(0, n));
  let right = 0;
  const misclassified: EvaluationResult['misclassified'] = [];
  for (let i = 0; i < n; i++) {
    if (argmaxRow(probabilities, i) === labels[i]) right++;
    else misclassified.push({ index: i, image: test.images.values.slice(i * PIXELS, (i + 1) * PIXELS) });
  }
  return {
    testCount: n,
    loss: crossentropy(probabilities, labels),
    accuracy: right / n,
    labels,
    probabilities,
    misclassified,
    trainMs,
    evalMs: performance.now() - started,
    stopped,
  };
}

async function classify(id: number, pixels: Uint8Array, digits: boolean, withTransfer: boolean): Promise<void> {
  if (training) throw new Error('the model is still training');
  if (digits && !current) throw new Error('train a model first');
  const probabilities = digits ? (await current!.predict(tensor(pixels, [1, 28, 28, 1]), { batchSize: 1 })).values : undefined;
  const fromHead = withTransfer && transfer.trained ? await transfer.predict(pixels) : undefined;
  post({ type: 'classified', id, probabilities, transfer: fromHead }, [probabilities?.buffer, fromHead?.buffer].filter((b) => b !== undefined));
}

async function trainTransfer(config: TransferConfig): Promise<void> {
  if (!engine) throw new Error('WebGPU is not ready yet');
  try {
    const report = await transfer.train(config, engine, current && { model: current, name: currentName }, savedBase, post);
    post({ type: 'transferTrained', ...report });
  } catch (err) {
    transfer.dispose();
    post({ type: 'transferError', message: errorText(err) });
  }
}

/** Runs GPU work one request at a time; errors go to the page instead of vanishing. */
function enqueue(task: () => Promise<void>): void {
  queue = queue.then(task).catch((err: unknown) => post({ type: 'error', message: errorText(err) }));
}

scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.type) {
    case 'load':
      enqueue(load);
      break;
    case 'train':
      enqueue(() => train(message.config));
      break;
    case 'pause':
      if (training && !paused) {
        let resume!: () => void;
        const promise = new Promise<void>((r) => (resume = r));
        paused = { resume, promise };
      }
      break;
    case 'resume':
      paused?.resume();
      paused = undefined;
      break;
    case 'stop':
      if (training) {
        stopRequested = true;
        paused?.resume();
        paused = undefined;
      }
      break;
    case 'classify':
      // Not queued behind training: classify() refuses while training instead of waiting minutes.
      if (training) post({ type: 'error', message: 'the model is still training' });
      else enqueue(() => classify(message.id, message.pixels, message.digits, message.transfer));
      break;
    case 'transferTrain':
      if (training) post({ type: 'transferError', message: 'the model is still training' });
      else enqueue(() => trainTransfer(message.config));
      break;
    case 'weights':
      enqueue(async () => {
        if (!current) throw new Error('no model has been trained');
        post({ type: 'weights', id: message.id, weights: await current.getWeights() });
      });
      break;
  }
};
