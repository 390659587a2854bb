/**
 * A convolution as the sum over its taps of 1×1 convolutions, each a slice product
 * (shaders/slice-product.ts: weights read with constant indices, which SwiftShader turns into
 * broadcast loads instead of gathers). One dispatch per (tap, column group):
 *
 *   forward         y[p] = act(b + Σ_t x[p·s + t − pad] · W_t)       rows: output pixels
 *   input gradient  dx[p·s + t − pad] += dy[p] · W_tᵀ (dx zeroed first) rows: output pixels
 *
 * The forward reads x at the tap's shift (zeros in the padding) and adds to y from the second tap
 * on, bias and ReLU after the last; the input gradient scatters each dy pixel's product to the one
 * dx pixel the tap joins it to (distinct pixels within a dispatch, so no two invocations write
 * the same place), skipping the padding. Neither multiplies padding zeros that the geometry
 * rules out, unlike the input gradient as a padded forward (conv3's would do 2.8× the work).
 *
 * Layout of the weight slices, one per (tap, group), each on a 256-byte boundary: a header vec4
 * (tap row, tap column, first vec4 column of the group, 0) as floats, then K rows × `columns`
 * vec4s: W_t[k][n] = w[t][k][n] (forward: k input, n output channels) or w[t][n][k] (input
 * gradient: k output, n input channels).
 */
import { dilated, type Conv2DGeometry } from './conv2d.ts';
import type { KernelSource } from './kernel.ts';
import { constants, each, flatIndex, grid } from './wgsl.ts';
import { alignSlice, MAX_K, MAX_UNROLLED, rowsPerInvocation, sliceColumns, sliceProduct } from './slice-product.ts';

export type TapMode = 'forward' | 'inputGrad';
/** Which taps a forward dispatch handles: the first writes, the others add, the last applies bias and ReLU. */
export type TapRole = 'first' | 'middle' | 'last' | 'only';

const HEADER = 1;

export interface TapLayout {
  /** K and N of each product, in vec4s. */
  k4: number;
  n4: number;
  columns: number;
  groups: number;
  taps: number;
  /** Floats per slice (aligned) and in all. */
  slice: number;
  floats: number;
}

/** Vector channels on both sides (rows of dst are vec4s), a K small enough to unroll, adjacent taps (no dilation). */
export function tapsApply(g: Conv2DGeometry, mode: TapMode): boolean {
  const K = mode === 'forward' ? g.inC : g.outC;
  return g.inC % 4 === 0 && g.outC % 4 === 0 && K <= MAX_K && !dilated(g);
}

/** `checkedLoads`: the products' register blocks under bounds checks (rowsPerInvocation), which set the slices' columns. */
export function tapLayout(g: Conv2DGeometry, mode: TapMode, checkedLoads: boolean): TapLayout {
  const k4 = (mode === 'forward' ? g.inC : g.outC) / 4;
  const n4 = (mode === 'forward' ? g.outC : g.inC) / 4;
  const columns = sliceColumns(k4, n4, checkedLoads);
  const groups = n4 / columns;
  const taps = g.kH * g.kW;
  const slice = alignSlice(4 * HEADER + k4 * 4 * columns * 4);
  return { k4, n4, columns, groups, taps, slice, floats: taps * groups * slice };
}

function key(g: Conv2DGeometry): string {
  return `n${g.batch}-in${g.inH}x${g.inW}x${g.inC}-k${g.kH}x${g.kW}-s${g.strideH}x${g.strideW}-p${g.padTop}x${g.padLeft}-out${g.outH}x${g.outW}x${g.outC}`;
}

