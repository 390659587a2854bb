/**
 * The demo's test results: the headline numbers, the confusion matrix (click a cell to filter) and
 * the gallery of misclassified digits, built a chunk per task so that the page stays responsive.
 */
import { argmaxRow, CLASSES, confusionMatrix } from './metrics.ts';
import { drawDigit } from './pad.ts';
import { SIZE } from './preprocess.ts';
import type { EvaluationResult } from './protocol.ts';

/** What the page publishes about the results (window.__demo.result). */
export interface PageResult {
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
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const GALLERY_PAGE = 300;
/** Gallery items built per task: building hundreds at once would block the main thread for a while. */
const GALLERY_CHUNK = 40;

export const percent = (v: number, digits = 1) => (Number.isFinite(v) ? `${(v * 100).toFixed(digits)}%` : '–');
export const number = (v: number, digits = 4) => (Number.isFinite(v) ? v.toFixed(digits) : '–');

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export class ResultsView {
  private result: EvaluationResult | undefined;
  private filter: { truth: number; predicted: number } | undefined;
  private shown = 0;
  private generation = 0;

  /** `onGallery` hears the gallery's item count whenever it changes (for window.__demo). */
  constructor(private readonly onGallery: (items: number) => void) {
    $('more').addEventListener('click', () => void this.renderGallery(false));
  }

  /** Hides the results and abandons a gallery still being built (a new run starts). */
  reset(): void {
    this.result = undefined;
    this.generation++;
    $('results').hidden = true;
    $('results-empty').hidden = false;
  }

  /** Shows `r`; resolves once the matrix and the first gallery page are on screen. */
  async show(r: EvaluationResult): Promise<PageResult> {
    const began = performance.now();
    this.result = r;
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
    this.renderConfusion(confusion);
    this.filter = undefined;
    await this.renderGallery(true);
    return {
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

  private renderConfusion(matrix: number[][]): void {
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
          const same = this.filter?.truth === t && this.filter.predicted === p;
          this.filter = same || diag ? undefined : { truth: t, predicted: p };
          table.querySelectorAll('td.selected').forEach((c) => c.classList.remove('selected'));
          if (this.filter) td.classList.add('selected');
          void this.renderGallery(true);
        });
      });
    });
  }

  private galleryItem(r: EvaluationResult, m: EvaluationResult['misclassified'][number]): HTMLElement {
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
  private async renderGallery(reset: boolean): Promise<void> {
    if (!this.result) return;
    const generation = ++this.generation;
    const gallery = $('gallery');
    const r = this.result;
    const filter = this.filter;
    const items = r.misclassified.filter((m) => !filter || (r.labels[m.index] === filter.truth && argmaxRow(r.probabilities, m.index) === filter.predicted));
    if (reset) {
      gallery.replaceChildren();
      this.shown = 0;
    }
    $('gallery-filter').textContent = filter
      ? `· true ${filter.truth}, predicted ${filter.predicted}: ${items.length} (click the cell again for all)`
      : `· ${items.length} of ${r.testCount}`;
    const more = $<HTMLButtonElement>('more');
    more.hidden = true;
    const end = Math.min(items.length, this.shown + GALLERY_PAGE);
    while (this.shown < end) {
      if (generation !== this.generation) return; // a newer filter or page took over
      const fragment = document.createDocumentFragment();
      for (const m of items.slice(this.shown, Math.min(end, this.shown + GALLERY_CHUNK))) fragment.appendChild(this.galleryItem(r, m));
      gallery.appendChild(fragment);
      this.shown = gallery.children.length;
      if (this.shown < end) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    more.hidden = this.shown >= items.length;
    more.textContent = `Show more (${(items.length - this.shown).toLocaleString('en-US')} left)`;
    this.onGallery(gallery.children.length);
  }
}
