/**
 * Fused scaled dot-product attention, per head, as Keras's MultiHeadAttention computes it between
 * its projections, row-major float32:
 *
 *   Q [batch, queries, heads, keyDim]   K [batch, keys, heads, keyDim]   V [batch, keys, heads, valueDim]
 *   s_ij = (Q_i · SCALE) · K_j, SCALE = 1 / sqrt(keyDim)
 *   P_i  = softmax_j(s_ij) over the keys the mask keeps (mask ≠ 0, and j ≤ i when causal);
 *          a row whose keys are all masked gets P = 0 (Keras's Softmax zeroes masked positions)
 *   O_i  = Σ_j dropout(P_ij) · V_j       O [batch, queries, heads, valueDim]
 *
 * These are exactly the projections' layouts (the dense kernels write [rows, heads·dim]), so no
 * transpose runs. The forward is one kernel: an invocation per (batch, head, block of query rows)
 * streams over the keys with an online softmax (running maximum and sum), never storing the
 * scores, and keeps each row's log-sum-exp for the backward. The backward recomputes the
 * probabilities from it:
 *
 *   D_i = dO_i · O_i  (= Σ_j P̃_ij dP̃_ij, P̃ the dropped probabilities)
 *   dS_ij = P_ij · (dP̃_ij · keep_ij / (1 − rate) − D_i),  dP̃_ij = dO_i · V_j
 *   dQ_i = SCALE Σ_j dS_ij K_j    dK_j = SCALE Σ_i dS_ij Q_i    dV_j = Σ_i P̃_ij dO_i
 *
 * in two kernels: one over blocks of query rows (dQ and D, which the second reads), one over
 * blocks of key rows (dK, dV).
 * The attention dropout's mask is hashed from (seed, step, index of P in [batch, heads, queries,
 * keys]) with the hash of shaders/dropout.ts, so the backward regenerates it.
 *
 * Straight-line per block: its rows of Q (or K and V) and their accumulators are named vec4
 * registers, each row of the other operand is loaded once for the whole block, as whole vec4s
 * where the row length allows (shaders/wgsl.ts matrixReader). Every kernel binds at most 8 storage buffers
 * (WebGPU's portable limit): the row statistics [rows, 2] hold the log-sum-exp and D side by side.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { STEP_INFO_STRUCT, type BindingKind, type KernelSource, type KernelStyle } from './kernel.ts';
import { constants, each, f32, flatIndex, grid, matrixReader, matrixWriter } from './wgsl.ts';

export interface AttentionGeometry {
  batch: number;
  heads: number;
  /** Query rows (Tq). */
  queries: number;
  /** Key and value rows (Tv). */
  keys: number;
  keyDim: number;
  valueDim: number;
  /** An attention mask [batch, queries, keys] is bound (a key is kept where it is not 0). */
  mask: boolean;
  /** Query i attends to keys j ≤ i only (Keras's use_causal_mask). */
  causal: boolean;
  /** The attention dropout's rate; 0: none (inference always passes 0). */
  dropout: number;
  /** The layer's dropout seed (hashed with the plan's seed and step). */
  seed: number;
}

/** Floats per row of the statistics buffer: the row's log-sum-exp, then D (written by the backward). */
export const ATTENTION_STATS_PER_ROW = 2;

/** Rows of attention: one per (batch, head, query), each a row of the statistics. */
export function attentionRows(g: AttentionGeometry): number {
  return g.batch * g.heads * g.queries;
}

function geometryKey(g: AttentionGeometry): string {
  const flags = `${g.mask ? 'mask' : 'nomask'}:${g.causal ? 'causal' : 'full'}:${g.dropout > 0 ? `dropout${g.dropout}@${g.seed >>> 0}` : 'nodrop'}`;
  return `${g.batch}x${g.heads}x${g.queries}x${g.keys}:k${g.keyDim}:v${g.valueDim}:${flags}`;
}

/** Workgroups of 64, smaller for small launches so that SwiftShader's cores all get work (as shaders/dense.ts). */
function launch(invocations: number): { size: number; workgroups: [number, number, number]; rowStride: number } {
  const size = Math.max(4, Math.min(64, 2 ** Math.floor(Math.log2(Math.max(1, invocations / 8)))));
  return { size, ...grid(invocations, size) };
}

