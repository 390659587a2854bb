/**
 * Dot: the Keras merge layer taking the dot product of two inputs along one axis of each, over the
 * batched matrix product (src/ops/batched-matmul.ts), as TF.js's Dot and batchDot compute it:
 *
 * - axes count the batch as axis 0 and may be negative (from the end of each input's full rank);
 *   a single number names the same axis of both inputs; the batch axis cannot be contracted;
 * - inputs have rank 2 or 3 with the batch ([batch, n] or [batch, p, q]); a rank-2 input is a
 *   [batch, n, 1] matrix whose trailing 1 is dropped from the result;
 * - the output is input 1's shape without its axis, then input 2's without its axis and the batch,
 *   [batch, 1] when nothing else is left: [b, n]·[b, n] → [b, 1]; [b, p, q]·[b, r, q] with axes 2
 *   → [b, p, r]; [b, n]·[b, n, r] with axes 1 → [b, r];
 * - `normalize: true` divides each input by its L2 norm along its axis first (TF.js's l2Normalize,
 *   norm² floored at 1e-7), making the result the cosine similarity.
 */
import { registerLayer } from './registry.ts';
import type { Dispatch, View } from '../runtime/engine.ts';
import { formatShape, sizeOf } from '../runtime/tensor.ts';
import { batchedMatmul, batchedMatmulBackward, l2NormalizeBackward, l2NormalizeForward, type BatchedMatmulGeometry, type VectorGeometry } from '../ops/batched-matmul.ts';
import { describeValue, kerasConfig } from './config.ts';
import { expectInputs, Layer, type BackwardContext, type ForwardContext, type LayerArgs, type Shape } from './layer.ts';

export interface DotConfig extends LayerArgs {
  /** The axis of both inputs, or [axis of input 1, axis of input 2]; the batch is axis 0. */
  axes: number | readonly [number, number];
  /** L2-normalize each input along its axis first (cosine similarity). Default false. */
  normalize?: boolean;
}

/** How a Dot runs for given input shapes: the product, and the vectors each input normalizes. */
interface DotPlan {
  product: BatchedMatmulGeometry;
  vectors: [VectorGeometry, VectorGeometry];
}

const SAVED_OPERANDS = ['dot normalized input 1', 'dot normalized input 2'] as const;

export class Dot extends Layer {
  static override readonly className = 'Dot';
  readonly axes: number | [number, number];
  readonly normalize: boolean;

  constructor(config: DotConfig) {
    if (!config || typeof config !== 'object') throw new Error(`Dot: expected a config object like { axes: -1 }, got ${describeValue(config)}`);
    super(config, 'dot');
    const where = `Dot ${this.name}`;
    const axes = config.axes;
    const isAxis = (a: unknown) => Number.isInteger(a) && a !== 0;
    if (!(isAxis(axes) || (Array.isArray(axes) && axes.length === 2 && axes.every(isAxis)))) {
      throw new Error(`${where}: axes must be a non-zero integer or an array of two (axis 0 is the batch, which cannot be contracted), got ${describeValue(axes)}`);
    }
    if (config.normalize !== undefined && config.normalize !== null && typeof config.normalize !== 'boolean') {
      throw new Error(`${where}: normalize must be true or false, got ${describeValue(config.normalize)}`);
    }
    this.axes = Array.isArray(axes) ? [axes[0]!, axes[1]!] : (axes as number);
    this.normalize = config.normalize ?? false;
  }

  /** Each input's contracted axis within its full shape [batch, ...shape] (1 or 2). */
  private resolvedAxes(inputShapes: readonly Shape[]): [number, number] {
    const who = `layer ${this.name} (Dot)`;
    const given = Array.isArray(this.axes) ? this.axes : [this.axes, this.axes];
    return [0, 1].map((i) => {
      const rank = inputShapes[i]!.length + 1;
      const axis = given[i]!;
      const resolved = axis < 0 ? axis + rank : axis;
      if (resolved < 1 || resolved >= rank) {
        throw new Error(`${who}: axis ${axis} of input ${i + 1} is out of range for its shape ${formatShape([null, ...inputShapes[i]!])}; ` + `expected an axis in [1, ${rank - 1}] or [${-(rank - 1)}, -1] (axis 0 is the batch)`);
      }
      return resolved;
    }) as [number, number];
  }

