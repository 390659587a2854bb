/**
 * The recurrent cells' backward kernels. Steps run from the last to the first; each step's
 * dispatch (`stepGrad`) finishes dh_s, the gradient of the step's state, from the next step's
 * gate gradients, and turns it into this step's gate gradients at once:
 *
 *   dh_s = dy_s + mask ⊙ (dR_{s+1}·Uᵀ + carry)         (the second term only below the last step)
 *
 * where dR holds the gradients of h'·U's columns (the gate gradients `dg`, a GRU's candidate
 * column scaled by the reset gate, `dmh`, when it acts after the product) and `carry` the terms
 * of dh' that are not a product (a GRU's σ(z_z)⊙dh; LSTM carries dc·f instead). Gate gradients
 * (pre-activations z, states from the forward):
 *
 *   SimpleRNN  dz = dh·act′(z)
 *   LSTM       dc = dh·o·act′(c) + dc_next;  dz_i = dc·act(z_c)·σ′(z_i),  dz_f = dc·c_{s−1}·σ′(z_f),
 *              dz_c = dc·i·act′(z_c),  dz_o = dh·act(c)·σ′(z_o);  carry dc·f
 *   GRU        dz_z = dh·(h' − act(z_h))·σ′(z_z),  dz_h = dh·(1 − σ(z_z))·act′(z_h);  carry dh·σ(z_z)
 *              reset after:  dz_r = dz_h·m·σ′(z_r),  dmh = dz_h·σ(z_r)
 *              reset before: q = dz_h·U_hᵀ, then dz_r = q·h'·σ′(z_r) and carry += σ(z_r)·q: a
 *                            second dispatch per step (`gruResetGrad`), since q needs every unit's dz_h
 *
 * After the loop dU = Σ_steps h'ᵀ·dR (r⊙h' for a GRU's candidate column with the reset before)
 * and a GRU's recurrent bias gradient Σ dR are one of src/ops/recurrent.ts's
 * recurrentKernelGradTable: dense products over every step's rows (recurrent-kernel-grad.ts) or
 * the single kernel `recurrentKernelGrad` here; the input side (dW, db, dx) is one dense backward
 * over every step's rows (src/ops/recurrent.ts).
 */
import { geometryKey, GRU_H, GRU_R, initialStateEntries, initialStateFns, launch, MASK, matrix, recurrentKernel, ROWS, STEP_INFO, stepLaunch, stepStart, TIMESTEP, vectorized, type RecurrentGeometry, type RecurrentKernel } from './recurrent.ts';
import { previousCellLine, previousStateLine } from './recurrent-cells.ts';
import { constants, each, flatIndex } from './wgsl.ts';

/** Rows of dU per invocation of the kernel gradient (4 units of one gate each). */
const K_BLOCK = 16;

/** One source of the dh product: gate `gate` of U's columns, its gradients read from `source` at column `column(k)`. */
interface ProductGate {
  gate: number;
  source: 'dg' | 'dmh';
}

/** The gates whose gradients flow back through h'·U in stepGrad. */
function productGates(g: RecurrentGeometry): ProductGate[] {
  if (g.cell === 'gru') return g.resetAfter ? [{ gate: 0, source: 'dg' }, { gate: GRU_R, source: 'dg' }, { gate: GRU_H, source: 'dmh' }] : [{ gate: 0, source: 'dg' }, { gate: GRU_R, source: 'dg' }];
  return Array.from({ length: g.gates }, (_, gate) => ({ gate, source: 'dg' }));
}

/**
 * `acc{j}` (units u … u + 3 of rows b{j}) = Σ over the gates of `gradient(row j, k … k + 3)` ·
 * U[u + t, the gate's columns k … k + 3], over k < UNITS; the gradient's lanes past the gate's
 * last unit are zeroed (part_), so no column is counted twice.
 */
function transposedProduct(gates: readonly ProductGate[], step: string): string {
  const column = (p: ProductGate) => (p.source === 'dg' ? `${p.gate}u * UNITS + k` : 'k');
  return `for (var k = 0u; k < UNITS; k += 4u) {
      ${each(4, (t) => gates.map((p) => `let w${t}_${p.gate} = load_u(min(u + ${t}u, UNITS - 1u), ${p.gate}u * UNITS + k);`), '\n      ')}
      ${each(
        ROWS,
        (j) =>
          gates.flatMap((p) => [
            `let d${j}_${p.gate} = part_${p.source}(xrow(b${j}, ${step}), ${column(p)}, k);`,
            `acc${j} += vec4f(${[0, 1, 2, 3].map((t) => `dot(d${j}_${p.gate}, w${t}_${p.gate})`).join(', ')});`,
          ]),
        '\n      ',
      )}
    }`;
}

