/**
 * Generic helpers for writing WGSL from TypeScript, shared by every kernel family: literals and
 * named constants for baked sizes, the 1-D launch and its flat-index prologue, unrolling into
 * straight-line statements, readers and writers of row-major bindings, the fused activation.
 *
 * Only things that know nothing about any one family live here; what a family shares with
 * another (pool windows, slice products, convolution geometry) stays with the family that owns
 * it. shaders/kernel.ts holds the host contract (KernelSource, StepInfo).
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

// ---- literals and named constants -------------------------------------------------------------

/** Formats a number as a WGSL f32 literal (WGSL rejects `1` where it wants a float in some spots). */
export function f32(value: number): string {
  if (!Number.isFinite(value)) throw new Error(`cannot bake non-finite constant ${value} into WGSL`);
  const s = String(Math.fround(value));
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** The type of a named constant: `abstract` is an untyped integer, which converts to i32 or u32 wherever it is used. */
export type ConstType = 'u32' | 'i32' | 'f32' | 'abstract';

/** A WGSL literal of `type`: `28u`, `-1i`, `0.5`, or `28` (abstract). */
export function literal(value: number, type: ConstType): string {
  if (type === 'f32') return f32(value);
  if (!Number.isSafeInteger(value)) throw new Error(`cannot bake ${value} into WGSL as an integer (${type})`);
  if (type === 'u32' && (value < 0 || value > 0xffffffff)) throw new Error(`cannot bake ${value} into WGSL as u32`);
  if (type === 'i32' && (value < -(2 ** 31) || value >= 2 ** 31)) throw new Error(`cannot bake ${value} into WGSL as i32`);
  return type === 'u32' ? `${value}u` : type === 'i32' ? `${value}i` : `${value}`;
}

/**
 * Module-scope `const` declarations of baked sizes, one a line: `constants({ IN_H: 28 })` is
 * `const IN_H = 28u;`. A named u32 constant means exactly what its literal does (Tint folds it),
 * so a shader reads `row % IN_W` instead of `row % 28u` at no cost. Names are UPPER_SNAKE_CASE.
 */
export function constants(values: Readonly<Record<string, number>>, type: ConstType = 'u32'): string {
  return Object.entries(values)
    .map(([name, value]) => {
      if (!/^[A-Z][A-Z0-9_]*$/.test(name)) throw new Error(`WGSL constant name ${name} is not UPPER_SNAKE_CASE`);
      return `const ${name} = ${literal(value, type)};`;
    })
    .join('\n');
}

// ---- launches ----------------------------------------------------------------------------

const MAX_GROUPS_PER_DIM = 65535;

/**
 * A 1-D launch of `invocations` threads in workgroups of `workgroupSize`, folded into 2-D when it
 * exceeds the per-dimension limit. Shaders recover the flat index as `gid.x + gid.y * rowStride`
 * and must bounds-check it against the real count (flatIndex).
 */
export function grid(invocations: number, workgroupSize: number): { workgroups: [number, number, number]; rowStride: number } {
  const groups = Math.max(1, Math.ceil(invocations / workgroupSize));
  if (groups <= MAX_GROUPS_PER_DIM) return { workgroups: [groups, 1, 1], rowStride: groups * workgroupSize };
  const x = MAX_GROUPS_PER_DIM;
  return { workgroups: [x, Math.ceil(groups / x), 1], rowStride: x * workgroupSize };
}

/**
 * The first statements of a grid() launch's entry point (whose builtin is `gid`): `name`, the
 * invocation's flat index, and a return for the invocations past `count` (a number, or the name of
 * a u32 constant the shader declares).
 */
export function flatIndex(rowStride: number, count: number | string, name = 'i'): string {
  return `let ${name} = gid.x + gid.y * ${rowStride}u;
  if (${name} >= ${typeof count === 'number' ? `${count}u` : count}) { return; }`;
}

// ---- unrolling ---------------------------------------------------------------------------

/**
 * Straight-line code: `line(i)` for i = 0 .. n − 1 (a statement, or several), joined by `sep`
 * (a new line at the body's indentation by default). On SwiftShader a loop costs more than a
 * modest body, so the kernels unroll their register blocks.
 */
export function each(n: number, line: (i: number) => string | readonly string[], sep = '\n  '): string {
  return Array.from({ length: n }, (_, i) => line(i))
    .flat()
    .join(sep);
}

/** `line(i, j)` for every (i, j) of an a × b block in row-major order (j fastest), joined by `sep`. */
export function each2(a: number, b: number, line: (i: number, j: number) => string, sep = '\n  '): string {
  return Array.from({ length: a * b }, (_, k) => line(Math.floor(k / b), k % b)).join(sep);
}

// ---- bindings of row-major data ----------------------------------------------------------

/**
 * Declares read-only `name`, rows of `channels` floats, and `fn read_name(row, c4) -> vec4f` reading
 * channels 4·c4 .. 4·c4+3 of a row (zeros past the end of the row). Vector loads when the rows
 * are whole vec4s, else 4 scalar loads, those past the last element clamped to it.
 */
export function channelReader(name: string, binding: number, rows: number, channels: number): string {
  const last = rows * channels - 1;
  return wgsl`
#if ${channels % 4 === 0}
@group(0) @binding(${binding}) var<storage, read> ${name}: array<vec4f>;
fn read_${name}(row: u32, c4: u32) -> vec4f { return ${name}[row * ${channels / 4}u + c4]; }
#else
@group(0) @binding(${binding}) var<storage, read> ${name}: array<f32>;
fn read_${name}(row: u32, c4: u32) -> vec4f {
  let c = c4 * 4u;
  let i = row * ${channels}u + c;
  // min() keeps the reads past the row in bounds; select() zeroes them.
  return vec4f(${name}[i],
               select(0.0, ${name}[min(i + 1u, ${last}u)], c + 1u < ${channels}u),
               select(0.0, ${name}[min(i + 2u, ${last}u)], c + 2u < ${channels}u),
               select(0.0, ${name}[min(i + 3u, ${last}u)], c + 3u < ${channels}u));
}
#endif`;
}

/** Declares writable `name`, rows of `channels` floats, and `fn store_name(row, c4, v)` writing the real channels of v. */
export function channelWriter(name: string, binding: number, channels: number): string {
  return wgsl`
#if ${channels % 4 === 0}
@group(0) @binding(${binding}) var<storage, read_write> ${name}: array<vec4f>;
fn store_${name}(row: u32, c4: u32, v: vec4f) { ${name}[row * ${channels / 4}u + c4] = v; }
#else
@group(0) @binding(${binding}) var<storage, read_write> ${name}: array<f32>;
fn store_${name}(row: u32, c4: u32, v: vec4f) {
  let c = c4 * 4u;
  let i = row * ${channels}u + c;
  ${name}[i] = v.x;
  if (c + 1u < ${channels}u) { ${name}[i + 1u] = v.y; }
  if (c + 2u < ${channels}u) { ${name}[i + 2u] = v.z; }
  if (c + 3u < ${channels}u) { ${name}[i + 3u] = v.w; }
}
#endif`;
}

/**
 * A read-only row-major [?, cols] matrix `name` and `load_<name>(r, c)`: elements (r, c..c+3) as a
 * vec4f, zero past the end of the row. `c` is a column (a multiple of 4), not a vec4 index as in
 * channelReader; scalar rows read each element through `at_<name>(r, c)`, zero past the row.
 */
export function matrixReader(name: string, binding: number, cols: number): string {
  return wgsl`
#if ${cols % 4 === 0}
@group(0) @binding(${binding}) var<storage, read> ${name}: array<vec4f>;
fn load_${name}(r: u32, c: u32) -> vec4f {
  return ${name}[r * ${cols / 4}u + c / 4u];
}
#else
@group(0) @binding(${binding}) var<storage, read> ${name}: array<f32>;
fn at_${name}(r: u32, c: u32) -> f32 {
  return select(0.0, ${name}[r * ${cols}u + min(c, ${cols - 1}u)], c < ${cols}u);
}
fn load_${name}(r: u32, c: u32) -> vec4f {
  return vec4f(at_${name}(r, c), at_${name}(r, c + 1u), at_${name}(r, c + 2u), at_${name}(r, c + 3u));
}
#endif`;
}

/** A row-major [?, cols] output `name` and `store_<name>(r, c, v)` writing the in-row part of v at (r, c..c+3). */
export function matrixWriter(name: string, binding: number, cols: number): string {
  return wgsl`
#if ${cols % 4 === 0}
@group(0) @binding(${binding}) var<storage, read_write> ${name}: array<vec4f>;
fn store_${name}(r: u32, c: u32, v: vec4f) {
  ${name}[r * ${cols / 4}u + c / 4u] = v;
}
#else
@group(0) @binding(${binding}) var<storage, read_write> ${name}: array<f32>;
fn store_${name}(r: u32, c: u32, v: vec4f) {
  let i = r * ${cols}u + c;
  ${name}[i] = v.x; // c < cols: callers store only groups of 4 that start inside the row
  if (c + 1u < ${cols}u) { ${name}[i + 1u] = v.y; }
  if (c + 2u < ${cols}u) { ${name}[i + 2u] = v.z; }
  if (c + 3u < ${cols}u) { ${name}[i + 3u] = v.w; }
}
#endif`;
}

// ---- epilogues ---------------------------------------------------------------------------

/** `fn activate(v: vec4f) -> vec4f`: the fused activation of an epilogue (ReLU, or none). */
export function activation(relu: boolean): string {
  return relu ? 'fn activate(v: vec4f) -> vec4f { return max(v, vec4f(0.0)); }' : 'fn activate(v: vec4f) -> vec4f { return v; }';
}
