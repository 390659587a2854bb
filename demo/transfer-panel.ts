/**
 * The transfer-learning panel (Teachable Machine style): 2–5 named classes, each collecting drawings
 * from the pad, a Train button that has the worker put a new head on the frozen base, and that
 * head's live predictions for what is drawn next. The worker does the work (worker-transfer.ts).
 */
import { drawDigit, renderProbabilities } from './pad.ts';
import { SIZE } from './preprocess.ts';
import type { SavedBase, TransferConfig, TransferReport, TransferSource } from './protocol.ts';

/** What the page publishes about transfer learning (window.__demo.transfer). */
export interface TransferState {
  status: 'idle' | 'training' | 'trained' | 'error';
  classes: string[];
  /** Drawings collected per class. */
  examples: number[];
  source: TransferSource;
  saved?: SavedBase | null;
  progress?: { epoch: number; epochs: number; loss: number; accuracy: number };
  report?: TransferReport;
  /** The new head's output for the last drawing classified. */
  prediction?: { probabilities: number[]; predicted: number };
  error?: string;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const MAX_CLASSES = 5;

export class TransferPanel {
  readonly state: TransferState = { status: 'idle', classes: [], examples: [], source: 'trained' };
  private examples: { label: number; pixels: Uint8Array }[] = [];
  private names: string[] = Array.from({ length: MAX_CLASSES }, (_, i) => `Class ${i + 1}`);
  private trainedHere = false;
  private busy = false;
  private readonly source = $<HTMLSelectElement>('t-source');
  private readonly count = $<HTMLSelectElement>('t-count');
  private readonly epochs = $<HTMLInputElement>('t-epochs');
  private readonly train = $<HTMLButtonElement>('t-train');
  private readonly status = $('t-status');

  /**
   * `pixels`: the pad's drawing (null when blank); `clearPad` wipes it for the next example;
   * `send` hands the worker a training request; `onTrained` lets the page classify the drawing.
   */
  constructor(private readonly deps: { pixels(): Uint8Array | null; clearPad(): void; send(config: TransferConfig): void; onTrained(): void }) {
    this.count.addEventListener('change', () => {
      const n = Number(this.count.value);
      this.examples = this.examples.filter((e) => e.label < n);
      this.invalidate();
      this.renderClasses();
    });
    this.source.addEventListener('change', () => {
      this.state.source = this.source.value as TransferSource;
      this.update();
    });
    this.train.addEventListener('click', () => this.startTraining());
    $('t-reset').addEventListener('click', () => {
      this.examples = [];
      this.invalidate();
      this.renderClasses();
    });
    this.renderClasses();
  }

  /** Whether the new head is trained for the current classes (the page then asks for its predictions). */
  get ready(): boolean {
    return this.state.status === 'trained';
  }

  /** A model finished training on the page (it can be the base), or a new one started (it cannot). */
  setTrainedHere(trained: boolean): void {
    this.trainedHere = trained;
    if (trained && this.source.value !== 'trained') this.source.value = 'trained';
    this.state.source = this.source.value as TransferSource;
    this.update();
  }

  /** The main training runs: nothing else may use the worker's GPU time meanwhile. */
  setBusy(busy: boolean): void {
    this.busy = busy;
    this.update();
  }

  setSaved(base: SavedBase | null): void {
    this.state.saved = base;
    const option = this.source.options[1]!;
    option.textContent = base ? `the ${base.model} model saved in this browser (${new Date(base.savedAt).toLocaleString()})` : 'the model saved in this browser (none yet)';
    if (!this.trainedHere && base) this.source.value = 'saved';
    this.state.source = this.source.value as TransferSource;
    this.update();
  }

  progress(p: { text: string; epoch?: number; epochs?: number; loss?: number; accuracy?: number }): void {
    if (p.epoch !== undefined) this.state.progress = { epoch: p.epoch, epochs: p.epochs!, loss: p.loss!, accuracy: p.accuracy! };
    const tail = p.loss !== undefined ? ` (loss ${p.loss.toFixed(3)}, accuracy ${(p.accuracy! * 100).toFixed(0)}%)` : '';
    this.status.textContent = p.text + tail;
  }

  trained(report: TransferReport): void {
    this.state.report = report;
    this.state.status = 'trained';
    this.state.error = undefined;
    this.status.textContent =
      `New head trained on ${report.examples} drawings in ${(report.trainMs / 1000).toFixed(1)} s (accuracy on them ${(report.accuracy * 100).toFixed(0)}%). ` +
      `Base: ${report.baseModel} (${report.source === 'trained' ? 'trained here' : 'saved in this browser'}), frozen, cut at '${report.featureLayer}' ` +
      `(${report.featureShape.join('×')} features); ${report.trainableParams.toLocaleString('en-US')} of ${report.totalParams.toLocaleString('en-US')} parameters trained. Draw to try it.`;
    this.update();
    this.deps.onTrained();
  }

