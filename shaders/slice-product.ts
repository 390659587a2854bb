/**
 * A matrix product whose right-hand side is a slice of weights bound at its own buffer offset,
 * read with constant indices only: out[row] (+)= Σ_k in[row][k] · W[k], K unrolled completely.
 *
 * Why: SwiftShader (the CPU adapter) runs 4 invocations per SIMD lane group, and a load whose index
 * it cannot prove equal across them becomes a gather, 4 scalar loads per float, costing several
 * multiply-adds each. A constant index becomes one broadcast load. Binding each slice of W at its
 * own offset, one dispatch per slice, makes every weight index a constant; measured on the model's
 * conv2 products, faster than the same loop with computed weight indices (bench/NOTES.md items
 * 9–10, 53).
 * The cost: one dispatch per slice, and bodies of K × columns multiply-adds (kept ≤ ~1,000 vec4).
 *
 * Bounds checks (browsers keep them on): every binding is declared with its length, so the
 * checks clamp to constants and a constant index stays a constant (against a runtime-sized
 * array, Tint clamps to arrayLength() and the broadcast became a gather: bench/NOTES.md items
 * 21–22, 54). SwiftShader still checks each load, so with checks each weight load is shared by
 * more rows (`rowsPerInvocation(true)`); what sized bindings and more rows saved on conv2's
 * Winograd products: bench/NOTES.md items 22–23, 37, 55.
 *
 * Clients (shaders/winograd.ts, shaders/conv2d-taps.ts) say how a row maps to its inputs and
 * outputs; this file writes the unrolled body. Bindings: 0 `src` (array<vec4f, srcLength>), 1
 * `slice` (array<vec4f>: `header` vec4s, then K rows × `columns` vec4s), 2 `dst`
 * (array<vec4f, dstLength>), then the client's own.
 */
import type { BindingKind, KernelSource } from './kernel.ts';
import { each, flatIndex, grid } from './wgsl.ts';

export interface SliceProductSpec {
  key: string;
  /** Rows of the product; invocations take `rowsPerInvocation` consecutive rows each. */
  rows: number;
  rowsPerInvocation: number;
  /** vec4s in the src and dst bindings (unused with a custom srcDeclaration). */
  srcLength: number;
  dstLength: number;
  /** K in vec4s. */
  k4: number;
  /** vec4 columns of the slice (and of each row's output). */
  columns: number;
  /** vec4s before the weights in each slice (per-dispatch constants the row mapping may read). */
  header: number;
  /** Exact K when the last vec4 of K is partly padding: terms past it are left out (the slice may end there). */
  k?: number;
  /**
   * How row i reads its inputs k = 4·k4 .. 4·k4+3, as a vec4 expression, and the declaration of
   * binding 0 it reads from (sized, see above). Default: `src[src{i} + k4]` zeroed unless srcOk{i}.
   */
  load?(i: number, k4: number): string;
  srcDeclaration?: string;
  /** Bindings after the first three (kinds), and their declarations plus any helper functions. */
  extraBindings: readonly BindingKind[];
  declarations: string;
  /** Statements run once per invocation (after `first`, the invocation's first row, is known). */
  prologue: string;
  /**
   * Statements for row i (u32 `row{i}`, clamped to the last row) that declare `src{i}` (vec4 index
   * of its first input in src), `srcOk{i}` (false: the inputs are zeros), `dst{i}` (vec4 index of
   * its first output in dst) and `dstOk{i}` (false: nothing stored).
   */
  mapRow(i: number): string;
  /** The outputs add to what dst holds. */
  accumulate: boolean;
  /** WGSL expression for the stored value of output column c of row i, given its sum `acc`. */
  epilogue(acc: string, c: number): string;
}

const WG = 64;

/** Upper bound on K × vec4 columns of one invocation (its unrolled body has R times that many vec4 multiply-adds). */
export const MAX_UNROLLED = 512;
/** K up to which clients unroll a product (the body, and SwiftShader's compile time, grow with it). */
export const MAX_K = 128;

/** vec4 accumulators per invocation (rows × columns) beyond which spills eat what sharing loads saves. */
const MAX_ACCUMULATORS = 64;

