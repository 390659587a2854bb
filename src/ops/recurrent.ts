/**
 * The recurrent op (SimpleRNN, LSTM, GRU over a [batch, time, features] sequence): its geometry and
 * the dispatches of its forward and backward, the whole unrolled sequence built once per plan.
 * Kernels: shaders/recurrent.ts (layout, masks), recurrent-cells.ts, recurrent-grad.ts,
 * recurrent-kernel-grad.ts.
 *
 *   forward   [input dropout] → z = x·W + b for every step (one dense product) → one cell dispatch
 *             per step (two for a GRU with the reset gate before the product)
 *   backward  one gradient dispatch per step, last to first (two for that GRU) → dU and a GRU's
 *             recurrent bias (recurrentKernelGradTable: the operands, then dense weight-gradient
 *             products over every step's rows; or one kernel) → dx, dW, db (one dense backward)
 *             → [the input mask on dx]
 *
 * Plus one tiny dispatch in the forward writing the timestep slots that each step's dispatch binds.
 * A Keras mask (geometry.masked, views.mask) adds no dispatch: the cells and step gradients bind it.
 * An initial state (geometry.initialState: views h0, c0) is bound by the kernels that read the
 * state before a step, and adds one dispatch to the backward for its gradient (dh0, dc0). Final
 * states as outputs (geometry.returnState: views hn, cn) add one copy to the forward and one to
 * the backward, which folds their gradients into the last step's.
 */
import { benchRun } from './bench-buffers.ts';
import { denseBackward, denseForward, denseGeometry, type Scratch } from './dense.ts';
import { always, choose, onCpu, type VariantTable } from './variants.ts';
import { CELL_ACTIVATIONS, inputDropout, STEP_SLOT_BYTES, timestepSlots, unmasked, type CellActivation, type CellKind, type RecurrentGeometry, type RecurrentKernel } from '../../shaders/recurrent.ts';
import { cellForward, gruCandidate, gruGates } from '../../shaders/recurrent-cells.ts';
import { gruResetGrad, initialStateGrad, recurrentKernelGrad, stepGrad } from '../../shaders/recurrent-grad.ts';
import { copiesResetState, kernelGradAssemble, kernelGradOperands, recurrentBiasGradCopy } from '../../shaders/recurrent-kernel-grad.ts';
import { stepInfoData } from '../../shaders/kernel.ts';
import { finalStateGrad, finalStates } from '../../shaders/recurrent-states.ts';
import type { Dispatch, Engine, View } from '../runtime/engine.ts';
import type { BenchRun } from '../runtime/tuning.ts';
import { formatShape, type Shape } from '../runtime/tensor.ts';

export type { CellActivation, CellKind, RecurrentGeometry };
export { CELL_ACTIVATIONS };

/** Gates per cell, in TF.js's and Keras's order: LSTM i, f, c, o; GRU z, r, h. */
export const CELL_GATES: Readonly<Record<CellKind, number>> = { simpleRNN: 1, lstm: 4, gru: 3 };

export interface RecurrentOptions {
  cell: CellKind;
  batch: number;
  /** [time, features] without the batch. */
  inputShape: Shape;
  units: number;
  activation: CellActivation;
  recurrentActivation: CellActivation;
  bias: boolean;
  resetAfter?: boolean;
  goBackwards?: boolean;
  returnSequences?: boolean;
  /** Rates applied in this pass (0 in inference). */
  dropout?: number;
  recurrentDropout?: number;
  seed?: number;
  /** A Keras mask [batch, time] comes with the views (RecurrentForwardViews.mask). */
  masked?: boolean;
  /** The state before the first step comes with the views (h0, an LSTM's c0) instead of zeros. */
  initialState?: boolean;
  /** The final states are outputs (views hn, an LSTM's cn). */
  returnState?: boolean;
}

