/**
 * The demo page: controls, live curves, results and the drawing pad. It never touches the GPU;
 * the worker (worker.ts) does, and this thread only renders what the worker reports.
 */
import { LineChart, type Series } from './chart.ts';
import { argmaxRow, CLASSES, confusionMatrix } from './metrics.ts';
import { SIZE, toMnist } from './preprocess.ts';
import type { BatchProgress, EvaluationResult, FromWorker, LabelEncoding, OptimizerName, ToWorker, TrainConfig } from './protocol.ts';
import type { ModelApi, NamedWeight } from '../src/index.ts';

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
  result?: {
    testCount: number;
    accuracy: number;
    loss: number;
    confusion: number[][];
    misclassified: number;
    galleryItems: number;
    labels: number[];
    /** [testCount][10] probabilities, as read back from the GPU. */
    predictions: number[][];
    trainMs: number;
    evalMs: number;
    stopped: boolean;
    /** Time from the results' arrival until they were on screen (matrix, gallery built in chunks). */
    renderMs: number;
  };
  drawn?: { pixels: number[]; probabilities: number[]; predicted: number };
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

function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

const percent = (v: number, digits = 1) => (Number.isFinite(v) ? `${(v * 100).toFixed(digits)}%` : '–');
const number = (v: number, digits = 4) => (Number.isFinite(v) ? v.toFixed(digits) : '–');

