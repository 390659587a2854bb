/**
 * What the recurrent kernels share (SimpleRNN, LSTM, GRU; the forward cells are in
 * recurrent-cells.ts, the gradients in recurrent-grad.ts): the geometry, the cells' activations
 * as WGSL, the bindings of gate-structured matrices, the dropout masks, and the timestep slots.
 *
 * Layout. The input x is [batch, time, in]; step s (0 … TIME − 1, processing order) reads the
 * input at time τ(s) = s, or TIME − 1 − s with goBackwards. Gate-structured rows (the input
 * projection, overwritten in place by the gates' pre-activations; their gradients) are indexed like
 * x, `xrow(b, s) = b·TIME + τ(s)`, so one dense product covers every step. State rows (h, c, r⊙h')
 * are in processing order, `srow(b, s) = b·TIME + s`, which is the layout of the returned sequence.
 * A gate matrix holds GATES blocks of UNITS columns (TF.js's and Keras's gate order).
 *
 * Timesteps. One pipeline serves every step of a sequence: each step's dispatch binds its own
 * 256-byte slot of a small buffer holding the step's index (`timestep[0]`), 256 bytes being the
 * largest offset alignment a storage binding may require. A kernel per step would compile TIME
 * pipelines.
 *
 * Masks. With a Keras mask (geometry.masked) the cells and the step gradients bind it, f32
 * [batch, time] in x's order (`kept(b, s)` reads it at xrow): a masked step keeps the previous
 * state, and its gates get no gradient. The other kernels never read it and keep the unmasked
 * geometry (`unmasked`), so they share the unmasked pipelines.
 *
 * Blocks. Every per-step kernel gives an invocation ROWS batch rows × 4 units (all gates of those
 * units), in named vec4 accumulators: the h or gradient row is loaded once per 4 units, each
 * weight once per ROWS rows. A 4-unit block may reach past its gate's last unit when UNITS is not
 * a multiple of 4; those lanes are computed from clamped or neighbouring values and never stored.
 */
import { STEP_INFO_STRUCT, type BindingKind, type KernelSource } from './kernel.ts';
import { constants, each, f32, flatIndex, grid } from './wgsl.ts';

export type CellKind = 'simpleRNN' | 'lstm' | 'gru';

/** The activations a cell applies in its own kernels (TF.js's elementwise ones). */
export const CELL_ACTIVATIONS = ['linear', 'relu', 'relu6', 'elu', 'selu', 'sigmoid', 'hardSigmoid', 'softplus', 'softsign', 'tanh', 'swish'] as const;
export type CellActivation = (typeof CELL_ACTIVATIONS)[number];

export interface RecurrentGeometry {
  cell: CellKind;
  batch: number;
  /** Timesteps of the sequence. */
  time: number;
  /** Features per timestep. */
  inputs: number;
  units: number;
  /** 1 (SimpleRNN), 4 (LSTM: i, f, c, o) or 3 (GRU: z, r, h). */
  gates: number;
  /** The candidate's and output's activation (tanh by default). */
  activation: CellActivation;
  /** The gates' activation (LSTM, GRU). */
  recurrentActivation: CellActivation;
  bias: boolean;
  /** GRU only: the reset gate multiplies h·U_h + b_rh (Keras's default) instead of h before the product. */
  resetAfter: boolean;
  goBackwards: boolean;
  /** The output is every step's h ([batch, time, units]) rather than the last one ([batch, units]). */
  returnSequences: boolean;
  /** Dropout rate of the inputs, 0 where it is not applied (inference). */
  dropout: number;
  /** Dropout rate of the previous state in the recurrent product, 0 where it is not applied. */
  recurrentDropout: number;
  /** The layer's mask seed (the fit's seed and step are mixed in at run time). */
  seed: number;
  /**
   * A Keras mask f32 [batch, time] (1 kept, 0 masked, in input order) is bound: a masked step
   * carries the state over and its gates get no gradient. Absent or false: no mask binding, and the
   * kernels are those of an unmasked layer, byte for byte.
   */
  masked?: boolean;
  /**
   * The state before the first step comes from `h0` (and an LSTM's `c0`), f32 [batch, units] (a
   * Keras initial_state), instead of zeros; its gradient goes to `dh0` (and `dc0`).
   */
  initialState?: boolean;
  /**
   * The final state (h, and an LSTM's c) is an output of its own (Keras's return_state): its
   * gradient joins the last step's (an LSTM's cell-state gradient starts from `carry`).
   */
  returnState?: boolean;
}

