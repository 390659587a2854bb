/**
 * Shape kernels: tensors moved, not computed on. Four kernels cover the shape layers
 * (src/ops/shape.ts) both ways:
 *
 * - windowCopy: a window of a [batch, height, width, channels] tensor into a window of another,
 *   zeros where the destination reaches past the source. Zero padding is one, cropping another,
 *   and each is the other's gradient.
 * - transpose: any permutation of a row-major tensor's axes (Permute, and its gradient, the
 *   inverse permutation).
 * - upsampleNearest / upsampleNearestGrad: each pixel repeated over a sizeH × sizeW block, and the
 *   gradient's sum over each block (RepeatVector is the same pair on [batch, 1, 1, features]).
 * - upsampleBilinear / upsampleBilinearGrad: TF.js's resizeBilinear (alignCorners and
 *   halfPixelCenters false) for an integer scale, and its gradient, a tent of weights per pixel.
 *
 * One invocation per output element, `T` a WGSL alias of vec4f when the innermost axis is whole
 * vec4s (four channels per invocation), else f32. Every size is a named constant, so the index
 * arithmetic divides only by constants (a multiply and a shift once compiled); a kernel keyed by
 * its constants is compiled once per shape.
 */
import type { KernelSource } from './kernel.ts';
import { constants, flatIndex, grid } from './wgsl.ts';

const WG = 256;

/** How a kernel moves the innermost axis: in vec4f when its length allows, else in f32. */
function elementType(inner: number): { type: 'vec4f' | 'f32'; units: number } {
  return inner % 4 === 0 ? { type: 'vec4f', units: inner / 4 } : { type: 'f32', units: inner };
}

function checkSizes(who: string, sizes: Readonly<Record<string, number>>): void {
  for (const [name, v] of Object.entries(sizes)) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${who}: ${name} must be a positive integer, got ${v}`);
  }
}

// ---- window copy (zero padding, cropping) ------------------------------------------------------

/**
 * dst[n, h, w, :] = src[n, h + offsetH, w + offsetW, :] where that pixel exists, else 0.
 * Padding by (top, left) is offsets (−top, −left); cropping by (top, left) is (top, left).
 */
export interface WindowCopyGeometry {
  batch: number;
  channels: number;
  srcHeight: number;
  srcWidth: number;
  dstHeight: number;
  dstWidth: number;
  offsetH: number;
  offsetW: number;
}

/** Whether every destination pixel reads a source pixel (cropping): no zeros, no guards. */
export function windowInside(g: WindowCopyGeometry): boolean {
  return g.offsetH >= 0 && g.offsetW >= 0 && g.offsetH + g.dstHeight <= g.srcHeight && g.offsetW + g.dstWidth <= g.srcWidth;
}

/** Bindings: src (read), dst (write). */
export function windowCopy(g: WindowCopyGeometry): KernelSource {
  const { batch, channels, srcHeight, srcWidth, dstHeight, dstWidth } = g;
  checkSizes('windowCopy', { batch, channels, srcHeight, srcWidth, dstHeight, dstWidth });
  if (!Number.isInteger(g.offsetH) || !Number.isInteger(g.offsetW)) throw new Error(`windowCopy: offsets must be integers, got ${g.offsetH}, ${g.offsetW}`);
  const { type, units } = elementType(channels);
  // A pixel's channels are contiguous in both tensors: a destination row of DST_W pixels is
  // DST_ROW = DST_W·UNITS values, and moving along it moves along the source row at the same pace
  // (a constant shift of OFFSET_W·UNITS), so no pixel/channel split is needed.
  const row = dstWidth * units;
  const count = batch * dstHeight * row;
  const inside = windowInside(g);
  const body = {
    inside: 'dst[i] = src[(n * SRC_H + h + OFFSET_H) * SRC_ROW + x + OFFSET_W * UNITS];',
    guarded: `let sh = i32(h) + OFFSET_H;
  let sx = i32(x) + OFFSET_W * UNITS;
  let inside = (sh >= 0) & (sh < SRC_H) & (sx >= 0) & (sx < SRC_ROW);
  // Outside, the clamped index stays in bounds and select() gives 0.
  let s = (n * SRC_H + u32(clamp(sh, 0, SRC_H - 1))) * SRC_ROW + u32(clamp(sx, 0, SRC_ROW - 1));
  dst[i] = select(T(0.0), src[s], inside);`,
  };
  const { workgroups, rowStride } = grid(count, WG);
  return {
    key: `shape-window-copy:${batch}:${channels}:${srcHeight}x${srcWidth}:${dstHeight}x${dstWidth}:${g.offsetH}:${g.offsetW}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `// Window copy: dst[n, h, w, :] = src[n, h + OFFSET_H, w + OFFSET_W, :]${inside ? ' (every pixel inside src)' : ', 0 where that is outside src'}.
alias T = ${type};
${constants({ UNITS: units, SRC_H: srcHeight, SRC_W: srcWidth, DST_H: dstHeight, DST_W: dstWidth }, 'abstract')}
${constants({ OFFSET_H: g.offsetH, OFFSET_W: g.offsetW }, 'abstract')}
const SRC_ROW = SRC_W * UNITS; // values per row of pixels
const DST_ROW = DST_W * UNITS;

@group(0) @binding(0) var<storage, read> src: array<T>;
@group(0) @binding(1) var<storage, read_write> dst: array<T>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, count)}
  let x = i % DST_ROW; // w · UNITS + channel unit
  let image_row = i / DST_ROW; // n · DST_H + h
  let h = image_row % DST_H;
  let n = image_row / DST_H;
  ${inside ? body.inside : body.guarded}
}`,
  };
}