/** Bindings in order, numbered; the kinds for KernelSource.bindings. */
class Bindings {
  readonly kinds: BindingKind[] = [];
  next(kind: BindingKind): number {
    this.kinds.push(kind);
    return this.kinds.length - 1;
  }
}

/** The sizes as named constants, and the helpers every kernel shares: the mask test and the dropout factor. */
function prelude(g: AttentionGeometry, b: Bindings): string {
  const dropout = g.dropout > 0;
  const maskBinding = g.mask ? b.next('read') : -1;
  const infoBinding = dropout ? b.next('uniform') : -1;
  // keep ⇔ hash ≥ rate·2³², as shaders/dropout.ts.
  const threshold = Math.min(0xffffffff, Math.round(g.dropout * 4294967296));
  return wgsl`
${constants({ BATCH: g.batch, HEADS: g.heads, QUERIES: g.queries, KEYS: g.keys })}
const SCALE = ${f32(1 / Math.sqrt(g.keyDim))}; // 1 / sqrt(keyDim)
const NO_MAX = -3.0e38; // the running maximum before any key is kept

#if ${g.mask}
@group(0) @binding(${maskBinding}) var<storage, read> mask: array<f32>; // [batch, queries, keys]
/** Whether query i of batch b may attend to key j (Keras casts the mask to bool: not 0). */
fn kept(b: u32, i: u32, j: u32) -> bool { return mask[(b * QUERIES + i) * KEYS + j] != 0.0; }
#else
fn kept(b: u32, i: u32, j: u32) -> bool { return true; }
#endif

#if ${dropout}
${STEP_INFO_STRUCT}
@group(0) @binding(${infoBinding}) var<uniform> info: StepInfo;
${constants({ LAYER_SEED: g.seed >>> 0, THRESHOLD: threshold })}
const DROP_SCALE = ${f32(dropout ? 1 / (1 - g.dropout) : 1)}; // 1 / (1 - rate)

// The hash of shaders/dropout.ts (PCG, Jarzynski & Olano 2020).
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
/** The step's part of every element's hash. */
fn stepHash() -> u32 { return pcg(info.step ^ pcg(info.seed ^ LAYER_SEED)); }
/** keep / (1 - rate) for element 'flat' of the probabilities [batch, heads, queries, keys]. */
fn dropFactor(flat: u32, step: u32) -> f32 { return select(0.0, DROP_SCALE, pcg(flat ^ step) >= THRESHOLD); }
#else
fn stepHash() -> u32 { return 0u; }
fn dropFactor(flat: u32, step: u32) -> f32 { return 1.0; }
#endif`;
}

/** vec4 groups of a key row and of a value row. */
function groups(g: AttentionGeometry): { kd: number; vd: number } {
  return { kd: Math.ceil(g.keyDim / 4), vd: Math.ceil(g.valueDim / 4) };
}

/** `Σ_t dot(a<t>, <b(t)>)` over `n` vec4 groups, as one expression. */
function dots(n: number, a: (t: number) => string, b: (t: number) => string): string {
  return Array.from({ length: n }, (_, t) => `dot(${a(t)}, ${b(t)})`).join(' + ');
}

/** Lines `line(r)` for each row r of a block, at the body's indentation (`indent` spaces). */
function perRow(block: number, line: (r: number) => string | readonly string[], indent = 2): string {
  return each(block, line, `\n${' '.repeat(indent)}`);
}

/**
 * Rows of a block that an invocation owns: query rows in the forward and the queries' backward, key
 * rows in the keys' backward. They share every load of the other operand's rows. On CPU
 * rasterizers, where a load with a computed index costs a scalar load per lane and float, blocks
 * up to 4 rows while the block's rows hold at most 32 vec4 (a row of Q or K and one of V): larger
 * blocks run little faster and take SwiftShader many times longer to compile. On GPUs, where
 * registers are what limits a kernel, one row per invocation.
 */
export function attentionBlock(style: KernelStyle, g: Pick<AttentionGeometry, 'keyDim' | 'valueDim'>): number {
  if (style !== 'registers') return 1;
  const perRow = Math.ceil(g.keyDim / 4) + Math.ceil(g.valueDim / 4);
  return [4, 2, 1].find((rows) => rows * perRow <= 32) ?? 1;
}

