/**
 * Reduction kernels: sum, max and min of the middle axis of a tensor seen as [outer, axis, inner]
 * (ops/reduce.ts maps any run of contiguous axes onto that view), the first-maximum (or minimum)
 * position along it, and the two kernels of the backward: a broadcast of the gradient back along
 * the axis, and its routing to the saved positions.
 *
 * Two shapes of launch:
 * - `reduceLines`: one invocation per output (o, i), a loop along the axis. Neighbouring
 *   invocations take neighbouring i, so with inner > 1 each step of the loop reads a contiguous run.
 * - `reducePartials` then a finish: invocation (o, p, i) of [outer, parts, inner] folds the
 *   elements j = p, p + PARTS, p + 2·PARTS, ... of line (o, i) into a partial; the finish is
 *   `reduceLines` over the partials' middle axis. Interleaving the parts (rather than cutting the
 *   axis into contiguous chunks) makes the invocations of one step read one contiguous run of
 *   PARTS·INNER floats, whatever inner is: a per-channel reduction over [N·H·W, C] with C = 10
 *   reads as coalesced as one with C = 256.
 *
 * What is reduced is `fn value(k: u32) -> f32`, element k of the [outer, axis, inner] tensor: by
 * default a read of binding `x`, or a ReduceSource, a function of other bindings (a binary op's
 * local gradient, so the gradient of a broadcast operand is reduced without being stored first).
 */
import type { KernelSource } from './kernel.ts';
import { constants, f32, grid } from './wgsl.ts';

/** The reduced tensor as [outer, axis, inner]: `outer · inner` lines of `axis` elements spaced `inner` apart. */
export interface ReduceGeometry {
  outer: number;
  axis: number;
  inner: number;
}

/** How elements combine: sum (mean is a sum scaled by 1/axis), max or min. */
export type ReduceFold = 'sum' | 'max' | 'min';

/** Which position an arg-reduction keeps: the first maximum or the first minimum. */
export type ArgFold = 'max' | 'min';

/**
 * What a reduction reads: `code` declares read-only bindings 0 .. reads − 1 and defines
 * `fn value(k: u32) -> f32`, element k (row-major) of the tensor being reduced. `key` names the
 * source in pipeline keys (it must tell apart every source whose code differs).
 */
export interface ReduceSource {
  key: string;
  reads: number;
  code: string;
}

/** The default source: binding 0 is the tensor itself. */
export const PLAIN_SOURCE: ReduceSource = {
  key: 'x',
  reads: 1,
  code: `@group(0) @binding(0) var<storage, read> x: array<f32>;
fn value(k: u32) -> f32 { return x[k]; }`,
};

const WG = 64;

