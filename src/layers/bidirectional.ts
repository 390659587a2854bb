/**
 * Bidirectional (TF.js's `layers.bidirectional`, Keras's Bidirectional): runs a recurrent layer
 * over the sequence forwards and a copy of it backwards, and merges the two outputs (ops/sequence.ts:
 * 'concat', the default, 'sum', 'mul' or 'ave'; with returnSequences the backward copy's sequence
 * is reversed into input order first).
 *
 * As in TF.js, both directions are copies built from the wrapped layer's config through the
 * registry: `forward_<name>` as given, `backward_<name>` with goBackwards flipped; the wrapped layer
 * itself only describes them (its config is the `layer` of model.json). The weights are the
 * forward copy's then the backward copy's, named `<bidirectional>/forward_<name>/kernel` and so on.
 * Each direction runs its own forward and backward on its own scratch outputs and gradients; the
 * input gradient is the sum of the two.
 *
 * Not supported, as Errors: mergeMode null (two outputs: a layer node has one here), a wrapped
 * layer that is not SimpleRNN, LSTM or GRU, a wrapped layer with returnState, an
 * activity regularizer on the wrapped layer, and a model.json `backward_layer` other than the
 * copy TF.js builds (TF.js ignores the field; a different one would be a different model).
 */
import { directionsGeometry, mergedShape, mergeDirectionsBackward, mergeDirectionsForward, MERGE_MODES, type DirectionsGeometry, type MergeMode } from '../ops/sequence.ts';
import type { Dispatch, View } from '../runtime/engine.ts';
import { sizeOf } from '../runtime/tensor.ts';
import { describeValue, kerasConfig } from './config.ts';
import { jsonText } from './keras-json.ts';
import { expectInputs, type BackwardContext, type ForwardContext, type MaskRole, type Shape, type TensorMask, type WeightSpec } from './layer.ts';
import { RecurrentLayer } from './recurrent-base.ts';
import type { Regularizer } from './regularizers.ts';
import { layerClass, registerLayer } from './registry.ts';
import { innerLayerFromConfig, Wrapper, type WrapperArgs } from './wrappers.ts';
import { flatDispatch } from '../ops/elementwise.ts';

export type { MergeMode };

export interface BidirectionalConfig extends WrapperArgs {
  /** How the two directions' outputs merge: 'concat' (default), 'sum', 'mul' or 'ave'. TF.js's null (two outputs) is an Error. */
  mergeMode?: MergeMode | null;
}

/** The directions' outputs, kept from the forward for the backward (under these names in ctx.saved). */
const SAVED = { forward: 'bidirectional/forward output', backward: 'bidirectional/backward output' } as const;

/** The config keys Keras writes for its model.json fields that hold no meaning here, at the values that make them no-ops. */
const NEUTRAL: Readonly<Record<string, readonly unknown[]>> = { num_constants: [null] };

/** Config fields that name or place a layer rather than define what it computes (left out when comparing a backward_layer). */
const PLACEMENT = ['name', 'trainable', 'batch_input_shape', 'dtype'];

export class Bidirectional extends Wrapper {
  static override readonly className = 'Bidirectional';
  readonly mergeMode: MergeMode;
  /** The copy that runs the sequence as the wrapped layer does, and the one with goBackwards flipped. */
  readonly forwardLayer: RecurrentLayer;
  readonly backwardLayer: RecurrentLayer;
  /** Each direction's own map of what its forward keeps for its backward, per plan node (ctx.saved). */
  private readonly directionsSaved = new WeakMap<Map<string, View>, [Map<string, View>, Map<string, View>]>();

  constructor(config: BidirectionalConfig) {
    super(config, 'bidirectional', 'Bidirectional', (inner, who) => {
      if (!(inner instanceof RecurrentLayer)) {
        throw new Error(`${who}: layer must be a recurrent layer (layers.simpleRNN, layers.lstm or layers.gru), got ${inner.name} (${inner.className})`);
      }
      if (inner.returnState) {
        throw new Error(`${who}: the wrapped layer ${inner.name} has returnState true, which Bidirectional does not support (its outputs would be the merged output and both directions' states); use two recurrent layers, one with goBackwards, for the states`);
      }
      if (inner.activityRegularizer) {
        throw new Error(`${who}: the wrapped layer ${inner.name} has an activityRegularizer, which Bidirectional does not support (TF.js ignores it); drop it or regularize another layer's output`);
      }
    });
    const mode = config.mergeMode === undefined ? 'concat' : config.mergeMode;
    if (mode === null) {
      throw new Error(`${this.who}: mergeMode null (the two directions as two outputs) is not supported: a layer node has one output in this engine. Use ${MERGE_MODES.map((m) => `'${m}'`).join(', ')}`);
    }
    if (!(MERGE_MODES as readonly unknown[]).includes(mode)) {
      throw new Error(`${this.who}: mergeMode must be one of ${MERGE_MODES.map((m) => `'${m}'`).join(', ')}, got ${describeValue(mode)}`);
    }
    this.mergeMode = mode;
    const inner = this.layer as RecurrentLayer;
    this.forwardLayer = this.copy(inner, `forward_${inner.name}`, inner.goBackwards);
    this.backwardLayer = this.copy(inner, `backward_${inner.name}`, !inner.goBackwards);
  }