/**
 * The prologue shared by the kernels over blocks of `block` rows of `rows` (QUERIES or KEYS):
 * `first`, the block's first row, `head` = b · HEADS + h, and for each r the row `t<r>` (rows
 * past the end repeat the last one; their results are not stored) and `<x>Row<r>`, its row in
 * the projections' layout.
 */
function blockPrologue(rows: 'QUERIES' | 'KEYS', block: number, rowStride: number, x: string): string {
  return `${flatIndex(rowStride, 'INVOCATIONS', 'id')}
  let first = (id % BLOCKS) * ${block}u;
  let head = id / BLOCKS; // b · HEADS + h
  let h = head % HEADS;
  let b = head / HEADS;
  let step = stepHash();
  // Projection rows are (b · T + t) · HEADS + h.
  ${perRow(block, (r) => [`let t${r} = min(first + ${r}u, ${rows} - 1u);`, `let ${x}Row${r} = (b * ${rows} + t${r}) * HEADS + h;`])}`;
}

function blockConstants(g: AttentionGeometry, rows: number, block: number): string {
  return constants({ BLOCKS: Math.ceil(rows / block), INVOCATIONS: g.batch * g.heads * Math.ceil(rows / block) });
}

/** Whether query t<r> keeps key j, the causal mask included. */
function keepQuery(g: AttentionGeometry, r: number): string {
  return g.causal ? `kept(b, t${r}, j) & (j <= t${r})` : `kept(b, t${r}, j)`;
}

/**
 * O and the row statistics (log-sum-exp) for every (batch, head) and block of query rows.
 * Bindings: q, k, v, [mask], [step info when dropout], o, stats.
 */
