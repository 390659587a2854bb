/**
 * The activation op: every activation TF.js 4.22's registry knows (tfjs-layers activations.ts),
 * with TF.js's formulas and constants, its names in both spellings, and the dispatches of its
 * forward and backward; plus PReLU, whose slope is a weight. The Activation layer and the
 * advanced-activation layers wrap it (src/layers/activation.ts, src/layers/advanced-activations.ts).
 *
 * Which tensor each backward reads:
 * - elementwise kinds read the forward's input x (`derivative(x)` in shaders/activation.ts): from x
 *   every derivative has a form that neither overflows nor cancels (σ′ = e/(1 + e)² with
 *   e = e^−|x|, tanh′ = sech², mish′ from the closed form of tanh(softplus(x)), ...);
 * - softmax and logSoftmax read the forward's output y (dx = y ⊙ (dy − Σ dy⊙y), dx = dy − e^y·Σ dy);
 * - linear reads neither (dx = dy).
 */
import * as kernels from '../../shaders/activation.ts';
import type { Pointwise } from '../../shaders/activation.ts';
import * as preluKernels from '../../shaders/prelu.ts';
import type { PreluGeometry } from '../../shaders/prelu.ts';
import { softmaxBackward, softmaxForward } from '../../shaders/softmax.ts';
import type { BufferView, Dispatch, Engine } from '../runtime/engine.ts';
import { formatShape, type Shape } from '../runtime/tensor.ts';
import { flatDispatch } from './elementwise.ts';

export type { Pointwise, PreluGeometry };

/** TF.js 4.22's activation identifiers, in its registration order (`gelu_new` is its spelling too). */
export const ACTIVATIONS = ['elu', 'selu', 'relu', 'relu6', 'linear', 'sigmoid', 'hardSigmoid', 'softplus', 'softsign', 'tanh', 'softmax', 'logSoftmax', 'gelu', 'gelu_new', 'mish', 'swish'] as const;

export type ActivationName = (typeof ACTIVATIONS)[number];

/**
 * Other spellings: Keras's snake_case (what model.json holds), `geluNew` (what TF.js's loader turns
 * 'gelu_new' into), and Keras 3's `silu`, the same function as swish. Keras 3's own hard_sigmoid is
 * x/6 + 0.5; the name means TF.js's 0.2·x + 0.5 here, as it does when TF.js loads a model.
 */
const ALIASES: Readonly<Record<string, ActivationName>> = {
  hard_sigmoid: 'hardSigmoid',
  log_softmax: 'logSoftmax',
  geluNew: 'gelu_new',
  silu: 'swish',
};

/**
 * Validates an `activation` argument and returns its canonical name (TF.js's identifier); `who`
 * names the layer in the error. Undefined and null mean 'linear', as in TF.js.
 */
export function parseActivation(value: unknown, who: string): ActivationName {
  if (value === undefined || value === null) return 'linear';
  if (typeof value === 'string') {
    if ((ACTIVATIONS as readonly string[]).includes(value)) return value as ActivationName;
    if (Object.hasOwn(ALIASES, value)) return ALIASES[value]!;
  }
  throw new Error(
    `${who}: unknown activation ${JSON.stringify(value) ?? String(value)}; known: ${ACTIVATIONS.join(', ')} ` +
      `(also spelled ${Object.keys(ALIASES).join(', ')})`,
  );
}

/**
 * The activation as TF.js writes it into model.json: its identifier in snake_case
 * ('hardSigmoid' → 'hard_sigmoid', 'logSoftmax' → 'log_softmax'; the others unchanged).
 */
export function serializeActivation(name: ActivationName): string {
  return name.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}

/**
 * What the op applies: a name, or an elementwise activation with parameters (the ELU layer's
 * alpha, LeakyReLU, ReLU's maxValue, ThresholdedReLU; see shaders/activation.ts Pointwise).
 */
export type ActivationKind = ActivationName | Pointwise;

/**
 * The tensor as `rows` lines of `width` elements: softmax and logSoftmax normalize each line.
 * Lines are contiguous rows by default (the last axis); with `inner` > 1 the tensor is
 * [rows / inner, width, inner] and a line runs along the middle axis, its elements `inner` apart.
 * Elementwise kinds only use the element count, rows · width.
 */