/** Lays w (HWIO) out as the slices above, headers included. Bindings: w, slices. One invocation per (slice, k, column). */
export function tapSlices(g: Conv2DGeometry, mode: TapMode, checkedLoads: boolean): KernelSource {
  const L = tapLayout(g, mode, checkedLoads);
  const K = L.k4 * 4;
  const invocations = L.taps * L.groups * K * L.columns;
  const { workgroups, rowStride } = grid(invocations, 64);
  // Element (tap, k, n) of W_t.
  const source = mode === 'forward' ? `(tap * IN_C + k) * OUT_C + n` : `(tap * IN_C + n) * OUT_C + k`;
  return {
    key: `conv2d-taps-slices:${mode}:${key(g)}:c${L.columns}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `
${constants({ IN_C: g.inC, OUT_C: g.outC, K_W: g.kW, K: K, COLUMNS: L.columns, GROUPS: L.groups, HEADER })}

@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read_write> slices: array<vec4f>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, invocations)}
  let c = i % COLUMNS;
  let k = (i / COLUMNS) % K;
  let s = i / ${K * L.columns}u;
  let group = s % GROUPS;
  let tap = s / GROUPS;
  let n = (group * COLUMNS + c) * 4u;
  let at = s * ${L.slice / 4}u; // vec4s per slice
  slices[at + HEADER + k * COLUMNS + c] = vec4f(${each(4, (j) => `w[${source.replace(/\bn\b/g, `(n + ${j}u)`)}]`, ', ')});
  if ((k == 0u) & (c == 0u)) {
    slices[at] = vec4f(f32(tap / K_W), f32(tap % K_W), f32(group * COLUMNS), 0.0);
  }
}`,
  };
}

/**
 * One tap and column group of the forward (role: see TapRole) or of the input gradient. Bindings:
 * forward x, slice, y, (b with the last role); input gradient dy, slice, dx.
 */
export function tapProduct(g: Conv2DGeometry, mode: TapMode, role: TapRole, checkedLoads: boolean): KernelSource {
  const L = tapLayout(g, mode, checkedLoads);
  const forward = mode === 'forward';
  const last = role === 'last' || role === 'only';
  const bias = forward && last && g.bias;
  // Rows are output pixels in both modes; `src` is x (forward) or dy, `dst` y or dx.
  const [srcC4, dstC4] = forward ? [g.inC / 4, g.outC / 4] : [g.outC / 4, g.inC / 4];
  const inside = `(u32(iy{i}) < IN_H) & (u32(ix{i}) < IN_W)`;
  const inputPixel = `(n{i} * IN_H + u32(iy{i})) * IN_W + u32(ix{i})`;
  const mapRow = (i: number) =>
    `let ox${i} = row${i} % OUT_W; let oy${i} = (row${i} / OUT_W) % OUT_H; let n${i} = row${i} / ${g.outH * g.outW}u;
  let iy${i} = i32(oy${i} * STRIDE_H) + ky; let ix${i} = i32(ox${i} * STRIDE_W) + kx;
  let inside${i} = ${inside.replaceAll('{i}', `${i}`)};
  let at${i} = select(0u, ${inputPixel.replaceAll('{i}', `${i}`)}, inside${i});
  ` +
    (forward
      ? `let src${i} = at${i} * SRC_C4; let srcOk${i} = inside${i}; let dst${i} = row${i} * DST_C4 + column; let dstOk${i} = true;`
      : `let src${i} = row${i} * SRC_C4; let srcOk${i} = true; let dst${i} = at${i} * DST_C4 + column; let dstOk${i} = inside${i};`);
  return sliceProduct({
    key: `conv2d-taps:${mode}:${key(g)}${forward ? `:${role}${g.relu ? '-relu' : ''}${g.bias ? '-bias' : ''}` : ''}:c${L.columns}`,
    rows: g.batch * g.outH * g.outW,
    rowsPerInvocation: rowsPerInvocation(checkedLoads),
    srcLength: (forward ? g.batch * g.inH * g.inW : g.batch * g.outH * g.outW) * srcC4,
    dstLength: (forward ? g.batch * g.outH * g.outW : g.batch * g.inH * g.inW) * dstC4,
    k4: L.k4,
    columns: L.columns,
    header: HEADER,
    extraBindings: bias ? ['read'] : [],
    declarations: `${bias ? `@group(0) @binding(3) var<storage, read> b: array<vec4f, ${g.outC / 4}>;` : ''}