function checkGeometry(kernel: string, g: ReduceGeometry): void {
  for (const [name, v] of Object.entries(g)) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${kernel}: ${name} must be a positive integer, got ${v}`);
  }
}

function combine(fold: ReduceFold, a: string, b: string): string {
  return fold === 'sum' ? `${a} + ${b}` : `${fold}(${a}, ${b})`;
}

/**
 * Statements folding `count` elements value(start), value(start + STRIDE), ... into `let acc`, in
 * four accumulators (independent chains, and for sums a shorter rounding path), the loop over
 * groups of four and the count % 4 left over in straight-line code (SwiftShader runs a loop's
 * bookkeeping for every trip; the body is cheap). `start` is a WGSL expression, STRIDE a constant.
 */
function foldRun(fold: ReduceFold, count: number): string {
  const quads = Math.floor(count / 4);
  const rest = count % 4;
  const at = (t: string) => (t === '0u' ? 'start' : `start + ${t} * STRIDE`);
  const init = fold === 'sum' ? '0.0' : 'value(start)';
  const lines: string[] = [];
  if (quads === 0) {
    lines.push('var acc = value(start);');
    for (let t = 1; t < rest; t++) lines.push(`acc = ${combine(fold, 'acc', `value(${at(`${t}u`)})`)};`);
    return lines.join('\n  ');
  }
  lines.push(`var a0 = ${init};`, `var a1 = ${init};`, `var a2 = ${init};`, `var a3 = ${init};`);
  lines.push(`for (var t = 0u; t < ${quads * 4}u; t += 4u) {
    let k = start + t * STRIDE;
    a0 = ${combine(fold, 'a0', 'value(k)')};
    a1 = ${combine(fold, 'a1', 'value(k + STRIDE)')};
    a2 = ${combine(fold, 'a2', 'value(k + 2u * STRIDE)')};
    a3 = ${combine(fold, 'a3', 'value(k + 3u * STRIDE)')};
  }`);
  for (let t = 0; t < rest; t++) lines.push(`a${t} = ${combine(fold, `a${t}`, `value(${at(`${quads * 4 + t}u`)})`)};`);
  lines.push(`var acc = ${fold === 'sum' ? '(a0 + a1) + (a2 + a3)' : `${fold}(${fold}(a0, a1), ${fold}(a2, a3))`};`);
  return lines.join('\n  ');
}

/** The flat-index prologue of a grid() launch, bounds-checked against a named constant. */
function prologue(rowStride: number, limit: string, name: string): string {
  return `let ${name} = gid.x + gid.y * ${rowStride}u;
  if (${name} >= ${limit}) { return; }`;
}

/** `(v / INNER)` and `v % INNER` without the no-op parts when INNER is 1. */
function splitInner(g: ReduceGeometry, v: string): { o: string; i: string } {
  return g.inner === 1 ? { o: v, i: '0u' } : { o: `${v} / INNER`, i: `${v} % INNER` };
}

/**
 * One invocation per output: y[o·INNER + i] = SCALE · fold_j value(o·AXIS·INNER + j·INNER + i)
 * (SCALE only for sums: 1/axis makes a mean, −1 a negated sum). Bindings: the source's reads,
 * then y (write).
 */
export function reduceLines(fold: ReduceFold, g: ReduceGeometry, source: ReduceSource = PLAIN_SOURCE, scale = 1): KernelSource {
  checkGeometry(`reduce-${fold}`, g);
  if (fold !== 'sum' && scale !== 1) throw new Error(`reduce-${fold}: only sums take a scale`);
  const outputs = g.outer * g.inner;
  const { workgroups, rowStride } = grid(outputs, WG);
  const { o, i } = splitInner(g, 'r');
  const base = g.inner === 1 ? 'r * AXIS' : `(${o}) * AXIS * INNER + ${i}`;
  return {
    key: `reduce-${fold}:${g.outer}x${g.axis}x${g.inner}:${f32(scale)}:${source.key}`,
    bindings: [...Array.from({ length: source.reads }, () => 'read' as const), 'write'],
    workgroups,
    code: `// ${fold === 'sum' ? 'Sum' : fold === 'max' ? 'Maximum' : 'Minimum'} of the middle axis of [OUTER, AXIS, INNER]: one invocation per output (o, i).
${constants({ OUTER: g.outer, AXIS: g.axis, INNER: g.inner, OUTPUTS: outputs, STRIDE: g.inner })}${scale === 1 ? '' : `\nconst SCALE = ${f32(scale)};`}

${source.code}
@group(0) @binding(${source.reads}) var<storage, read_write> y: array<f32>; // [OUTER, INNER]

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${prologue(rowStride, 'OUTPUTS', 'r')}
  let start = ${base}; // line (o, i): its element j is value(start + j·STRIDE)
  ${foldRun(fold, g.axis)}
  y[r] = ${scale !== 1 ? 'acc * SCALE' : 'acc'};
}`,
  };
}

/**
 * First pass of a long reduction: partials[(o·PARTS + p)·INNER + i] = fold of line (o, i)'s
 * elements j ≡ p (mod PARTS), 1 ≤ PARTS ≤ AXIS. Invocation g = (o·PARTS + p)·INNER + i, so
 * consecutive invocations read consecutive floats. Bindings: the source's reads, partials (write).
 */
export function reducePartials(fold: ReduceFold, g: ReduceGeometry, parts: number, source: ReduceSource = PLAIN_SOURCE): KernelSource {
  checkGeometry(`reduce-${fold}-partials`, g);
  if (!Number.isInteger(parts) || parts < 1 || parts > g.axis) throw new Error(`reduce-${fold}-partials: parts must be an integer in [1, ${g.axis}], got ${parts}`);
  const invocations = g.outer * parts * g.inner;
  const rounds = Math.floor(g.axis / parts);
  const remainder = g.axis % parts;
  const { workgroups, rowStride } = grid(invocations, WG);
  const iExpr = g.inner === 1 ? '0u' : 'g % INNER';
  const pExpr = g.inner === 1 ? (g.outer === 1 ? 'g' : 'g % PARTS') : g.outer === 1 ? 'g / INNER' : '(g / INNER) % PARTS';
  const oExpr = g.outer === 1 ? '0u' : 'g / (PARTS * INNER)';
  return {
    key: `reduce-${fold}-partials:${g.outer}x${g.axis}x${g.inner}:${parts}:${source.key}`,
    bindings: [...Array.from({ length: source.reads }, () => 'read' as const), 'write'],
    workgroups,
    code: `// First pass of a ${fold} along the middle axis of [OUTER, AXIS, INNER]: invocation (o, p, i) folds
// the elements j = p, p + PARTS, p + 2·PARTS, ... of line (o, i) into partials[o, p, i].
${constants({ OUTER: g.outer, AXIS: g.axis, INNER: g.inner, PARTS: parts, INVOCATIONS: invocations, REMAINDER: remainder, STRIDE: parts * g.inner })}