/** The states before a step that stepGrad reads: a GRU's h', an LSTM's c_{s−1}. */
function previousRead(g: RecurrentGeometry): ('h' | 'c')[] {
  return g.cell === 'gru' ? ['h'] : g.cell === 'lstm' ? ['c'] : [];
}

/** stepStart, and one accumulator per row. */
function blockStart(rowStride: number, total: number): string {
  return `${stepStart(rowStride, total)}
  ${each(ROWS, (j) => `var acc${j} = vec4f(0.0);`)}`;
}

/** The gate gradients of one row from its dh (the body of stepGrad's finish). */
function gateGradients(g: RecurrentGeometry): string {
  switch (g.cell) {
    case 'simpleRNN':
      return `store_dg(r, u, u, dh * act_d(load_z(r, u)));`;
    case 'lstm':
      return `${each(4, (k) => `let z${k} = load_z(r, ${k}u * UNITS + u);`)}
  let c = load_c(srow(b, s), u);
  ${previousCellLine(g)}
  var dc = dh * ract(z3) * act_d(c);
  ${g.returnState ? 'dc += load_carry(b, u); // at the last step: the final cell state\'s gradient' : 'if (s < LAST_STEP) { dc += load_carry(b, u); }'}
  store_dg(r, u, u, dc * act(z2) * ract_d(z0));
  store_dg(r, UNITS + u, u, dc * c_prev * ract_d(z1));
  store_dg(r, 2u * UNITS + u, u, dc * ract(z0) * act_d(z2));
  store_dg(r, 3u * UNITS + u, u, dh * act(c) * ract_d(z3));
  store_carry(b, u, u, dc * ract(z1));`;
    case 'gru': {
      const common = `let z_z = load_z(r, u);
  let z_h = load_z(r, 2u * UNITS + u);
  ${previousStateLine(g)}
  let update = ract(z_z);
  let dz_h = dh * (1.0 - update) * act_d(z_h);
  store_dg(r, u, u, dh * (hp - act(z_h)) * ract_d(z_z));
  store_dg(r, 2u * UNITS + u, u, dz_h);
  store_carry(b, u, u, dh * update);`;
      if (!g.resetAfter) return common;
      return `${common}
  let z_r = load_z(r, UNITS + u);
  let m_h = load_mh(r, u);
  store_dg(r, UNITS + u, u, dz_h * m_h * ract_d(z_r));
  store_dmh(r, u, u, dz_h * ract(z_r));`;
    }
  }
}

/**
 * A masked step (geometry.masked, kept(b, s) false): its state is the previous one, so its gates
 * get no gradient (zeros, which the later products read) and the whole of dh_s goes to the
 * previous state through `handoff`; an LSTM's cell gradient passes on unchanged in `carry` (zeroed at
 * the last step, where no later step wrote it), a GRU's product carry is zero.
 */
function maskedStep(g: RecurrentGeometry): string {
  const zero = 'vec4f(0.0)';
  const gates = Array.from({ length: g.gates }, (_, k) => `store_dg(r, ${k === 0 ? '' : `${k}u * UNITS + `}u, u, ${zero});`);
  const lines = [...gates, 'store_handoff(b, u, u, dh);'];
  if (g.cell === 'gru') lines.push(`store_carry(b, u, u, ${zero});`, ...(g.resetAfter ? [`store_dmh(r, u, u, ${zero});`] : []));
  // With returnState the carry at the last step already holds the final cell state's gradient.
  if (g.cell === 'lstm' && !g.returnState) lines.push(`if (s == LAST_STEP) { store_carry(b, u, u, ${zero}); }`);
  return `if (!kept(b, s)) {
    ${lines.join('\n    ')}
    return;
  }
  store_handoff(b, u, u, ${zero});`;
}

/**
 * One step of the backward (see the file comment). Bindings: timestep, [info], dy, u, z, [h (GRU)],
 * [c (LSTM)], [mh (GRU reset after)], dg, [dmh (GRU reset after)], [carry (LSTM, GRU)], and with a
 * mask [mask, handoff]: handoff holds the part of dh_s a masked step hands straight to h_{s−1}.
 */