/** Checks the options (`who` names the layer in errors) and returns the op's geometry. */
export function recurrentGeometry(o: RecurrentOptions, who = 'recurrent'): RecurrentGeometry {
  const shape = o.inputShape;
  if (shape.length !== 2 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`${who} expects inputs of shape [timesteps, features] (rank 3 with the batch) with positive sizes, got ${formatShape(shape)}`);
  }
  if (!Number.isInteger(o.batch) || o.batch <= 0) throw new Error(`${who}: batch must be a positive integer, got ${o.batch}`);
  if (!Number.isInteger(o.units) || o.units <= 0) throw new Error(`${who}: units must be a positive integer, got ${o.units}`);
  for (const field of ['activation', 'recurrentActivation'] as const) {
    if (!(CELL_ACTIVATIONS as readonly string[]).includes(o[field])) throw new Error(`${who}: ${field} must be one of ${CELL_ACTIVATIONS.join(', ')}, got ${String(o[field])}`);
  }
  for (const field of ['dropout', 'recurrentDropout'] as const) {
    const rate = o[field] ?? 0;
    if (!(rate >= 0 && rate < 1)) throw new Error(`${who}: ${field} must be a number in [0, 1), got ${String(rate)}`);
  }
  if (o.resetAfter && o.cell !== 'gru') throw new Error(`${who}: resetAfter is a GRU option`);
  return {
    cell: o.cell,
    batch: o.batch,
    time: shape[0]!,
    inputs: shape[1]!,
    units: o.units,
    gates: CELL_GATES[o.cell],
    activation: o.activation,
    recurrentActivation: o.recurrentActivation,
    bias: o.bias,
    resetAfter: o.cell === 'gru' && (o.resetAfter ?? false),
    goBackwards: o.goBackwards ?? false,
    returnSequences: o.returnSequences ?? false,
    dropout: o.dropout ?? 0,
    recurrentDropout: o.recurrentDropout ?? 0,
    seed: (o.seed ?? 0) >>> 0,
    ...(o.masked ? { masked: true } : {}),
    ...(o.initialState ? { initialState: true } : {}),
    ...(o.returnState ? { returnState: true } : {}),
  };
}

export interface RecurrentForwardViews {
  /** [batch, time, inputs] */
  x: View;
  /** [inputs, gates·units] */
  kernel: View;
  /** [units, gates·units] */
  recurrentKernel: View;
  /** [gates·units], or [2, 3·units] for a GRU with the reset gate after the product; when geometry.bias. */
  bias?: View;
  /** [batch, time, units] with returnSequences, else [batch, units]. */
  y: View;
  /** The plan's per-step uniform (the dropout masks hash its seed and step). */
  stepInfo: View;
  /** f32 [batch, time] in input order, 1 kept and 0 masked (a Keras mask); when geometry.masked. */
  mask?: View;
  /** The state before the first step, [batch, units] (and an LSTM's cell state); when geometry.initialState. */
  h0?: View;
  c0?: View;
  /** The final state, [batch, units] (and an LSTM's cell state), written; when geometry.returnState. */
  hn?: View;
  cn?: View;
}

export interface RecurrentBackwardViews extends RecurrentForwardViews {
  /** dL/dy, y's shape. */
  dy: View;
  /** Overwritten; null when nobody needs the input gradient. */
  dx: View | null;
  dKernel: View;
  dRecurrentKernel: View;
  /** When geometry.bias. */
  dBias?: View;
  /** The final states' gradients; when geometry.returnState (zeros where nothing reads a state). */
  dhn?: View;
  dcn?: View;
  /** The initial states' gradients, overwritten; when geometry.initialState, null when nobody needs one. */
  dh0?: View | null;
  dc0?: View | null;
}

/** Plan memory: scratch for the plan's lifetime, and what the forward keeps for the backward. */
export interface RecurrentMemory {
  scratch(byteLength: number, label: string): View;
  saved: Map<string, View>;
}

/** The forward's buffers the backward reads (under these names in RecurrentMemory.saved). */
const SAVED = { slots: 'recurrent/timesteps', xd: 'recurrent/xd', z: 'recurrent/z', h: 'recurrent/h', c: 'recurrent/c', mh: 'recurrent/mh', rh: 'recurrent/rh' } as const;
type SavedName = keyof typeof SAVED;

/** The buffers each cell keeps beside z and h. */
function stateBuffers(g: RecurrentGeometry): SavedName[] {
  if (g.cell === 'lstm') return ['c'];
  if (g.cell === 'gru') return [g.resetAfter ? 'mh' : 'rh'];
  return [];
}

function required(view: View | undefined | null, what: string): View {
  if (!view) throw new Error(`recurrent: ${what} is required`);
  return view;
}

