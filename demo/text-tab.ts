/**
 * The demo's text tab: a character-level language model trained in its own worker (text-worker.ts)
 * on the shipped corpus or the user's text, its bits-per-character curves (training and
 * validation), and samples generated as it trains, at the temperature the slider sets. The page
 * only renders what the worker reports, as the MNIST tab does (main.ts). Also the tab bar.
 */
import { LineChart } from './chart.ts';
import { formatDuration } from './results.ts';
import type { CharLmKind, FromTextWorker, TextRunInfo, TextSample, TextTrainConfig, ToTextWorker } from './text-protocol.ts';
import { TextSourcePicker } from './text-source.ts';

export type DemoTab = 'mnist' | 'text';

type TextStatus = 'idle' | 'starting' | 'ready' | 'loading' | 'compiling' | 'training' | 'done' | 'no-webgpu' | 'error';

/** What the text tab publishes for the tests (and the console): `window.__demoText`. */
export interface TextDemoState {
  status: TextStatus;
  adapter?: string;
  config?: TextTrainConfig;
  info?: TextRunInfo;
  /** Every training step's bits per character (that batch alone). */
  steps: { step: number; bpc: number }[];
  /** Each round's mean training and validation bits per character, at its last step. */
  rounds: { step: number; bpc: number; valBpc: number }[];
  /** Finished samples, oldest first (with the training steps the page had seen when each finished), and the one being generated. */
  samples: (TextSample & { shownAtStep: number })[];
  current?: TextSample;
  /** The slider's value, and the last value the worker acknowledged. */
  temperature: number;
  workerTemperature?: number;
  trainMs?: number;
  stopped?: boolean;
  /** The longest main-thread task while training ('longtask' entries; 0 where not reported). */
  longestTaskMs: number;
  sampleError?: string;
  error?: string;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const HISTORY = 20;
const SUBTITLES: Record<DemoTab, string> = {
  mnist: '· train MNIST models on your GPU, in the browser',
  text: '· train a character-level language model on your GPU, in the browser',
};

/** Wires the tab bar (`?tab=text` opens the text tab); `onFirstShow[tab]` runs the first time each tab is shown. */
export function setupTabs(onFirstShow: Record<DemoTab, () => void>): void {
  const shown = new Set<DemoTab>();
  const buttons = [...document.querySelectorAll<HTMLButtonElement>('.tabs [data-tab]')];
  const show = (tab: DemoTab) => {
    document.body.dataset.tab = tab;
    for (const b of buttons) b.setAttribute('aria-selected', String(b.dataset.tab === tab));
    $('mnist-tab').hidden = tab !== 'mnist';
    $('text-tab').hidden = tab !== 'text';
    const sub = document.querySelector('h1 .sub');
    if (sub) sub.textContent = SUBTITLES[tab];
    if (!shown.has(tab)) {
      shown.add(tab);
      onFirstShow[tab]();
    }
    // Charts drawn while hidden had no size.
    window.dispatchEvent(new Event('resize'));
  };
  for (const b of buttons) {
    b.addEventListener('click', () => {
      const tab = b.dataset.tab as DemoTab;
      const url = new URL(location.href);
      url.searchParams.set('tab', tab);
      history.replaceState(null, '', url);
      show(tab);
    });
  }
  show(new URLSearchParams(location.search).get('tab') === 'text' ? 'text' : 'mnist');
}

/** Steps per epoch as the worker will count them (its window rule: text-worker.ts windowsOf). */
function stepsPerEpoch(characters: number, T: number, batch: number): number {
  const train = Math.round(characters * 0.9);
  const windows = (stride: number) => (train < T + 1 ? 0 : Math.floor((train - T - 1) / stride) + 1);
  let n = windows(T);
  if (n < 4 * batch && T >= 4) n = windows(Math.ceil(T / 4));
  return Math.floor(n / Math.min(batch, Math.max(1, n)));
}

export class TextTab {
  readonly state: TextDemoState = { status: 'idle', steps: [], rounds: [], samples: [], temperature: 0.8, longestTaskMs: 0 };
  private worker: Worker | undefined;
  private ready = false;
  private readonly inputs = {
    kind: $<HTMLSelectElement>('text-kind'),
    width: $<HTMLSelectElement>('text-width'),
    blocks: $<HTMLSelectElement>('text-blocks'),
    seq: $<HTMLSelectElement>('text-seq'),
    batch: $<HTMLSelectElement>('text-batch'),
    epochs: $<HTMLInputElement>('text-epochs'),
    lr: $<HTMLInputElement>('text-lr'),
    every: $<HTMLInputElement>('text-every'),
    length: $<HTMLInputElement>('text-length'),
  };
  private readonly buttons = { start: $<HTMLButtonElement>('text-start'), stop: $<HTMLButtonElement>('text-stop'), generate: $<HTMLButtonElement>('text-generate') };
  private readonly temperature = $<HTMLInputElement>('text-temperature');
  private readonly prompt = $<HTMLInputElement>('text-prompt');
  private readonly statusText = $('text-status');
  private readonly source: TextSourcePicker;
  private readonly chart = new LineChart($<HTMLCanvasElement>('bpc-chart'), { title: 'Bits per character', xMax: 1, formatY: (v) => v.toFixed(1) });
  private seed = 1;

