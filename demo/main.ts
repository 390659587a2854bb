/**
 * The demo page: controls, live curves, and the worker's reports routed to the views (results.ts,
 * pad.ts, transfer-panel.ts). It never touches the GPU; the worker (worker.ts) does, and this
 * thread only renders what the worker reports.
 */
import { LineChart, type Series } from './chart.ts';
import { argmaxRow, CLASSES } from './metrics.ts';
import { DrawingPad, renderProbabilities } from './pad.ts';
import type { BatchProgress, FromWorker, LabelEncoding, OptimizerName, ToWorker, TrainConfig } from './protocol.ts';
import { formatDuration, number, percent, ResultsView, type PageResult } from './results.ts';
import { TransferPanel, type TransferState } from './transfer-panel.ts';
import { setupTabs, TextTab } from './text-tab.ts';
import { MNIST_MODEL_DESCRIPTIONS } from '../src/models/descriptions.ts';
import type { MnistModelName, ModelApi, NamedWeight } from '../src/index.ts';

type Status = 'starting' | 'loading' | 'ready' | 'compiling' | 'training' | 'paused' | 'evaluating' | 'done' | 'no-webgpu' | 'error';

/** State the tests (and curious users, from the console) read: `window.__demo`. */
export interface DemoState {
  status: Status;
  adapter?: string;
  config?: TrainConfig;
  progress?: BatchProgress;
  batches: { x: number; loss: number; accuracy: number }[];
  epochs: { epoch: number; loss: number; accuracy: number }[];
  summary?: string;
  /** The built model's parameter count (from the worker's summary). */
  params?: number;
  result?: PageResult;
  drawn?: { pixels: number[]; probabilities: number[]; predicted: number };
  /** The transfer-learning panel: its classes, examples, training and the new head's predictions. */
  transfer?: TransferState;
  /**
   * Main-thread responsiveness while training or evaluating. `longestTaskMs`: the longest task the
   * page itself ran ('longtask' entries). `maxTimerLagMs`: the worst lateness of a 50 ms timer, which
   * also counts time the OS did not schedule the page (CPU contention); `maxTimerLagStatus` says when.
   */
  maxTimerLagMs: number;
  maxTimerLagStatus?: Status;
  longestTaskMs: number;
  longestTaskStatus?: Status;
  /** Whether this browser reports long tasks at all (else longestTaskMs stays 0). */
  longTasksObserved: boolean;
  error?: string;
  /** The trained weights, fetched from the worker (base64 of float32 bytes, for transfer out of the page). */
  weights(): Promise<{ name: string; shape: number[]; base64: string }[]>;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('controls');
const inputs = {
  model: $<HTMLSelectElement>('model'),
  train: $<HTMLInputElement>('train'),
  test: $<HTMLInputElement>('test'),
  epochs: $<HTMLInputElement>('epochs'),
  batch: $<HTMLSelectElement>('batch'),
  optimizer: $<HTMLSelectElement>('optimizer'),
  labels: $<HTMLSelectElement>('labels'),
  style: $<HTMLSelectElement>('style'),
};
const buttons = { start: $<HTMLButtonElement>('start'), pause: $<HTMLButtonElement>('pause'), stop: $<HTMLButtonElement>('stop') };

const demo: DemoState = {
  status: 'starting',
  batches: [],
  epochs: [],
  maxTimerLagMs: 0,
  longestTaskMs: 0,
  longTasksObserved: false,
  weights: () => requestWeights(),
};
(window as unknown as { __demo: DemoState }).__demo = demo;

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (message: ToWorker, transfer: Transferable[] = []) => worker.postMessage(message, transfer);

// ---- URL parameters preset the controls (and can start training) ---------------------------

const params = new URLSearchParams(location.search);
const presets: [string, HTMLInputElement | HTMLSelectElement][] = [
  ['model', inputs.model],
  ['train', inputs.train],
  ['test', inputs.test],
  ['epochs', inputs.epochs],
  ['batch', inputs.batch],
  ['optimizer', inputs.optimizer],
  ['labels', inputs.labels],
  ['style', inputs.style],
];
for (const [key, element] of presets) {
  const value = params.get(key);
  if (value === null) continue;
  if (element instanceof HTMLSelectElement && ![...element.options].some((o) => (o.value || o.text) === value)) {
    // An unlisted batch size is still a valid choice: add it rather than silently ignoring it.
    if (element === inputs.batch && /^\d+$/.test(value)) element.add(new Option(value, value));
    else continue;
  }
  element.value = value;
}
const autostart = params.get('autostart') === '1';

function readConfig(): TrainConfig {
  const int = (el: HTMLInputElement | HTMLSelectElement, min: number, max: number) => Math.min(max, Math.max(min, Math.round(Number(el.value) || min)));
  return {
    model: inputs.model.value as MnistModelName,
    trainCount: int(inputs.train, 1, 60000),
    testCount: int(inputs.test, 1, 10000),
    epochs: int(inputs.epochs, 1, 1000),
    batchSize: int(inputs.batch, 1, 4096),
    optimizer: inputs.optimizer.value as OptimizerName,
    labels: inputs.labels.value as LabelEncoding,
    style: inputs.style.value as ModelApi,
  };
}

// ---- status, progress and responsiveness -----------------------------------------------------

const statusText = $('status');
const DIGITS = Array.from({ length: CLASSES }, (_, c) => String(c));
const results = new ResultsView((items) => {
  if (demo.result) demo.result.galleryItems = items;
});
const barFill = $('bar-fill');

/** Training or evaluating: the time in which the page must stay responsive. */
function isBusy(status: Status): boolean {
  return status === 'compiling' || status === 'training' || status === 'paused' || status === 'evaluating';
}

function setStatus(status: Status, text?: string): void {
  demo.status = status;
  document.body.dataset.status = status;
  if (text !== undefined) statusText.textContent = text;
  const busy = isBusy(status);
  timeline.push({ at: performance.now(), status });
  buttons.start.disabled = !(status === 'ready' || status === 'done' || status === 'error') || !ready;
  buttons.pause.disabled = !(status === 'training' || status === 'paused');
  buttons.pause.textContent = status === 'paused' ? 'Resume' : 'Pause';
  buttons.stop.disabled = !(status === 'training' || status === 'paused' || status === 'compiling');
  for (const el of Object.values(inputs)) el.disabled = busy;
  // Only the tutorial CNN is defined both ways: the others keep their one definition.
  inputs.style.disabled = busy || inputs.model.value !== 'cnn';
  transfer.setBusy(busy);
  monitoring = busy;
}

let ready = false;
let monitoring = false;
/** Status changes with their times, to attribute long tasks (reported late, asynchronously) to a phase. */
let timeline: { at: number; status: Status }[] = [];
// A timer that should fire every 50 ms: any extra delay is time the main thread could not respond.
let lastTick = performance.now();
let lastTickStatus: Status = demo.status;
setInterval(() => {
  const now = performance.now();
  const lag = now - lastTick - 50;
  // A stall that began while busy counts even if the status changed meanwhile (the results render, then 'done').
  if ((monitoring || isBusy(lastTickStatus)) && lag > demo.maxTimerLagMs) {
    demo.maxTimerLagMs = lag;
    demo.maxTimerLagStatus = lastTickStatus;
  }
  lastTick = now;
  lastTickStatus = demo.status;
}, 50);
if (PerformanceObserver.supportedEntryTypes?.includes('longtask')) {
  demo.longTasksObserved = true;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      let during: Status | undefined;
      for (const t of timeline) if (t.at <= entry.startTime) during = t.status;
      if (during && isBusy(during) && entry.duration > demo.longestTaskMs) {
        demo.longestTaskMs = entry.duration;
        demo.longestTaskStatus = during;
      }
    }
  }).observe({ type: 'longtask', buffered: false });
}