/** Binds a kernel's views by its binding names. */
function bind(engine: Engine, kernel: RecurrentKernel, views: Readonly<Record<string, View | undefined>>): Dispatch {
  return engine.kernel(
    kernel,
    kernel.names.map((name) => required(views[name], `view '${name}' of ${kernel.key}`)),
  );
}

/** Step s's slot of the timestep buffer (a 16-byte binding at s · STEP_SLOT_BYTES). */
function slot(slots: View, s: number): View {
  return { buffer: slots.buffer, offset: slots.offset + s * STEP_SLOT_BYTES, size: 16 };
}

/** The dense product x·W (+ b) of every step, and its backward: rows b·time + t. */
function projection(g: RecurrentGeometry) {
  return denseGeometry(g.batch, [g.time, g.inputs], g.gates * g.units, { bias: g.bias }, `recurrent ${g.cell} input projection`);
}

/** The input bias (a GRU with the reset gate after the product keeps its recurrent bias as row 1). */
function inputBias(g: RecurrentGeometry, bias: View | undefined): View | undefined {
  if (!g.bias) return undefined;
  const view = required(bias, 'the bias with geometry.bias');
  return g.resetAfter ? { buffer: view.buffer, offset: view.offset, size: g.gates * g.units * 4 } : view;
}

/** The forward of the whole sequence; fills memory.saved for the backward. */
export function recurrentForward(engine: Engine, g: RecurrentGeometry, views: RecurrentForwardViews, memory: RecurrentMemory): Dispatch[] {
  const { scratch, saved } = memory;
  const floats = (n: number, label: string) => scratch(n * 4, `${g.cell} ${label}`);
  const rows = g.batch * g.time;
  const dispatches: Dispatch[] = [];
  const slots = scratch(g.time * STEP_SLOT_BYTES, `${g.cell} timesteps`);
  dispatches.push(bind(engine, timestepSlots(g.time), { slots }));
  let xd = views.x;
  if (g.dropout > 0) {
    xd = floats(rows * g.inputs, 'dropped inputs');
    dispatches.push(bind(engine, inputDropout(g, 'forward'), { info: views.stepInfo, x: views.x, xd }));
  }
  const z = floats(rows * g.gates * g.units, 'gates');
  dispatches.push(...denseForward(engine, projection(g), { x: xd, w: views.kernel, b: inputBias(g, views.bias), y: z }));
  const state: Partial<Record<SavedName, View>> = { slots, xd, z, h: g.returnSequences ? views.y : floats(rows * g.units, 'states') };
  for (const name of stateBuffers(g)) state[name] = floats(rows * g.units, name);
  if (g.masked) required(views.mask, 'the mask with geometry.masked');
  const kernels = g.cell === 'gru' && !g.resetAfter ? [gruGates(unmasked(g)), gruCandidate(g)] : [cellForward(g)];
  if (g.initialState) required(views.h0, 'the initial state h0 with geometry.initialState');
  for (let s = 0; s < g.time; s++) {
    const named = { ...state, timestep: slot(slots, s), info: views.stepInfo, u: views.recurrentKernel, bias: views.bias, y: views.y, mask: views.mask, h0: views.h0, c0: views.c0 };
    for (const kernel of kernels) dispatches.push(bind(engine, kernel, named));
  }
  if (g.returnState) dispatches.push(bind(engine, finalStates(unmasked(g)), { h: state.h, c: state.c, hn: views.hn, cn: views.cn }));
  for (const [name, view] of Object.entries(state)) saved.set(SAVED[name as SavedName], view);
  return dispatches;
}

/**
 * The backward of the whole sequence: dx (when asked), dW, dU and db, each overwritten. Reads what
 * the forward saved, or runs the forward again into scratch where an entry is missing.
 */