  constructor() {
    const radios = [...document.querySelectorAll<HTMLInputElement>('input[name="text-source"]')];
    this.source = new TextSourcePicker(radios, $<HTMLTextAreaElement>('text-input'), $('text-drop'), (message) => this.updateHints(message));
    this.applyPresets(new URLSearchParams(location.search));
    $<HTMLFormElement>('text-controls').addEventListener('submit', (event) => {
      event.preventDefault();
      if (!this.buttons.start.disabled) void this.start();
    });
    $<HTMLFormElement>('text-controls').addEventListener('input', () => this.updateHints());
    this.buttons.stop.addEventListener('click', () => {
      this.send({ type: 'stop' });
      this.buttons.stop.disabled = true;
      this.statusText.textContent = 'Stopping after the current step…';
    });
    this.buttons.generate.addEventListener('click', () => this.send({ type: 'sample', prompt: this.prompt.value, length: this.readConfig().sampleLength }));
    this.temperature.addEventListener('input', () => this.setTemperature());
    this.prompt.addEventListener('change', () => this.send({ type: 'prompt', value: this.prompt.value }));
    window.addEventListener('resize', () => this.chart.schedule());
    if (PerformanceObserver.supportedEntryTypes?.includes('longtask')) {
      new PerformanceObserver((list) => {
        if (this.state.status !== 'compiling' && this.state.status !== 'training') return;
        for (const entry of list.getEntries()) this.state.longestTaskMs = Math.max(this.state.longestTaskMs, entry.duration);
      }).observe({ type: 'longtask', buffered: false });
    }
    this.setTemperature(false);
    this.updateHints();
    this.redraw();
  }

  /** Presets from the URL: `text-<control>=value` (text-kind, text-seq, text-batch, text-epochs, text-lr, …), text-source, text-seed. */
  private applyPresets(params: URLSearchParams): void {
    for (const [key, element] of Object.entries(this.inputs)) {
      const value = params.get(`text-${key}`);
      if (value === null) continue;
      if (element instanceof HTMLSelectElement && ![...element.options].some((o) => (o.value || o.text) === value)) element.add(new Option(value, value));
      element.value = value;
    }
    const temperature = params.get('text-temperature');
    if (temperature !== null) this.temperature.value = temperature;
    const source = params.get('text-source');
    if (source === 'corpus' || source === 'pasted') this.source.select(source);
    const seed = Number(params.get('text-seed'));
    if (Number.isInteger(seed) && seed > 0) this.seed = seed;
  }

  /** Starts the worker and its GPU device (the first time the tab is shown). */
  open(): void {
    if (this.worker) return;
    this.worker = new Worker(new URL('./text-worker.ts', import.meta.url), { type: 'module' });
    this.worker.onmessage = (event: MessageEvent<FromTextWorker>) => this.onMessage(event.data);
    this.worker.onerror = (event) => this.fail(`The worker failed: ${event.message || 'unknown error'}`);
    this.setStatus('starting', 'Starting WebGPU…');
    this.send({ type: 'init' });
  }

  private send(message: ToTextWorker): void {
    this.worker?.postMessage(message);
  }

  private readConfig(): TextTrainConfig {
    const int = (el: HTMLInputElement | HTMLSelectElement, min: number, max: number) => Math.min(max, Math.max(min, Math.round(Number(el.value) || min)));
    const optional = (el: HTMLSelectElement) => (el.value === '' ? undefined : int(el, 1, 4096));
    const lr = Number(this.inputs.lr.value);
    return {
      kind: this.inputs.kind.value as CharLmKind,
      width: optional(this.inputs.width),
      blocks: optional(this.inputs.blocks),
      sequenceLength: int(this.inputs.seq, 2, 1024),
      batchSize: int(this.inputs.batch, 1, 1024),
      epochs: int(this.inputs.epochs, 1, 1000),
      learningRate: lr > 0 && lr <= 1 ? lr : 0.003,
      sampleEvery: int(this.inputs.every, 1, 100_000),
      sampleLength: int(this.inputs.length, 1, 5000),
      prompt: this.prompt.value,
      temperature: Number(this.temperature.value),
      seed: this.seed,
    };
  }

