/**
 * Sequence ops: reversing a [batch, time, ...] tensor along time (shaders/sequence.ts; its
 * gradient is the same reversal), and merging the two directions of a bidirectional recurrent
 * layer into one output, with the merge's backward splitting the output's gradient between them.
 *
 *   forward   [the backward direction's sequence reversed into input order] → concat (two column
 *             copies, shaders/concat.ts) or sum / ave / mul (one elementwise op, ops/binary.ts)
 *   backward  each direction's output gradient: two column copies (concat) or one elementwise
 *             gradient each (sum, ave, mul) → [the backward direction's reversed into its own order]
 *
 * Merges as TF.js's and Keras's Bidirectional: concat puts the forward direction's units first,
 * ave is (a + b)·0.5, and with sequences the backward direction's output (in processing order,
 * last step first) is reversed before merging.
 */
import { concatSlice } from '../../shaders/concat.ts';
import { reverseSteps, type StepsGeometry } from '../../shaders/sequence.ts';
import type { Dispatch, Engine, View } from '../runtime/engine.ts';
import { formatShape, type Shape } from '../runtime/tensor.ts';
import { elementwiseBackward, elementwiseForward } from './binary.ts';
import type { Scratch } from './reduce.ts';

export type { StepsGeometry };

/** The ways TF.js's Bidirectional merges its two directions (its null, two outputs, is not a merge). */
export const MERGE_MODES = ['concat', 'sum', 'mul', 'ave'] as const;
export type MergeMode = (typeof MERGE_MODES)[number];

function checkBatch(batch: number, who: string): void {
  if (!Number.isInteger(batch) || batch <= 0) throw new Error(`${who}: batch must be a positive integer, got ${batch}`);
}

// ---- reversal along time ---------------------------------------------------------------------

/** `[batch, ...shape]` seen as [batch, time, width]: time the first axis of `shape`, width the rest's size. */
export function stepsGeometry(batch: number, shape: Shape, who = 'reverseSteps'): StepsGeometry {
  checkBatch(batch, who);
  if (shape.length < 1 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`${who} expects inputs of shape [time, ...features] (rank ≥ 2 with the batch) with positive sizes, got ${formatShape(shape)}`);
  }
  return { batch, time: shape[0]!, width: shape.slice(1).reduce((a, b) => a * b, 1) };
}

/** y[b, t] = x[b, time − 1 − t]. */
export function reverseStepsForward(engine: Engine, g: StepsGeometry, views: { x: View; y: View }): Dispatch[] {
  return [engine.kernel(reverseSteps(g), [views.x, views.y])];
}

/** dx = dy reversed along time (the reversal is its own gradient). */
export function reverseStepsBackward(engine: Engine, g: StepsGeometry, views: { dy: View; dx: View }): Dispatch[] {
  return [engine.kernel(reverseSteps(g), [views.dy, views.dx])];
}

// ---- the two directions of a bidirectional layer -----------------------------------------------

export interface DirectionsGeometry {
  batch: number;
  /** Steps of each direction's output: the sequence's length with sequences, else 1 (the last state). */
  time: number;
  /** Units of each direction's output. */
  units: number;
  mode: MergeMode;
  /** Whether the directions return sequences: the backward one's is then reversed into input order. */
  reversed: boolean;
}

/**
 * The merge of two directions whose outputs are each `[batch, ...directionShape]`: [time, units]
 * (sequences) or [units] (last states). Throws, naming `who`, for any other shape or mode.
 */
export function directionsGeometry(batch: number, directionShape: Shape, mode: MergeMode, who = 'bidirectional merge'): DirectionsGeometry {
  checkBatch(batch, who);
  if (!(MERGE_MODES as readonly string[]).includes(mode)) throw new Error(`${who}: mode must be one of ${MERGE_MODES.map((m) => `'${m}'`).join(', ')}, got ${JSON.stringify(mode)}`);
  if (directionShape.length < 1 || directionShape.length > 2 || !directionShape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`${who}: each direction's output must be [time, units] or [units] with positive sizes, got ${formatShape(directionShape)}`);
  }
  const reversed = directionShape.length === 2;
  return { batch, time: reversed ? directionShape[0]! : 1, units: directionShape[directionShape.length - 1]!, mode, reversed };
}

/** The merged output's shape without the batch: concat doubles the units. */
export function mergedShape(g: DirectionsGeometry): Shape {
  const units = g.mode === 'concat' ? 2 * g.units : g.units;
  return g.reversed ? [g.time, units] : [units];
}

