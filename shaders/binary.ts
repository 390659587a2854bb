/**
 * Elementwise ops of broadcast operands: the forward y = in0 ∘ in1 ∘ ... (left to right) and each
 * operand's local gradient, written where the operand has the output's shape or handed to a
 * reduction (shaders/reduce.ts ReduceSource) where it was broadcast.
 *
 * The operands' shapes come as a BroadcastGeometry (ops/binary.ts broadcastGeometry): the output's
 * axes merged wherever no operand changes between broadcast and not, each operand's stride along
 * every merged axis (0 where it is broadcast). An operand of the output's shape reads element i;
 * one broadcast along the leading axes ([N, C] ∘ [C]) reads `i % C`; only real broadcasts pay for
 * index arithmetic. When the innermost merged axis is a multiple of 4, an invocation takes four
 * neighbouring outputs (vec4f): the operands that run along that axis load a vec4, those
 * broadcast along it load one float and splat it.
 */
import type { KernelSource } from './kernel.ts';
import type { ReduceSource } from './reduce.ts';
import { constants, f32, grid } from './wgsl.ts';

/** How the operands combine, left to right (TF.js's add, sub, mul, div, maximum, minimum). */
export type ElementwiseOp = 'add' | 'subtract' | 'multiply' | 'divide' | 'maximum' | 'minimum';

/**
 * The output's shape with its axes merged (outermost first; their product is the element count)
 * and, per operand, its stride along each merged axis: 0 where it is broadcast, else the product
 * of its own sizes along the later axes.
 */
export interface BroadcastGeometry {
  dims: readonly number[];
  strides: readonly (readonly number[])[];
}

const WG = 256;

export function elementCount(g: BroadcastGeometry): number {
  return g.dims.reduce((a, b) => a * b, 1);
}

function checkGeometry(kernel: string, g: BroadcastGeometry, arity?: number): void {
  const ok =
    g.dims.length >= 1 &&
    g.dims.every((d) => Number.isInteger(d) && d >= 1) &&
    g.strides.length >= 1 &&
    g.strides.every((s) => s.length === g.dims.length && s.every((v) => Number.isInteger(v) && v >= 0));
  if (!ok) throw new Error(`${kernel}: inconsistent broadcast geometry ${JSON.stringify(g)}`);
  if (arity !== undefined && g.strides.length !== arity) throw new Error(`${kernel}: takes ${arity} operands, got ${g.strides.length}`);
}

/** The output's strides along the merged axes. */
function outputStrides(g: BroadcastGeometry): number[] {
  const out = new Array<number>(g.dims.length);
  let s = 1;
  for (let d = g.dims.length - 1; d >= 0; d--) {
    out[d] = s;
    s *= g.dims[d]!;
  }
  return out;
}

/** Whether operand j reads element e for output element e (its layout is the output's). */
function isFull(g: BroadcastGeometry, j: number): boolean {
  const os = outputStrides(g);
  return g.strides[j]!.every((s, d) => s === os[d]);
}

/** WGSL: operand j's element for output element `e` (a u32 expression). */
function indexExpr(g: BroadcastGeometry, j: number, e: string): string {
  if (isFull(g, j)) return e;
  const os = outputStrides(g);
  const terms: string[] = [];
  g.dims.forEach((size, d) => {
    const s = g.strides[j]![d]!;
    if (s === 0) return;
    const q = os[d] === 1 ? e : `(${e} / ${os[d]}u)`;
    const c = d === 0 ? q : `(${q} % ${size}u)`;
    terms.push(s === 1 ? c : `${c} * ${s}u`);
  });
  return terms.length ? terms.join(' + ') : '0u';
}

/** Four outputs per invocation when the innermost merged axis is a multiple of 4. */
export function lanesOf(g: BroadcastGeometry): 1 | 4 {
  return g.dims[g.dims.length - 1]! % 4 === 0 ? 4 : 1;
}

/**
 * Declares operand j at `binding` (named in_j) and `fn load_j(i: u32) -> V`: its value(s) for the
 * output's unit i (an element, or with 4 lanes the vec4 of elements 4i .. 4i + 3).
 */
function operandCode(g: BroadcastGeometry, j: number, binding: number, lanes: 1 | 4): string {
  const inner = g.strides[j]![g.dims.length - 1]!;
  const vector = lanes === 4 && inner !== 0;
  const decl = `@group(0) @binding(${binding}) var<storage, read> in_${j}: array<${vector ? 'vec4f' : 'f32'}>;`;
  let body: string;
  if (isFull(g, j)) body = `return in_${j}[i];`;
  else if (lanes === 1) body = `return in_${j}[${indexExpr(g, j, 'i')}];`;
  else if (vector) body = `let e = i * 4u;\n  return in_${j}[(${indexExpr(g, j, 'e')}) / 4u];`;
  else body = `let e = i * 4u;\n  return V(in_${j}[${indexExpr(g, j, 'e')}]); // broadcast along the innermost axis: one float for all four`;
  return `${decl}\nfn load_${j}(i: u32) -> V {\n  ${body}\n}`;
}