${source.code}
@group(0) @binding(${source.reads}) var<storage, read_write> partials: array<f32>; // [OUTER, PARTS, INNER]

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${prologue(rowStride, 'INVOCATIONS', 'g')}
  let o = ${oExpr};
  let p = ${pExpr};
  let start = o * AXIS * INNER + p * INNER + ${iExpr}; // element j = p of line (o, i); STRIDE steps PARTS elements
  ${foldRun(fold, rounds)}
${
  remainder === 0
    ? ''
    : `  // AXIS = ${rounds}·PARTS + REMAINDER: the first REMAINDER parts have one more element.
  if (p < REMAINDER) { acc = ${combine(fold, 'acc', `value(start + ${rounds}u * STRIDE)`)}; }
`
}  partials[g] = acc;
}`,
  };
}

/**
 * The position along the axis of each line's first maximum (or minimum), one invocation per line:
 * idx[o·INNER + i] = the least j with value(o, j, i) = the line's max. Bindings: the source's
 * reads, idx (write, u32).
 */
export function argReduceLines(fold: ArgFold, g: ReduceGeometry, source: ReduceSource = PLAIN_SOURCE): KernelSource {
  checkGeometry(`arg${fold}`, g);
  const outputs = g.outer * g.inner;
  const { workgroups, rowStride } = grid(outputs, WG);
  const { o, i } = splitInner(g, 'r');
  const base = g.inner === 1 ? 'r * AXIS' : `(${o}) * AXIS * INNER + ${i}`;
  const better = fold === 'max' ? '>' : '<';
  return {
    key: `arg${fold}:${g.outer}x${g.axis}x${g.inner}:${source.key}`,
    bindings: [...Array.from({ length: source.reads }, () => 'read' as const), 'write'],
    workgroups,
    code: `// The first ${fold === 'max' ? 'maximum' : 'minimum'}'s position along the middle axis of [OUTER, AXIS, INNER], one invocation per line.
${constants({ OUTER: g.outer, AXIS: g.axis, INNER: g.inner, OUTPUTS: outputs, STRIDE: g.inner })}

${source.code}
@group(0) @binding(${source.reads}) var<storage, read_write> idx: array<u32>; // [OUTER, INNER]

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${prologue(rowStride, 'OUTPUTS', 'r')}
  let start = ${base};
  var best = value(start);
  var at = 0u;
  for (var j = 1u; j < AXIS; j++) {
    let v = value(start + j * STRIDE);
    if (v ${better} best) { best = v; at = j; } // strictly better: ties keep the first
  }
  idx[r] = at;
}`,
  };
}

/**
 * First pass of a long arg-reduction: partials[o, p, i] = (the best value's bits, its position j)
 * among line (o, i)'s elements j ≡ p (mod PARTS). Bindings: the source's reads, partials (write, vec2u).
 */
export function argReducePartials(fold: ArgFold, g: ReduceGeometry, parts: number, source: ReduceSource = PLAIN_SOURCE): KernelSource {
  checkGeometry(`arg${fold}-partials`, g);
  if (!Number.isInteger(parts) || parts < 1 || parts > g.axis) throw new Error(`arg${fold}-partials: parts must be an integer in [1, ${g.axis}], got ${parts}`);
  const invocations = g.outer * parts * g.inner;
  const { workgroups, rowStride } = grid(invocations, WG);
  const better = fold === 'max' ? '>' : '<';
  return {
    key: `arg${fold}-partials:${g.outer}x${g.axis}x${g.inner}:${parts}:${source.key}`,
    bindings: [...Array.from({ length: source.reads }, () => 'read' as const), 'write'],
    workgroups,
    code: `// First pass of the first ${fold === 'max' ? 'maximum' : 'minimum'}'s position: invocation (o, p, i) scans j = p, p + PARTS, ...
// of line (o, i) and stores (its best value's bits, the first j holding it).
${constants({ OUTER: g.outer, AXIS: g.axis, INNER: g.inner, PARTS: parts, INVOCATIONS: invocations })}