function updateEstimate(): void {
  const c = readConfig();
  const info = MNIST_MODEL_DESCRIPTIONS.find((m) => m.name === c.model) ?? MNIST_MODEL_DESCRIPTIONS[0]!;
  $('model-description').textContent = info.description;
  // The parameter count is the built model's: it goes with its name, not with a new choice.
  $('model-params').hidden = c.model !== demo.config?.model;
  inputs.style.disabled = inputs.model.disabled || c.model !== 'cnn';
  const steps = Math.ceil(c.trainCount / c.batchSize) * c.epochs;
  $('loss-name').textContent = `loss: ${c.labels === 'integer' ? 'sparseCategoricalCrossentropy' : 'categoricalCrossentropy'}`;
  $('estimate').textContent = `${steps.toLocaleString('en-US')} training steps of ${c.batchSize} images; then ${c.testCount.toLocaleString('en-US')} test images are classified.`;
}
form.addEventListener('input', updateEstimate);
updateEstimate();

// ---- charts -------------------------------------------------------------------------------

const lossChart = new LineChart($<HTMLCanvasElement>('loss-chart'), { title: 'Loss', xMax: 1, formatY: (v) => v.toFixed(2) });
const accChart = new LineChart($<HTMLCanvasElement>('acc-chart'), { title: 'Accuracy', xMax: 1, yRange: [0, 1], formatY: (v) => `${Math.round(v * 100)}%` });

