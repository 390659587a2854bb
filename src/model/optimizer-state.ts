/**
 * The optimizer's slots (Adam's moments, RMSprop's averages) per trainable weight, off the flat
 * slot buffers: read and written for checkpoints (getOptimizerState / setOptimizerState, names
 * `<weight>/<slot>` as TF.js names optimizer weights), and carried across a relayout, when freezing
 * or unfreezing a layer moves the trainable weights in the flat buffers.
 */
import type { Optimizer } from '../optimizers.ts';
import { describe } from '../runtime/tensor.ts';
import type { NamedWeight } from './args.ts';
import { resetOptimizerSlots, type DeviceState } from './device.ts';
import { isTrainable, type ModelWeight } from './weights.ts';

/** What getOptimizerState() returns and setOptimizerState() takes. */
export interface OptimizerState {
  iterations: number;
  slots: NamedWeight[];
}

/** The slots of `trainable` (getWeights() order) on `state`, zeros when the optimizer has not run there. */
export async function readOptimizerState(state: DeviceState | undefined, optimizer: Optimizer, trainable: readonly ModelWeight[]): Promise<OptimizerState> {
  if (!state || state.slotOptimizer !== optimizer) {
    return { iterations: 0, slots: optimizer.slotNames.flatMap((slot) => trainable.map((w) => ({ name: `${w.name}/${slot}`, shape: [...w.shape], values: new Float32Array(w.size) }))) };
  }
  const slots: NamedWeight[] = [];
  for (const [k, slot] of optimizer.slotNames.entries()) {
    const all = new Float32Array(await state.engine.read(state.slots[k]!, state.floats * 4));
    for (const w of trainable) slots.push({ name: `${w.name}/${slot}`, shape: [...w.shape], values: all.slice(w.offset, w.offset + w.size) });
  }
  return { iterations: state.iterations, slots };
}

/** A saved state checked against the optimizer and weights as a whole: per slot, each weight's values. */
export function checkOptimizerState(saved: OptimizerState, optimizer: Optimizer, trainable: readonly ModelWeight[]): { weight: ModelWeight; slot: number; data: Float32Array }[] {
  const expected = optimizer.slotNames.flatMap((slot, k) => trainable.map((w) => ({ name: `${w.name}/${slot}`, weight: w, slot: k })));
  if (!saved || !Number.isInteger(saved.iterations) || saved.iterations < 0 || !Array.isArray(saved.slots) || saved.slots.length !== expected.length) {
    throw new Error(`setOptimizerState(): expected { iterations, slots } with ${expected.length} slot arrays for ${optimizer.className}, got ${describe(saved?.slots)}`);
  }
  const byName = new Map(saved.slots.map((s) => [s.name, s]));
  return expected.map((e) => {
    const s = byName.get(e.name);
    if (!s || !(s.values instanceof Float32Array) || s.values.length !== e.weight.size) {
      throw new Error(`setOptimizerState(): slot ${e.name} is missing or does not hold ${e.weight.size} float32 values`);
    }
    return { weight: e.weight, slot: e.slot, data: s.values };
  });
}

/** Writes checked slot values into `state`'s slots (laid out for `optimizer`) and sets the step count. */
export function writeOptimizerState(state: DeviceState, optimizer: Optimizer, values: ReturnType<typeof checkOptimizerState>, iterations: number): void {
  if (state.slotOptimizer !== optimizer) throw new Error(`setOptimizerState(): the device's slots are not ${optimizer.className}'s`);
  for (const v of values) state.engine.write(state.slots[v.slot]!, v.data, v.weight.offset * 4);
  state.iterations = iterations;
}

/** The optimizer's slot values of each trainable weight and its step count, kept across a relayout. */
export interface SavedSlots {
  optimizer: Optimizer;
  iterations: number;
  values: Map<ModelWeight, Float32Array[]>;
}

/**
 * Reads the slots of the weights trainable in `state`'s layout (at their offsets there), so that
 * freezing or unfreezing a layer, which lays the flat buffers out anew, does not restart the
 * optimizer for the others (Adam's moments and step count carry over, as in Keras).
 */
export async function saveSlots(state: DeviceState, weights: readonly ModelWeight[]): Promise<SavedSlots | undefined> {
  const optimizer = state.slotOptimizer;
  if (!optimizer || state.engine.isDisposed) return undefined;
  const trainable = weights.filter((w, i) => state.layout[i] === 'T');
  const values = new Map<ModelWeight, Float32Array[]>(trainable.map((w) => [w, []]));
  for (const slot of state.slots) {
    const all = new Float32Array(await state.engine.read(slot, state.floats * 4));
    for (const w of trainable) values.get(w)!.push(all.slice(w.offset, w.offset + w.size));
  }
  return { optimizer, iterations: state.iterations, values };
}

/** Writes saved slots into a new state for `optimizer` (the weights trainable in both layouts keep theirs). */
export function restoreSlots(state: DeviceState, saved: SavedSlots | undefined, optimizer: Optimizer | undefined): void {
  if (!saved || saved.optimizer !== optimizer) return;
  resetOptimizerSlots(state, saved.optimizer);
  for (const [w, slots] of saved.values) {
    if (!isTrainable(w)) continue;
    slots.forEach((values, k) => state.engine.write(state.slots[k]!, values, w.offset * 4));
  }
  state.iterations = saved.iterations;
}