${source.code}
@group(0) @binding(${source.reads}) var<storage, read_write> partials: array<vec2u>; // [OUTER, PARTS, INNER]

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${prologue(rowStride, 'INVOCATIONS', 'g')}
  let i = g % INNER;
  let p = (g / INNER) % PARTS;
  let o = g / (PARTS * INNER);
  let start = o * AXIS * INNER + i;
  var best = value(start + p * INNER);
  var at = p;
  for (var j = p + PARTS; j < AXIS; j += PARTS) {
    let v = value(start + j * INNER);
    if (v ${better} best) { best = v; at = j; }
  }
  partials[g] = vec2u(bitcast<u32>(best), at);
}`,
  };
}

/**
 * Finish of argReducePartials: per line, the best of the PARTS partials, the least position among
 * equal values (each part kept its first, so this is the line's first). Bindings: partials (read,
 * vec2u), idx (write, u32).
 */
export function argReduceFinish(fold: ArgFold, g: ReduceGeometry, parts: number): KernelSource {
  checkGeometry(`arg${fold}-finish`, g);
  const outputs = g.outer * g.inner;
  const { workgroups, rowStride } = grid(outputs, WG);
  const better = fold === 'max' ? '>' : '<';
  return {
    key: `arg${fold}-finish:${g.outer}x${g.inner}:${parts}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `// Finish of the first ${fold === 'max' ? 'maximum' : 'minimum'}'s position: the best of each line's PARTS partials (value bits, position).
${constants({ OUTER: g.outer, INNER: g.inner, PARTS: parts, OUTPUTS: outputs })}

@group(0) @binding(0) var<storage, read> partials: array<vec2u>; // [OUTER, PARTS, INNER]
@group(0) @binding(1) var<storage, read_write> idx: array<u32>; // [OUTER, INNER]

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${prologue(rowStride, 'OUTPUTS', 'r')}
  let start = (r / INNER) * PARTS * INNER + r % INNER;
  let first = partials[start];
  var best = bitcast<f32>(first.x);
  var at = first.y;
  for (var p = 1u; p < PARTS; p++) {
    let e = partials[start + p * INNER];
    let v = bitcast<f32>(e.x);
    if (v ${better} best || (v == best && e.y < at)) { best = v; at = e.y; }
  }
  idx[r] = at;
}`,
  };
}

/**
 * Backward of a sum or mean: dx[o, j, i] = SCALE · dy[o, i] (SCALE = 1/axis for a mean). One
 * invocation per element of dx. Bindings: dy (read), dx (write).
 */
export function broadcastAlongAxis(g: ReduceGeometry, scale: number): KernelSource {
  checkGeometry('reduce-broadcast-back', g);
  const n = g.outer * g.axis * g.inner;
  const { workgroups, rowStride } = grid(n, 256);
  const line = g.inner === 1 ? 'k / AXIS' : '(k / (AXIS * INNER)) * INNER + k % INNER';
  return {
    key: `reduce-broadcast-back:${g.outer}x${g.axis}x${g.inner}:${f32(scale)}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `// Backward of a sum over the middle axis of [OUTER, AXIS, INNER]: every element of line (o, i) gets SCALE·dy[o, i].
${constants({ OUTER: g.outer, AXIS: g.axis, INNER: g.inner, COUNT: n })}${scale === 1 ? '' : `\nconst SCALE = ${f32(scale)};`}

@group(0) @binding(0) var<storage, read> dy: array<f32>; // [OUTER, INNER]
@group(0) @binding(1) var<storage, read_write> dx: array<f32>; // [OUTER, AXIS, INNER]

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${prologue(rowStride, 'COUNT', 'k')}
  dx[k] = ${scale === 1 ? '' : 'SCALE * '}dy[${line}];
}`,
  };
}

/**
 * Backward of a max or min: dx[o, j, i] = dy[o, i] where j = idx[o, i] (argReduceLines), else 0.
 * One invocation per element of dx. Bindings: dy (read), idx (read, u32), dx (write).
 */
export function routeToPosition(g: ReduceGeometry): KernelSource {
  checkGeometry('reduce-route', g);
  const n = g.outer * g.axis * g.inner;
  const { workgroups, rowStride } = grid(n, 256);
  return {
    key: `reduce-route:${g.outer}x${g.axis}x${g.inner}`,
    bindings: ['read', 'read', 'write'],
    workgroups,
    code: `// Backward of a max (min) over the middle axis of [OUTER, AXIS, INNER]: each line's gradient goes to its saved position.
${constants({ OUTER: g.outer, AXIS: g.axis, INNER: g.inner, COUNT: n })}

@group(0) @binding(0) var<storage, read> dy: array<f32>; // [OUTER, INNER]
@group(0) @binding(1) var<storage, read> idx: array<u32>; // [OUTER, INNER]: the position j that gets dy
@group(0) @binding(2) var<storage, read_write> dx: array<f32>; // [OUTER, AXIS, INNER]

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${prologue(rowStride, 'COUNT', 'k')}
  let line = ${g.inner === 1 ? 'k / AXIS' : '(k / (AXIS * INNER)) * INNER + k % INNER'};
  let j = ${g.inner === 1 ? 'k % AXIS' : '(k / INNER) % AXIS'};
  dx[k] = select(0.0, dy[line], j == idx[line]);
}`,
  };
}