export interface ActivationShape {
  rows: number;
  width: number;
  inner?: number;
}

export interface ActivationForwardViews {
  x: BufferView;
  y: BufferView;
}

export interface ActivationBackwardViews {
  /** The forward's input: read by the elementwise kinds. */
  x?: BufferView;
  /** The forward's output: read by softmax and logSoftmax. */
  y?: BufferView;
  dy: BufferView;
  dx: BufferView;
}

type Resolved = { kind: 'softmax' } | { kind: 'logSoftmax' } | Pointwise;

function resolve(kind: ActivationKind): Resolved {
  if (typeof kind === 'object') return kind;
  if (kind === 'elu') return { kind: 'elu', alpha: 1 };
  return { kind } as Resolved;
}

function checkShape(who: string, shape: ActivationShape): { n: number; inner: number } {
  const inner = shape.inner ?? 1;
  const ok = [shape.rows, shape.width, inner].every((v) => Number.isInteger(v) && v >= 1) && shape.rows % inner === 0;
  if (!ok) throw new Error(`${who}: shape must be positive integers { rows, width, inner? } with rows a multiple of inner, got ${JSON.stringify(shape)}`);
  return { n: shape.rows * shape.width, inner };
}

/** Which forward tensor the kind's backward reads (see the file comment). */
export function activationBackwardReads(kind: ActivationKind): 'x' | 'y' | 'none' {
  const r = resolve(kind);
  return r.kind === 'softmax' || r.kind === 'logSoftmax' ? 'y' : r.kind === 'linear' ? 'none' : 'x';
}

function required(view: BufferView | undefined, what: string, kind: string): BufferView {
  if (!view) throw new Error(`activationBackward (${kind}): views.${what} is required`);
  return view;
}

/** y = act(x). `variant` forces a row of flatTable (src/ops/elementwise.ts) for the elementwise kinds. */
export function activationForward(engine: Engine, kind: ActivationKind, views: ActivationForwardViews, shape: ActivationShape, variant?: string): Dispatch[] {
  const r = resolve(kind);
  const { n, inner } = checkShape(`activationForward (${r.kind})`, shape);
  if (r.kind === 'softmax' && inner === 1) return [engine.kernel(softmaxForward(shape.rows, shape.width), [views.x, views.y])];
  if (r.kind === 'softmax' || r.kind === 'logSoftmax') {
    const g = { outer: shape.rows / inner, width: shape.width, inner };
    return [engine.kernel(kernels.axisSoftmaxForward(g, r.kind === 'logSoftmax'), [views.x, views.y])];
  }
  return [flatDispatch(engine, { op: { kind: 'activationForward', activation: r }, n }, [views.x, views.y], variant)];
}

/** dx = dy · ∂act/∂x (a row's Jacobian for softmax and logSoftmax). Overwrites dx. `variant` as activationForward's. */
export function activationBackward(engine: Engine, kind: ActivationKind, views: ActivationBackwardViews, shape: ActivationShape, variant?: string): Dispatch[] {
  const r = resolve(kind);
  const { n, inner } = checkShape(`activationBackward (${r.kind})`, shape);
  if (r.kind === 'softmax' || r.kind === 'logSoftmax') {
    const y = required(views.y, 'y (the forward output)', r.kind);
    if (r.kind === 'softmax' && inner === 1) return [engine.kernel(softmaxBackward(shape.rows, shape.width), [y, views.dy, views.dx])];
    const g = { outer: shape.rows / inner, width: shape.width, inner };
    return [engine.kernel(kernels.axisSoftmaxBackward(g, r.kind === 'logSoftmax'), [y, views.dy, views.dx])];
  }
  // linear binds dy as its "x": the derivative is 1 and reads nothing.
  const x = r.kind === 'linear' ? views.dy : required(views.x, 'x (the forward input)', r.kind);
  return [flatDispatch(engine, { op: { kind: 'activationBackward', activation: r }, n }, [x, views.dy, views.dx], variant)];
}

// ---- PReLU ------------------------------------------------------------------------------

/**
 * Alpha's shape for a PReLU on per-sample shape `inputShape`: the same, with every shared axis
 * collapsed to 1. Shared axes count the batch as axis 0, as in Keras (1 is the first sample axis).
 */