export function stepGrad(g: RecurrentGeometry): RecurrentKernel {
  const { total, size, workgroups, rowStride } = stepLaunch(g);
  const v = vectorized(g);
  const gru = g.cell === 'gru';
  const after = gru && g.resetAfter;
  const dy = g.returnSequences ? 'var dh = load_dy(srow(b, s), u);' : 'var dh = vec4f(0.0);\n  if (s == LAST_STEP) { dh = load_dy(b, u); }';
  // With a mask: what a later masked step handed on, then a masked step's own exit.
  const masked = g.masked ? `\n  if (s < LAST_STEP) { dh += load_handoff(b, u); }\n  let r = xrow(b, s);\n  ${maskedStep(g)}` : '\n  let r = xrow(b, s);';
  return recurrentKernel(`recurrent-step-grad:${geometryKey(g)}`, g, workgroups, [
    TIMESTEP,
    g.recurrentDropout > 0 && STEP_INFO,
    matrix('dy', 'read', 'UNITS', v),
    matrix('u', 'read', 'COLS', v),
    matrix('z', 'read', 'COLS', v),
    gru && matrix('h', 'read', 'UNITS', v),
    g.cell === 'lstm' && matrix('c', 'read', 'UNITS', v),
    after && matrix('mh', 'read', 'UNITS', v),
    matrix('dg', 'write', 'COLS', v, { part: true }),
    after && matrix('dmh', 'write', 'UNITS', v, { part: true }),
    g.cell !== 'simpleRNN' && matrix('carry', 'write', 'UNITS', v),
    g.masked && MASK,
    g.masked && matrix('handoff', 'write', 'UNITS', v),
    ...initialStateEntries(g, previousRead(g)),
  ], `${initialStateFns(g, previousRead(g))}
/** dh of row b at step s from the next step's product (acc), then the step's gate gradients. */
fn finish(b: u32, s: u32, u: u32, acc: vec4f) {
  ${dy}
  if (s < LAST_STEP) { dh += rec_mask(b, u) * (acc${gru ? ' + load_carry(b, u)' : ''}); }${masked}
  ${gateGradients(g)}
}

@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${blockStart(rowStride, total)}
  if (s < LAST_STEP) {
    ${transposedProduct(productGates(g), 's + 1u')}
  }
  ${each(ROWS, (j) => `if (b + ${j}u < BATCH) { finish(b${j}, s, u, acc${j}); }`)}
}`);
}

/**
 * A GRU's second backward dispatch per step (reset gate before the product): q = dz_h·U_hᵀ, the
 * reset gate's gradient dz_r = q·h'·σ′(z_r), and carry += σ(z_r)·q. Bindings: timestep, [info],
 * u, z, h, dg, carry.
 */
export function gruResetGrad(g: RecurrentGeometry): RecurrentKernel {
  const { total, size, workgroups, rowStride } = stepLaunch(g);
  const v = vectorized(g);
  return recurrentKernel(`recurrent-gru-reset-grad:${geometryKey(g)}`, g, workgroups, [
    TIMESTEP,
    g.recurrentDropout > 0 && STEP_INFO,
    matrix('u', 'read', 'COLS', v),
    matrix('z', 'read', 'COLS', v),
    matrix('h', 'read', 'UNITS', v),
    matrix('dg', 'write', 'COLS', v, { part: true }),
    matrix('carry', 'write', 'UNITS', v),
    ...initialStateEntries(g, ['h']),
  ], `${initialStateFns(g, ['h'])}
fn finish(b: u32, s: u32, u: u32, q: vec4f) {
  let r = xrow(b, s);
  let z_r = load_z(r, UNITS + u);
  ${previousStateLine(g)}
  store_dg(r, UNITS + u, u, q * hp * ract_d(z_r));
  store_carry(b, u, u, load_carry(b, u) + ract(z_r) * q);
}

@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${blockStart(rowStride, total)}
  ${transposedProduct([{ gate: GRU_H, source: 'dg' }], 's')}
  ${each(ROWS, (j) => `if (b + ${j}u < BATCH) { finish(b${j}, s, u, acc${j}); }`)}
}`);
}

/**
 * dU = Σ over every (row, step) of left(k)·right(j) for each gate, and with a GRU's separate
 * recurrent bias (reset after) its gradient Σ right into row 1 of db ([2, 3·UNITS]). left is h'
 * (the previous state times the recurrent mask; zero at step 0), or rh = σ(z_r)⊙h' for a GRU's
 * candidate column with the reset before; right is dg, or dmh for a GRU's candidate column with
 * the reset after. Each invocation: 16 rows k × 4 units of one gate. Bindings: [info], h, [rh],
 * dg, [dmh], du, [db].
 */
