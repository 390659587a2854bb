/**
 * Depthwise 2-D convolution over NHWC tensors: each input channel c is convolved with its own
 * `multiplier` filters (kernel [kH, kW, inC, multiplier]) into output channels c·multiplier + m,
 * with strides, dilation and 'same' padding. Forward (bias and ReLU fused), input gradient (a
 * gather: every dx element sums over the outputs whose window covers it, one dispatch per stride
 * phase so that only the taps reaching whole outputs are unrolled), and the kernel and bias
 * gradients as one deterministic reduction over N·OH·OW, split into partial sums by chunks of
 * output rows (summed by sumPartials, shaders/conv2d.ts).
 *
 * An invocation owns a unit of input channels — 4 as a vec4 when inC is a multiple of 4, else 1 —
 * together with all their multiplier filters: its output-side values (filters, outputs, dy) are
 * `multiplier` vec4s (or floats) that lie side by side in memory, and vec4 swizzles regroup them
 * per multiplier (`spread`) and back (`gather`), so every load is a whole vec4. Every kernel
 * works along a row in blocks of up to 4 columns (outputs; for the input gradient, a stride
 * phase's inputs): the filters are loaded once per block, and a column that several taps of the
 * block read is loaded once. Windows are unrolled into straight-line code (on
 * SwiftShader a loop costs more than such a body); per-lane conditions combine with `&`, never
 * `&&` (short-circuits become branches, which made SwiftShader's compile time explode in the conv
 * kernels), and reads that may leave the image clamp their index and select zero.
 */
import type { KernelSource } from './kernel.ts';
import { constants, each, flatIndex, grid } from './wgsl.ts';

export interface DepthwiseConv2DGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  /** Filters per input channel (Keras's depth_multiplier); output channels: inC · multiplier. */
  multiplier: number;
  outH: number;
  outW: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  dilationH: number;
  dilationW: number;
  /** Rows/columns of zeros above/left of the input ('same' padding); the rest falls off the end. */
  padTop: number;
  padLeft: number;
  /** ReLU fused into the forward (the backward kernels take dy already masked). */
  relu: boolean;
  bias: boolean;
}

const WG = 64;
const LANES = 'xyzw';
/** Multiply-adds an invocation's column block may unroll (taps · multiplier · columns). */
const MAX_BLOCK_WORK = 144;
/** Reductions: the fewest output pixels a chunk should hold (how many invocations keep the device busy is the variant's, src/ops/depthwise-conv2d.ts). */
const MIN_PIXELS_PER_CHUNK = 128;

/** Whether an invocation's channels are a vec4 (inC a multiple of 4) rather than one float. */
function isVec(g: DepthwiseConv2DGeometry): boolean {
  return g.inC % 4 === 0;
}

function geometryKey(g: DepthwiseConv2DGeometry): string {
  return (
    `${g.batch}x${g.inH}x${g.inW}x${g.inC}*${g.multiplier}:k${g.kH}x${g.kW}:s${g.strideH}x${g.strideW}:d${g.dilationH}x${g.dilationW}` +
    `:pad${g.padTop}x${g.padLeft}:out${g.outH}x${g.outW}:${g.relu ? 'relu' : 'linear'}:${g.bias ? 'bias' : 'nobias'}`
  );
}

/** Columns per invocation along a row of `extent`: up to 4 (fewer for big windows), spread evenly over the row's blocks. */
export function columnBlock(g: DepthwiseConv2DGeometry, extent: number): number {
  const most = Math.max(1, Math.min(4, Math.floor(MAX_BLOCK_WORK / (g.kH * g.kW * g.multiplier))));
  return Math.ceil(extent / Math.ceil(extent / most));
}

/** The baked sizes, `T` (the per-invocation value type) and the channel units every kernel indexes by. */
function declarations(g: DepthwiseConv2DGeometry): string {
  const units = g.inC / (isVec(g) ? 4 : 1);
  return `alias T = ${isVec(g) ? 'vec4f' : 'f32'};
// Abstract integers: they serve as i32 (positions) and u32 (indices) alike.
${constants({ IN_H: g.inH, IN_W: g.inW, OUT_H: g.outH, OUT_W: g.outW, STRIDE_H: g.strideH, STRIDE_W: g.strideW, PAD_TOP: g.padTop, PAD_LEFT: g.padLeft }, 'abstract')}
// Channel units (vec4s or floats) per pixel: GROUPS of x (one per invocation), OUT_UNITS of y,
// each invocation's MULT of them side by side.
${constants({ GROUPS: units, OUT_UNITS: units * g.multiplier, MULT: g.multiplier, TAPS: g.kH * g.kW })}`;
}