// ---- transpose (Permute) -----------------------------------------------------------------

/**
 * y = x with its axes permuted: output axis k is input axis perm[k] (so y's shape is
 * perm.map((p) => shape[p])). The op hands in the simplest equivalent: no size-1 axes, runs of
 * axes that stay neighbours merged.
 */
export interface TransposeGeometry {
  shape: readonly number[];
  perm: readonly number[];
}

/** Bindings: x (read), y (write). */
export function transpose(g: TransposeGeometry): KernelSource {
  const rank = g.shape.length;
  if (rank < 1 || g.perm.length !== rank || [...g.perm].sort((a, b) => a - b).some((p, k) => p !== k)) {
    throw new Error(`transpose: perm must be a permutation of 0..${rank - 1}, got ${JSON.stringify(g.perm)} for shape ${JSON.stringify(g.shape)}`);
  }
  checkSizes('transpose', Object.fromEntries(g.shape.map((d, k) => [`shape[${k}]`, d])));
  // The innermost axis moves as vec4 when it stays innermost and is whole vec4s.
  const keepsLast = g.perm[rank - 1] === rank - 1;
  const { type, units } = keepsLast ? elementType(g.shape[rank - 1]!) : { type: 'f32' as const, units: g.shape[rank - 1]! };
  const shape = [...g.shape.slice(0, -1), units];
  const inStrides: number[] = new Array(rank);
  for (let k = rank - 1, s = 1; k >= 0; k--) {
    inStrides[k] = s;
    s *= shape[k]!;
  }
  const outSizes = g.perm.map((p) => shape[p]!);
  const count = outSizes.reduce((a, b) => a * b, 1);
  const sizeConsts: Record<string, number> = {};
  const strideConsts: Record<string, number> = {};
  g.perm.forEach((p, k) => {
    sizeConsts[`OUT_SIZE_${k}`] = outSizes[k]!;
    strideConsts[`IN_STRIDE_${k}`] = inStrides[p]!;
  });
  // Output coordinates from the flat index, the last axis first: c_k, and r_k what remains above.
  const lines: string[] = [];
  let rest = 'i';
  for (let k = rank - 1; k >= 1; k--) {
    lines.push(`let c${k} = ${rest} % OUT_SIZE_${k};`, `let r${k} = ${rest} / OUT_SIZE_${k};`);
    rest = `r${k}`;
  }
  lines.push(`let c0 = ${rest};`);
  const source = g.perm.map((_, k) => (inStrides[g.perm[k]!] === 1 ? `c${k}` : `c${k} * IN_STRIDE_${k}`)).join(' + ');
  const { workgroups, rowStride } = grid(count, WG);
  return {
    key: `shape-transpose:${JSON.stringify(g.shape)}:${JSON.stringify(g.perm)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `// Transpose of x ${JSON.stringify(shape)}${type === 'vec4f' ? ' (last axis in vec4s)' : ''}: output axis k reads input axis ${JSON.stringify(g.perm)}[k].
alias T = ${type};
${constants(sizeConsts)}
// The input stride of the axis each output axis reads.
${constants(strideConsts)}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, count)}
  ${lines.join('\n  ')}
  y[i] = x[${source}];
}`,
  };
}

// ---- upsampling (UpSampling2D, RepeatVector) ------------------------------------------------

/** x [batch, height, width, channels] → y [batch, height·sizeH, width·sizeW, channels]. */
export interface UpsampleGeometry {
  batch: number;
  height: number;
  width: number;
  channels: number;
  sizeH: number;
  sizeW: number;
}

function upsampleParts(who: string, g: UpsampleGeometry) {
  checkSizes(who, { batch: g.batch, height: g.height, width: g.width, channels: g.channels, sizeH: g.sizeH, sizeW: g.sizeW });
  const { type, units } = elementType(g.channels);
  return {
    type,
    consts: constants({ UNITS: units, IN_H: g.height, IN_W: g.width, SIZE_H: g.sizeH, SIZE_W: g.sizeW, OUT_H: g.height * g.sizeH, OUT_W: g.width * g.sizeW }),
    outputs: g.batch * g.height * g.sizeH * g.width * g.sizeW * units,
    inputs: g.batch * g.height * g.width * units,
  };
}

const upsampleKey = (g: UpsampleGeometry) => `${g.batch}:${g.height}:${g.width}:${g.channels}:${g.sizeH}:${g.sizeW}`;

/** y[n, h, w, :] = x[n, h / SIZE_H, w / SIZE_W, :] (TF.js's resizeNearestNeighbor at an integer scale). Bindings: x (read), y (write). */
export function upsampleNearest(g: UpsampleGeometry): KernelSource {
  const { type, consts, outputs } = upsampleParts('upsampleNearest', g);
  const { workgroups, rowStride } = grid(outputs, WG);
  return {
    key: `shape-upsample-nearest:${upsampleKey(g)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `// Nearest upsampling: each pixel of x repeated over a SIZE_H × SIZE_W block of y.
alias T = ${type};
${consts}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, outputs)}
  let c = i % UNITS;
  let pixel = i / UNITS;
  let w = pixel % OUT_W;
  let out_row = pixel / OUT_W; // n · OUT_H + h, and OUT_H = IN_H · SIZE_H,
  let in_row = out_row / SIZE_H; // so this is n · IN_H + h / SIZE_H
  y[i] = x[(in_row * IN_W + w / SIZE_W) * UNITS + c];
}`,
  };
}

