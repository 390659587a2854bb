/**
 * Turns a drawing into an MNIST-like 28×28 image. MNIST digits were size-normalized to fit a 20×20
 * box (keeping the aspect ratio, anti-aliased) and then placed so that their center of mass sits at
 * the center of the 28×28 field; a model trained on MNIST expects exactly that framing, so a digit
 * drawn small in a corner must be moved and scaled the same way before it is classified.
 */

export const SIZE = 28;
const BOX = 20;
/** Ink below this (out of 1) is anti-aliasing noise, not part of the digit's bounding box. */
const INK_THRESHOLD = 0.1;

/**
 * `ink`: intensities in [0, 1] (1 = full stroke), row-major `width × height`.
 * Returns 28×28 uint8 pixels (white digit on black, like MNIST), or null when nothing is drawn.
 */
export function toMnist(ink: ArrayLike<number>, width: number, height: number): Uint8Array | null {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x]! > INK_THRESHOLD) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return null;
  const cropW = x1 - x0 + 1;
  const cropH = y1 - y0 + 1;
  const scale = BOX / Math.max(cropW, cropH);
  const boxW = Math.max(1, Math.round(cropW * scale));
  const boxH = Math.max(1, Math.round(cropH * scale));
  const box = resampleArea(ink, width, x0, y0, cropW, cropH, boxW, boxH);

  // Center of mass of the box, then the shift that puts it at the field's center.
  let mass = 0;
  let mx = 0;
  let my = 0;
  for (let y = 0; y < boxH; y++) {
    for (let x = 0; x < boxW; x++) {
      const v = box[y * boxW + x]!;
      mass += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  }
  const left = Math.round(SIZE / 2 - mx / mass);
  const top = Math.round(SIZE / 2 - my / mass);
  const out = new Uint8Array(SIZE * SIZE);
  for (let y = 0; y < boxH; y++) {
    const ty = top + y;
    if (ty < 0 || ty >= SIZE) continue;
    for (let x = 0; x < boxW; x++) {
      const tx = left + x;
      if (tx < 0 || tx >= SIZE) continue;
      out[ty * SIZE + tx] = Math.round(255 * Math.min(1, Math.max(0, box[y * boxW + x]!)));
    }
  }
  return out;
}

/**
 * Area-averaging resize of the crop (x0, y0, cropW, cropH) of a `width`-wide image to dw × dh:
 * each output pixel is the mean of the source area it covers (what anti-aliased downscaling does),
 * done separably, rows then columns.
 */
export function resampleArea(src: ArrayLike<number>, width: number, x0: number, y0: number, cropW: number, cropH: number, dw: number, dh: number): Float32Array {
  const rows = new Float32Array(cropH * dw);
  for (let y = 0; y < cropH; y++) {
    const base = (y0 + y) * width + x0;
    for (let x = 0; x < dw; x++) rows[y * dw + x] = average((i) => src[base + i]!, (x * cropW) / dw, ((x + 1) * cropW) / dw);
  }
  const out = new Float32Array(dw * dh);
  for (let x = 0; x < dw; x++) {
    for (let y = 0; y < dh; y++) out[y * dw + x] = average((i) => rows[i * dw + x]!, (y * cropH) / dh, ((y + 1) * cropH) / dh);
  }
  return out;
}

/** Mean of a piecewise-constant signal over [from, to), weighting partly covered samples. */
function average(at: (i: number) => number, from: number, to: number): number {
  let sum = 0;
  for (let i = Math.floor(from); i < Math.ceil(to); i++) {
    const covered = Math.min(to, i + 1) - Math.max(from, i);
    sum += at(i) * covered;
  }
  return sum / (to - from);
}