function redrawCharts(): void {
  const epochs = demo.config?.epochs ?? 1;
  const perBatch = (key: 'loss' | 'accuracy', color: string): Series => ({
    label: 'batch',
    color,
    style: 'thin',
    points: demo.batches.map((b) => ({ x: b.x, y: b[key] })),
  });
  const perEpoch = (key: 'loss' | 'accuracy', color: string): Series => ({
    label: 'epoch',
    color,
    style: 'bold',
    points: demo.epochs.map((e) => ({ x: e.epoch + 1, y: e[key] })),
  });
  lossChart.set([perBatch('loss', '#93c5fd'), perEpoch('loss', '#1d4ed8')], epochs);
  accChart.set([perBatch('accuracy', '#86efac'), perEpoch('accuracy', '#15803d')], epochs);
}
window.addEventListener('resize', () => {
  lossChart.schedule();
  accChart.schedule();
});
redrawCharts();

function showProgress(p: BatchProgress): void {
  demo.progress = p;
  demo.batches.push({ x: p.epoch + (p.batch + 1) / p.batchesPerEpoch, loss: p.batchLoss, accuracy: p.batchAccuracy });
  const fraction = p.samplesDone / p.samplesTotal;
  barFill.style.width = `${(fraction * 100).toFixed(1)}%`;
  const rate = p.samplesDone / (p.elapsedMs / 1000);
  $('s-progress').textContent = `epoch ${p.epoch + 1}/${p.epochs} · batch ${p.batch + 1}/${p.batchesPerEpoch}`;
  $('s-speed').textContent = `${rate.toFixed(rate < 100 ? 1 : 0)} samples/s`;
  $('s-elapsed').textContent = formatDuration(p.elapsedMs);
  $('s-eta').textContent = formatDuration(((p.samplesTotal - p.samplesDone) / rate) * 1000);
  $('s-loss').textContent = number(p.loss);
  $('s-acc').textContent = percent(p.accuracy);
  if (demo.status === 'training') {
    statusText.textContent = `Training: ${p.samplesDone.toLocaleString('en-US')} of ${p.samplesTotal.toLocaleString('en-US')} samples`;
  }
  redrawCharts();
}

// ---- drawing pad, the transfer panel and classification -------------------------------------

const pad = new DrawingPad($<HTMLCanvasElement>('pad'), $<HTMLCanvasElement>('pad28'), {
  onStroke: () => requestClassify(),
  onClear: () => {
    $('guess').textContent = '?';
    $('guess').classList.add('empty');
    renderProbabilities($('draw-probs'), DIGITS, undefined);
    transfer.showPrediction(undefined);
    demo.drawn = undefined;
  },
});
$('clear').addEventListener('click', () => pad.clear());
const transfer = new TransferPanel({
  pixels: () => pad.pixels(),
  clearPad: () => pad.clear(),
  send: (config) => send({ type: 'transferTrain', config }),
  onTrained: () => requestClassify(),
});
demo.transfer = transfer.state;
let classifyId = 0;
let inFlight = false;
let dirty = false;
let trainedModel = false;

/** At most one request in flight; strokes drawn meanwhile are classified when it returns. */
function requestClassify(): void {
  if (inFlight) {
    dirty = true;
    return;
  }
  const pixels = pad.pixels();
  if (!pixels) return;
  demo.drawn = { pixels: Array.from(pixels), probabilities: [], predicted: -1 };
  transfer.pending();
  const digits = trainedModel && demo.status === 'done';
  const withTransfer = transfer.ready && !isBusy(demo.status);
  if (!digits && !withTransfer) {
    $('draw-hint').textContent = 'Train a model first: the drawing is classified once training has finished.';
    return;
  }
  inFlight = true;
  dirty = false;
  send({ type: 'classify', id: ++classifyId, pixels, digits, transfer: withTransfer }, [pixels.buffer]);
}
pad.clear();