/**
 * The value of multiplier m over the invocation's lanes, from its `multiplier` output-side units
 * (`unit(k)`): lane j is input channel 4g + j, whose filter m sits at flat position j·mult + m.
 */
function spread(g: DepthwiseConv2DGeometry, unit: (k: number) => string, m: number): string {
  if (!isVec(g)) return unit(m);
  if (g.multiplier === 1) return unit(0);
  const lanes = [0, 1, 2, 3].map((j) => {
    const f = j * g.multiplier + m;
    return `${unit(Math.floor(f / 4))}.${LANES[f % 4]}`;
  });
  return `vec4f(${lanes.join(', ')})`;
}

/** The inverse of spread: output-side unit k from per-multiplier values `value(m)`. */
function gather(g: DepthwiseConv2DGeometry, value: (m: number) => string, k: number): string {
  if (!isVec(g)) return value(k);
  if (g.multiplier === 1) return value(0);
  const lanes = [0, 1, 2, 3].map((l) => {
    const f = 4 * k + l;
    return `${value(f % g.multiplier)}.${LANES[Math.floor(f / g.multiplier)]}`;
  });
  return `vec4f(${lanes.join(', ')})`;
}

/** `let w{tap}_{m}`: the invocation's filters (of `taps`, all by default), loaded as whole units once. */
function loadFilters(g: DepthwiseConv2DGeometry, taps: readonly number[] = Array.from({ length: g.kH * g.kW }, (_, t) => t)): string {
  const M = g.multiplier;
  return taps.flatMap((tap) => [
    ...Array.from({ length: M }, (_, k) => `let wu${tap}_${k} = w[${tap}u * OUT_UNITS + o + ${k}u];`),
    ...Array.from({ length: M }, (_, m) => `let w${tap}_${m} = ${spread(g, (k) => `wu${tap}_${k}`, m)};`),
  ]).join('\n  ');
}

/** Whether some tap of the rows (columns of `blocks` blocks of `block`) reads outside the input. */
function clipped(g: DepthwiseConv2DGeometry, blocks: number, block: number): { rows: boolean; cols: boolean } {
  return {
    rows: g.padTop > 0 || (g.outH - 1) * g.strideH - g.padTop + (g.kH - 1) * g.dilationH >= g.inH,
    cols: g.padLeft > 0 || (blocks * block - 1) * g.strideW - g.padLeft + (g.kW - 1) * g.dilationW >= g.inW,
  };
}

/**
 * WGSL for an input row at `iy` (an i32 expression) of image `n`: `row` (its first pixel) and, where
 * rows can leave the image, `rowIn`. Names get `suffix`.
 */
function inputRow(rowsClipped: boolean, iy: string, suffix = ''): string {
  return rowsClipped
    ? `let rowIn${suffix} = u32(${iy}) < IN_H;
    let row${suffix} = (n * IN_H + u32(clamp(${iy}, 0, IN_H - 1))) * IN_W;`
    : `let row${suffix} = (n * IN_H + u32(${iy})) * IN_W;`;
}

/** `let v{e} = x at column left + e` of the row (zero outside the image) for each offset e. */
function loadColumns(offsets: readonly number[], clip: { rows: boolean; cols: boolean }, suffix = ''): string {
  return offsets
    .map((e) => {
      const col = `left + ${e}`;
      const index = (c: string) => `x[(row${suffix} + u32(${c})) * GROUPS + g]`;
      if (clip.cols) {
        const inside = `${clip.rows ? `rowIn${suffix} & ` : ''}(u32(${col}) < IN_W)`;
        return `let v${e} = select(T(0.0), ${index(`clamp(${col}, 0, IN_W - 1)`)}, ${inside});`;
      }
      if (clip.rows) return `let v${e} = select(T(0.0), ${index(col)}, rowIn${suffix});`;
      return `let v${e} = ${index(col)};`;
    })
    .join('\n    ');
}

