/**
 * The 2-D convolution's geometry as its kernels see it (NHWC, HWIO, strides, dilation, padding,
 * fused ReLU and pooling), their default register blocks, and the helpers every conv2d kernel file
 * shares (cache keys, tap offsets, dilation constants, the dy reader). shaders/conv2d.ts holds the
 * forward and input-gradient kernels, conv2d-grad.ts the weight gradients, conv2d-tiled.ts the
 * GPU variants.
 */
import { channelReader, constants, each } from './wgsl.ts';

/** Everything a conv kernel bakes in. Output sizes and padding are resolved (see conv2dGeometry). */
export interface Conv2DGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  /**
   * Input rows/columns between neighbouring taps (TF.js's dilationRate; 1: adjacent). Only the
   * direct kernels take dilation above 1 (conv2dVariants); with 1 every kernel is unchanged.
   */
  dilationH: number;
  dilationW: number;
  /** Rows/columns of zeros above/left of the input ('same' padding); the rest falls off the end. */
  padTop: number;
  padLeft: number;
  /** ReLU fused into the forward (the backward kernels ignore it: they take dy already masked). */
  relu: boolean;
  bias: boolean;
  /**
   * Only a 2×2 max pool (stride 2, 'valid') fused into the forward reads the output: a last odd row
   * or column lies under no window, so Winograd's tiles leave it out, and its gradient is zero.
   */
  pooledOutput?: boolean;
  /**
   * The input is zero from this row and column on (the input gradient's input, when it is the dy
   * of a pooledOutput forward): outputs past their reach are zeros, which Winograd's tiles leave
   * out and the caller writes.
   */
  zeroInputFrom?: { row: number; col: number };
}

/** Register-block sizes (invocation = block of outputs); tuned on SwiftShader, see bench/conv2d-kernels.ts. */
export interface Conv2DBlocks {
  /** forward: output pixels (by rows: of an output row, at most; rows split evenly) × vec4 groups of output channels */
  forwardPixels: number;
  forwardGroups: number;
  /** dx: pixels of an input row (at most; rows split evenly) × vec4 groups of input channels */
  dxPixels: number;
  dxGroups: number;
  /** Row-correlation kernels (dx, the forward by rows): images per invocation (default: 4 for rows under 8 pixels, else 2). */
  rowImages?: number;
  /** dW: taps × vec4 groups of input channels (1 scalar channel when inC % 4 ≠ 0) × vec4 groups of output channels */
  dwTaps: number;
  dwInGroups: number;
  dwOutGroups: number;
}

/**
 * Block sizes for this geometry. On SwiftShader every per-invocation load is a gather costing far
 * more than a multiply-add, so bigger blocks (more multiply-adds per load) win until spills and
 * compile time (seconds for the biggest) catch up: 32 vec4 accumulators per invocation win
 * (bench/NOTES.md item 51; bench/conv2d-kernels.ts). Blocks never exceed the channels there are.
 */
export function defaultBlocks(g: Conv2DGeometry): Conv2DBlocks {
  const co4s = Math.ceil(g.outC / 4);
  // The first layer (taps unrolled) with up to 32 output channels: all of them in one block, so
  // its weights are read with constant indices (conv2dForward); at most 32 accumulators.
  const allChannels = g.inC < 4 && co4s <= 8;
  return {
    // Vector inputs: long runs of pixels share each weight read (conv3: 16×2 against 8×4, bench/NOTES.md item 51).
    forwardPixels: g.inC % 4 === 0 ? 16 : allChannels && co4s > 4 ? 4 : 8,
    forwardGroups: allChannels ? co4s : Math.min(g.inC % 4 === 0 ? 2 : 4, co4s),
    dxPixels: 16,
    dxGroups: Math.min(2, Math.ceil(g.inC / 4)),
    // dW reads two vectors of dy and y per 4 output channels but one of x per 4 input channels:
    // blocks long in input channels. Few input channels (scalar reads): all taps share each dy read.
    dwTaps: slidesAlongRows(g) ? g.kW : g.inC % 4 === 0 ? 1 : g.kH * g.kW,
    dwInGroups: slidesAlongRows(g) ? 1 : ([4, 2, 1].find((groups) => g.inC % (4 * groups) === 0) ?? 1),
    // Short rows (conv3's 3 columns) fill the window of taps for few steps: more output groups per
    // window (faster with bounds checks, the same without: bench/NOTES.md item 29).
    dwOutGroups: Math.min(g.inC % 4 === 0 && !(slidesAlongRows(g) && g.outW < 8) ? 2 : 4, co4s),
  };
}

