/**
 * The recurrent cells' forward kernels, one dispatch per timestep (two for a GRU with the reset
 * gate before the product). Before the first step the input projection x·W + b of every step is
 * in `z` (one dense product); step s adds h'·U to its gates, where h' = h_{s−1} ⊙ the recurrent
 * dropout mask (zero at s = 0), overwrites `z` with the gates' pre-activations (the backward reads
 * them), and stores the new state (formulas: TF.js's recurrent.js; Keras's gru.py for resetAfter):
 *
 *   SimpleRNN  h = act(z)
 *   LSTM       c = σ(z_f)·c_{s−1} + σ(z_i)·act(z_c),  h = σ(z_o)·act(c)         σ = ract
 *   GRU        h = σ(z_z)·h' + (1 − σ(z_z))·act(z_h)
 *                 reset before: z_h = x_h + (σ(z_r)⊙h')·U_h    (TF.js; two dispatches per step)
 *                 reset after:  z_h = x_h + σ(z_r)⊙m,  m = h'·U_h + b_rh, saved  (Keras's default)
 *
 * As in TF.js and Keras 2, a GRU's h' carries the recurrent dropout into the mix σ(z_z)·h' too.
 * With a Keras mask (geometry.masked) a masked step stores the previous state (h and an LSTM's c;
 * zeros before the first step) instead of the new one, as TF.js's rnn() does; its z are still
 * written, and nothing reads them. Kernels: `cellForward` (SimpleRNN, LSTM, GRU reset after), `gruGates` and `gruCandidate` (GRU
 * reset before). Bindings by name (RecurrentKernel.names).
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { geometryKey, GRU_H, GRU_R, GRU_Z, initialStateEntries, initialStateFns, MASK, matrix, recurrentKernel, ROWS, STEP_INFO, stepLaunch, stepStart, TIMESTEP, vectorized, type RecurrentGeometry, type RecurrentKernel } from './recurrent.ts';
import { each } from './wgsl.ts';

/**
 * The per-step product for ROWS rows × 4 units: `acc{j}_{g} += left(row j, k … k + 3) · U[k … k + 3,
 * gate g's columns u … u + 3]` for each gate g of `gates`, over k < UNITS, skipped at s = 0 where
 * the left operand is zero (unless an initial state makes it nonzero). `left(j)` is a WGSL vec4
 * expression of the rows' k … k + 3 (zero past UNITS), in the variables b{j}, s and k.
 */
function stateProduct(geometry: RecurrentGeometry, gates: readonly number[], left: (j: number) => string): string {
  const loop = `for (var k = 0u; k < UNITS; k += 4u) {
      // Rows of U past UNITS are clamped: the left operand is zero there.
      ${each(4, (t) => gates.map((g) => `let w${t}_${g} = load_u(min(k + ${t}u, UNITS - 1u), ${g}u * UNITS + u);`), '\n      ')}
      ${each(ROWS, (j) => [`let h${j} = ${left(j)};`, ...gates.map((g) => `acc${j}_${g} += h${j}.x * w0_${g} + h${j}.y * w1_${g} + h${j}.z * w2_${g} + h${j}.w * w3_${g};`)], '\n      ')}
    }`;
  const accumulators = each(ROWS, (j) => gates.map((g) => `var acc${j}_${g} = vec4f(0.0);`));
  // With an initial state the first step's left operand is not zero: no step skips the product.
  if (geometry.initialState) return `${accumulators}
  {
    ${loop}
  }`;
  return `${accumulators}
  if (s > 0u) {
    ${loop}
  }`;
}

/** `finish(b + j, s, u, acc{j}_…)` for the rows inside the batch. */
function finishRows(gates: readonly number[]): string {
  return each(ROWS, (j) => `if (b + ${j}u < BATCH) { finish(b${j}, s, u${gates.map((g) => `, acc${j}_${g}`).join('')}); }`);
}

/** h' of rows b{j}: the previous state times the recurrent mask (units k … k + 3). */
function previous(g: RecurrentGeometry): (j: number) => string {
  return g.initialState ? (j) => `prev_h(b${j}, s, k) * rec_mask(b${j}, k)` : (j) => `load_h(srow(b${j}, s - 1u), k) * rec_mask(b${j}, k)`;
}

/** h' for units u … u + 3 of row b at step s, zero at s = 0 without an initial state (a WGSL statement declaring `hp`). */
export function previousStateLine(g: RecurrentGeometry): string {
  if (g.initialState) return 'let hp = prev_h(b, s, u) * rec_mask(b, u);';
  return `var hp = vec4f(0.0);
  if (s > 0u) { hp = load_h(srow(b, s - 1u), u) * rec_mask(b, u); }`;
}