/** dx[n, h, w, :] = Σ over its block of dy. Bindings: dy (read), dx (write). */
export function upsampleNearestGrad(g: UpsampleGeometry): KernelSource {
  const { type, consts, inputs } = upsampleParts('upsampleNearestGrad', g);
  const { workgroups, rowStride } = grid(inputs, WG);
  return {
    key: `shape-upsample-nearest-grad:${upsampleKey(g)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `// Nearest upsampling's gradient: each pixel of dx sums the SIZE_H × SIZE_W block of dy it was copied to.
alias T = ${type};
${consts}

@group(0) @binding(0) var<storage, read> dy: array<T>;
@group(0) @binding(1) var<storage, read_write> dx: array<T>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, inputs)}
  let c = i % UNITS;
  let pixel = i / UNITS;
  let w = pixel % IN_W;
  let in_row = pixel / IN_W; // n · IN_H + h
  let corner = (in_row * SIZE_H * OUT_W + w * SIZE_W) * UNITS + c; // the block's first value in dy
  var sum = T(0.0);
  for (var a = 0u; a < SIZE_H; a++) {
    for (var b = 0u; b < SIZE_W; b++) {
      sum += dy[corner + (a * OUT_W + b) * UNITS];
    }
  }
  dx[i] = sum;
}`,
  };
}

/**
 * Bilinear upsampling as TF.js's resizeBilinear computes it (alignCorners and halfPixelCenters
 * false): output row h reads input rows h0 = h / SIZE_H and min(h0 + 1, IN_H − 1) with weight
 * f = (h % SIZE_H) / SIZE_H on the second; columns alike. Bindings: x (read), y (write).
 */
export function upsampleBilinear(g: UpsampleGeometry): KernelSource {
  const { type, consts, outputs } = upsampleParts('upsampleBilinear', g);
  const { workgroups, rowStride } = grid(outputs, WG);
  return {
    key: `shape-upsample-bilinear:${upsampleKey(g)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `// Bilinear upsampling (TF.js's resizeBilinear, corners not aligned, no half-pixel centres).
alias T = ${type};
${consts}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;

fn at(n: u32, h: u32, w: u32, c: u32) -> T { return x[((n * IN_H + h) * IN_W + w) * UNITS + c]; }

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, outputs)}
  let c = i % UNITS;
  let pixel = i / UNITS;
  let w = pixel % OUT_W;
  let out_row = pixel / OUT_W;
  let h = out_row % OUT_H;
  let n = out_row / OUT_H;
  let h0 = h / SIZE_H;
  let h1 = min(h0 + 1u, IN_H - 1u);
  let fh = f32(h % SIZE_H) / f32(SIZE_H);
  let w0 = w / SIZE_W;
  let w1 = min(w0 + 1u, IN_W - 1u);
  let fw = f32(w % SIZE_W) / f32(SIZE_W);
  let top_left = at(n, h0, w0, c);
  let bottom_left = at(n, h1, w0, c);
  let top = top_left + (at(n, h0, w1, c) - top_left) * fw;
  let bottom = bottom_left + (at(n, h1, w1, c) - bottom_left) * fw;
  y[i] = top + (bottom - top) * fh;
}`,
  };
}