export const WG = 64;
/** Invocations the reductions (dW, db) aim for, so both cores of a CPU adapter get work. */
export const REDUCTION_INVOCATIONS = 4096;
/** Workgroups the tiled dW aims for, so a GPU's many cores get work despite dW's few output tiles. */
export const TILED_WORKGROUPS = 256;
export const MIN_PIXELS_PER_CHUNK = 128;
/** Output columns up to which dW walks a row in straight-line code. */
export const MAX_UNROLLED_COLUMNS = 32;

export function geometryKey(g: Conv2DGeometry): string {
  return (
    `n${g.batch}-in${g.inH}x${g.inW}x${g.inC}-k${g.kH}x${g.kW}-s${g.strideH}x${g.strideW}${dilated(g) ? `-d${g.dilationH}x${g.dilationW}` : ''}-p${g.padTop}x${g.padLeft}` +
    `-out${g.outH}x${g.outW}x${g.outC}${g.relu ? '-relu' : ''}${g.bias ? '-bias' : ''}`
  );
}

/** Whether taps are spread apart (dilation above 1 along either axis). */
export function dilated(g: Conv2DGeometry): boolean {
  return g.dilationH !== 1 || g.dilationW !== 1;
}

/** Rows and columns of input one window spans: (k − 1)·dilation + 1. */
export function kernelSpan(g: Conv2DGeometry): { height: number; width: number } {
  return { height: (g.kH - 1) * g.dilationH + 1, width: (g.kW - 1) * g.dilationW + 1 };
}

/**
 * The input offset of tap `k` along an axis of dilation `d` as WGSL (k a number or a u32
 * expression), `i32` for an i32: `k` itself without dilation, so undilated kernels keep their text.
 */
export function tapOffset(k: number | string, d: number, constant: string, i32 = false): string {
  if (typeof k === 'number') return `${k * d}`;
  const scaled = d === 1 ? k : `${k} * ${constant}`;
  return i32 ? `i32(${scaled})` : scaled;
}

/** `const DILATION_H = …; const DILATION_W = …;` after a line of constants, only for a dilated g. */
export function dilationConstants(g: Conv2DGeometry): string {
  return dilated(g) ? `\n${constants({ DILATION_H: g.dilationH, DILATION_W: g.dilationW })}` : '';
}

/** True when every tap of every output pixel lies inside the input (no padding checks needed). */
export function tapsInBounds(g: Conv2DGeometry): boolean {
  const span = kernelSpan(g);
  return g.padTop === 0 && g.padLeft === 0 && (g.outH - 1) * g.strideH + span.height <= g.inH && (g.outW - 1) * g.strideW + span.width <= g.inW;
}

/** The output gradient dy at binding 0 (after the fused ReLU: conv2dBackward masks it first), and `fn read_dy(pixel, c4)`. */
export function gradReader(g: Conv2DGeometry): string {
  return channelReader('dy', 0, g.batch * g.outH * g.outW, g.outC);
}

/**
 * dW by rows of taps applies: 4-channel vectors of x, neighbouring output columns one input
 * column apart, and neighbouring taps too (no dilation).
 */
export function slidesAlongRows(g: Conv2DGeometry): boolean {
  return g.inC % 4 === 0 && g.strideW === 1 && !dilated(g);
}
export const TILE = 64;
export const TILE_K = 8;