function distinct(values: number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

/** Offsets (in input columns from the block's left edge) that `block` outputs' taps read. */
function tapColumns(g: DepthwiseConv2DGeometry, block: number): number[] {
  return distinct(Array.from({ length: g.kW * block }, (_, i) => (i % g.kW) * g.dilationW + Math.floor(i / g.kW) * g.strideW));
}

/**
 * y[n, oh, ow, c·M + m] = act(b[c·M + m] + Σ_{ky,kx} x[n, oh·sh + ky·dh − padTop, ow·sw + kx·dw − padLeft, c] · w[ky, kx, c, m]).
 * An invocation: one unit of input channels × all M filters × a block of output columns.
 * Bindings: x, w, (b), y.
 */
export function depthwiseConv2dForward(g: DepthwiseConv2DGeometry): KernelSource {
  const P = columnBlock(g, g.outW);
  const blocks = Math.ceil(g.outW / P);
  const M = g.multiplier;
  const units = g.inC / (isVec(g) ? 4 : 1);
  const total = g.batch * g.outH * blocks * units;
  const { workgroups, rowStride } = grid(total, WG);
  const clip = clipped(g, blocks, P);
  const acc = (p: number) => (m: number) => `acc${p}_${m}`;
  const rowBody = (ky: number) => `{
    ${inputRow(clip.rows, `top + ${ky * g.dilationH}`)}
    ${loadColumns(tapColumns(g, P), clip)}
    ${each(g.kW * P * M, (i) => {
      const [kx, p, m] = [Math.floor(i / (P * M)), Math.floor(i / M) % P, i % M];
      return `acc${p}_${m} += v${kx * g.dilationW + p * g.strideW} * w${ky * g.kW + kx}_${m};`;
    }, '\n    ')}
  }`;
  const store = (p: number) => {
    const guarded = p > 0 && g.outW % P !== 0;
    const lines = each(M, (k) => `y[(pix + ${p}u) * OUT_UNITS + o + ${k}u] = activate(${gather(g, acc(p), k)});`, guarded ? '\n    ' : '\n  ');
    return guarded ? `if (ow0 + ${p}u < OUT_W) {\n    ${lines}\n  }` : lines;
  };
  return {
    key: `depthwise-conv2d-forward:${geometryKey(g)}:cols${P}`,
    bindings: g.bias ? ['read', 'read', 'read', 'write'] : ['read', 'read', 'write'],
    workgroups,
    code: `${declarations(g)}
${constants({ COL_BLOCKS: blocks })}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> w: array<T>;${g.bias ? '\n@group(0) @binding(2) var<storage, read> b: array<T>;' : ''}
@group(0) @binding(${g.bias ? 3 : 2}) var<storage, read_write> y: array<T>;

fn activate(v: T) -> T { return ${g.relu ? 'max(v, T(0.0))' : 'v'}; }

// Each invocation: ${isVec(g) ? '4 input channels' : '1 input channel'} × ${M} filter${M > 1 ? 's' : ''} × ${P} output column${P > 1 ? 's' : ''}.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total, 't')}
  let g = t % GROUPS;
  let o = g * MULT; // the invocation's first output-side unit
  let block = t / GROUPS;
  let ow0 = block % COL_BLOCKS * ${P}u;
  let oh = block / COL_BLOCKS % OUT_H;
  let n = block / (COL_BLOCKS * OUT_H);
  let top = i32(oh * STRIDE_H) - PAD_TOP;
  let left = i32(ow0 * STRIDE_W) - PAD_LEFT;
  ${loadFilters(g)}
  ${g.bias ? each(M, (k) => `let bu${k} = b[o + ${k}u];`) : ''}
  ${each(P * M, (i) => `var acc${Math.floor(i / M)}_${i % M} = ${g.bias ? spread(g, (k) => `bu${k}`, i % M) : 'T(0.0)'};`)}
  ${each(g.kH, rowBody)}
  let pix = (n * OUT_H + oh) * OUT_W + ow0;
  ${each(P, store)}
}`,
  };
}

/** Options of the input gradient. `reluMask`: x is a ReLU's output and dx is multiplied by [x > 0] (that ReLU's backward). */
export interface DepthwiseInputGradOptions {
  reluMask?: boolean;
}

/** The input pixels (iy, ix) with iy ≡ qy (mod strideH) and ix ≡ qx (mod strideW): one input-gradient dispatch each. */
export interface StridePhase {
  qy: number;
  qx: number;
}

/** The stride phases that hold input pixels: one ((0, 0)) without strides, strideH · strideW at most. */
export function inputGradPhases(g: DepthwiseConv2DGeometry): StridePhase[] {
  const phases: StridePhase[] = [];
  for (let qy = 0; qy < Math.min(g.strideH, g.inH); qy++) for (let qx = 0; qx < Math.min(g.strideW, g.inW); qx++) phases.push({ qy, qx });
  return phases;
}

/**
 * The taps of one axis that reach the outputs from inputs of phase q: tap k lands on output
 * i + (q + pad − k·dilation) / stride from the phase's i-th input, where that division is exact.
 */
function phaseTaps(q: number, pad: number, kernel: number, dilation: number, stride: number): { k: number; shift: number }[] {
  const taps: { k: number; shift: number }[] = [];
  for (let k = 0; k < kernel; k++) {
    const reach = q + pad - k * dilation;
    if (((reach % stride) + stride) % stride === 0) taps.push({ k, shift: reach / stride });
  }
  return taps;
}

/**
 * dx[n, iy, ix, c] = Σ_{m, ky, kx} dy[n, oh, ow, c·M + m] · w[ky, kx, c, m] over the taps whose output
 * (oh, ow) = ((iy + padTop − ky·dh) / sh, (ix + padLeft − kx·dw) / sw) is whole and inside the
 * output: a gather, each dx element written once. Inputs of one stride phase share which taps
 * reach whole outputs, so this kernel takes one phase (all of dx without strides) and unrolls
 * exactly those taps; a phase no tap reaches gets zeros. An invocation: one unit of input
 * channels × a block of the phase's input columns. Bindings: dy, w, (x for the ReLU mask), dx.
 */
export function depthwiseConv2dInputGrad(g: DepthwiseConv2DGeometry, phase: StridePhase = { qy: 0, qx: 0 }, options: DepthwiseInputGradOptions = {}): KernelSource {
  const { qy, qx } = phase;
  const rows = Math.ceil((g.inH - qy) / g.strideH);
  const cols = Math.ceil((g.inW - qx) / g.strideW);
  if (!(qy >= 0 && qx >= 0 && rows > 0 && cols > 0 && qy < g.strideH && qx < g.strideW)) throw new Error(`depthwiseConv2dInputGrad: no stride phase (${qy}, ${qx}) in ${geometryKey(g)}`);
  const tapsY = phaseTaps(qy, g.padTop, g.kH, g.dilationH, g.strideH);
  const tapsX = phaseTaps(qx, g.padLeft, g.kW, g.dilationW, g.strideW);
  const P = columnBlock(g, cols);
  const blocks = Math.ceil(cols / P);
  const M = g.multiplier;
  const units = g.inC / (isVec(g) ? 4 : 1);
  const total = g.batch * rows * blocks * units;
  const { workgroups, rowStride } = grid(total, WG);
  const mask = options.reluMask ?? false;
  const name = (e: number) => (e < 0 ? `m${-e}` : `${e}`);
  // Output columns relative to the block's first column (i0) that its inputs' taps reach.
  const offsets = distinct(tapsX.flatMap(({ shift }) => Array.from({ length: P }, (_, p) => p + shift)));
  const column = (e: number) => `let ow${name(e)} = i32(i0) ${e < 0 ? `- ${-e}` : `+ ${e}`};
    let q${name(e)} = (row + u32(clamp(ow${name(e)}, 0, OUT_W - 1))) * OUT_UNITS + o;
    let ok${name(e)} = rowOk & (ow${name(e)} >= 0) & (ow${name(e)} < OUT_W);
    ${each(M, (k) => `let du${name(e)}_${k} = select(T(0.0), dy[q${name(e)} + ${k}u], ok${name(e)});`, '\n    ')}
    ${each(M, (m) => `let d${name(e)}_${m} = ${spread(g, (k) => `du${name(e)}_${k}`, m)};`, '\n    ')}`;
  const rowBody = ({ k: ky, shift }: { k: number; shift: number }) => `{
    let oh = i32(j) ${shift < 0 ? `- ${-shift}` : `+ ${shift}`};
    let rowOk = (oh >= 0) & (oh < OUT_H);
    let row = (n * OUT_H + u32(clamp(oh, 0, OUT_H - 1))) * OUT_W;
    ${offsets.map(column).join('\n    ')}
    ${tapsX
      .flatMap(({ k: kx, shift: sx }) => Array.from({ length: P * M }, (_, i) => `acc${Math.floor(i / M)} += d${name(Math.floor(i / M) + sx)}_${i % M} * w${ky * g.kW + kx}_${i % M};`))
      .join('\n    ')}
  }`;
  const store = (p: number) => {
    const value = mask ? `select(T(0.0), acc${p}, x[at${p}] > T(0.0))` : `acc${p}`;
    const guarded = p > 0 && cols % P !== 0;
    const lines = `let at${p} = (pix + ${p * g.strideW}u) * GROUPS + g;${guarded ? '\n    ' : '\n  '}dx[at${p}] = ${value};`;
    return guarded ? `if (i0 + ${p}u < PHASE_W) {\n    ${lines}\n  }` : lines;
  };
  const taps = tapsY.flatMap(({ k: ky }) => tapsX.map(({ k: kx }) => ky * g.kW + kx));
  return {
    key: `depthwise-conv2d-input-grad:${geometryKey(g)}:phase${qy}x${qx}:cols${P}${mask ? ':relu-mask' : ''}`,
    bindings: mask ? ['read', 'read', 'read', 'write'] : ['read', 'read', 'write'],
    workgroups,
    code: `${declarations(g)}
// The phase: input rows ${qy} + ${g.strideH}·j, columns ${qx} + ${g.strideW}·i.
${constants({ PHASE_H: rows, PHASE_W: cols, COL_BLOCKS: blocks })}

@group(0) @binding(0) var<storage, read> dy: array<T>;
@group(0) @binding(1) var<storage, read> w: array<T>;${mask ? '\n@group(0) @binding(2) var<storage, read> x: array<T>;' : ''}
@group(0) @binding(${mask ? 3 : 2}) var<storage, read_write> dx: array<T>;

// Each invocation: ${isVec(g) ? '4 input channels' : '1 input channel'} × ${P} of the phase's input columns, summing ${M} filter${M > 1 ? 's' : ''} per channel over ${taps.length} tap${taps.length === 1 ? '' : 's'}.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total, 't')}
  let g = t % GROUPS;
  let o = g * MULT; // the invocation's first output-side unit
  let block = t / GROUPS;
  let i0 = block % COL_BLOCKS * ${P}u;
  let j = block / COL_BLOCKS % PHASE_H;
  let n = block / (COL_BLOCKS * PHASE_H);
  ${loadFilters(g, taps)}
  ${each(P, (p) => `var acc${p} = T(0.0);`)}
  ${tapsY.map(rowBody).join('\n  ')}
  let pix = (n * IN_H + ${qy}u + j * STRIDE_H) * IN_W + ${qx}u + i0 * STRIDE_W;
  ${each(P, store)}
}`,
  };
}

/** How the kernel gradient's reduction over the N·OH output rows is cut: `chunks` partial sums of `rowsPerChunk` rows. */
export interface DepthwiseReductionPlan {
  chunks: number;
  rowsPerChunk: number;
}

/**
 * Enough chunks to give `invocations` invocations (what keeps the device busy), each of
 * MIN_PIXELS_PER_CHUNK output pixels at least; `chunks` forces a count (tests).
 */
export function depthwiseReductionPlan(g: DepthwiseConv2DGeometry, invocations: number, chunks?: number): DepthwiseReductionPlan {
  const rows = g.batch * g.outH;
  const units = g.inC / (isVec(g) ? 4 : 1);
  const wanted = chunks ?? Math.min(Math.ceil(invocations / units), Math.ceil((rows * g.outW) / MIN_PIXELS_PER_CHUNK), rows);
  const rowsPerChunk = Math.ceil(rows / Math.max(1, Math.min(wanted, rows)));
  return { chunks: Math.ceil(rows / rowsPerChunk), rowsPerChunk };
}

/**
 * Partial kernel and bias gradients over the output rows of each chunk:
 * dw[chunk, ky, kx, c·M + m] = Σ x[n, oh·sh + ky·dh − padTop, ow·sw + kx·dw − padLeft, c] · dy[n, oh, ow, c·M + m],
 * db[chunk, c·M + m] = Σ dy[n, oh, ow, c·M + m]. With one chunk they are dW and db themselves.
 * An invocation: one unit of input channels × all filters × one chunk, walking each output row in
 * blocks of columns. Bindings: x, dy, dw, (db).
 */
export function depthwiseConv2dKernelGrad(g: DepthwiseConv2DGeometry, plan: DepthwiseReductionPlan): KernelSource {
  const P = columnBlock(g, g.outW);
  const blocks = Math.ceil(g.outW / P);
  const M = g.multiplier;
  const taps = g.kH * g.kW;
  const units = g.inC / (isVec(g) ? 4 : 1);
  const total = plan.chunks * units;
  const { workgroups, rowStride } = grid(total, WG);
  const clip = clipped(g, blocks, P);
  const partial = g.outW % P !== 0;
  const loadDy = (p: number) => {
    const pixel = partial && p > 0 ? `r * OUT_W + min(ow0 + ${p}u, OUT_W - 1)` : `r * OUT_W + ow0 + ${p}u`;
    return each(M, (k) => {
      const load = `dy[(${pixel}) * OUT_UNITS + o + ${k}u]`;
      // Columns past the row's end (a last, partial block) add nothing.
      return `let du${p}_${k} = ${partial && p > 0 ? `select(T(0.0), ${load}, ow0 + ${p}u < OUT_W)` : load};`;
    }, '\n      ');
  };
  const rowBody = (ky: number) => `{
      ${loadColumns(tapColumns(g, P), clip, `${ky}`).replaceAll('\n    ', '\n      ')}
      ${each(g.kW * P * M, (i) => {
        const [kx, p, m] = [Math.floor(i / (P * M)), Math.floor(i / M) % P, i % M];
        return `a${ky * g.kW + kx}_${m} += v${kx * g.dilationW + p * g.strideW} * d${p}_${m};`;
      }, '\n      ')}
    }`;
  return {
    key: `depthwise-conv2d-kernel-grad:${geometryKey(g)}:cols${P}:chunks${plan.chunks}x${plan.rowsPerChunk}`,
    bindings: g.bias ? ['read', 'read', 'write', 'write'] : ['read', 'read', 'write'],
    workgroups,
    code: `${declarations(g)}
${constants({ ROWS: g.batch * g.outH, CHUNK_ROWS: plan.rowsPerChunk })}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read_write> dw: array<T>;${g.bias ? '\n@group(0) @binding(3) var<storage, read_write> db: array<T>;' : ''}

// Each invocation: ${isVec(g) ? '4 input channels' : '1 input channel'} × ${M} filter${M > 1 ? 's' : ''} × ${taps} taps, summed over ${plan.rowsPerChunk} output rows (n, oh) in blocks of ${P} columns.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total, 't')}
  let g = t % GROUPS;
  let o = g * MULT; // the invocation's first output-side unit
  let chunk = t / GROUPS;
  ${each(taps * M, (i) => `var a${Math.floor(i / M)}_${i % M} = T(0.0);`)}
  ${g.bias ? each(M, (m) => `var s${m} = T(0.0);`) : ''}
  let rowEnd = min((chunk + 1u) * CHUNK_ROWS, ROWS);
  for (var r = chunk * CHUNK_ROWS; r < rowEnd; r++) {
    let n = r / OUT_H;
    let top = i32(r % OUT_H * STRIDE_H) - PAD_TOP;
    ${each(g.kH, (ky) => inputRow(clip.rows, `top + ${ky * g.dilationH}`, `${ky}`))}
    for (var ow0 = 0u; ow0 < OUT_W; ow0 += ${P}u) {
      let left = i32(ow0 * STRIDE_W) - PAD_LEFT;
      ${each(P, loadDy, '\n      ')}
      ${each(P * M, (i) => `let d${Math.floor(i / M)}_${i % M} = ${spread(g, (k) => `du${Math.floor(i / M)}_${k}`, i % M)};`, '\n      ')}
      ${g.bias ? each(M, (m) => `s${m} += ${each(P, (p) => `d${p}_${m}`, ' + ')};`, '\n      ') : ''}
      ${each(g.kH, rowBody, '\n    ')}
    }
  }
  ${each(taps * M, (i) => {
    const [tap, k] = [Math.floor(i / M), i % M];
    return `dw[(chunk * TAPS + ${tap}u) * OUT_UNITS + o + ${k}u] = ${gather(g, (m) => `a${tap}_${m}`, k)};`;
  })}
  ${g.bias ? each(M, (k) => `db[chunk * OUT_UNITS + o + ${k}u] = ${gather(g, (m) => `s${m}`, k)};`) : ''}
}`,
  };
}
