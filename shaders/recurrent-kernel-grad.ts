/**
 * The recurrent kernel gradient as dense products (the 'product' variant of src/ops/recurrent.ts's
 * kernel-gradient table): dU = Σ over every (batch row b, step s) of h'_{b,s}ᵀ · dR_{b,s} is a
 * plain product over B·T rows once the left operand is a matrix in the rows' order, so it runs
 * through the dense op's weight gradient (dW = xᵀ·g) with x = H' and g = dR.
 *
 *   SimpleRNN, LSTM    dU = H'ᵀ · dg                                   (dg as the step gradients left it)
 *   GRU reset after    dU = H'ᵀ · dR,  dR = [dg_z | dg_r | dmh]        (db row 1 = Σ dR: the product's bias)
 *   GRU reset before   dU[:, z r] = H'ᵀ · dg_zr,  dU[:, h] = RHᵀ · dg_h   (two products, then `kernelGradAssemble`)
 *
 * `kernelGradOperands` writes those operands in x-row order (`xrow(b, s)`, the order of dg):
 * H' (h_{s−1} times the recurrent dropout mask; zero, or the initial state h0, at s = 0), and for
 * a GRU the right operands its products need contiguous (dR; or dg_zr, dg_h and, going backwards,
 * RH = σ(z_r)⊙h' moved from state order to x order). The old single kernel is
 * shaders/recurrent-grad.ts `recurrentKernelGrad` (the 'direct' variant).
 */
import { previousStateLine } from './recurrent-cells.ts';
import { geometryKey, initialStateEntries, initialStateFns, launch, matrix, recurrentKernel, STEP_INFO, vectorized, type RecurrentGeometry, type RecurrentKernel } from './recurrent.ts';
import { constants, flatIndex } from './wgsl.ts';

/** Whether a GRU with the reset gate before the product needs RH copied into x-row order (going backwards; else x order is state order). */
export function copiesResetState(g: RecurrentGeometry): boolean {
  return g.cell === 'gru' && !g.resetAfter && g.goBackwards;
}

/**
 * The products' operands in x-row order, one invocation per (row, 4 units). Bindings: [info], h,
 * [rh (GRU reset before)], dg, [dmh (GRU reset after)], hp, then per cell: GRU reset after dr;
 * GRU reset before [rhx (going backwards)], dzr, dgh; and [h0] with an initial state.
 */
export function kernelGradOperands(g: RecurrentGeometry): RecurrentKernel {
  const unitGroups = Math.ceil(g.units / 4);
  const total = g.batch * g.time * unitGroups;
  const { size, workgroups, rowStride } = launch(total);
  const v = vectorized(g);
  const gru = g.cell === 'gru';
  const before = gru && !g.resetAfter;
  const after = gru && g.resetAfter;
  const copyRh = copiesResetState(g);
  const lines = ['store_hp(r, u, u, hp);'];
  if (after) lines.push('// dR: the update and reset gates\' gradients, then the candidate product\'s.', 'store_dr(r, u, u, load_dg(r, u));', 'store_dr(r, UNITS + u, u, load_dg(r, UNITS + u));', 'store_dr(r, 2u * UNITS + u, u, load_dmh(r, u));');
  if (before) {
    if (copyRh) lines.push('store_rhx(r, u, u, load_rh(srow(b, s), u)); // state order → x order');
    lines.push('store_dzr(r, u, u, load_dg(r, u));', 'store_dzr(r, UNITS + u, u, load_dg(r, UNITS + u));', 'store_dgh(r, u, u, load_dg(r, 2u * UNITS + u));');
  }
  return recurrentKernel(`recurrent-kernel-grad-operands:${geometryKey(g)}`, g, workgroups, [
    g.recurrentDropout > 0 && STEP_INFO,
    matrix('h', 'read', 'UNITS', v),
    copyRh && matrix('rh', 'read', 'UNITS', v),
    gru && matrix('dg', 'read', 'COLS', v),
    after && matrix('dmh', 'read', 'UNITS', v),
    matrix('hp', 'write', 'UNITS', v),
    after && matrix('dr', 'write', 'COLS', v),
    copyRh && matrix('rhx', 'write', 'UNITS', v),
    before && matrix('dzr', 'write', 'ZR_COLS', v),
    before && matrix('dgh', 'write', 'UNITS', v),
    ...initialStateEntries(g, ['h']),
  ], `${before ? `${constants({ ZR_COLS: 2 * g.units })} // a row of the update and reset gates' gradients\n` : ''}${initialStateFns(g, ['h'])}
@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total)}
  let u = (i % UNIT_GROUPS) * 4u;
  let b = i / (UNIT_GROUPS * TIME);
  let s = (i / UNIT_GROUPS) % TIME;
  let r = xrow(b, s);
  ${previousStateLine(g)}
  ${lines.join('\n  ')}
}`);
}

/**
 * A GRU with the reset gate before the product: dU from its two products' outputs, pzr [UNITS,
 * 2·UNITS] (the update and reset columns) and ph [UNITS, UNITS] (the candidate's). One invocation
 * per (row of dU, 4 units of one gate). Bindings: pzr, ph, du.
 */
export function kernelGradAssemble(g: RecurrentGeometry): RecurrentKernel {
  const unitGroups = Math.ceil(g.units / 4);
  const total = g.units * g.gates * unitGroups;
  const { size, workgroups, rowStride } = launch(total);
  const v = vectorized(g);
  // Without the recurrent mask (it binds no step info); the key is the geometry's, as the prologue's constants are.
  const plain = { ...g, recurrentDropout: 0 };
  return recurrentKernel(`recurrent-kernel-grad-assemble:${geometryKey(plain)}`, plain, workgroups, [
    matrix('pzr', 'read', 'ZR_COLS', v),
    matrix('ph', 'read', 'UNITS', v),
    matrix('du', 'write', 'COLS', v),
  ], `${constants({ ZR_COLS: 2 * g.units })} // a row of pzr: the update and reset gates' columns
@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total)}
  let j = (i % UNIT_GROUPS) * 4u;
  let gate = (i / UNIT_GROUPS) % GATES;
  let k = i / (UNIT_GROUPS * GATES);
  let column = gate * UNITS + j;
  if (gate == 2u) {
    store_du(k, column, j, load_ph(k, j));
  } else {
    store_du(k, column, j, load_pzr(k, column));
  }
}`);
}

/**
 * A GRU with the reset gate after the product: its recurrent bias gradient, which the product
 * summed into `pb` [COLS] (a binding of db's row 1 itself would break the storage offset
 * alignment), into row 1 of db [2, COLS]. Bindings: pb, db.
 */
export function recurrentBiasGradCopy(g: RecurrentGeometry): RecurrentKernel {
  const unitGroups = Math.ceil(g.units / 4);
  const total = g.gates * unitGroups;
  const { size, workgroups, rowStride } = launch(total);
  const v = vectorized(g);
  const plain = { ...g, recurrentDropout: 0 };
  return recurrentKernel(`recurrent-bias-grad-copy:${geometryKey(plain)}`, plain, workgroups, [matrix('pb', 'read', 'COLS', v), matrix('db', 'write', 'COLS', v)], `
@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total)}
  let j = (i % UNIT_GROUPS) * 4u;
  let column = (i / UNIT_GROUPS) * UNITS + j;
  store_db(1u, column, j, load_pb(0u, column));
}`);
}