  private plan(batch: number, inputShapes: readonly Shape[]): DotPlan {
    expectInputs(this, inputShapes, 2);
    const who = `layer ${this.name} (Dot)`;
    for (const [i, shape] of inputShapes.entries()) {
      if (shape.length < 1 || shape.length > 2 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
        throw new Error(`${who}: input ${i + 1} must have shape [batch, n] or [batch, p, q] (rank 2 or 3 with the batch, as in TF.js), got ${formatShape([null, ...shape])}`);
      }
    }
    const [ax, ay] = this.resolvedAxes(inputShapes);
    // Both inputs as [batch, d1, d2] matrices: a rank-2 input is [batch, n, 1].
    const [x1, x2] = [inputShapes[0]![0]!, inputShapes[0]![1] ?? 1];
    const [y1, y2] = [inputShapes[1]![0]!, inputShapes[1]![1] ?? 1];
    const kx = ax === 1 ? x1 : x2;
    const ky = ay === 1 ? y1 : y2;
    if (kx !== ky) {
      throw new Error(`${who}: the contracted axes differ in size: axis ${ax} of input 1 ${formatShape([null, ...inputShapes[0]!])} has ${kx}, axis ${ay} of input 2 ${formatShape([null, ...inputShapes[1]!])} has ${ky}`);
    }
    // op(A) = input 1 with its axis last, op(B) = input 2 with its axis first.
    const product: BatchedMatmulGeometry = { batch, m: ax === 1 ? x2 : x1, n: ay === 1 ? y2 : y1, k: kx, transposeA: ax === 1, transposeB: ay === 2 };
    const vector = (d1: number, d2: number, axis: number): VectorGeometry => (axis === 1 ? { outer: batch, length: d1, inner: d2 } : { outer: batch * d1, length: d2, inner: 1 });
    return { product, vectors: [vector(x1, x2, ax), vector(y1, y2, ay)] };
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    this.plan(1, inputShapes);
    const [ax, ay] = this.resolvedAxes(inputShapes);
    // TF.js's rule: input 1 without its axis, then input 2 without its axis and the batch.
    const out = [...inputShapes[0]!.filter((_, i) => i !== ax - 1), ...inputShapes[1]!.filter((_, i) => i !== ay - 1)];
    return out.length === 0 ? [1] : out;
  }

  /** The operands of the product: the inputs, or their normalized copies (kept in `saved` for the backward). */
  private operands(ctx: ForwardContext, p: DotPlan, dispatches: Dispatch[]): [View, View] {
    if (!this.normalize) return [ctx.inputs[0]!, ctx.inputs[1]!];
    return [0, 1].map((i) => {
      const name = SAVED_OPERANDS[i]!;
      let u = ctx.saved.get(name);
      if (!u) {
        u = ctx.scratch(sizeOf([ctx.batch, ...ctx.inputShapes[i]!]) * 4, name);
        dispatches.push(...l2NormalizeForward(ctx.engine, p.vectors[i]!, { x: ctx.inputs[i]!, u }));
        ctx.saved.set(name, u);
      }
      return u;
    }) as [View, View];
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const p = this.plan(ctx.batch, ctx.inputShapes);
    const dispatches: Dispatch[] = [];
    const [a, b] = this.operands(ctx, p, dispatches);
    dispatches.push(...batchedMatmul(ctx.engine, p.product, { a, b, c: ctx.output }));
    return dispatches;
  }

  backward(ctx: BackwardContext): Dispatch[] {
    const p = this.plan(ctx.batch, ctx.inputShapes);
    const dispatches: Dispatch[] = [];
    const [a, b] = this.operands(ctx, p, dispatches);
    if (!this.normalize) {
      dispatches.push(...batchedMatmulBackward(ctx.engine, p.product, { a, b, dc: ctx.outputGrad, da: ctx.inputGrads[0] ?? null, db: ctx.inputGrads[1] ?? null }));
      return dispatches;
    }
    // Gradients of the normalized operands, then through each normalization.
    const du = ctx.inputGrads.map((g, i) => (g ? ctx.scratch(sizeOf([ctx.batch, ...ctx.inputShapes[i]!]) * 4, `dot normalized input ${i + 1} grad`) : null));
    dispatches.push(...batchedMatmulBackward(ctx.engine, p.product, { a, b, dc: ctx.outputGrad, da: du[0] ?? null, db: du[1] ?? null }));
    ctx.inputGrads.forEach((dx, i) => {
      if (dx) dispatches.push(...l2NormalizeBackward(ctx.engine, p.vectors[i]!, { x: ctx.inputs[i]!, du: du[i]!, dx }));
    });
    return dispatches;
  }

  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), axes: Array.isArray(this.axes) ? [...this.axes] : this.axes, normalize: this.normalize };
  }

  /** From the Keras config in model.json (the constructor validates the values). */
  static fromConfig(config: unknown): Dot {
    const c = kerasConfig('Dot', config, ['axes', 'normalize']);
    return new Dot({ name: c.name as string | undefined, axes: c.axes as number | [number, number], normalize: (c.normalize ?? undefined) as boolean | undefined });
  }
}

const dotFactories = registerLayer(Dot, {
  dot: (config: DotConfig) => new Dot(config),
});
type DotFactories = typeof dotFactories;
declare module './registry.ts' {
  interface LayerFactories extends DotFactories {}
}