export function recurrentBackward(engine: Engine, g: RecurrentGeometry, views: RecurrentBackwardViews, memory: RecurrentMemory): Dispatch[] {
  const { scratch } = memory;
  const floats = (n: number, label: string) => scratch(n * 4, `${g.cell} ${label}`);
  const rows = g.batch * g.time;
  const dispatches: Dispatch[] = [];
  let saved = memory.saved;
  const names: SavedName[] = ['slots', 'xd', 'z', 'h', ...stateBuffers(g)];
  if (names.some((n) => !saved.has(SAVED[n]))) {
    saved = new Map();
    const y = floats(g.batch * (g.returnSequences ? g.time : 1) * g.units, 'outputs (recomputed)');
    dispatches.push(...recurrentForward(engine, g, { ...views, y }, { scratch, saved }));
  }
  const state = Object.fromEntries(names.map((n) => [n, saved.get(SAVED[n])!])) as Record<SavedName, View>;
  const dg = floats(rows * g.gates * g.units, 'gate gradients');
  const dmh = g.cell === 'gru' && g.resetAfter ? floats(rows * g.units, 'candidate product gradients') : undefined;
  const carry = g.cell === 'simpleRNN' ? undefined : floats(g.batch * g.units, g.cell === 'lstm' ? 'cell state gradient' : 'state gradient');
  // With a mask: the part of a state's gradient a masked step hands straight to the previous state.
  const handoff = g.masked ? floats(g.batch * g.units, 'masked steps state gradient') : undefined;
  const named = { ...state, info: views.stepInfo, dy: views.dy, u: views.recurrentKernel, dg, dmh, carry, mask: views.mask, handoff, h0: views.h0, c0: views.c0 };
  // The final states' gradients join the last step's (dy in place; an LSTM's carry starts from dcn).
  if (g.returnState) dispatches.push(bind(engine, finalStateGrad(unmasked(g)), { dy: views.dy, dhn: views.dhn, carry, dcn: views.dcn }));
  const kernels = g.cell === 'gru' && !g.resetAfter ? [stepGrad(g), gruResetGrad(unmasked(g))] : [stepGrad(g)];
  for (let s = g.time - 1; s >= 0; s--) {
    for (const kernel of kernels) dispatches.push(bind(engine, kernel, { ...named, timestep: slot(state.slots, s) }));
  }
  if (g.initialState && (views.dh0 || views.dc0)) {
    // Both come from one kernel: scratch stands in for the one nobody needs.
    const dh0 = views.dh0 ?? floats(g.batch * g.units, 'initial state gradient (unused)');
    const dc0 = g.cell === 'lstm' ? (views.dc0 ?? floats(g.batch * g.units, 'initial cell state gradient (unused)')) : undefined;
    dispatches.push(bind(engine, initialStateGrad(g), { ...named, timestep: slot(state.slots, 0), dh0, dc0 }));
  }
  dispatches.push(...recurrentKernelGradient(engine, g, { ...named, du: views.dRecurrentKernel, db: views.dBias }, scratch));
  dispatches.push(
    ...denseBackward(engine, projection(g), {
      x: state.xd,
      w: views.kernel,
      dy: dg,
      dx: views.dx,
      dw: views.dKernel,
      db: inputBias(g, views.dBias),
      scratch,
    }),
  );
  if (views.dx && g.dropout > 0) dispatches.push(bind(engine, inputDropout(g, 'backward'), { info: views.stepInfo, dx: views.dx }));
  return dispatches;
}

// ---- the recurrent kernel gradient: dU = Σ over every (row, step) of h'ᵀ·dR ----------------------

/** Its variants: 'product' (operands, then dense weight-gradient products) and 'direct' (one kernel); which comes first depends on the profile and the cell. */
export const recurrentKernelGradTable: VariantTable<RecurrentGeometry> = {
  op: 'recurrent.kernelGrad',
  key: (g) => `${g.cell}${g.resetAfter ? ' resetAfter' : ''} ${g.batch}x${g.time} x ${g.units} -> ${g.gates * g.units}`,
  rows: [
    {
      name: 'product',
      applies: (g, p) => p.kind === 'gpu' || (g.cell === 'gru' && !g.resetAfter),
      note: 'bench/NOTES.md item 71',
      why: "The dense op's weight gradient over B·T rows after one pass writing H' in their order: on GPUs the tiled product (split-K included), where the direct kernel walks every row in one invocation; on SwiftShader faster than the direct kernel for a GRU with the reset before (its two left operands).",
    },
    {
      name: 'direct',
      applies: onCpu,
      note: 'bench/NOTES.md item 72',
      why: "One kernel reading h' and dR where the steps left them: on SwiftShader level with the product per kernel, and an LSTM training step runs faster with it in one pass (no operand copy, one dispatch).",
    },
    {
      name: 'product',
      applies: always,
      note: 'bench/NOTES.md item 71',
      why: 'Second on CPU adapters for SimpleRNN, LSTM and a GRU with the reset after, where the tuner may time it against the direct kernel.',
    },
  ],
  bench: kernelGradBench,
};