function updateEstimate(): void {
  const c = readConfig();
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

// ---- results ------------------------------------------------------------------------------

const GALLERY_PAGE = 300;
let result: EvaluationResult | undefined;
let galleryFilter: { truth: number; predicted: number } | undefined;
let galleryShown = 0;

function drawDigit(canvas: HTMLCanvasElement, pixels: ArrayLike<number>): void {
  const ctx = canvas.getContext('2d')!;
  const image = ctx.createImageData(SIZE, SIZE);
  for (let i = 0; i < SIZE * SIZE; i++) {
    const v = pixels[i]!;
    image.data.set([v, v, v, 255], i * 4);
  }
  ctx.putImageData(image, 0, 0);
}

async function showResult(r: EvaluationResult): Promise<void> {
  const began = performance.now();
  result = r;
  const confusion = confusionMatrix(r.probabilities, r.labels);
  const predictions: number[][] = [];
  for (let i = 0; i < r.testCount; i++) predictions.push(Array.from(r.probabilities.subarray(i * CLASSES, (i + 1) * CLASSES)));
  $('results-empty').hidden = true;
  $('results').hidden = false;
  $('r-acc').textContent = percent(r.accuracy, 2);
  $('r-loss').textContent = number(r.loss);
  $('r-count').textContent = r.testCount.toLocaleString('en-US');
  $('r-wrong').textContent = r.misclassified.length.toLocaleString('en-US');
  $('r-time').textContent = formatDuration(r.trainMs);
  renderConfusion(confusion);
  galleryFilter = undefined;
  await renderGallery(true);
  demo.result = {
    testCount: r.testCount,
    accuracy: r.accuracy,
    loss: r.loss,
    confusion,
    misclassified: r.misclassified.length,
    galleryItems: $('gallery').children.length,
    labels: Array.from(r.labels),
    predictions,
    trainMs: r.trainMs,
    evalMs: r.evalMs,
    stopped: r.stopped,
    renderMs: performance.now() - began,
  };
}

function renderConfusion(matrix: number[][]): void {
  const table = $<HTMLTableElement>('confusion');
  table.replaceChildren();
  const max = Math.max(1, ...matrix.flatMap((row, t) => row.filter((_, p) => p !== t)));
  const diagMax = Math.max(1, ...matrix.map((row, t) => row[t]!));
  const head = table.createTHead().insertRow();
  head.appendChild(document.createElement('th')).className = 'axis';
  head.cells[0]!.textContent = 'true ↓ / pred →';
  for (let p = 0; p < CLASSES; p++) head.appendChild(document.createElement('th')).textContent = String(p);
  const body = table.createTBody();
  matrix.forEach((row, t) => {
    const tr = body.insertRow();
    tr.appendChild(document.createElement('th')).textContent = String(t);
    row.forEach((count, p) => {
      const td = tr.insertCell();
      td.textContent = count ? String(count) : '';
      td.dataset.truth = String(t);
      td.dataset.predicted = String(p);
      const diag = p === t;
      const strength = diag ? count / diagMax : count / max;
      td.className = diag ? 'diag' : '';
      td.style.background = count === 0 ? '#f9fafb' : diag ? `rgba(22, 163, 74, ${0.12 + 0.6 * strength})` : `rgba(220, 38, 38, ${0.1 + 0.65 * strength})`;
      td.style.color = strength > 0.6 ? '#fff' : '';
      td.title = `true ${t}, predicted ${p}: ${count}`;
      td.addEventListener('click', () => {
        const same = galleryFilter?.truth === t && galleryFilter.predicted === p;
        galleryFilter = same || diag ? undefined : { truth: t, predicted: p };
        table.querySelectorAll('td.selected').forEach((c) => c.classList.remove('selected'));
        if (galleryFilter) td.classList.add('selected');
        void renderGallery(true);
      });
    });
  });
}

/** Gallery items built per task: building hundreds at once would block the main thread for a while. */
const GALLERY_CHUNK = 40;
let galleryGeneration = 0;

function galleryItem(r: EvaluationResult, m: EvaluationResult['misclassified'][number]): HTMLElement {
  const probs = r.probabilities.subarray(m.index * CLASSES, (m.index + 1) * CLASSES);
  const predicted = argmaxRow(r.probabilities, m.index);
  const truth = r.labels[m.index]!;
  const item = document.createElement('div');
  item.className = 'miss';
  item.dataset.index = String(m.index);
  item.dataset.predicted = String(predicted);
  item.dataset.truth = String(truth);
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = SIZE;
  drawDigit(canvas, m.image);
  const labels = document.createElement('div');
  labels.className = 'labels';
  labels.innerHTML = `<span>predicted</span><span><b class="pred">${predicted}</b> ${Math.round(probs[predicted]! * 100)}%</span><span>true</span><span><b class="true">${truth}</b> ${Math.round(probs[truth]! * 100)}%</span>`;
  const bars = document.createElement('div');
  bars.className = 'mini';
  bars.title = Array.from(probs, (p, c) => `${c}: ${(p * 100).toFixed(1)}%`).join('\n');
  probs.forEach((p, c) => {
    const bar = document.createElement('span');
    bar.style.height = `${Math.max(2, p * 100)}%`;
    if (c === predicted) bar.className = 'p';
    else if (c === truth) bar.className = 't';
    bars.appendChild(bar);
  });
  const axis = document.createElement('div');
  axis.className = 'mini-axis';
  axis.innerHTML = Array.from({ length: CLASSES }, (_, c) => `<span>${c}</span>`).join('');
  item.append(canvas, labels, bars, axis);
  return item;
}

/** Shows the next page of misclassified digits (from the start when `reset`), a chunk per task. */
async function renderGallery(reset: boolean): Promise<void> {
  if (!result) return;
  const generation = ++galleryGeneration;
  const gallery = $('gallery');
  const r = result;
  const items = r.misclassified.filter((m) => !galleryFilter || (r.labels[m.index] === galleryFilter.truth && argmaxRow(r.probabilities, m.index) === galleryFilter.predicted));
  if (reset) {
    gallery.replaceChildren();
    galleryShown = 0;
  }
  $('gallery-filter').textContent = galleryFilter
    ? `· true ${galleryFilter.truth}, predicted ${galleryFilter.predicted}: ${items.length} (click the cell again for all)`
    : `· ${items.length} of ${r.testCount}`;
  const more = $<HTMLButtonElement>('more');
  more.hidden = true;
  const end = Math.min(items.length, galleryShown + GALLERY_PAGE);
  while (galleryShown < end) {
    if (generation !== galleryGeneration) return; // a newer filter or page took over
    const fragment = document.createDocumentFragment();
    for (const m of items.slice(galleryShown, Math.min(end, galleryShown + GALLERY_CHUNK))) fragment.appendChild(galleryItem(r, m));
    gallery.appendChild(fragment);
    galleryShown = gallery.children.length;
    if (galleryShown < end) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  more.hidden = galleryShown >= items.length;
  more.textContent = `Show more (${(items.length - galleryShown).toLocaleString('en-US')} left)`;
  if (demo.result) demo.result.galleryItems = gallery.children.length;
}
$('more').addEventListener('click', () => void renderGallery(false));

// ---- drawing pad --------------------------------------------------------------------------

const pad = $<HTMLCanvasElement>('pad');
const padCtx = pad.getContext('2d', { willReadFrequently: true })!;
const seen = $<HTMLCanvasElement>('pad28');
let drawing = false;
let last: { x: number; y: number } | undefined;
let classifyId = 0;
let inFlight = false;
let dirty = false;
let trainedModel = false;

function clearPad(): void {
  padCtx.fillStyle = '#000';
  padCtx.fillRect(0, 0, pad.width, pad.height);
  seen.getContext('2d')!.clearRect(0, 0, SIZE, SIZE);
  $('guess').textContent = '?';
  $('guess').classList.add('empty');
  renderProbabilities(undefined);
  demo.drawn = undefined;
}

function padPoint(event: PointerEvent): { x: number; y: number } {
  const rect = pad.getBoundingClientRect();
  return { x: ((event.clientX - rect.left) / rect.width) * pad.width, y: ((event.clientY - rect.top) / rect.height) * pad.height };
}

pad.addEventListener('pointerdown', (event) => {
  drawing = true;
  pad.setPointerCapture(event.pointerId);
  last = padPoint(event);
  stroke(last, last);
});
pad.addEventListener('pointermove', (event) => {
  if (!drawing) return;
  const p = padPoint(event);
  stroke(last!, p);
  last = p;
  requestClassify();
});
const endStroke = () => {
  if (!drawing) return;
  drawing = false;
  requestClassify();
};
pad.addEventListener('pointerup', endStroke);
pad.addEventListener('pointercancel', endStroke);
$('clear').addEventListener('click', clearPad);

function stroke(a: { x: number; y: number }, b: { x: number; y: number }): void {
  padCtx.strokeStyle = '#fff';
  // Thick enough that after scaling the digit to MNIST's 20-pixel box the stroke is ~2 pixels wide, as in MNIST.
  padCtx.lineWidth = 22;
  padCtx.lineCap = 'round';
  padCtx.lineJoin = 'round';
  padCtx.beginPath();
  padCtx.moveTo(a.x, a.y);
  padCtx.lineTo(b.x, b.y);
  padCtx.stroke();
}

/** At most one request in flight; strokes drawn meanwhile are classified when it returns. */
function requestClassify(): void {
  if (inFlight) {
    dirty = true;
    return;
  }
  const { data } = padCtx.getImageData(0, 0, pad.width, pad.height);
  const ink = new Float32Array(pad.width * pad.height);
  for (let i = 0; i < ink.length; i++) ink[i] = data[i * 4]! / 255;
  const pixels = toMnist(ink, pad.width, pad.height);
  if (!pixels) return;
  drawDigit(seen, pixels);
  demo.drawn = { pixels: Array.from(pixels), probabilities: [], predicted: -1 };
  if (!trainedModel || demo.status !== 'done') {
    $('draw-hint').textContent = 'Train a model first: the drawing is classified once training has finished.';
    return;
  }
  inFlight = true;
  dirty = false;
  send({ type: 'classify', id: ++classifyId, pixels }, [pixels.buffer]);
}

function renderProbabilities(probabilities: Float32Array | undefined): void {
  const box = $('draw-probs');
  box.replaceChildren();
  const top = probabilities ? argmaxRow(probabilities, 0) : -1;
  for (let c = 0; c < CLASSES; c++) {
    const p = probabilities?.[c] ?? 0;
    const row = document.createElement('div');
    row.className = c === top ? 'prob top' : 'prob';
    row.innerHTML = `<span>${c}</span><div class="track"><div class="fill" style="width:${(p * 100).toFixed(1)}%"></div></div><span class="pct">${probabilities ? (p * 100).toFixed(1) + '%' : ''}</span>`;
    box.appendChild(row);
  }
}
clearPad();

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
      const bytes = new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength);
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
      if (demo.status === 'done' && inFlight) {
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
      $('summary').textContent = m.text;
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
      void showResult(m).then(() => {
        trainedModel = true;
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
      const predicted = argmaxRow(m.probabilities, 0);
      $('guess').textContent = String(predicted);
      $('guess').classList.remove('empty');
      renderProbabilities(m.probabilities);
      if (demo.drawn) demo.drawn = { ...demo.drawn, probabilities: Array.from(m.probabilities), predicted };
      if (dirty) requestClassify();
      break;
    }
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
  result = undefined;
  galleryGeneration++; // abandons a gallery still being built
  $('results').hidden = true;
  $('results-empty').hidden = false;
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

setStatus('loading', 'Loading MNIST…');
send({ type: 'load' });