  private get who(): string {
    return `layer ${this.name} (Bidirectional)`;
  }

  /** A new layer of the wrapped layer's class from its config, renamed, running the sequence backwards or not (TF.js's deserialize of getConfig). */
  private copy(inner: RecurrentLayer, name: string, goBackwards: boolean): RecurrentLayer {
    const cls = layerClass(inner.className);
    if (!cls) throw new Error(`${this.who}: the wrapped layer's class ${inner.className} is not registered`);
    try {
      return cls.fromConfig({ ...inner.getConfig(), name, go_backwards: goBackwards }) as RecurrentLayer;
    } catch (err) {
      throw new Error(`${this.who}: copying ${inner.name} as ${name}: ${(err as Error).message}`);
    }
  }

  /** Whether the directions' sequence outputs are merged step by step (the wrapped layer's returnSequences). */
  get returnSequences(): boolean {
    return this.forwardLayer.returnSequences;
  }

  /** Each direction's output shape, and the merge's geometry for `batch`. */
  private directions(inputShapes: readonly Shape[], batch: number): { shape: Shape; merge: DirectionsGeometry } {
    expectInputs(this, inputShapes, 1);
    let shape: Shape;
    try {
      shape = this.forwardLayer.computeOutputShape(inputShapes);
    } catch (err) {
      throw new Error(`${this.who}: ${(err as Error).message}`);
    }
    return { shape, merge: directionsGeometry(batch, shape, this.mergeMode, this.who) };
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    return mergedShape(this.directions(inputShapes, 1).merge);
  }