export function preluAlphaShape(inputShape: Shape, sharedAxes: readonly number[] | null, who = 'prelu'): Shape {
  if (inputShape.length < 1 || !inputShape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`${who} expects inputs of rank ≥ 1 (without the batch) with positive sizes, got ${formatShape(inputShape)}`);
  }
  const shape = [...inputShape];
  for (const axis of sharedAxes ?? []) {
    if (!Number.isInteger(axis) || axis < 1 || axis > inputShape.length) {
      throw new Error(
        `${who}: sharedAxes must hold axes 1..${inputShape.length} of the input ${formatShape([null, ...inputShape])} (0 is the batch), got ${JSON.stringify(sharedAxes)}`,
      );
    }
    shape[axis - 1] = 1;
  }
  return shape;
}

/** PReLU's geometry for `batch` samples of per-sample shape `inputShape`. */
export function preluGeometry(batch: number, inputShape: Shape, sharedAxes: readonly number[] | null, who = 'prelu'): PreluGeometry {
  if (!Number.isInteger(batch) || batch <= 0) throw new Error(`${who}: batch must be a positive integer, got ${batch}`);
  const alphaShape = preluAlphaShape(inputShape, sharedAxes, who);
  // Merge neighbouring axes that are both shared or both not (size-1 axes merge with anything).
  const dims: { size: number; shared: boolean }[] = [];
  inputShape.forEach((size, i) => {
    if (size === 1) return;
    const shared = alphaShape[i] === 1;
    const last = dims[dims.length - 1];
    if (last && last.shared === shared) last.size *= size;
    else dims.push({ size, shared });
  });
  if (dims.length === 0) dims.push({ size: 1, shared: false });
  const sample = inputShape.reduce((a, b) => a * b, 1);
  const alpha = alphaShape.reduce((a, b) => a * b, 1);
  return { batch, sample, alpha, dims };
}

export interface PreluForwardViews {
  x: BufferView;
  /** Alpha's shape (preluAlphaShape), row-major. */
  alpha: BufferView;
  y: BufferView;
}

export interface PreluBackwardViews {
  x: BufferView;
  alpha: BufferView;
  dy: BufferView;
  /** null when nobody needs the input gradient: its kernel is skipped. */
  dx: BufferView | null;
  /** Overwritten with Σ over the batch and the shared axes of [x ≤ 0]·x·dy. */
  dalpha: BufferView;
  /** preluPartialsBytes(g) bytes of scratch, when that is not 0. */
  partials?: BufferView;
}

/** y = x for x ≥ 0, alpha·x below. */
export function preluForward(engine: Engine, g: PreluGeometry, views: PreluForwardViews): Dispatch[] {
  return [engine.kernel(preluKernels.preluForward(g), [views.x, views.alpha, views.y])];
}

/** Bytes of scratch preluBackward needs for d(alpha)'s partial sums (0: none). */
export function preluPartialsBytes(g: PreluGeometry): number {
  const { chunks } = preluKernels.preluReduction(g);
  return chunks === 1 ? 0 : chunks * g.alpha * 4;
}

/** dx = dy for x > 0, alpha·dy otherwise; d(alpha) reduced over the batch and shared axes. */
export function preluBackward(engine: Engine, g: PreluGeometry, views: PreluBackwardViews): Dispatch[] {
  const out: Dispatch[] = [];
  if (views.dx) out.push(engine.kernel(preluKernels.preluInputGrad(g), [views.x, views.alpha, views.dy, views.dx]));
  if (preluPartialsBytes(g) === 0) {
    out.push(engine.kernel(preluKernels.preluAlphaGradPartials(g), [views.x, views.dy, views.dalpha]));
  } else {
    if (!views.partials) throw new Error(`preluBackward: views.partials (${preluPartialsBytes(g)} bytes of scratch) is required for this geometry`);
    out.push(engine.kernel(preluKernels.preluAlphaGradPartials(g), [views.x, views.dy, views.partials]));
    out.push(engine.kernel(preluKernels.preluAlphaGradSum(g), [views.partials, views.dalpha]));
  }
  return out;
}