/** A kernel with the name of each binding, in binding order: the op binds views by name. */
export interface RecurrentKernel extends KernelSource {
  names: readonly string[];
}

/** Batch rows per invocation of the per-step kernels (units come 4 at a time). */
export const ROWS = 4;

/** Bytes between the timestep slots: the largest minStorageBufferOffsetAlignment WebGPU allows. */
export const STEP_SLOT_BYTES = 256;

/** The gates of a GRU: z (update), r (reset), h (candidate). */
export const GRU_Z = 0;
export const GRU_R = 1;
export const GRU_H = 2;

/** Whether every gate-structured access is a whole aligned vec4 (UNITS a multiple of 4). */
export function vectorized(g: RecurrentGeometry): boolean {
  return g.units % 4 === 0;
}

export function geometryKey(g: RecurrentGeometry): string {
  const flags = [g.bias ? 'bias' : 'nobias', g.resetAfter ? 'resetAfter' : '', g.goBackwards ? 'backwards' : '', g.returnSequences ? 'sequences' : 'last'].filter(Boolean).join(',');
  const states = `${g.initialState ? ':initial' : ''}${g.returnState ? ':state' : ''}`;
  return `${g.cell}:${g.batch}x${g.time}x${g.inputs}->${g.units}:${g.activation}/${g.recurrentActivation}:${flags}:drop${g.dropout}/${g.recurrentDropout}:seed${g.seed >>> 0}:rows${ROWS}${g.masked ? ':masked' : ''}${states}`;
}

/** The geometry of the kernels that never read the mask (their code is the unmasked one): one pipeline either way. */
export function unmasked(g: RecurrentGeometry): RecurrentGeometry {
  return g.masked ? { ...g, masked: false } : g;
}

/**
 * Workgroups of 64, smaller when a launch is small (SwiftShader runs a workgroup on one core, so a
 * few dozen invocations in one workgroup would leave the other cores idle).
 */
export function launch(invocations: number): { size: number; workgroups: [number, number, number]; rowStride: number } {
  const size = Math.max(4, Math.min(64, 2 ** Math.floor(Math.log2(Math.max(1, invocations / 8)))));
  return { size, ...grid(invocations, size) };
}

// ---- bindings --------------------------------------------------------------------------------

/** One binding: its name (the op's view of that name goes there), kind, and WGSL declarations at `binding`. */
export interface Entry {
  name: string;
  kind: BindingKind;
  code: (binding: number) => string;
}

/** Numbers the entries (falsy ones left out) in order: their names, kinds and declarations. */
export function bindings(entries: readonly (Entry | false | undefined)[]): { names: string[]; kinds: BindingKind[]; code: string } {
  const list = entries.filter((e): e is Entry => !!e);
  return { names: list.map((e) => e.name), kinds: list.map((e) => e.kind), code: list.map((e, i) => e.code(i)).join('\n') };
}

/** `timestep[0]`: the index of the step this dispatch runs (its slot of the steps buffer). */
export const TIMESTEP: Entry = { name: 'timestep', kind: 'read', code: (b) => `@group(0) @binding(${b}) var<storage, read> timestep: array<u32>;` };

/**
 * The Keras mask f32 [batch, time] and `kept(b, s)`: whether batch row b's step s (processing
 * order; the mask is in input order, like x) counts. Only in kernels of a masked geometry.
 */
export const MASK: Entry = {
  name: 'mask',
  kind: 'read',
  code: (b) => `@group(0) @binding(${b}) var<storage, read> mask: array<f32>;
/** Whether row b's step s counts (Keras's mask; a masked step carries the state over). */
fn kept(b: u32, s: u32) -> bool { return mask[xrow(b, s)] != 0.0; }`,
};

/** The plan's per-step uniform (the fit's seed and step, which the dropout masks hash). */
export const STEP_INFO: Entry = { name: 'info', kind: 'uniform', code: (b) => `${STEP_INFO_STRUCT}\n@group(0) @binding(${b}) var<uniform> info: StepInfo;` };

