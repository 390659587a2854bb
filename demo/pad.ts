/**
 * The drawing pad: strokes drawn with a mouse or a finger, framed as MNIST frames its digits
 * (preprocess.ts), and shown as the 28×28 image a model sees. The page decides what classifies it.
 */
import { argmaxRow } from './metrics.ts';
import { SIZE, toMnist } from './preprocess.ts';

/** Paints 28×28 grey pixels (white on black) into a canvas of that size. */
export function drawDigit(canvas: HTMLCanvasElement, pixels: ArrayLike<number>): void {
  const ctx = canvas.getContext('2d')!;
  const image = ctx.createImageData(SIZE, SIZE);
  for (let i = 0; i < SIZE * SIZE; i++) {
    const v = pixels[i]!;
    image.data.set([v, v, v, 255], i * 4);
  }
  ctx.putImageData(image, 0, 0);
}

/** Probability bars, one row per label, the most likely highlighted; empty bars without probabilities. */
export function renderProbabilities(box: HTMLElement, labels: readonly string[], probabilities: ArrayLike<number> | undefined): void {
  box.replaceChildren();
  const top = probabilities ? argmaxRow(probabilities, 0, labels.length) : -1;
  labels.forEach((label, c) => {
    const p = probabilities?.[c] ?? 0;
    const row = document.createElement('div');
    row.className = c === top ? 'prob top' : 'prob';
    const name = document.createElement('span');
    name.textContent = label;
    name.title = label;
    const track = document.createElement('div');
    track.className = 'track';
    track.innerHTML = `<div class="fill" style="width:${(p * 100).toFixed(1)}%"></div>`;
    const pct = document.createElement('span');
    pct.className = 'pct';
    pct.textContent = probabilities ? `${(p * 100).toFixed(1)}%` : '';
    row.append(name, track, pct);
    box.appendChild(row);
  });
}

export class DrawingPad {
  private readonly ctx: CanvasRenderingContext2D;
  private drawing = false;
  private last: { x: number; y: number } | undefined;

  /**
   * `onStroke` runs while a stroke is drawn and when it ends (the page classifies then), `onClear`
   * when the pad is wiped.
   */
  constructor(
    private readonly pad: HTMLCanvasElement,
    private readonly seen: HTMLCanvasElement,
    private readonly handlers: { onStroke: () => void; onClear: () => void },
  ) {
    this.ctx = pad.getContext('2d', { willReadFrequently: true })!;
    pad.addEventListener('pointerdown', (event) => {
      this.drawing = true;
      pad.setPointerCapture(event.pointerId);
      this.last = this.point(event);
      this.stroke(this.last, this.last);
    });
    pad.addEventListener('pointermove', (event) => {
      if (!this.drawing) return;
      const p = this.point(event);
      this.stroke(this.last!, p);
      this.last = p;
      handlers.onStroke();
    });
    const end = () => {
      if (!this.drawing) return;
      this.drawing = false;
      handlers.onStroke();
    };
    pad.addEventListener('pointerup', end);
    pad.addEventListener('pointercancel', end);
  }

  clear(): void {
    this.ctx.fillStyle = '#000';
    this.ctx.fillRect(0, 0, this.pad.width, this.pad.height);
    this.seen.getContext('2d')!.clearRect(0, 0, SIZE, SIZE);
    this.handlers.onClear();
  }

  /** The drawing as MNIST-framed 28×28 pixels (also shown in the small canvas), or null when blank. */
  pixels(): Uint8Array | null {
    const { data } = this.ctx.getImageData(0, 0, this.pad.width, this.pad.height);
    const ink = new Float32Array(this.pad.width * this.pad.height);
    for (let i = 0; i < ink.length; i++) ink[i] = data[i * 4]! / 255;
    const pixels = toMnist(ink, this.pad.width, this.pad.height);
    if (pixels) drawDigit(this.seen, pixels);
    return pixels;
  }

  private point(event: PointerEvent): { x: number; y: number } {
    const rect = this.pad.getBoundingClientRect();
    return { x: ((event.clientX - rect.left) / rect.width) * this.pad.width, y: ((event.clientY - rect.top) / rect.height) * this.pad.height };
  }

  private stroke(a: { x: number; y: number }, b: { x: number; y: number }): void {
    const ctx = this.ctx;
    ctx.strokeStyle = '#fff';
    // Thick enough that after scaling the digit to MNIST's 20-pixel box the stroke is ~2 pixels wide, as in MNIST.
    ctx.lineWidth = 22;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(a.x, a.y);
    ctx.lineTo(b.x, b.y);
    ctx.stroke();
  }
}
