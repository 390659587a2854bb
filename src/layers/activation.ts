/** A standalone activation layer (and the softmax the graph appends after `activation: 'softmax'`). */
import { registerLayer } from './registry.ts';
import { reluBackward, reluForward, scale } from '../../shaders/elementwise.ts';
import { softmaxBackward, softmaxForward } from '../../shaders/softmax.ts';
import type { Dispatch } from '../runtime/engine.ts';
import { sizeOf } from '../runtime/tensor.ts';
import { kerasConfig } from './config.ts';
import { expectInputs, Layer, type ActivationName, type BackwardContext, type ForwardContext, type Shape } from './layer.ts';

export const ACTIVATIONS: readonly ActivationName[] = ['linear', 'relu', 'softmax'];

/** Validates an `activation` argument; `who` names the layer in the error. */
export function parseActivation(value: unknown, who: string): ActivationName {
  if (value === undefined || value === null) return 'linear';
  if (typeof value === 'string' && (ACTIVATIONS as readonly string[]).includes(value)) return value as ActivationName;
  throw new Error(`${who}: activation must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(value)}`);
}

export interface ActivationConfig {
  activation: ActivationName;
  name?: string;
  inputShape?: readonly number[];
}

export class Activation extends Layer {
  static override readonly className = 'Activation';
  readonly kind: ActivationName;
  constructor(config: ActivationConfig) {
    super(config, 'activation');
    this.kind = parseActivation(config?.activation, `layer ${this.name} (Activation)`);
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    return inputShapes[0]!;
  }
  /** Softmax normalizes over the last axis; rows are everything before it. */
  private rowsAndClasses(ctx: ForwardContext): [number, number] {
    const classes = ctx.outputShape[ctx.outputShape.length - 1]!;
    return [(ctx.batch * sizeOf(ctx.outputShape)) / classes, classes];
  }
  forward(ctx: ForwardContext): Dispatch[] {
    const n = ctx.batch * sizeOf(ctx.outputShape);
    const x = ctx.inputs[0]!;
    if (this.kind === 'relu') return [ctx.engine.kernel(reluForward(n), [x, ctx.output])];
    if (this.kind === 'softmax') return [ctx.engine.kernel(softmaxForward(...this.rowsAndClasses(ctx)), [x, ctx.output])];
    return [ctx.engine.kernel(scale(n, 1), [x, ctx.output])];
  }
  backward(ctx: BackwardContext): Dispatch[] {
    const dx = ctx.inputGrads[0];
    if (!dx) return [];
    const n = ctx.batch * sizeOf(ctx.outputShape);
    if (this.kind === 'relu') return [ctx.engine.kernel(reluBackward(n), [ctx.output, ctx.outputGrad, dx])];
    if (this.kind === 'softmax') return [ctx.engine.kernel(softmaxBackward(...this.rowsAndClasses(ctx)), [ctx.output, ctx.outputGrad, dx])];
    return [ctx.engine.kernel(scale(n, 1), [ctx.outputGrad, dx])];
  }
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), activation: this.kind };
  }

  /** From the Keras config in model.json (the constructor validates the activation). */
  static fromConfig(config: unknown): Activation {
    const c = kerasConfig('Activation', config, ['activation']);
    return new Activation({ name: c.name as string | undefined, activation: c.activation as ActivationName });
  }
}

const activationFactories = registerLayer(Activation, {
  activation: (config: ActivationConfig) => new Activation(config),
});
type ActivationFactories = typeof activationFactories;
declare module './registry.ts' {
  interface LayerFactories extends ActivationFactories {}
}