/**
 * A row-major matrix of rows `width` wide (UNITS, or COLS = GATES·UNITS for gate-structured rows,
 * or ZR_COLS = 2·UNITS, a GRU's update and reset blocks, which the kernel using it declares)
 * whose accesses are 4 consecutive columns starting anywhere: `load_<name>(row, col)` (zero past
 * the row's end), for a writable one `store_<name>(row, col, unit, v)` (the lanes whose
 * unit + t < UNITS), and with `part` `part_<name>(row, col, unit)`: the load with the lanes whose
 * unit + t is past UNITS zeroed (a gate's last block stays inside the gate). With `vec4` the rows
 * are whole vec4s and every access aligned (UNITS a multiple of 4).
 */
export function matrix(name: string, kind: 'read' | 'write', width: 'UNITS' | 'COLS' | 'ZR_COLS', vec4: boolean, options: { part?: boolean } = {}): Entry {
  const access = kind === 'read' ? 'read' : 'read_write';
  const part = options.part ? 'fn part_NAME(row: u32, col: u32, unit: u32) -> vec4f { return ' : '';
  if (vec4) {
    return {
      name,
      kind,
      code: (b) =>
        [
          `@group(0) @binding(${b}) var<storage, ${access}> ${name}: array<vec4f>;`,
          `fn load_${name}(row: u32, col: u32) -> vec4f { return ${name}[(row * ${width} + col) / 4u]; }`,
          part && `${part.replace('NAME', name)}load_${name}(row, col); }`,
          kind === 'write' && `fn store_${name}(row: u32, col: u32, unit: u32, v: vec4f) { ${name}[(row * ${width} + col) / 4u] = v; }`,
        ]
          .filter(Boolean)
          .join('\n'),
    };
  }
  return {
    name,
    kind,
    code: (b) =>
      [
        `@group(0) @binding(${b}) var<storage, ${access}> ${name}: array<f32>;`,
        `fn at_${name}(row: u32, col: u32) -> f32 { return select(0.0, ${name}[row * ${width} + min(col, ${width} - 1u)], col < ${width}); }`,
        `fn load_${name}(row: u32, col: u32) -> vec4f { return vec4f(at_${name}(row, col), at_${name}(row, col + 1u), at_${name}(row, col + 2u), at_${name}(row, col + 3u)); }`,
        part && `${part.replace('NAME', name)}select(vec4f(0.0), load_${name}(row, col), vec4u(unit) + vec4u(0u, 1u, 2u, 3u) < vec4u(UNITS)); }`,
        kind === 'write' &&
          `fn store_${name}(row: u32, col: u32, unit: u32, v: vec4f) {
  let i = row * ${width} + col;
  ${name}[i] = v.x; // unit < UNITS: every block starts inside its gate
  if (unit + 1u < UNITS) { ${name}[i + 1u] = v.y; }
  if (unit + 2u < UNITS) { ${name}[i + 2u] = v.z; }
  if (unit + 3u < UNITS) { ${name}[i + 3u] = v.w; }
}`,
      ]
        .filter(Boolean)
        .join('\n'),
  };
}

/**
 * With an initial state: `prev_h(b, s, k)` (and `prev_c`), units k … k + 3 of the state before
 * step s, the initial state's row at s = 0; `which` names the states whose loads the kernel has.
 */
export function initialStateFns(g: RecurrentGeometry, which: readonly ('h' | 'c')[]): string {
  if (!g.initialState) return '';
  const fn = (x: 'h' | 'c') => `fn prev_${x}(b: u32, s: u32, k: u32) -> vec4f {
  if (s == 0u) { return load_${x}0(b, k); } // the initial state
  return load_${x}(srow(b, s - 1u), k);
}`;
  return `\n${which.map(fn).join('\n')}\n`;
}

/** The initial states' bindings for a kernel reading `which` of them (none without an initial state). */
export function initialStateEntries(g: RecurrentGeometry, which: readonly ('h' | 'c')[]): (Entry | false)[] {
  return which.map((x) => !!g.initialState && matrix(`${x}0`, 'read', 'UNITS', vectorized(g)));
}

// ---- the shared prologue -------------------------------------------------------------------------

