/** Merge layers for functional graphs: elementwise Add and Concatenate along an axis. */
import { concatSlice } from '../../shaders/concat.ts';
import { scale, sum } from '../../shaders/elementwise.ts';
import { registerLayer } from './registry.ts';
import type { Dispatch } from '../runtime/engine.ts';
import { formatShape, sizeOf } from '../runtime/tensor.ts';
import { kerasConfig } from './config.ts';
import { Layer, type BackwardContext, type ForwardContext, type Shape, type LayerArgs } from './layer.ts';

function expectSeveral(layer: Layer, inputShapes: readonly Shape[]): void {
  if (inputShapes.length < 2) throw new Error(`layer ${layer.name} (${layer.className}) merges at least 2 inputs, got ${inputShapes.length}`);
}

export interface MergeConfig extends LayerArgs {
}

export interface ConcatenateConfig extends MergeConfig {
  /** Keras counts the batch as axis 0; default -1, the last. */
  axis?: number;
}

export class Add extends Layer {
  static override readonly className = 'Add';
  constructor(config: MergeConfig = {}) {
    super(config, 'add');
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectSeveral(this, inputShapes);
    const first = inputShapes[0]!;
    for (const s of inputShapes) {
      if (s.length !== first.length || s.some((d, i) => d !== first[i])) {
        throw new Error(`layer ${this.name}: Add needs inputs of one shape, got ${inputShapes.map((x) => formatShape(x)).join(' and ')}`);
      }
    }
    return first;
  }
  forward(ctx: ForwardContext): Dispatch[] {
    const n = ctx.batch * sizeOf(ctx.outputShape);
    return [ctx.engine.kernel(sum(n, ctx.inputs.length), [...ctx.inputs, ctx.output])];
  }
  /** d(Σ xᵢ)/dxᵢ = 1: each input's gradient is a copy of dy. */
  backward(ctx: BackwardContext): Dispatch[] {
    const n = ctx.batch * sizeOf(ctx.outputShape);
    return ctx.inputGrads.flatMap((dx) => (dx ? [ctx.engine.kernel(scale(n, 1), [ctx.outputGrad, dx])] : []));
  }

  static fromConfig(config: unknown): Add {
    const c = kerasConfig('Add', config, []);
    return new Add({ name: c.name as string | undefined });
  }
}

export class Concatenate extends Layer {
  static override readonly className = 'Concatenate';
  readonly axis: number;
  constructor(config: ConcatenateConfig = {}) {
    super(config, 'concatenate');
    this.axis = config.axis ?? -1;
    if (!Number.isInteger(this.axis) || this.axis === 0) {
      throw new Error(`layer ${this.name}: axis must be a non-zero integer (axis 0 is the batch), got ${JSON.stringify(config.axis)}`);
    }
  }
  /** The axis within a per-sample shape (Keras counts the batch as axis 0). */
  private sampleAxis(rank: number): number {
    const a = this.axis < 0 ? rank + this.axis : this.axis - 1;
    if (a < 0 || a >= rank) throw new Error(`layer ${this.name}: axis ${this.axis} is out of range for inputs of rank ${rank + 1}`);
    return a;
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectSeveral(this, inputShapes);
    const first = inputShapes[0]!;
    const a = this.sampleAxis(first.length);
    for (const s of inputShapes) {
      if (s.length !== first.length || s.some((d, i) => i !== a && d !== first[i])) {
        throw new Error(`layer ${this.name}: Concatenate needs inputs that match except on axis ${this.axis}, got ${inputShapes.map((x) => formatShape(x)).join(' and ')}`);
      }
    }
    return first.map((d, i) => (i === a ? inputShapes.reduce((t, s) => t + s[a]!, 0) : d));
  }
  private slices(ctx: ForwardContext, toWhole: boolean, parts: readonly ({ buffer: GPUBuffer } | null)[], whole: { buffer: GPUBuffer }): Dispatch[] {
    const a = this.sampleAxis(ctx.outputShape.length);
    const inner = sizeOf(ctx.outputShape.slice(a + 1));
    const outer = ctx.batch * sizeOf(ctx.outputShape.slice(0, a));
    const total = ctx.outputShape[a]! * inner;
    let offset = 0;
    const dispatches: Dispatch[] = [];
    ctx.inputShapes.forEach((shape, i) => {
      const width = shape[a]! * inner;
      const part = parts[i];
      if (part) {
        const kernel = concatSlice(outer, width, total, offset, toWhole);
        dispatches.push(ctx.engine.kernel(kernel, toWhole ? [part as GPUBufferBinding, whole as GPUBufferBinding] : [whole as GPUBufferBinding, part as GPUBufferBinding]));
      }
      offset += width;
    });
    return dispatches;
  }
  forward(ctx: ForwardContext): Dispatch[] {
    return this.slices(ctx, true, ctx.inputs, ctx.output);
  }
  backward(ctx: BackwardContext): Dispatch[] {
    return this.slices(ctx, false, ctx.inputGrads, ctx.outputGrad);
  }
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), axis: this.axis };
  }

  /** From the Keras config in model.json (the constructor validates the axis). */
  static fromConfig(config: unknown): Concatenate {
    const c = kerasConfig('Concatenate', config, ['axis']);
    return new Concatenate({ name: c.name as string | undefined, axis: (c.axis ?? undefined) as number | undefined });
  }
}

const mergeFactories = {
  ...registerLayer(Add, { add: (config: MergeConfig = {}) => new Add(config) }),
  ...registerLayer(Concatenate, { concatenate: (config: ConcatenateConfig = {}) => new Concatenate(config) }),
};
type MergeFactories = typeof mergeFactories;
declare module './registry.ts' {
  interface LayerFactories extends MergeFactories {}
}