/** The views the kernel gradient binds: the forward's saved states, the gate gradients, du and [db]. */
type KernelGradViews = Readonly<Record<string, View | undefined>> & { du: View; db?: View };

/**
 * dU (overwritten) and, for a GRU with the reset gate after the product and a bias, row 1 of db
 * (its recurrent bias), by the variant of recurrentKernelGradTable chosen (or `variant`).
 */
export function recurrentKernelGradient(engine: Engine, g: RecurrentGeometry, views: KernelGradViews, scratch: Scratch, variant?: string): Dispatch[] {
  const row = choose(recurrentKernelGradTable, g, engine, variant);
  if (row.name === 'direct') return [bind(engine, recurrentKernelGrad(unmasked(g)), views)];
  const floats = (n: number, label: string) => scratch(n * 4, `${g.cell} kernel gradient ${label}`);
  const rows = g.batch * g.time;
  const cols = g.gates * g.units;
  const before = g.cell === 'gru' && !g.resetAfter;
  const after = g.cell === 'gru' && g.resetAfter;
  const operands: Record<string, View> = { hp: floats(rows * g.units, "h' (x order)") };
  if (after) operands.dr = floats(rows * cols, 'dR');
  if (before) {
    operands.dzr = floats(rows * 2 * g.units, 'update and reset gradients');
    operands.dgh = floats(rows * g.units, 'candidate gradients');
    if (copiesResetState(g)) operands.rhx = floats(rows * g.units, 'r⊙h\' (x order)');
  }
  const dispatches = [bind(engine, kernelGradOperands(unmasked(g)), { ...views, ...operands })];
  const w = required(views.u, 'the recurrent kernel view u');
  const product = (x: View, dy: View, units: number, dw: View, db?: View) =>
    denseBackward(engine, denseGeometry(g.batch, [g.time, g.units], units, { bias: !!db }, `recurrent ${g.cell} kernel gradient`), { x, w, dy, dx: null, dw, db, scratch });
  if (!before) {
    // A GRU's recurrent bias gradient: the product's bias, then into db's row 1 (binding it there would break the offset alignment).
    const pb = after && g.bias ? floats(cols, 'recurrent bias gradient') : undefined;
    dispatches.push(...product(operands.hp!, after ? operands.dr! : required(views.dg, 'dg'), cols, views.du, pb));
    if (pb) dispatches.push(bind(engine, recurrentBiasGradCopy(unmasked(g)), { pb, db: views.db }));
    return dispatches;
  }
  const pzr = floats(g.units * 2 * g.units, 'update and reset columns');
  const ph = floats(g.units * g.units, 'candidate columns');
  dispatches.push(
    ...product(operands.hp!, operands.dzr!, 2 * g.units, pzr),
    ...product(operands.rhx ?? required(views.rh, 'rh'), operands.dgh!, g.units, ph),
    bind(engine, kernelGradAssemble(unmasked(g)), { pzr, ph, du: views.du }),
  );
  return dispatches;
}

/** The kernel gradient's bench: variant `name` on random states and gate gradients (recurrent dropout seeded, initial state bound when the geometry has one). */
function kernelGradBench(engine: Engine, g: RecurrentGeometry, name: string): BenchRun {
  return benchRun(engine, (m) => {
    const rows = g.batch * g.time;
    const cols = g.gates * g.units;
    const states = (label: string) => m.input(rows * g.units, `recurrent bench ${label}`);
    const views = {
      info: m.uniform(stepInfoData(0, 1, 1, g.batch), 'recurrent bench step info'),
      u: m.input(g.units * cols, 'recurrent bench u'),
      h: states('h'),
      rh: states('rh'),
      dmh: states('dmh'),
      h0: m.input(g.batch * g.units, 'recurrent bench h0'),
      dg: m.input(rows * cols, 'recurrent bench dg'),
      du: m.output(g.units * cols, 'recurrent bench du'),
      db: m.output(2 * cols, 'recurrent bench db'),
    };
    return recurrentKernelGradient(engine, g, views, m.scratch, name);
  });
}