/** The sizes, the row maps and the masks every per-step kernel declares. */
export function prologue(g: RecurrentGeometry): string {
  return `${constants({ BATCH: g.batch, TIME: g.time, UNITS: g.units, GATES: g.gates, LAST_STEP: g.time - 1, UNIT_GROUPS: Math.ceil(g.units / 4) })}
const COLS = GATES * UNITS; // a gate-structured row: GATES blocks of UNITS

/** The row of x, of the gate pre-activations and of their gradients for batch row b at step s. */
fn xrow(b: u32, s: u32) -> u32 { return b * TIME + ${g.goBackwards ? 'LAST_STEP - s' : 's'}; }
/** The row of the states (h, c, r⊙h') for batch row b at step s: processing order. */
fn srow(b: u32, s: u32) -> u32 { return b * TIME + s; }
${recurrentMask(g)}`;
}

// ---- dropout masks -----------------------------------------------------------------------------

/** The recurrent mask's own seed, derived from the layer's so that it differs from the input mask. */
export function recurrentSeed(seed: number): number {
  return (seed ^ 0x9e3779b9) >>> 0;
}

/** keep ⇔ hash ≥ threshold; comparing integers avoids float rounding at the threshold (as Dropout). */
export function dropoutThreshold(rate: number): number {
  return Math.min(0xffffffff, Math.round(rate * 4294967296));
}

/**
 * `keep(seed, threshold, scale, i)`: 0 or 1/(1 − rate) for element i of a mask, hashed from the
 * mask's seed, the fit's seed and the optimizer step (the Dropout layer's hash): the same element
 * of the same step gives the same value in the forward and the backward.
 */
const KEEP = `// PCG-style integer hash (Jarzynski & Olano 2020), as the Dropout layer's.
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
fn keep(seed: u32, threshold: u32, scale: f32, i: u32) -> f32 {
  let h = pcg(i ^ pcg(info.step ^ pcg(info.seed ^ seed)));
  return select(0.0, scale, h >= threshold);
}`;

/**
 * `rec_mask(b, k)`: the recurrent dropout factors of units k … k + 3 of batch row b, fixed over
 * the steps of a sequence (as Keras's); all ones without recurrent dropout.
 */
function recurrentMask(g: RecurrentGeometry): string {
  if (g.recurrentDropout === 0) return 'fn rec_mask(b: u32, k: u32) -> vec4f { return vec4f(1.0); }';
  return `${KEEP}
${constants({ REC_SEED: recurrentSeed(g.seed), REC_THRESHOLD: dropoutThreshold(g.recurrentDropout) })}
${constants({ REC_SCALE: 1 / (1 - g.recurrentDropout) }, 'f32')}
fn rec_mask(b: u32, k: u32) -> vec4f {
  let i = b * UNITS + k;
  return vec4f(keep(REC_SEED, REC_THRESHOLD, REC_SCALE, i), keep(REC_SEED, REC_THRESHOLD, REC_SCALE, i + 1u),
               keep(REC_SEED, REC_THRESHOLD, REC_SCALE, i + 2u), keep(REC_SEED, REC_THRESHOLD, REC_SCALE, i + 3u));
}`;
}

/**
 * The input dropout: forward xd = x ⊙ m (bindings info, x, xd), backward dx ⊙= m in place
 * (bindings info, dx), with m[b, k] fixed over the timesteps of sample b (as Keras's).
 */
export function inputDropout(g: RecurrentGeometry, direction: 'forward' | 'backward'): RecurrentKernel {
  const n = g.batch * g.time * g.inputs;
  const { workgroups, rowStride } = grid(n, 256);
  const forward = direction === 'forward';
  const plain = (name: string, kind: 'read' | 'write'): Entry => ({
    name,
    kind,
    code: (i) => `@group(0) @binding(${i}) var<storage, ${kind === 'read' ? 'read' : 'read_write'}> ${name}: array<f32>;`,
  });
  const b = bindings([STEP_INFO, forward && plain('x', 'read'), plain(forward ? 'xd' : 'dx', 'write')]);
  return {
    key: `recurrent-input-dropout-${direction}:${g.batch}x${g.time}x${g.inputs}:${g.dropout}:seed${g.seed >>> 0}`,
    bindings: b.kinds,
    names: b.names,
    workgroups,
    code: `${b.code}
${KEEP}
${constants({ COUNT: n, TIME: g.time, IN: g.inputs, IN_SEED: g.seed >>> 0, IN_THRESHOLD: dropoutThreshold(g.dropout) })}
${constants({ IN_SCALE: 1 / (1 - g.dropout) }, 'f32')}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'COUNT')}
  // Element (b, t, k) of x takes the mask's element (b, k), whatever t.
  let m = keep(IN_SEED, IN_THRESHOLD, IN_SCALE, (i / (TIME * IN)) * IN + i % IN);
  ${forward ? 'xd[i] = x[i] * m;' : 'dx[i] = dx[i] * m;'}
}`,
  };
}