/** An LSTM's c_{s−1} for units u … u + 3 of row b (a WGSL statement declaring `c_prev`). */
export function previousCellLine(g: RecurrentGeometry): string {
  if (g.initialState) return 'let c_prev = prev_c(b, s, u);';
  return `var c_prev = vec4f(0.0);
  if (s > 0u) { c_prev = load_c(srow(b, s - 1u), u); }`;
}

/** Stores h (and, for the last state alone, into y); with a mask, the previous state at a masked step. */
function storeState(g: RecurrentGeometry): string {
  if (g.masked) {
    return `// A masked step carries the state over.
  let state = select(previous_h(b, s, u), h, kept(b, s));
  store_h(srow(b, s), u, u, state);${g.returnSequences ? '' : `\n  if (s == LAST_STEP) { store_y(b, u, u, state); }`}`;
  }
  return `store_h(srow(b, s), u, u, h);${g.returnSequences ? '' : `\n  if (s == LAST_STEP) { store_y(b, u, u, h); }`}`;
}

/** With a mask: `previous_h(b, s, u)`, the state a masked step keeps (zeros before the first step). */
function previousState(g: RecurrentGeometry): string {
  return g.masked
    ? `
/** The state before step s, without the recurrent dropout (${g.initialState ? 'the initial state' : 'zeros'} before the first step). */
fn previous_h(b: u32, s: u32, u: u32) -> vec4f {
  if (s == 0u) { return ${g.initialState ? 'load_h0(b, u)' : 'vec4f(0.0)'}; }
  return load_h(srow(b, s - 1u), u);
}
`
    : '';
}

/** The gates of the one-dispatch cells (the GRU's only when its reset gate acts after the product). */
function cellGates(g: RecurrentGeometry): number[] {
  return Array.from({ length: g.gates }, (_, k) => k);
}

/** The epilogue of `cellForward` for one row: pre-activations, state, stores. */
function cellFinish(g: RecurrentGeometry): string {
  const args = cellGates(g).map((k) => `, a${k}: vec4f`).join('');
  const head = `fn finish(b: u32, s: u32, u: u32${args}) {\n  let r = xrow(b, s);`;
  switch (g.cell) {
    case 'simpleRNN':
      return `${head}
  let z = load_z(r, u) + a0;
  store_z(r, u, u, z);
  let h = act(z);
  ${storeState(g)}
}`;
    case 'lstm':
      return `${head}
  ${each(4, (k) => [`let z${k} = load_z(r, ${k}u * UNITS + u) + a${k};`, `store_z(r, ${k}u * UNITS + u, u, z${k});`])}
  ${previousCellLine(g)}
  // Gates i, f, c, o.
  let c = ract(z1) * c_prev + ract(z0) * act(z2);
  store_c(srow(b, s), u, u, ${g.masked ? 'select(c_prev, c, kept(b, s))' : 'c'});
  let h = ract(z3) * act(c);
  ${storeState(g)}
}`;
    case 'gru':
      return wgsl`${head}
  // m = h'·U + b_r for the three gates; the reset gate scales the candidate's part.
#if ${g.bias}
  let m_z = a${GRU_Z} + load_bias(1u, u);
  let m_r = a${GRU_R} + load_bias(1u, UNITS + u);
  let m_h = a${GRU_H} + load_bias(1u, 2u * UNITS + u);
#else
  let m_z = a${GRU_Z};
  let m_r = a${GRU_R};
  let m_h = a${GRU_H};
#endif
  let z_z = load_z(r, u) + m_z;
  let z_r = load_z(r, UNITS + u) + m_r;
  let z_h = load_z(r, 2u * UNITS + u) + ract(z_r) * m_h;
  store_z(r, u, u, z_z);
  store_z(r, UNITS + u, u, z_r);
  store_z(r, 2u * UNITS + u, u, z_h);
  store_mh(r, u, u, m_h);
  ${previousStateLine(g)}
  let update = ract(z_z);
  let h = update * hp + (1.0 - update) * act(z_h);
  ${storeState(g)}
}`;
  }
}

/**
 * One step of a SimpleRNN, an LSTM or a GRU with the reset gate after the product. Bindings:
 * timestep, [info], z, u, [bias (GRU: its [2, 3·UNITS], row 1 is b_r)], h, [c], [mh], [y], [mask].
 */