function combine(op: ElementwiseOp, a: string, b: string): string {
  switch (op) {
    case 'add':
      return `${a} + ${b}`;
    case 'subtract':
      return `${a} - ${b}`;
    case 'multiply':
      return `${a} * ${b}`;
    case 'divide':
      return `${a} / ${b}`;
    case 'maximum':
      return `max(${a}, ${b})`;
    case 'minimum':
      return `min(${a}, ${b})`;
  }
}

const SYMBOL: Record<ElementwiseOp, string> = { add: '+', subtract: '−', multiply: '·', divide: '/', maximum: 'max', minimum: 'min' };

function checkOp(kernel: string, op: ElementwiseOp, n: number, scale: number): void {
  if (!(op in SYMBOL)) throw new Error(`${kernel}: unknown op ${JSON.stringify(op)}`);
  if ((op === 'subtract' || op === 'divide') && n !== 2) throw new Error(`${kernel}: ${op} takes exactly 2 operands, got ${n}`);
  if (n < 1) throw new Error(`${kernel}: needs an operand`);
  if (!Number.isFinite(scale)) throw new Error(`${kernel}: scale must be finite, got ${scale}`);
  if (scale !== 1 && op !== 'add') throw new Error(`${kernel}: only add takes a scale (Average), got ${op} with ${scale}`);
}

function geometryKey(g: BroadcastGeometry): string {
  return `${g.dims.join('x')}:${g.strides.map((s) => s.join('.')).join('|')}`;
}

/**
 * y = SCALE · (in0 ∘ in1 ∘ ...), left to right (SCALE: 1, or 1/n for an average). Bindings: the
 * operands (read), y (write).
 */
export function elementwiseForward(op: ElementwiseOp, g: BroadcastGeometry, scale = 1): KernelSource {
  checkGeometry(`elementwise-${op}`, g);
  const n = g.strides.length;
  checkOp(`elementwise-${op}`, op, n, scale);
  const lanes = lanesOf(g);
  const units = elementCount(g) / lanes;
  const { workgroups, rowStride } = grid(units, WG);
  let expr = 'load_0(i)';
  for (let j = 1; j < n; j++) expr = combine(op, expr, `load_${j}(i)`);
  return {
    key: `elementwise-${op}:${geometryKey(g)}:${f32(scale)}`,
    bindings: [...Array.from({ length: n }, () => 'read' as const), 'write'],
    workgroups,
    code: `// y = ${scale === 1 ? '' : 'SCALE · ('}${Array.from({ length: n }, (_, j) => `in_${j}`).join(` ${SYMBOL[op]} `)}${scale === 1 ? '' : ')'}, broadcast over the merged axes [${g.dims.join(', ')}]${lanes === 4 ? ', four outputs per invocation' : ''}.
alias V = ${lanes === 4 ? 'vec4f' : 'f32'};
${constants({ UNITS: units })}${scale === 1 ? '' : `\nconst SCALE = ${f32(scale)};`}

${Array.from({ length: n }, (_, j) => operandCode(g, j, j, lanes)).join('\n')}
@group(0) @binding(${n}) var<storage, read_write> y: array<V>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;
  if (i >= UNITS) { return; }
  y[i] = ${scale === 1 ? expr : `SCALE * (${expr})`};
}`,
  };
}

/**
 * The operands operand k's gradient reads (besides dy): none for add and subtract, the others for
 * multiply, the divisor (and for the divisor's own gradient, the dividend) for divide, all of them
 * for maximum and minimum (which operand won).
 */
export function gradientReads(op: ElementwiseOp, n: number, k: number): number[] {
  const all = Array.from({ length: n }, (_, j) => j);
  switch (op) {
    case 'add':
    case 'subtract':
      return [];
    case 'multiply':
      return all.filter((j) => j !== k);
    case 'divide':
      return k === 0 ? [1] : [0, 1];
    case 'maximum':
    case 'minimum':
      return all;
  }
}

/**
 * WGSL statements ending in `return` of operand k's local gradient at output unit i, given `dy`
 * (V) and `load_j(i)` for the operands gradientReads lists. Maximum and minimum follow TF.js: a
 * chain of binary ops whose gradient goes to `a` where a >= b (maximum) or a <= b (minimum), so
 * each output's gradient goes to the first operand holding the extreme.
 */