export function recurrentKernelGrad(g: RecurrentGeometry): RecurrentKernel {
  const unitGroups = Math.ceil(g.units / 4);
  const kBlocks = Math.ceil(g.units / K_BLOCK);
  const total = kBlocks * g.gates * unitGroups;
  const { size, workgroups, rowStride } = launch(total);
  const v = vectorized(g);
  const gru = g.cell === 'gru';
  const before = gru && !g.resetAfter;
  const after = gru && g.resetAfter;
  const recurrentBias = after && g.bias;
  const previous = g.initialState ? 'prev_h(b, s, k) * rec_mask(b, k)' : 'select(vec4f(0.0), load_h(srow(b, max(s, 1u) - 1u), k) * rec_mask(b, k), s > 0u)';
  return recurrentKernel(`recurrent-kernel-grad:${geometryKey(g)}:k${K_BLOCK}`, g, workgroups, [
    g.recurrentDropout > 0 && STEP_INFO,
    matrix('h', 'read', 'UNITS', v),
    before && matrix('rh', 'read', 'UNITS', v),
    matrix('dg', 'read', 'COLS', v),
    after && matrix('dmh', 'read', 'UNITS', v),
    matrix('du', 'write', 'COLS', v),
    recurrentBias && matrix('db', 'write', 'COLS', v),
    ...initialStateEntries(g, ['h']),
  ], `${constants({ LAST_GROUP: Math.floor((g.units - 1) / 4) * 4 })} // the last group of 4 units that starts inside a row
${initialStateFns(g, ['h'])}
/** The product's left operand for gate g: units k … k + 3 of the state h'·U (or rh·U_h) reads at step s. */
fn left(g: u32, b: u32, s: u32, k: u32) -> vec4f {
${before ? `  if (g == ${GRU_H}u) { return load_rh(srow(b, s), k); }\n` : ''}  return ${previous};
}

/** The gradient of h'·U's gate g, units j … j + 3, at x row r. */
fn right(g: u32, r: u32, j: u32) -> vec4f {
${after ? `  if (g == ${GRU_H}u) { return load_dmh(r, j); }\n` : ''}  return load_dg(r, g * UNITS + j);
}

@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, total)}
  let j = (i % UNIT_GROUPS) * 4u;
  let g = (i / UNIT_GROUPS) % GATES;
  let k = (i / (UNIT_GROUPS * GATES)) * ${K_BLOCK}u;
  // Clamped groups of k compute values that are never stored.
  ${each(K_BLOCK / 4, (q) => `let k${q} = min(k + ${4 * q}u, LAST_GROUP);`)}
  ${each(K_BLOCK, (t) => `var acc${t} = vec4f(0.0);`)}
${recurrentBias ? '  var bias = vec4f(0.0);\n' : ''}  for (var row = 0u; row < BATCH * TIME; row++) {
    let b = row / TIME;
    let s = row % TIME;
    let d = right(g, xrow(b, s), j);
    ${each(K_BLOCK / 4, (q) => `let a${q} = left(g, b, s, k${q});`, '\n    ')}
    ${each(K_BLOCK, (t) => `acc${t} += a${Math.floor(t / 4)}.${'xyzw'[t % 4]} * d;`, '\n    ')}
${recurrentBias ? '    bias += d;\n' : ''}  }
  ${each(K_BLOCK, (t) => `if (k + ${t}u < UNITS) { store_du(k + ${t}u, g * UNITS + j, j, acc${t}); }`)}
${recurrentBias ? '  if (k == 0u) { store_db(1u, g * UNITS + j, j, bias); }' : ''}
}`);
}

/**
 * The gradient of the initial state (geometry.initialState), after the steps' loop: what stepGrad
 * would add to dh_{−1} from step 0, dh0 = mask′ ⊙ (dR_0·Uᵀ + carry) (+ handoff, when a masked
 * step 0 handed its whole gradient on), and an LSTM's dc0 = carry. Bound to step 0's slot.
 * Bindings: timestep, [info], u, dg, [dmh], [carry], [handoff], dh0, [dc0].
 */
export function initialStateGrad(g: RecurrentGeometry): RecurrentKernel {
  const { total, size, workgroups, rowStride } = stepLaunch(g);
  const v = vectorized(g);
  const gru = g.cell === 'gru';
  const lstm = g.cell === 'lstm';
  const after = gru && g.resetAfter;
  return recurrentKernel(`recurrent-initial-state-grad:${geometryKey(g)}`, g, workgroups, [
    TIMESTEP,
    g.recurrentDropout > 0 && STEP_INFO,
    matrix('u', 'read', 'COLS', v),
    matrix('dg', 'read', 'COLS', v, { part: true }),
    after && matrix('dmh', 'read', 'UNITS', v, { part: true }),
    g.cell !== 'simpleRNN' && matrix('carry', 'read', 'UNITS', v),
    g.masked && matrix('handoff', 'read', 'UNITS', v),
    matrix('dh0', 'write', 'UNITS', v),
    lstm && matrix('dc0', 'write', 'UNITS', v),
  ], `
fn finish(b: u32, u: u32, acc: vec4f) {
  store_dh0(b, u, u, rec_mask(b, u) * (acc${gru ? ' + load_carry(b, u)' : ''})${g.masked ? ' + load_handoff(b, u)' : ''});${lstm ? '\n  store_dc0(b, u, u, load_carry(b, u));' : ''}
}

@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${blockStart(rowStride, total)}
  ${transposedProduct(productGates(g), '0u')}
  ${each(ROWS, (j) => `if (b + ${j}u < BATCH) { finish(b${j}, u, acc${j}); }`)}
}`);
}