// ---- weights for the tests ---------------------------------------------------------------

const weightRequests = new Map<number, (w: NamedWeight[]) => void>();
let weightId = 0;
function requestWeights(): Promise<{ name: string; shape: number[]; base64: string }[]> {
  const id = ++weightId;
  return new Promise<NamedWeight[]>((resolve) => {
    weightRequests.set(id, resolve);
    send({ type: 'weights', id });
  }).then((weights) =>
    weights.map((w) => {
      const bytes = new Uint8Array(w.values.buffer, w.values.byteOffset, w.values.byteLength);
      let binary = '';
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return { name: w.name, shape: w.shape, base64: btoa(binary) };
    }),
  );
}

// ---- the worker's reports -----------------------------------------------------------------

function showBanner(html: string, kind: 'warn' | 'error'): void {
  const banner = $('banner');
  banner.innerHTML = html;
  banner.className = kind === 'error' ? 'banner error' : 'banner';
  banner.hidden = false;
}

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

worker.onmessage = (event: MessageEvent<FromWorker>) => {
  const m = event.data;
  switch (m.type) {
    case 'loading':
      barFill.style.width = `${((m.loaded / Math.max(1, m.total)) * 100).toFixed(1)}%`;
      statusText.textContent = `Loading MNIST… ${(m.loaded / 1e6).toFixed(1)} of ${(m.total / 1e6).toFixed(1)} MB`;
      break;
    case 'ready':
      ready = true;
      demo.adapter = m.adapter;
      $('device').textContent = `${m.fallbackAdapter ? 'CPU fallback · ' : ''}${m.adapter}`;
      inputs.train.max = String(m.trainAvailable);
      inputs.test.max = String(m.testAvailable);
      barFill.style.width = '0%';
      setStatus('ready', `MNIST loaded: ${m.trainAvailable.toLocaleString('en-US')} training and ${m.testAvailable.toLocaleString('en-US')} test images. Choose a setup and press Start.`);
      if (m.fallbackAdapter) {
        showBanner(
          'WebGPU is running on a <b>CPU fallback adapter</b> (SwiftShader): training works but is slow. Start with a few hundred training images.',
          'warn',
        );
      }
      if (autostart) start();
      break;
    case 'unavailable':
      $('device').textContent = 'no WebGPU';
      showBanner(
        `<b>WebGPU is not available in this browser</b>, so the model cannot train here.<br>${escapeHtml(m.message)}<br>` +
          'Chrome or Edge 113+ enable it by default on Windows, macOS and ChromeOS; on Linux start Chromium with ' +
          '<code>--enable-unsafe-webgpu</code> (and <code>--enable-features=Vulkan</code> on some drivers), or enable ' +
          '<code>chrome://flags/#enable-unsafe-webgpu</code>. Safari 26 and Firefox 141+ also support WebGPU.',
        'error',
      );
      demo.error = m.message;
      setStatus('no-webgpu', 'WebGPU unavailable.');
      break;
    case 'error':
      demo.error = m.message;
      if ((demo.status === 'done' || demo.status === 'ready') && inFlight) {
        // A failed drawing classification: report it next to the pad, keep the results.
        inFlight = false;
        $('draw-hint').textContent = m.message;
        break;
      }
      showBanner(`<b>Error</b>: ${escapeHtml(m.message)}`, 'error');
      setStatus('error', 'Stopped by an error.');
      break;
    case 'summary':
      demo.summary = m.text;
      demo.params = m.params;
      $('summary').textContent = m.text;
      $('model-params').textContent = `${m.params.toLocaleString('en-US')} parameters`;
      $('model-params').hidden = false;
      break;
    case 'phase':
      if (m.phase === 'compiling') setStatus('compiling', 'Compiling shaders and running the first batch…');
      else if (m.phase === 'training') setStatus('training', 'Training…');
      else if (m.phase === 'paused') setStatus('paused', 'Paused between batches. Press Resume to continue.');
      else setStatus('evaluating', `Classifying ${demo.config!.testCount.toLocaleString('en-US')} test images…`);
      break;
    case 'batch':
      showProgress(m);
      break;
    case 'epoch':
      demo.epochs.push({ epoch: m.epoch, loss: m.loss, accuracy: m.accuracy });
      redrawCharts();
      break;
    case 'evalProgress':
      statusText.textContent = `Classifying test images: ${m.done.toLocaleString('en-US')} of ${m.total.toLocaleString('en-US')}`;
      break;
    case 'result':
      // 'done' once the results are on screen: the gallery is built over several tasks.
      void results.show(m).then((shown) => {
        demo.result = shown;
        trainedModel = true;
        transfer.setTrainedHere(true);
        barFill.style.width = '100%';
        setStatus(
          'done',
          `${m.stopped ? 'Stopped early' : 'Done'}: trained in ${formatDuration(m.trainMs)}, ${m.testCount.toLocaleString('en-US')} test images classified in ${formatDuration(m.evalMs)}. Draw a digit to try the model.`,
        );
        $('draw-hint').textContent = 'Draw a digit (mouse or finger); it is classified as you draw.';
        if (demo.drawn) requestClassify();
      });
      break;
    case 'classified': {
      inFlight = false;
      if (m.id !== classifyId) break;
      if (m.probabilities) {
        const predicted = argmaxRow(m.probabilities, 0);
        $('guess').textContent = String(predicted);
        $('guess').classList.remove('empty');
        renderProbabilities($('draw-probs'), DIGITS, m.probabilities);
        if (demo.drawn) demo.drawn = { ...demo.drawn, probabilities: Array.from(m.probabilities), predicted };
      }
      if (m.transfer) transfer.showPrediction(m.transfer);
      if (dirty) requestClassify();
      break;
    }
    case 'saved':
      transfer.setSaved(m.base);
      break;
    case 'transferProgress':
      transfer.progress(m);
      break;
    case 'transferTrained':
      transfer.trained(m);
      break;
    case 'transferError':
      transfer.failed(m.message);
      break;
    case 'weights':
      weightRequests.get(m.id)?.(m.weights);
      weightRequests.delete(m.id);
      break;
  }
};
worker.onerror = (event) => {
  demo.error = event.message;
  showBanner(`<b>The worker failed</b>: ${escapeHtml(event.message || 'unknown error')}`, 'error');
  setStatus('error', 'Stopped by an error.');
};