  private updateHints(message?: string): void {
    $('text-source-info').textContent = message ?? this.source.describe();
    const c = this.readConfig();
    const characters = this.source.source === 'corpus' ? 383_157 : [...$<HTMLTextAreaElement>('text-input').value].length;
    const perEpoch = stepsPerEpoch(characters, c.sequenceLength, c.batchSize);
    $('text-estimate').textContent =
      perEpoch > 0
        ? `About ${(perEpoch * c.epochs).toLocaleString('en-US')} steps of ${c.batchSize} windows of ${c.sequenceLength} characters; the last 10% of the text is held out for validation.`
        : `The text is too short for windows of ${c.sequenceLength} characters (training and validation parts need ${c.sequenceLength + 1} each).`;
  }

  private setTemperature(send = true): void {
    const value = Number(this.temperature.value);
    this.state.temperature = value;
    $('text-temperature-value').textContent = value.toFixed(2);
    if (send) this.send({ type: 'temperature', value });
  }

  private setStatus(status: TextStatus, text?: string): void {
    this.state.status = status;
    if (text !== undefined) this.statusText.textContent = text;
    const busy = status === 'loading' || status === 'compiling' || status === 'training';
    this.buttons.start.disabled = busy || !this.ready || status === 'no-webgpu';
    this.buttons.stop.disabled = !(status === 'compiling' || status === 'training');
    this.buttons.generate.disabled = !(status === 'training' || status === 'done');
    for (const el of Object.values(this.inputs)) el.disabled = busy;
    $<HTMLTextAreaElement>('text-input').disabled = busy;
  }

  private banner(html: string, kind: 'warn' | 'error'): void {
    const banner = $('text-banner');
    banner.innerHTML = html;
    banner.className = kind === 'error' ? 'banner error' : 'banner';
    banner.hidden = false;
  }

  private fail(message: string): void {
    this.state.error = message;
    this.banner(`<b>Error</b>: ${escapeHtml(message)}`, 'error');
    this.setStatus('error', 'Stopped by an error.');
  }

  private async start(): Promise<void> {
    const config = this.readConfig();
    const source = this.source.source;
    Object.assign(this.state, { config, info: undefined, steps: [], rounds: [], samples: [], current: undefined, trainMs: undefined, stopped: undefined, error: undefined, sampleError: undefined, longestTaskMs: 0 });
    this.state.workerTemperature = undefined;
    // An earlier error goes; the CPU-adapter warning stays.
    if ($('text-banner').classList.contains('error')) $('text-banner').hidden = true;
    $('text-history').replaceChildren();
    $('text-sample').replaceChildren();
    $('text-sample-meta').textContent = `A sample every ${config.sampleEvery} steps, and one when training ends.`;
    for (const id of ['t-s-step', 't-s-speed', 't-s-elapsed', 't-s-eta', 't-s-bpc', 't-s-val']) $(id).textContent = '–';
    $('text-bar-fill').style.width = '0%';
    this.redraw();
    this.setStatus('loading', source === 'corpus' ? "Loading The Devil's Dictionary…" : 'Reading your text…');
    let text: string;
    try {
      text = await this.source.text();
    } catch (err) {
      return this.fail(err instanceof Error ? err.message : String(err));
    }
    if (!text) {
      this.setStatus('ready', 'There is no text to train on: paste some, drop a .txt file, or choose the corpus.');
      return;
    }
    this.setStatus('compiling', 'Building the model…');
    this.send({ type: 'train', config, source, text });
  }