/** Writes s into the first word of slot s (every STEP_SLOT_BYTES) for each step. Binding: slots. */
export function timestepSlots(time: number): RecurrentKernel {
  const { workgroups, rowStride } = grid(time, 64);
  return {
    key: `recurrent-timesteps:${time}`,
    bindings: ['write'],
    names: ['slots'],
    workgroups,
    code: `@group(0) @binding(0) var<storage, read_write> slots: array<u32>;
${constants({ TIME: time, SLOT_WORDS: STEP_SLOT_BYTES / 4 })}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'TIME')}
  slots[i * SLOT_WORDS] = i;
}`,
  };
}

// ---- activations -------------------------------------------------------------------------------

type Helper = 'sigmoid' | 'expm1' | 'log1p' | 'tanh' | 'sech2';

/** Stable forms (no exp of a positive argument, no cancellation near 0), as shaders/activation.ts writes them. */
const HELPERS: Record<Helper, string> = {
  sigmoid: `// σ(x) from e = e^−|x| ≤ 1: it never overflows.
fn stable_sigmoid(x: vec4f) -> vec4f {
  let e = exp(-abs(x));
  let r = 1.0 / (1.0 + e);
  return select(e * r, r, x >= vec4f(0.0));
}`,
  expm1: `// e^x − 1 for x ≤ 0: Taylor to x⁹ on (−0.5, 0], where exp(x) − 1 would cancel.
fn expm1(x: vec4f) -> vec4f {
  let series = x * (1.0 + x * (1.0 / 2.0 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0 + x * (1.0 / 720.0 + x * (1.0 / 5040.0 + x * (1.0 / 40320.0 + x / 362880.0))))))));
  return select(exp(x) - 1.0, series, x > vec4f(-0.5));
}`,
  log1p: `// log(1 + e) for 0 ≤ e ≤ 1 as 2·atanh(e / (2 + e)), its odd series to the 15th power.
fn log1p(e: vec4f) -> vec4f {
  let s = e / (2.0 + e);
  let s2 = s * s;
  return 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0 + s2 / 15.0)))))));
}`,
  tanh: `// tanh(x) = sign(x)·(1 − e)/(1 + e), e = e^−2|x|; its odd series below |x| = 0.25.
fn stable_tanh(x: vec4f) -> vec4f {
  let e = exp(-2.0 * abs(x));
  let far = sign(x) * (1.0 - e) / (1.0 + e);
  let x2 = x * x;
  let near = x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0 + x2 * (62.0 / 2835.0)))));
  return select(far, near, abs(x) < vec4f(0.25));
}`,
  sech2: `// 1 − tanh²(x) = 4e/(1 + e)², e = e^−2|x|.
fn sech2(x: vec4f) -> vec4f {
  let e = exp(-2.0 * abs(x));
  let d = 1.0 + e;
  return 4.0 * e / (d * d);
}`,
};

/** TF.js's SELU constants. */
const SELU_SCALE = 1.0507009873554805;
const SELU_SCALE_ALPHA = 1.7580993408473768;