  failed(message: string): void {
    this.state.status = 'error';
    this.state.error = message;
    this.status.textContent = `Error: ${message}`;
    this.update();
  }

  /** The new head's probabilities for the drawing (undefined clears the bars). */
  showPrediction(probabilities: Float32Array | undefined): void {
    const labels = this.state.report?.classes ?? this.currentNames();
    renderProbabilities($('t-probs'), labels, this.ready ? probabilities : undefined);
    if (!probabilities || !this.ready) {
      this.state.prediction = undefined;
      return;
    }
    const list = Array.from(probabilities);
    this.state.prediction = { probabilities: list, predicted: list.indexOf(Math.max(...list)) };
  }

  /** A new drawing is on its way to be classified: the published prediction is no longer its (the bars stay). */
  pending(): void {
    this.state.prediction = undefined;
  }

  private currentNames(): string[] {
    return this.names.slice(0, Number(this.count.value));
  }

  /** The head no longer matches the classes: stop showing its predictions until it is trained again. */
  private invalidate(): void {
    if (this.state.status === 'trained') {
      this.state.status = 'idle';
      this.state.report = undefined;
      this.status.textContent = 'The classes changed: train the new head again.';
    }
    this.showPrediction(undefined);
  }

  private renderClasses(): void {
    const box = $('t-classes');
    box.replaceChildren();
    this.currentNames().forEach((name, c) => {
      const row = document.createElement('div');
      row.className = 't-class';
      row.dataset.class = String(c);
      const input = document.createElement('input');
      input.value = name;
      input.setAttribute('aria-label', `name of class ${c + 1}`);
      input.addEventListener('input', () => {
        this.names[c] = input.value || `Class ${c + 1}`;
        this.state.classes = this.currentNames();
        if (this.state.report) this.state.report.classes = this.currentNames();
        if (!this.ready) this.showPrediction(undefined);
      });
      const add = document.createElement('button');
      add.type = 'button';
      add.className = 't-add';
      add.textContent = 'Add drawing';
      add.addEventListener('click', () => this.addExample(c));
      const thumbs = document.createElement('div');
      thumbs.className = 't-thumbs';
      for (const e of this.examples.filter((x) => x.label === c)) {
        const canvas = document.createElement('canvas');
        canvas.width = canvas.height = SIZE;
        drawDigit(canvas, e.pixels);
        thumbs.appendChild(canvas);
      }
      const n = this.examples.filter((x) => x.label === c).length;
      thumbs.append(n ? ` ${n}` : 'no drawings yet');
      row.append(input, add, thumbs);
      box.appendChild(row);
    });
    this.state.classes = this.currentNames();
    this.state.examples = this.currentNames().map((_, c) => this.examples.filter((e) => e.label === c).length);
    if (!this.ready) this.showPrediction(undefined);
    this.update();
  }

  private addExample(label: number): void {
    const pixels = this.deps.pixels();
    if (!pixels) {
      this.status.textContent = 'Draw something on the pad first, then add it to a class.';
      return;
    }
    this.examples.push({ label, pixels });
    this.deps.clearPad();
    this.renderClasses();
  }

  private startTraining(): void {
    const names = this.currentNames();
    this.state.status = 'training';
    this.state.progress = undefined;
    this.state.error = undefined;
    this.status.textContent = 'Starting…';
    this.showPrediction(undefined);
    this.update();
    const epochs = Math.min(200, Math.max(1, Math.round(Number(this.epochs.value) || 30)));
    // Copies: the worker takes the buffers, and the thumbnails keep theirs.
    this.deps.send({ source: this.source.value as TransferSource, classes: names, examples: this.examples.map((e) => ({ label: e.label, pixels: e.pixels.slice() })), epochs });
  }

  private update(): void {
    const haveBase = this.source.value === 'trained' ? this.trainedHere : !!this.state.saved;
    const filled = this.state.examples.length > 0 && this.state.examples.every((n) => n > 0);
    this.source.options[0]!.disabled = !this.trainedHere;
    this.source.options[1]!.disabled = !this.state.saved;
    this.train.disabled = this.busy || this.state.status === 'training' || !haveBase || !filled;
    for (const b of document.querySelectorAll<HTMLButtonElement>('#t-classes .t-add')) b.disabled = this.state.status === 'training';
    this.count.disabled = this.source.disabled = this.state.status === 'training';
  }
}