export function cellForward(g: RecurrentGeometry): RecurrentKernel {
  if (g.cell === 'gru' && !g.resetAfter) throw new Error('cellForward: a GRU with the reset gate before the product runs gruGates and gruCandidate');
  const { total, size, workgroups, rowStride } = stepLaunch(g);
  const v = vectorized(g);
  const gru = g.cell === 'gru';
  return recurrentKernel(`recurrent-cell-forward:${geometryKey(g)}`, g, workgroups, [
    TIMESTEP,
    g.recurrentDropout > 0 && STEP_INFO,
    matrix('z', 'write', 'COLS', v),
    matrix('u', 'read', 'COLS', v),
    gru && g.bias && matrix('bias', 'read', 'COLS', v),
    matrix('h', 'write', 'UNITS', v),
    g.cell === 'lstm' && matrix('c', 'write', 'UNITS', v),
    gru && matrix('mh', 'write', 'UNITS', v),
    !g.returnSequences && matrix('y', 'write', 'UNITS', v),
    g.masked && MASK,
    ...initialStateEntries(g, g.cell === 'lstm' ? ['h', 'c'] : ['h']),
  ], `${initialStateFns(g, g.cell === 'lstm' ? ['h', 'c'] : ['h'])}${previousState(g)}
${cellFinish(g)}

@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${stepStart(rowStride, total)}
  ${stateProduct(g, cellGates(g), previous(g))}
  ${finishRows(cellGates(g))}
}`);
}

/**
 * A GRU's first dispatch per step (reset gate before the product): the update and reset gates'
 * pre-activations z_z, z_r, and rh = σ(z_r)⊙h', the left operand of the candidate's product.
 * Bindings: timestep, [info], z, u, h, rh.
 */
export function gruGates(g: RecurrentGeometry): RecurrentKernel {
  const { total, size, workgroups, rowStride } = stepLaunch(g);
  const v = vectorized(g);
  const gates = [GRU_Z, GRU_R];
  return recurrentKernel(`recurrent-gru-gates:${geometryKey(g)}`, g, workgroups, [
    TIMESTEP,
    g.recurrentDropout > 0 && STEP_INFO,
    matrix('z', 'write', 'COLS', v),
    matrix('u', 'read', 'COLS', v),
    matrix('h', 'read', 'UNITS', v),
    matrix('rh', 'write', 'UNITS', v),
    ...initialStateEntries(g, ['h']),
  ], `${initialStateFns(g, ['h'])}
fn finish(b: u32, s: u32, u: u32, a_z: vec4f, a_r: vec4f) {
  let r = xrow(b, s);
  let z_z = load_z(r, u) + a_z;
  let z_r = load_z(r, UNITS + u) + a_r;
  store_z(r, u, u, z_z);
  store_z(r, UNITS + u, u, z_r);
  ${previousStateLine(g)}
  store_rh(srow(b, s), u, u, ract(z_r) * hp);
}

@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${stepStart(rowStride, total)}
  ${stateProduct(g, gates, previous(g))}
  ${finishRows(gates)}
}`);
}

/**
 * A GRU's second dispatch per step (reset gate before the product): z_h = x_h + rh·U_h, and the
 * new state. Bindings: timestep, [info], z, u, h, rh, [y], [mask].
 */
export function gruCandidate(g: RecurrentGeometry): RecurrentKernel {
  const { total, size, workgroups, rowStride } = stepLaunch(g);
  const v = vectorized(g);
  return recurrentKernel(`recurrent-gru-candidate:${geometryKey(g)}`, g, workgroups, [
    TIMESTEP,
    g.recurrentDropout > 0 && STEP_INFO,
    matrix('z', 'write', 'COLS', v),
    matrix('u', 'read', 'COLS', v),
    matrix('h', 'write', 'UNITS', v),
    matrix('rh', 'read', 'UNITS', v),
    !g.returnSequences && matrix('y', 'write', 'UNITS', v),
    g.masked && MASK,
    ...initialStateEntries(g, ['h']),
  ], `${initialStateFns(g, ['h'])}${previousState(g)}
fn finish(b: u32, s: u32, u: u32, a_h: vec4f) {
  let r = xrow(b, s);
  let z_h = load_z(r, 2u * UNITS + u) + a_h;
  store_z(r, 2u * UNITS + u, u, z_h);
  ${previousStateLine(g)}
  let update = ract(load_z(r, u));
  let h = update * hp + (1.0 - update) * act(z_h);
  ${storeState(g)}
}

@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${stepStart(rowStride, total)}
  ${stateProduct(g, [GRU_H], (j) => `load_rh(srow(b${j}, s), k)`)}
  ${finishRows([GRU_H])}
}`);
}