export function attentionForward(g: AttentionGeometry, block: number): KernelSource {
  const b = new Bindings();
  const { kd, vd } = groups(g);
  const readers = [matrixReader('q', b.next('read'), g.keyDim), matrixReader('k', b.next('read'), g.keyDim), matrixReader('v', b.next('read'), g.valueDim)];
  const shared = prelude(g, b);
  const out = matrixWriter('o', b.next('write'), g.valueDim);
  const statsBinding = b.next('write');
  const { size, workgroups, rowStride } = launch(g.batch * g.heads * Math.ceil(g.queries / block));
  return {
    key: `attention-forward:${geometryKey(g)}:block${block}`,
    bindings: b.kinds,
    workgroups,
    code: `${readers.join('\n')}
${shared}
${blockConstants(g, g.queries, block)}
${out}
@group(0) @binding(${statsBinding}) var<storage, read_write> stats: array<f32>; // [rows, 2]: log-sum-exp, D

@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${blockPrologue('QUERIES', block, rowStride, 'q')}
  let keyRows = b * KEYS * HEADS + h; // key j's row is keyRows + j · HEADS
  ${perRow(block, (r) => `let row${r} = head * QUERIES + t${r}; // its statistics row`)}
  ${perRow(block, (r) => each(kd, (t) => `let q${r}_${t} = load_q(qRow${r}, ${4 * t}u) * SCALE;`))}
  ${perRow(block, (r) => each(vd, (t) => `var acc${r}_${t} = vec4f(0.0);`))}
  ${perRow(block, (r) => `var max${r} = NO_MAX;
  var sum${r} = 0.0;`)}
  for (var j = 0u; j < ${g.causal ? `min(KEYS, t${block - 1} + 1u)` : 'KEYS'}; j++) {
    let kRow = keyRows + j * HEADS;
    ${each(kd, (t) => `let k${t} = load_k(kRow, ${4 * t}u);`, '\n    ')}
    ${each(vd, (t) => `let v${t} = load_v(kRow, ${4 * t}u);`, '\n    ')}
    // Online softmax: rescale what was summed when the maximum grows; masked keys add nothing.
    ${perRow(
      block,
      (r) => [
        `let s${r} = ${dots(kd, (t) => `q${r}_${t}`, (t) => `k${t}`)};`,
        `let keep${r} = ${keepQuery(g, r)};`,
        `let newMax${r} = select(max${r}, max(max${r}, s${r}), keep${r});`,
        `let rescale${r} = exp(max${r} - newMax${r});`,
        `let e${r} = select(0.0, exp(s${r} - newMax${r}), keep${r});`,
        `sum${r} = sum${r} * rescale${r} + e${r};`,
        `let weight${r} = e${r} * dropFactor(row${r} * KEYS + j, step);`,
        ...Array.from({ length: vd }, (_, t) => `acc${r}_${t} = acc${r}_${t} * rescale${r} + weight${r} * v${t};`),
        `max${r} = newMax${r};`,
      ],
      4,
    )}
  }
  // A row with every key masked has sum 0: its output is 0 (and its statistics unused).
  ${perRow(block, (r) => [
    `if (first + ${r}u < QUERIES) {`,
    `  let inverse = select(0.0, 1.0 / sum${r}, sum${r} > 0.0);`,
    ...Array.from({ length: vd }, (_, t) => `  store_o(qRow${r}, ${4 * t}u, acc${r}_${t} * inverse);`),
    `  stats[row${r} * 2u] = select(0.0, max${r} + log(sum${r}), sum${r} > 0.0);`,
    '}',
  ])}
}`,
  };
}

/**
 * dQ and D_i = dO_i · O_i for every block of query rows; D goes to the statistics' second column,
 * which attentionBackwardKeys reads. Bindings: q, k, v, o, dout, [mask], [step info], stats
 * (read-write), dq.
 */
export function attentionBackwardQueries(g: AttentionGeometry, block: number): KernelSource {
  const b = new Bindings();
  const { kd, vd } = groups(g);
  const readers = [
    matrixReader('q', b.next('read'), g.keyDim),
    matrixReader('k', b.next('read'), g.keyDim),
    matrixReader('v', b.next('read'), g.valueDim),
    matrixReader('o', b.next('read'), g.valueDim),
    matrixReader('dout', b.next('read'), g.valueDim),
  ];
  const shared = prelude(g, b);
  const statsBinding = b.next('write');
  const dq = matrixWriter('dq', b.next('write'), g.keyDim);
  const { size, workgroups, rowStride } = launch(g.batch * g.heads * Math.ceil(g.queries / block));
  return {
    key: `attention-backward-queries:${geometryKey(g)}:block${block}`,
    bindings: b.kinds,
    workgroups,
    code: `${readers.join('\n')}
${shared}
${blockConstants(g, g.queries, block)}
@group(0) @binding(${statsBinding}) var<storage, read_write> stats: array<f32>; // [rows, 2]: log-sum-exp (read), D (written)
${dq}

@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${blockPrologue('QUERIES', block, rowStride, 'q')}
  let keyRows = b * KEYS * HEADS + h;
  ${perRow(block, (r) => `let row${r} = head * QUERIES + t${r};`)}
  ${perRow(block, (r) => each(kd, (t) => `let q${r}_${t} = load_q(qRow${r}, ${4 * t}u) * SCALE;`))}
  ${perRow(block, (r) => each(vd, (t) => `let g${r}_${t} = load_dout(qRow${r}, ${4 * t}u);`))}
  ${perRow(block, (r) => `let d${r} = ${dots(vd, (t) => `g${r}_${t}`, (t) => `load_o(qRow${r}, ${4 * t}u)`)};`)}
  ${perRow(block, (r) => `let logSumExp${r} = stats[row${r} * 2u];`)}
  ${perRow(block, (r) => each(kd, (t) => `var acc${r}_${t} = vec4f(0.0);`))}
  for (var j = 0u; j < ${g.causal ? `min(KEYS, t${block - 1} + 1u)` : 'KEYS'}; j++) {
    let kRow = keyRows + j * HEADS;
    ${each(kd, (t) => `let k${t} = load_k(kRow, ${4 * t}u);`, '\n    ')}
    ${each(vd, (t) => `let v${t} = load_v(kRow, ${4 * t}u);`, '\n    ')}
    ${perRow(
      block,
      (r) => [
        `let p${r} = select(0.0, exp(${dots(kd, (t) => `q${r}_${t}`, (t) => `k${t}`)} - logSumExp${r}), ${keepQuery(g, r)});`,
        `let ds${r} = p${r} * ((${dots(vd, (t) => `g${r}_${t}`, (t) => `v${t}`)}) * dropFactor(row${r} * KEYS + j, step) - d${r});`,
        ...Array.from({ length: kd }, (_, t) => `acc${r}_${t} += ds${r} * k${t};`),
      ],
      4,
    )}
  }
  ${perRow(block, (r) => [
    `if (first + ${r}u < QUERIES) {`,
    ...Array.from({ length: kd }, (_, t) => `  store_dq(qRow${r}, ${4 * t}u, acc${r}_${t} * SCALE);`),
    `  stats[row${r} * 2u + 1u] = d${r};`,
    '}',
  ])}
}`,
  };
}

/**
 * dK and dV for every (batch, head) and block of key rows, from the statistics
 * attentionBackwardQueries completed. Bindings: q, k, v, dout, [mask], [step info], stats, dk, dv.
 */
export function attentionBackwardKeys(g: AttentionGeometry, block: number): KernelSource {
  const b = new Bindings();
  const { kd, vd } = groups(g);
  const readers = [
    matrixReader('q', b.next('read'), g.keyDim),
    matrixReader('k', b.next('read'), g.keyDim),
    matrixReader('v', b.next('read'), g.valueDim),
    matrixReader('dout', b.next('read'), g.valueDim),
  ];
  const shared = prelude(g, b);
  const statsBinding = b.next('read');
  const writers = [matrixWriter('dk', b.next('write'), g.keyDim), matrixWriter('dv', b.next('write'), g.valueDim)];
  const { size, workgroups, rowStride } = launch(g.batch * g.heads * Math.ceil(g.keys / block));
  const keep = (r: number) => (g.causal ? `kept(b, i, t${r}) & (i >= t${r})` : `kept(b, i, t${r})`);
  return {
    key: `attention-backward-keys:${geometryKey(g)}:block${block}`,
    bindings: b.kinds,
    workgroups,
    code: `${readers.join('\n')}