  private onMessage(m: FromTextWorker): void {
    const s = this.state;
    switch (m.type) {
      case 'ready':
        this.ready = true;
        s.adapter = m.adapter;
        if ($('device').textContent === 'starting…') $('device').textContent = `${m.fallbackAdapter ? 'CPU fallback · ' : ''}${m.adapter}`;
        this.setStatus('ready', 'Choose a text and a model, then press Start.');
        if (m.fallbackAdapter) {
          this.banner('WebGPU is running on a <b>CPU fallback adapter</b> (SwiftShader): training works but is slow. Start with a small model (LSTM, width 32, sequence length 32) or a short text.', 'warn');
        }
        break;
      case 'unavailable':
        $('device').textContent = 'no WebGPU';
        this.banner(`<b>WebGPU is not available in this browser</b>, so the model cannot train here.<br>${escapeHtml(m.message)}`, 'error');
        s.error = m.message;
        this.setStatus('no-webgpu', 'WebGPU unavailable.');
        break;
      case 'error':
        this.fail(m.message);
        break;
      case 'info':
        s.info = m;
        $('text-summary').textContent = m.summary;
        this.statusText.textContent = `${m.characters.toLocaleString('en-US')} characters, ${m.chars.length} ids in the vocabulary, ${m.trainWindows.toLocaleString('en-US')} training windows; compiling shaders…`;
        this.redraw();
        break;
      case 'phase':
        if (m.phase === 'compiling') this.setStatus('compiling');
        else if (m.phase === 'training') this.setStatus('training', 'Training…');
        else {
          s.trainMs = m.trainMs;
          s.stopped = m.stopped;
          $('text-bar-fill').style.width = '100%';
          this.setStatus('done', `${m.stopped ? 'Stopped early' : 'Done'}: ${s.steps.length} steps in ${formatDuration(m.trainMs ?? 0)}. Move the temperature and press Generate for more samples.`);
        }
        break;
      case 'step':
        this.showStep(m.step, m.totalSteps, m.bpc, m.roundBpc, m.elapsedMs);
        break;
      case 'round':
        s.rounds.push({ step: m.step, bpc: m.bpc, valBpc: m.valBpc });
        $('t-s-val').textContent = m.valBpc.toFixed(3);
        this.redraw();
        break;
      case 'sample':
        this.showSample(m);
        break;
      case 'sampleError':
        s.sampleError = m.message;
        $('text-sample-meta').textContent = `Sampling failed: ${m.message}`;
        break;
      case 'temperature':
        s.workerTemperature = m.value;
        break;
    }
  }

  private showStep(step: number, total: number, bpc: number, roundBpc: number, elapsedMs: number): void {
    this.state.steps.push({ step, bpc });
    const info = this.state.info;
    const characters = step * (info?.batchSize ?? 0) * (this.state.config?.sequenceLength ?? 0);
    $('text-bar-fill').style.width = `${((step / total) * 100).toFixed(1)}%`;
    $('t-s-step').textContent = `${step.toLocaleString('en-US')} / ${total.toLocaleString('en-US')}`;
    $('t-s-speed').textContent = `${Math.round(characters / (elapsedMs / 1000)).toLocaleString('en-US')} chars/s`;
    $('t-s-elapsed').textContent = formatDuration(elapsedMs);
    $('t-s-eta').textContent = formatDuration((elapsedMs / step) * (total - step));
    $('t-s-bpc').textContent = roundBpc.toFixed(3);
    if (this.state.status === 'training') this.statusText.textContent = `Training: step ${step.toLocaleString('en-US')} of ${total.toLocaleString('en-US')}`;
    this.redraw();
  }

  private showSample(sample: TextSample): void {
    const s = this.state;
    s.current = sample;
    const box = $('text-sample');
    const prompt = document.createElement('span');
    prompt.className = 'prompt';
    prompt.textContent = sample.prompt;
    box.replaceChildren(prompt, document.createTextNode(sample.text));
    box.classList.toggle('partial', !sample.done);
    const when = sample.step === 0 ? 'untrained' : `after step ${sample.step}`;
    $('text-sample-meta').textContent = `${when} · temperature ${sample.temperature.toFixed(2)} · ${[...sample.text].length} characters${sample.done ? ` in ${(sample.ms / 1000).toFixed(1)} s` : '…'}`;
    if (!sample.done) return;
    s.samples.push({ ...sample, shownAtStep: s.steps.length });
    const item = document.createElement('li');
    const meta = document.createElement('div');
    meta.className = 'hint';
    meta.textContent = `${when}, temperature ${sample.temperature.toFixed(2)}`;
    item.append(meta, document.createTextNode(sample.prompt + sample.text));
    const history = $('text-history');
    history.prepend(item);
    while (history.childElementCount > HISTORY) history.lastElementChild!.remove();
  }

  private redraw(): void {
    const perEpoch = Math.max(1, this.state.info?.stepsPerEpoch ?? 1);
    const x = (step: number) => step / perEpoch;
    this.chart.set(
      [
        { label: 'batch', color: '#93c5fd', style: 'thin', points: this.state.steps.map((p) => ({ x: x(p.step), y: p.bpc })) },
        { label: 'train', color: '#1d4ed8', style: 'bold', points: this.state.rounds.map((r) => ({ x: x(r.step), y: r.bpc })) },
        { label: 'validation', color: '#ea580c', style: 'bold', points: this.state.rounds.map((r) => ({ x: x(r.step), y: r.valBpc })) },
      ],
      x(this.state.info?.totalSteps ?? perEpoch),
    );
  }
}

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