// ---- controls -----------------------------------------------------------------------------

function start(): void {
  const config = readConfig();
  demo.config = config;
  demo.batches = [];
  demo.epochs = [];
  demo.progress = undefined;
  demo.result = undefined;
  demo.maxTimerLagMs = 0;
  demo.maxTimerLagStatus = undefined;
  demo.longestTaskMs = 0;
  demo.longestTaskStatus = undefined;
  timeline = [];
  trainedModel = false;
  transfer.setTrainedHere(false);
  results.reset();
  for (const id of ['s-progress', 's-speed', 's-elapsed', 's-eta', 's-loss', 's-acc']) $(id).textContent = '–';
  barFill.style.width = '0%';
  redrawCharts();
  setStatus('compiling', 'Building the model…');
  send({ type: 'train', config });
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!buttons.start.disabled) start();
});
buttons.pause.addEventListener('click', () => {
  if (demo.status === 'paused') {
    send({ type: 'resume' });
  } else {
    send({ type: 'pause' });
    buttons.pause.disabled = true; // re-enabled when the worker reports the pause (after the current batch)
    statusText.textContent = 'Pausing after the current batch…';
  }
});
buttons.stop.addEventListener('click', () => {
  send({ type: 'stop' });
  buttons.stop.disabled = true;
  statusText.textContent = 'Stopping after the current batch…';
});

// Each tab starts its worker's work when first shown: a page opened on the text tab (?tab=text) loads no MNIST.
const textTab = new TextTab();
(window as unknown as { __demoText: typeof textTab.state }).__demoText = textTab.state;
setupTabs({
  mnist: () => {
    setStatus('loading', 'Loading MNIST…');
    send({ type: 'load' });
  },
  text: () => textTab.open(),
});