${shared}
${blockConstants(g, g.keys, block)}
@group(0) @binding(${statsBinding}) var<storage, read> stats: array<f32>; // [rows, 2]: log-sum-exp, D
${writers.join('\n')}

@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${blockPrologue('KEYS', block, rowStride, 'k')}
  // Key t<r> owns column t<r> of P: it sums over the query rows.
  let queryRows = b * QUERIES * HEADS + h; // query i's row is queryRows + i · HEADS
  ${perRow(block, (r) => each(kd, (t) => `let k${r}_${t} = load_k(kRow${r}, ${4 * t}u);`))}
  ${perRow(block, (r) => each(vd, (t) => `let v${r}_${t} = load_v(kRow${r}, ${4 * t}u);`))}
  ${perRow(block, (r) => each(kd, (t) => `var dk${r}_${t} = vec4f(0.0);`))}
  ${perRow(block, (r) => each(vd, (t) => `var dv${r}_${t} = vec4f(0.0);`))}
  // Causal: only queries i ≥ the block's first key see its keys.
  for (var i = ${g.causal ? 'first' : '0u'}; i < QUERIES; i++) {
    let qRow = queryRows + i * HEADS;
    let row = head * QUERIES + i;
    ${each(kd, (t) => `let q${t} = load_q(qRow, ${4 * t}u) * SCALE;`, '\n    ')}
    ${each(vd, (t) => `let g${t} = load_dout(qRow, ${4 * t}u);`, '\n    ')}
    let logSumExp = stats[row * 2u];
    let d = stats[row * 2u + 1u];
    ${perRow(
      block,
      (r) => [
        `let p${r} = select(0.0, exp(${dots(kd, (t) => `q${t}`, (t) => `k${r}_${t}`)} - logSumExp), ${keep(r)});`,
        `let drop${r} = dropFactor(row * KEYS + t${r}, step);`,
        `let ds${r} = p${r} * ((${dots(vd, (t) => `g${t}`, (t) => `v${r}_${t}`)}) * drop${r} - d);`,
        `let pd${r} = p${r} * drop${r};`,
        ...Array.from({ length: vd }, (_, t) => `dv${r}_${t} += pd${r} * g${t};`),
        ...Array.from({ length: kd }, (_, t) => `dk${r}_${t} += ds${r} * q${t};`),
      ],
      4,
    )}
  }
  ${perRow(block, (r) => [
    `if (first + ${r}u < KEYS) {`,
    ...Array.from({ length: kd }, (_, t) => `  store_dk(kRow${r}, ${4 * t}u, dk${r}_${t});`),
    ...Array.from({ length: vd }, (_, t) => `  store_dv(kRow${r}, ${4 * t}u, dv${r}_${t});`),
    '}',
  ])}
}`,
  };
}