${constants({ IN_H: g.inH, IN_W: g.inW, OUT_H: g.outH, OUT_W: g.outW, STRIDE_H: g.strideH, STRIDE_W: g.strideW })}
// vec4s per pixel of src and dst.
${constants({ SRC_C4: srcC4, DST_C4: dstC4 })}
${constants({ PAD_TOP: g.padTop, PAD_LEFT: g.padLeft }, 'abstract')}`,
    // The tap's shift, padding included, and the group's first column, from the slice's header.
    prologue: `let info = slice[0];
  let ky = i32(info.x) - PAD_TOP;
  let kx = i32(info.y) - PAD_LEFT;
  let column = u32(info.z);`,
    mapRow,
    accumulate: forward ? role === 'middle' || role === 'last' : true,
    epilogue: (acc, c) => {
      if (!last || !forward) return acc;
      const sum = bias ? `${acc} + b[column + ${c}u]` : acc;
      return g.relu ? `max(${sum}, vec4f(0.0))` : sum;
    },
  });
}

// ---- all taps in one product ---------------------------------------------------------------

/** K = taps × input channels up to which patchProduct unrolls it (first layers: 9 for MNIST, 27 for RGB). */
const MAX_PATCH_K = 36;

/** One product over whole patches applies: few input channels, output channels in vec4s, adjacent taps (no dilation). */
export function patchesApply(g: Conv2DGeometry): boolean {
  const K = g.kH * g.kW * g.inC;
  return g.outC % 4 === 0 && K <= MAX_PATCH_K && Math.ceil(K / 4) * 4 * (g.outC / 4) <= MAX_UNROLLED && !dilated(g);
}

/**
 * y[p] = act(b + Σ_k patch_p[k]·w[k]): the forward for few input channels as one slice product
 * whose K is the whole patch (taps × channels, the HWIO kernel's rows as they are), so w binds
 * whole and every weight index is a constant. Rows are output pixels; each patch element is read
 * where it lies in x (zeros in the padding). Bindings: x, w, y, (b).
 */
export function patchProduct(g: Conv2DGeometry, checkedLoads = false): KernelSource {
  const K = g.kH * g.kW * g.inC;
  const n4 = g.outC / 4;
  const masked = g.padTop > 0 || g.padLeft > 0 || (g.outH - 1) * g.strideH + g.kH > g.inH || (g.outW - 1) * g.strideW + g.kW > g.inW;
  const element = (i: number, k: number) => {
    if (k >= K) return '0.0';
    const tap = Math.floor(k / g.inC);
    const ky = Math.floor(tap / g.kW);
    const kx = tap % g.kW;
    const index = `u32(base${i} + ${ky * g.inW + kx}) * IN_C + ${k % g.inC}u`;
    if (!masked) return `src[${index}]`;
    const inside = `(u32(top${i} + ${ky}) < IN_H) & (u32(left${i} + ${kx}) < IN_W)`;
    return `select(0.0, src[select(0u, ${index}, ${inside})], ${inside})`;
  };
  return sliceProduct({
    key: `conv2d-patches:${key(g)}${g.relu ? '-relu' : ''}${g.bias ? '-bias' : ''}`,
    rows: g.batch * g.outH * g.outW,
    rowsPerInvocation: rowsPerInvocation(checkedLoads),
    srcLength: 0,
    dstLength: g.batch * g.outH * g.outW * n4,
    k4: Math.ceil(K / 4),
    k: K,
    columns: n4,
    header: 0,
    srcDeclaration: `@group(0) @binding(0) var<storage, read> src: array<f32, ${g.batch * g.inH * g.inW * g.inC}>;`,
    load: (i, k4) => `vec4f(${[0, 1, 2, 3].map((e) => element(i, 4 * k4 + e)).join(', ')})`,
    extraBindings: g.bias ? ['read'] : [],
    declarations: `${g.bias ? `@group(0) @binding(3) var<storage, read> b: array<vec4f, ${n4}>;` : ''}
${constants({ IN_H: g.inH, IN_W: g.inW, IN_C: g.inC, OUT_H: g.outH, OUT_W: g.outW, OUT_C4: n4, STRIDE_H: g.strideH, STRIDE_W: g.strideW })}
${constants({ PAD_TOP: g.padTop, PAD_LEFT: g.padLeft }, 'abstract')}`,
    prologue: '',
    // base: the patch's top-left element (i32: negative inside the padding).
    mapRow: (i) => `let ox${i} = row${i} % OUT_W; let oy${i} = (row${i} / OUT_W) % OUT_H; let n${i} = row${i} / ${g.outH * g.outW}u;
  let top${i} = i32(oy${i} * STRIDE_H) - PAD_TOP; let left${i} = i32(ox${i} * STRIDE_W) - PAD_LEFT;
  let base${i} = i32(n${i} * ${g.inH * g.inW}u) + top${i} * ${g.inW} + left${i};
  let dst${i} = row${i} * OUT_C4; let dstOk${i} = true;`,
    accumulate: false,
    epilogue: (acc, c) => {
      const sum = g.bias ? `${acc} + b[${c}u]` : acc;
      return g.relu ? `max(${sum}, vec4f(0.0))` : sum;
    },
  });
}