/** Plan memory: scratch for the plan's lifetime, and what the forward keeps for the backward. */
export interface MergeMemory {
  scratch: Scratch;
  saved: Map<string, View>;
}

/** The backward direction's output reversed into input order (the forward's, kept for mul's backward). */
const SAVED_REVERSED = 'bidirectional/backward reversed';

const values = (g: DirectionsGeometry) => g.batch * g.time * g.units;
const reversal = (g: DirectionsGeometry): StepsGeometry => ({ batch: g.batch, time: g.time, width: g.units });
const scaleOf = (g: DirectionsGeometry) => (g.mode === 'ave' ? 0.5 : 1);
const opOf = (g: DirectionsGeometry) => (g.mode === 'mul' ? 'multiply' : 'add');

export interface MergeForwardViews {
  /** The forward direction's output, [batch, ...directionShape]. */
  forward: View;
  /** The backward direction's output, in its processing order. */
  backward: View;
  /** [batch, ...mergedShape], overwritten. */
  y: View;
}

/** y = merge(forward, backward in input order); keeps the reversed backward output in memory.saved. */
export function mergeDirectionsForward(engine: Engine, g: DirectionsGeometry, views: MergeForwardViews, memory: MergeMemory): Dispatch[] {
  const dispatches: Dispatch[] = [];
  let backward = views.backward;
  if (g.reversed) {
    backward = memory.scratch(values(g) * 4, 'bidirectional backward output, input order');
    dispatches.push(...reverseStepsForward(engine, reversal(g), { x: views.backward, y: backward }));
    memory.saved.set(SAVED_REVERSED, backward);
  }
  if (g.mode === 'concat') {
    const rows = g.batch * g.time;
    dispatches.push(engine.kernel(concatSlice(rows, g.units, 2 * g.units, 0, true), [views.forward, views.y]));
    dispatches.push(engine.kernel(concatSlice(rows, g.units, 2 * g.units, g.units, true), [backward, views.y]));
  } else {
    const shape = [values(g)];
    dispatches.push(...elementwiseForward(engine, opOf(g), [shape, shape], { inputs: [views.forward, backward], y: views.y }, { scale: scaleOf(g) }));
  }
  return dispatches;
}

export interface MergeBackwardViews extends MergeForwardViews {
  /** dL/dy, [batch, ...mergedShape]. */
  dy: View;
  /** dL/d(each direction's output), in that direction's own order (overwritten). */
  dForward: View;
  dBackward: View;
}

/**
 * Each direction's output gradient from the merged output's. Reads the forward's reversed
 * backward output (mul) from memory.saved, or reverses it again into scratch when it is missing.
 */
export function mergeDirectionsBackward(engine: Engine, g: DirectionsGeometry, views: MergeBackwardViews, memory: MergeMemory): Dispatch[] {
  const dispatches: Dispatch[] = [];
  let backward = views.backward;
  if (g.reversed && g.mode === 'mul') {
    const kept = memory.saved.get(SAVED_REVERSED);
    if (kept) backward = kept;
    else {
      backward = memory.scratch(values(g) * 4, 'bidirectional backward output, input order (again)');
      dispatches.push(...reverseStepsForward(engine, reversal(g), { x: views.backward, y: backward }));
    }
  }
  // The backward direction's gradient in input order; reversed into its own order at the end.
  const dBackward = g.reversed ? memory.scratch(values(g) * 4, 'bidirectional backward output gradient, input order') : views.dBackward;
  if (g.mode === 'concat') {
    const rows = g.batch * g.time;
    dispatches.push(engine.kernel(concatSlice(rows, g.units, 2 * g.units, 0, false), [views.dy, views.dForward]));
    dispatches.push(engine.kernel(concatSlice(rows, g.units, 2 * g.units, g.units, false), [views.dy, dBackward]));
  } else {
    const shape = [values(g)];
    const grads = { inputs: [views.forward, backward], dy: views.dy, grads: [views.dForward, dBackward] };
    dispatches.push(...elementwiseBackward(engine, opOf(g), [shape, shape], grads, memory.scratch, { scale: scaleOf(g) }));
  }
  if (g.reversed) dispatches.push(...reverseStepsBackward(engine, reversal(g), { dy: dBackward, dx: views.dBackward }));
  return dispatches;
}
