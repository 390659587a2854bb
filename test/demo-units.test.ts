/**
 * The demo's pure helpers: MNIST-style framing of drawings, the evaluation arithmetic, the duration
 * format, and the model picker against the model catalog.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { argmaxRow, confusionMatrix, crossentropy, misclassifiedIndices } from '../demo/metrics.ts';
import { resampleArea, SIZE, toMnist } from '../demo/preprocess.ts';
import { formatDuration, number, percent } from '../demo/results.ts';
import { MNIST_MODEL_DESCRIPTIONS } from '../src/models/descriptions.ts';
import { MNIST_MODELS } from '../src/models/catalog.ts';

function canvas(width: number, height: number, paint: (x: number, y: number) => number): Float32Array {
  const ink = new Float32Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) ink[y * width + x] = paint(x, y);
  return ink;
}

function frame(pixels: Uint8Array): { x0: number; x1: number; y0: number; y1: number; cx: number; cy: number } {
  let [x0, x1, y0, y1, mass, mx, my] = [SIZE, -1, SIZE, -1, 0, 0, 0];
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const v = pixels[y * SIZE + x]!;
      if (!v) continue;
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
      mass += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  }
  return { x0, x1, y0, y1, cx: mx / mass, cy: my / mass };
}

describe('toMnist (drawing → 28×28 like MNIST)', () => {
  it('returns null for an empty drawing', () => {
    expect(toMnist(new Float32Array(100 * 100), 100, 100)).toBeNull();
  });

  it('scales a small off-center bar to a 20-pixel box and centers its mass', () => {
    // A 10×60 vertical bar in the top-left corner of a 280×280 pad.
    const ink = canvas(280, 280, (x, y) => (x >= 20 && x < 30 && y >= 10 && y < 70 ? 1 : 0));
    const pixels = toMnist(ink, 280, 280)!;
    expect(pixels).toHaveLength(SIZE * SIZE);
    const f = frame(pixels);
    expect(f.y1 - f.y0 + 1).toBe(20); // the longer side becomes 20 pixels
    expect(f.x1 - f.x0 + 1).toBeGreaterThanOrEqual(3);
    expect(f.x1 - f.x0 + 1).toBeLessThanOrEqual(5); // aspect ratio kept: 60:10 → 20:3.3
    expect(Math.abs(f.cx - SIZE / 2)).toBeLessThanOrEqual(0.75);
    expect(Math.abs(f.cy - SIZE / 2)).toBeLessThanOrEqual(0.75);
    expect(Math.max(...pixels)).toBe(255); // full strokes stay full white
  });

  it('puts the center of mass, not the bounding box, at the center', () => {
    // An "L": heavy vertical stroke, light foot; the mass sits left of the box's center.
    const ink = canvas(200, 200, (x, y) => ((x >= 50 && x < 70 && y >= 20 && y < 180) || (y >= 160 && y < 180 && x >= 50 && x < 150) ? 1 : 0));
    const f = frame(toMnist(ink, 200, 200)!);
    expect(Math.abs(f.cx - SIZE / 2)).toBeLessThanOrEqual(0.75);
    expect(Math.abs(f.cy - SIZE / 2)).toBeLessThanOrEqual(0.75);
    expect((f.x0 + f.x1 + 1) / 2).toBeGreaterThan(SIZE / 2 + 1); // the box is shifted right
  });

  it('area resampling preserves the mean', () => {
    const src = canvas(37, 23, (x, y) => ((x * 7 + y * 13) % 11) / 10);
    const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
    const out = resampleArea(src, 37, 0, 0, 37, 23, 10, 6);
    expect(out).toHaveLength(60);
    expect(mean(out)).toBeCloseTo(mean(src), 6);
  });
});

describe('evaluation arithmetic', () => {
  const probabilities = new Float32Array([
    0.7, 0.2, 0.1, //  label 0 → right
    0.1, 0.3, 0.6, //  label 1 → predicted 2
    0.2, 0.2, 0.6, //  label 2 → right
    0.5, 0.5, 0.0, //  label 1 → tie: first maximum, predicted 0
  ]);
  const labels = [0, 1, 2, 1];

  it('argmax takes the first maximum', () => {
    expect([0, 1, 2, 3].map((i) => argmaxRow(probabilities, i, 3))).toEqual([0, 2, 2, 0]);
  });

  it('confusion matrix rows are true labels, columns predictions', () => {
    expect(confusionMatrix(probabilities, labels, 3)).toEqual([
      [1, 0, 0],
      [1, 0, 1],
      [0, 0, 1],
    ]);
    expect(misclassifiedIndices(probabilities, labels, 3)).toEqual([1, 3]);
  });

  it('crossentropy is the mean of -log p(label), clipped at 1e-7', () => {
    const expected = -(Math.log(0.7) + Math.log(0.3) + Math.log(0.6) + Math.log(0.5)) / 4;
    expect(crossentropy(probabilities, labels, 3)).toBeCloseTo(expected, 6);
    expect(crossentropy(new Float32Array([1, 0]), [1], 2)).toBeCloseTo(-Math.log(1e-7), 6);
  });
});

describe('formatting', () => {
  it('durations as m:ss or h:mm:ss, rounded to seconds', () => {
    expect([0, 499, 500, 59_499, 60_000, 3_599_400, 3_600_000, 37_230_000].map(formatDuration)).toEqual(['0:00', '0:00', '0:01', '0:59', '1:00', '59:59', '1:00:00', '10:20:30']);
    expect(formatDuration(NaN)).toBe('–');
    expect(formatDuration(Infinity)).toBe('–');
  });

  it('percentages and numbers, a dash for what is not finite', () => {
    expect([percent(0.98765), percent(0.98765, 2), number(1.234567), number(2, 1)]).toEqual(['98.8%', '98.77%', '1.2346', '2.0']);
    expect([percent(NaN), number(Infinity)]).toEqual(['–', '–']);
  });
});

describe('the model picker', () => {
  it('offers the catalog, in its order and with its titles, the tutorial CNN selected', () => {
    const html = readFileSync(new URL('../demo/index.html', import.meta.url), 'utf8');
    const select = /<select id="model"[^>]*>([\s\S]*?)<\/select>/.exec(html)?.[1] ?? '';
    const options = [...select.matchAll(/<option value="([^"]+)"( selected)?>([^<]+)<\/option>/g)].map((m) => ({ value: m[1], selected: !!m[2], title: m[3] }));
    expect(options).toEqual(MNIST_MODEL_DESCRIPTIONS.map((d) => ({ value: d.name, selected: d.name === 'cnn', title: d.title })));
  });

  it('the page reads the builder-free descriptions: the same entries as the catalog', () => {
    expect(MNIST_MODELS.map(({ name, title, description, apis }) => ({ name, title, description, apis }))).toEqual([...MNIST_MODEL_DESCRIPTIONS]);
  });
});