/**
 * Rows per invocation: 2 without bounds checks (a weight load is a broadcast, registers are what
 * runs out); 8 with them, where each checked load is shared by 4× the multiply-adds, with at most
 * 8 columns (MAX_ACCUMULATORS). Measured on conv2's Winograd products with checks: 4 rows against
 * 2 (bench/NOTES.md item 23), then 8 × 8 against 4 × 16 for F(6×6)'s 256 rows, which F(4×4)'s
 * 576 rows had lost (item 37).
 */
export function rowsPerInvocation(checkedLoads: boolean): number {
  return checkedLoads ? 8 : 2;
}

/** Floats per slice rounded up to 256 bytes, the largest minStorageBufferOffsetAlignment WebGPU allows. */
export function alignSlice(floats: number): number {
  return Math.ceil(floats / 64) * 64;
}

/**
 * vec4 columns per slice for K = 4·k4 and N = 4·n4: the widest divisor of n4 whose unrolled body
 * stays under MAX_UNROLLED and whose accumulators, with rowsPerInvocation(checkedLoads) rows,
 * under MAX_ACCUMULATORS.
 */
export function sliceColumns(k4: number, n4: number, checkedLoads: boolean): number {
  const limit = Math.max(1, Math.min(Math.floor(MAX_UNROLLED / (k4 * 4)), Math.floor(MAX_ACCUMULATORS / rowsPerInvocation(checkedLoads))));
  let columns = 1;
  for (let c = 1; c <= n4; c++) if (n4 % c === 0 && c <= limit) columns = c;
  return columns;
}

export function sliceProduct(spec: SliceProductSpec): KernelSource {
  const R = spec.rowsPerInvocation;
  const C = spec.columns;
  const invocations = Math.ceil(spec.rows / R);
  // Small launches in smaller workgroups (under 64 invocations, one SIMD group of 4 on
  // SwiftShader), so both cores of a CPU adapter get work.
  const size = invocations >= 16 * WG ? WG : invocations < 64 ? 4 : 16;
  const { workgroups, rowStride } = grid(invocations, size);
  const rows = Array.from({ length: R }, (_, r) => r);
  const cols = Array.from({ length: C }, (_, c) => c);
  const K = spec.k ?? spec.k4 * 4;
  const load = spec.load ?? ((r: number, k4: number) => `select(vec4f(0.0), src[src${r} + ${k4}u], srcOk${r})`);
  const step = (k4: number) => `// k = ${4 * k4}..${Math.min(4 * k4 + 3, K - 1)}
  ${rows.map((r) => `let a${r}_${k4} = ${load(r, k4)};`).join('\n  ')}
  ${each(Math.min(4, K - 4 * k4), (e) => cols.map((c) => `let w${k4}_${e}_${c} = slice[${spec.header + (4 * k4 + e) * C + c}]; ${rows.map((r) => `acc${r}_${c} += a${r}_${k4}.${'xyzw'[e]} * w${k4}_${e}_${c};`).join(' ')}`).join('\n  '))}`;
  return {
    key: `${spec.key}:r${R}`,
    bindings: ['read', 'read', 'write', ...spec.extraBindings],
    workgroups,
    code: `
${spec.srcDeclaration ?? `@group(0) @binding(0) var<storage, read> src: array<vec4f, ${spec.srcLength}>;`}
@group(0) @binding(1) var<storage, read> slice: array<vec4f, ${spec.header + K * C}>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4f, ${spec.dstLength}>;
${spec.declarations}

@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, invocations)}
  let first = i * ${R}u;
  ${spec.prologue}
  // Rows past the end recompute the last one and skip the store.
  ${rows.map((r) => `let row${r} = min(first + ${r}u, ${spec.rows - 1}u);\n  ${spec.mapRow(r)}`).join('\n  ')}
  ${rows.map((r) => cols.map((c) => `var acc${r}_${c} = ${spec.accumulate ? `dst[dst${r} + ${c}u]` : 'vec4f(0.0)'};`).join(' ')).join('\n  ')}
  ${each(spec.k4, step, '\n  ')}
  ${rows.map((r) => `if ((first + ${r}u < ${spec.rows}u) & dstOk${r}) { ${cols.map((c) => `dst[dst${r} + ${c}u] = ${spec.epilogue(`acc${r}_${c}`, c)};`).join(' ')} }`).join('\n  ')}
}`,
  };
}