function gradientBody(op: ElementwiseOp, n: number, k: number, lanes: 1 | 4, scale: number): string {
  const zero = 'V(0.0)';
  switch (op) {
    case 'add':
      return scale === 1 ? 'return dy;' : 'return GRADIENT_SCALE * dy;';
    case 'subtract':
      return k === 0 ? 'return dy;' : 'return -dy;';
    case 'multiply':
      return `return dy${gradientReads(op, n, k)
        .map((j) => ` * load_${j}(i)`)
        .join('')};`;
    case 'divide':
      return k === 0 ? 'return dy / load_1(i);' : 'let b = load_1(i);\n  return -(dy * load_0(i)) / (b * b);';
    case 'maximum':
    case 'minimum': {
      const better = op === 'maximum' ? '>' : '<';
      if (n === 2) {
        // TF.js: d/da = dy·[a >= b], d/db = dy·[a < b] (maximum); [a <= b], [a > b] (minimum).
        const cmp = k === 0 ? (op === 'maximum' ? '>=' : '<=') : op === 'maximum' ? '<' : '>';
        return `return select(${zero}, dy, load_0(i) ${cmp} load_1(i));`;
      }
      const U = lanes === 4 ? 'vec4u' : 'u32';
      const steps = Array.from({ length: n - 1 }, (_, m) => {
        const j = m + 1;
        return `let v${j} = load_${j}(i);
  let t${j} = v${j} ${better} best; // strictly: ties stay with the earlier operand
  best = select(best, v${j}, t${j});
  win = select(win, ${U}(${j}u), t${j});`;
      });
      return `var best = load_0(i);
  var win = ${U}(0u);
  ${steps.join('\n  ')}
  return select(${zero}, dy, win == ${U}(${k}u));`;
    }
  }
}

/** `fn gradient(i: u32, dy: V) -> V` and the operand bindings it reads, from binding `first` on. */
function gradientCode(op: ElementwiseOp, g: BroadcastGeometry, k: number, lanes: 1 | 4, first: number, scale: number): string {
  const n = g.strides.length;
  const reads = gradientReads(op, n, k);
  return `${scale !== 1 ? `const GRADIENT_SCALE = ${f32(scale)};\n` : ''}${reads.map((j, m) => operandCode(g, j, first + m, lanes)).join('\n')}
// Operand ${k}'s local gradient at output unit i.
fn gradient(i: u32, dy: V) -> V {
  ${gradientBody(op, n, k, lanes, scale)}
}`;
}

/**
 * Operand k's gradient where it has the output's shape: dx[i] = gradient at output i. Bindings:
 * dy, the operands gradientReads(op, n, k) lists (read), dx (write).
 */
export function elementwiseGradient(op: ElementwiseOp, g: BroadcastGeometry, k: number, scale = 1): KernelSource {
  checkGeometry(`elementwise-${op}-gradient`, g);
  const n = g.strides.length;
  checkOp(`elementwise-${op}-gradient`, op, n, scale);
  if (!Number.isInteger(k) || k < 0 || k >= n) throw new Error(`elementwise-${op}-gradient: operand ${k} of ${n}`);
  if (!isFull(g, k)) throw new Error(`elementwise-${op}-gradient: operand ${k} is broadcast; reduce its gradient (gradientSource)`);
  const lanes = lanesOf(g);
  const units = elementCount(g) / lanes;
  const { workgroups, rowStride } = grid(units, WG);
  const reads = gradientReads(op, n, k);
  return {
    key: `elementwise-${op}-gradient:${geometryKey(g)}:${k}:${f32(scale)}`,
    bindings: ['read', ...reads.map(() => 'read' as const), 'write'],
    workgroups,
    code: `// The gradient of operand ${k} of ${Array.from({ length: n }, (_, j) => `in_${j}`).join(` ${SYMBOL[op]} `)}, which has the output's shape.
alias V = ${lanes === 4 ? 'vec4f' : 'f32'};
${constants({ UNITS: units })}

@group(0) @binding(0) var<storage, read> dy: array<V>;
${gradientCode(op, g, k, lanes, 1, scale)}
@group(0) @binding(${reads.length + 1}) var<storage, read_write> dx: array<V>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${rowStride}u;
  if (i >= UNITS) { return; }
  dx[i] = gradient(i, dy[i]);
}`,
  };
}

/**
 * Operand k's local gradient as a reduction source over the output (shaders/reduce.ts): value(e)
 * is its gradient at output element e, which the reduction sums over the axes where operand k was
 * broadcast. Reads: dy, then the operands gradientReads(op, n, k) lists.
 */
export function gradientSource(op: ElementwiseOp, g: BroadcastGeometry, k: number, scale = 1): ReduceSource {
  checkGeometry(`elementwise-${op}-gradient-source`, g);
  const n = g.strides.length;
  checkOp(`elementwise-${op}-gradient-source`, op, n, scale);
  if (!Number.isInteger(k) || k < 0 || k >= n) throw new Error(`elementwise-${op}-gradient-source: operand ${k} of ${n}`);
  const reads = gradientReads(op, n, k);
  return {
    key: `elementwise-${op}-gradient:${geometryKey(g)}:${k}:${f32(scale)}`,
    reads: 1 + reads.length,
    code: `// value(e): operand ${k}'s local gradient at output element e of ${Array.from({ length: n }, (_, j) => `in_${j}`).join(` ${SYMBOL[op]} `)} (broadcast axes [${g.dims.join(', ')}]).
alias V = f32;
@group(0) @binding(0) var<storage, read> dy: array<f32>;
${gradientCode(op, g, k, 1, 1, scale)}
fn value(e: u32) -> f32 { return gradient(e, dy[e]); }`,
  };
}