  /** The forward copy's weights, then the backward copy's, each named under its copy's name. */
  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    return [this.forwardLayer, this.backwardLayer].flatMap((layer) => layer.weightSpecs(inputShapes).map((spec) => ({ ...spec, name: `${layer.name}/${spec.name}` })));
  }

  /** How many of the weights are the forward copy's. */
  private forwardWeights(inputShapes: readonly Shape[]): number {
    return this.forwardLayer.weightSpecs(inputShapes).length;
  }

  /** The two directions' own `saved` maps for this node. */
  private savedMaps(saved: Map<string, View>): [Map<string, View>, Map<string, View>] {
    let maps = this.directionsSaved.get(saved);
    if (!maps) this.directionsSaved.set(saved, (maps = [new Map(), new Map()]));
    return maps;
  }

  /** Both copies read the input's mask (ForwardContext.mask reaches them); with returnSequences the output carries it. */
  override get supportsMasking(): boolean {
    return true;
  }

  override computeMask(inputMasks: readonly (TensorMask | null)[], inputShapes: readonly Shape[]): MaskRole {
    this.backwardLayer.computeMask(inputMasks, inputShapes);
    return this.forwardLayer.computeMask(inputMasks, inputShapes);
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const { shape, merge } = this.directions(ctx.inputShapes, ctx.batch);
    const bytes = ctx.batch * sizeOf(shape) * 4;
    const outputs = [ctx.scratch(bytes, `${this.name} forward output`), ctx.scratch(bytes, `${this.name} backward output`)] as const;
    const split = this.forwardWeights(ctx.inputShapes);
    const weights = [ctx.weights.slice(0, split), ctx.weights.slice(split)];
    const saved = this.savedMaps(ctx.saved);
    const dispatches = [this.forwardLayer, this.backwardLayer].flatMap((layer, k) => layer.forward({ ...ctx, output: outputs[k]!, outputShape: shape, weights: weights[k]!, saved: saved[k]! }));
    dispatches.push(...mergeDirectionsForward(ctx.engine, merge, { forward: outputs[0], backward: outputs[1], y: ctx.output }, ctx));
    ctx.saved.set(SAVED.forward, outputs[0]);
    ctx.saved.set(SAVED.backward, outputs[1]);
    return dispatches;
  }

  backward(ctx: BackwardContext): Dispatch[] {
    const { shape, merge } = this.directions(ctx.inputShapes, ctx.batch);
    const dispatches: Dispatch[] = [];
    if (!ctx.saved.has(SAVED.forward) || !ctx.saved.has(SAVED.backward)) {
      // No forward of this node in the plan: run it again, into scratch.
      dispatches.push(...this.forward({ ...ctx, output: ctx.scratch(ctx.batch * sizeOf(ctx.outputShape) * 4, `${this.name} output (recomputed)`) }));
    }
    const outputs = [ctx.saved.get(SAVED.forward)!, ctx.saved.get(SAVED.backward)!] as const;
    const bytes = ctx.batch * sizeOf(shape) * 4;
    const outputGrads = [ctx.scratch(bytes, `${this.name} forward output gradient`), ctx.scratch(bytes, `${this.name} backward output gradient`)] as const;
    dispatches.push(...mergeDirectionsBackward(ctx.engine, merge, { forward: outputs[0], backward: outputs[1], y: ctx.output, dy: ctx.outputGrad, dForward: outputGrads[0], dBackward: outputGrads[1] }, ctx));
    // The forward copy writes the input gradient, the backward copy its own, added to it after.
    const dx = ctx.inputGrads[0] ?? null;
    const inputValues = ctx.batch * sizeOf(ctx.inputShapes[0]!);
    const inputGrads = [dx, dx && ctx.scratch(inputValues * 4, `${this.name} backward input gradient`)] as const;
    const split = this.forwardWeights(ctx.inputShapes);
    const weights = [ctx.weights.slice(0, split), ctx.weights.slice(split)];
    const weightGrads = [ctx.weightGrads.slice(0, split), ctx.weightGrads.slice(split)];
    const saved = this.savedMaps(ctx.saved);
    [this.forwardLayer, this.backwardLayer].forEach((layer, k) => {
      dispatches.push(
        ...layer.backward({
          ...ctx,
          output: outputs[k]!,
          outputShape: shape,
          weights: weights[k]!,
          saved: saved[k]!,
          outputGrad: outputGrads[k]!,
          inputGrads: [inputGrads[k]!],
          weightGrads: weightGrads[k]!,
          reluMaskInputGrad: false,
          outputGradMasked: false,
          forwardPooled: false,
        }),
      );
    });
    if (dx) dispatches.push(flatDispatch(ctx.engine, { op: { kind: 'accumulate' }, n: inputValues }, [inputGrads[1]!, dx]));
    return dispatches;
  }

  /** Checked in the constructor: always none. */
  override get activityRegularizer(): Regularizer | undefined {
    return undefined;
  }

  override checkInputData(values: ArrayLike<number>, sampleShape: Shape, firstSample: number): void {
    this.forwardLayer.checkInputData(values, sampleShape, firstSample);
  }

  /** TF.js's config: merge_mode, the wrapped layer as given, and the base fields. */
  override getConfig(): Record<string, unknown> {
    return {
      merge_mode: this.mergeMode,
      ...super.getConfig(),
      ...(this.batchInputShape ? { batch_input_shape: [...this.batchInputShape], dtype: 'float32' } : {}),
    };
  }

  /**
   * A model.json `backward_layer` (Keras writes one) is accepted when it is the copy this layer
   * builds (and TF.js, which ignores the field): same class, same config but for the name.
   */
  private checkBackwardLayer(value: unknown): void {
    const given = innerLayerFromConfig(value, `Bidirectional ${this.name}: backward_layer`);
    const what = `${this.who}: backward_layer ${given.name} (${given.className})`;
    const ours = this.backwardLayer;
    const tail = `; TF.js ignores backward_layer and runs ${ours.name}, a copy of layer ${this.layer.name} with goBackwards ${ours.goBackwards}, so a different backward layer is not supported`;
    if (given.className !== ours.className) throw new Error(`${what} is not a ${ours.className}${tail}`);
    const a = given.getConfig();
    const b = ours.getConfig();
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (PLACEMENT.includes(key) || jsonText(a[key]) === jsonText(b[key])) continue;
      throw new Error(`${what} has ${key} ${describeValue(a[key])} where that copy has ${describeValue(b[key])}${tail}`);
    }
  }

  /** From the Keras config in model.json: the wrapped layer built by its own class; Keras's backward_layer checked against the copy. */
  static fromConfig(config: unknown): Bidirectional {
    const c = kerasConfig('Bidirectional', config, ['layer', 'merge_mode', 'backward_layer'], NEUTRAL);
    if (c.layer === undefined) throw new Error("Bidirectional: config has no 'layer' (the wrapped recurrent layer's {class_name, config})");
    const layer = innerLayerFromConfig(c.layer, 'Bidirectional');
    const args: BidirectionalConfig = { name: c.name as string | undefined, trainable: c.trainable as boolean | undefined, layer };
    // null is kept: the constructor says why it cannot work.
    if (c.merge_mode !== undefined) args.mergeMode = c.merge_mode as MergeMode | null;
    const bidirectional = new Bidirectional(args);
    if (c.backward_layer !== undefined && c.backward_layer !== null) bidirectional.checkBackwardLayer(c.backward_layer);
    return bidirectional;
  }
}

const bidirectionalFactories = registerLayer(Bidirectional, {
  bidirectional: (config: BidirectionalConfig) => new Bidirectional(config),
});
type BidirectionalFactories = typeof bidirectionalFactories;
declare module './registry.ts' {
  interface LayerFactories extends BidirectionalFactories {}
}