/** Each activation's value and derivative at the pre-activation x, as WGSL expressions of a vec4f x. */
const FORMULAS: Record<CellActivation, { helpers: Helper[]; value: string; derivative: string }> = {
  linear: { helpers: [], value: 'x', derivative: 'vec4f(1.0)' },
  relu: { helpers: [], value: 'max(x, vec4f(0.0))', derivative: 'select(vec4f(0.0), vec4f(1.0), x > vec4f(0.0))' },
  relu6: { helpers: [], value: 'clamp(x, vec4f(0.0), vec4f(6.0))', derivative: 'select(vec4f(0.0), vec4f(1.0), (x > vec4f(0.0)) & (x < vec4f(6.0)))' },
  elu: { helpers: ['expm1'], value: 'select(expm1(min(x, vec4f(0.0))), x, x >= vec4f(0.0))', derivative: 'select(exp(min(x, vec4f(0.0))), vec4f(1.0), x >= vec4f(0.0))' },
  selu: {
    helpers: ['expm1'],
    value: `select(${f32(SELU_SCALE_ALPHA)} * expm1(min(x, vec4f(0.0))), ${f32(SELU_SCALE)} * x, x >= vec4f(0.0))`,
    derivative: `select(${f32(SELU_SCALE_ALPHA)} * exp(min(x, vec4f(0.0))), vec4f(${f32(SELU_SCALE)}), x > vec4f(0.0))`,
  },
  sigmoid: { helpers: ['sigmoid'], value: 'stable_sigmoid(x)', derivative: 'stable_sigmoid(x) * stable_sigmoid(-x)' },
  // TF.js: clipByValue(0.2·x + 0.5, 0, 1), its gradient inclusive at the bounds.
  hardSigmoid: {
    helpers: [],
    value: 'clamp(0.2 * x + 0.5, vec4f(0.0), vec4f(1.0))',
    derivative: 'select(vec4f(0.0), vec4f(0.2), (0.2 * x + 0.5 >= vec4f(0.0)) & (0.2 * x + 0.5 <= vec4f(1.0)))',
  },
  softplus: { helpers: ['log1p', 'sigmoid'], value: 'max(x, vec4f(0.0)) + log1p(exp(-abs(x)))', derivative: 'stable_sigmoid(x)' },
  softsign: { helpers: [], value: 'x / (1.0 + abs(x))', derivative: '1.0 / ((1.0 + abs(x)) * (1.0 + abs(x)))' },
  tanh: { helpers: ['tanh', 'sech2'], value: 'stable_tanh(x)', derivative: 'sech2(x)' },
  swish: { helpers: ['sigmoid'], value: 'x * stable_sigmoid(x)', derivative: 'stable_sigmoid(x) * (1.0 + x * stable_sigmoid(-x))' },
};

/**
 * `act(x)`, `act_d(x)` (the candidate's and output's activation and its derivative) and, for a
 * gated cell, `ract(x)`, `ract_d(x)` (the gates'), with the helpers they call, each once.
 */
export function activations(g: RecurrentGeometry): string {
  const kinds = g.cell === 'simpleRNN' ? [g.activation] : [g.activation, g.recurrentActivation];
  const helpers = [...new Set(kinds.flatMap((k) => FORMULAS[k].helpers))];
  const define = (prefix: string, kind: CellActivation) =>
    `fn ${prefix}(x: vec4f) -> vec4f { return ${FORMULAS[kind].value}; } // ${kind}\nfn ${prefix}_d(x: vec4f) -> vec4f { return ${FORMULAS[kind].derivative}; }`;
  return [...helpers.map((h) => HELPERS[h]), define('act', g.activation), ...(g.cell === 'simpleRNN' ? [] : [define('ract', g.recurrentActivation)])].join('\n');
}

// ---- kernels -----------------------------------------------------------------------------------

/** A kernel of the family: its bindings, then the shared prologue and activations, then `body`. */
export function recurrentKernel(key: string, g: RecurrentGeometry, workgroups: [number, number, number], entries: readonly (Entry | false | undefined)[], body: string): RecurrentKernel {
  const b = bindings(entries);
  return { key, bindings: b.kinds, names: b.names, workgroups, code: `${b.code}\n${prologue(g)}\n${activations(g)}\n${body}` };
}

/** The launch of a per-step kernel: one invocation per ROWS batch rows × 4 units. */
export function stepLaunch(g: RecurrentGeometry): { total: number; size: number; workgroups: [number, number, number]; rowStride: number } {
  const total = Math.ceil(g.batch / ROWS) * Math.ceil(g.units / 4);
  return { total, ...launch(total) };
}

/** A per-step kernel's first lines: the step, this invocation's units u … u + 3 and rows b{j} (clamped). */
export function stepStart(rowStride: number, total: number): string {
  return `${flatIndex(rowStride, total)}
  let s = min(timestep[0], LAST_STEP); // min: a stray slot value cannot index past the buffers
  let u = (i % UNIT_GROUPS) * 4u;
  let b = (i / UNIT_GROUPS) * ${ROWS}u;
  // Clamped rows compute values that are never stored.
  ${each(ROWS, (j) => `let b${j} = min(b + ${j}u, BATCH - 1u);`)}`;
}