/**
 * Bilinear upsampling's gradient: input row i gets output rows i·SIZE_H + k, |k| < SIZE_H, with
 * weight 1 − |k|/SIZE_H (a tent), except that the last row also takes the weight its clamped
 * neighbour would have (1 for k ≥ 0); columns alike, the weight the product. Bindings: dy (read), dx (write).
 */
export function upsampleBilinearGrad(g: UpsampleGeometry): KernelSource {
  const { type, consts, inputs } = upsampleParts('upsampleBilinearGrad', g);
  const { workgroups, rowStride } = grid(inputs, WG);
  return {
    key: `shape-upsample-bilinear-grad:${upsampleKey(g)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `// Bilinear upsampling's gradient: each pixel of dx sums dy over the rows and columns that read it, tent-weighted.
alias T = ${type};
${consts}

@group(0) @binding(0) var<storage, read> dy: array<T>;
@group(0) @binding(1) var<storage, read_write> dx: array<T>;

// The weight of output offset k (|k| < size) on input pixel p of an axis of 'last' + 1 pixels.
fn tent(k: i32, size: u32, p: u32, last: u32) -> f32 {
  return select(1.0 - f32(abs(k)) / f32(size), 1.0, (k >= 0) & (p == last));
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, inputs)}
  let c = i % UNITS;
  let pixel = i / UNITS;
  let w = pixel % IN_W;
  let in_row = pixel / IN_W;
  let h = in_row % IN_H;
  let n = in_row / IN_H;
  var sum = T(0.0);
  // Offsets below 0 exist only past the first row (column).
  for (var k = select(0, 1 - i32(SIZE_H), h > 0u); k < i32(SIZE_H); k++) {
    let wh = tent(k, SIZE_H, h, IN_H - 1u);
    let out_row = n * OUT_H + u32(i32(h * SIZE_H) + k);
    for (var l = select(0, 1 - i32(SIZE_W), w > 0u); l < i32(SIZE_W); l++) {
      let ww = tent(l, SIZE_W, w, IN_W - 1u);
      sum += (wh * ww) * dy[(out_row * OUT_W + u32(i32(w * SIZE_W) + l)) * UNITS + c];
    }
  }
  dx[i] = sum;
}`,
  };
}
