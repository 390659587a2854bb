/**
 * MultiHeadAttention: Keras's layer (keras.layers.MultiHeadAttention, which TF.js 4.22 lacks) over
 * the multi-head attention op (src/ops/attention.ts), with Keras's semantics, weights and config:
 *
 * - inputs query [batch, Tq, dq], value [batch, Tv, dv] and key [batch, Tv, dk] (key defaults to
 *   value); only rank-3 inputs, so attention_axes can only be the default (over the steps);
 * - projections as Keras's EinsumDense: query/kernel [dq, numHeads, keyDim] + query/bias
 *   [numHeads, keyDim], key/… likewise, value/kernel [dv, numHeads, valueDim], and
 *   attention_output/kernel [numHeads, valueDim, ...outputShape] + its bias [...outputShape]
 *   (outputShape: the query's features by default), glorotUniform and zeros by default (Keras's:
 *   fans of the 3-D kernels as Keras computes them);
 * - scores (Q / sqrt(keyDim))·Kᵀ per head, softmax over the keys a mask keeps: the attention
 *   mask [batch, Tq, Tv] (kept where not 0, as Keras casts it to bool) and, with useCausalMask,
 *   keys j ≤ i; a row with every key masked gives 0 (Keras's Softmax zeroes masked positions);
 *   dropout on the probabilities in training only; the output projection after P·V.
 *
 * Connect it with `mha.apply([query, value])`, `mha.apply([query, value, key])` and, for a mask or a
 * causal mask, `mha.apply([query, value], { attentionMask, useCausalMask: true })`. Its nodes
 * hold [query, value, key] or [query, value, key, mask] (key = value when not given). In Keras
 * useCausalMask is a call argument; here it belongs to the layer (every node of a shared layer
 * must agree), may also be given in the config, and is saved in model.json as Keras saves it: a
 * call argument of the node (src/io/call-arguments.ts).
 */
import { registerLayer } from './registry.ts';
import type { Dispatch, View } from '../runtime/engine.ts';
import { formatShape, sizeOf } from '../runtime/tensor.ts';
import {
  multiHeadAttentionBackward,
  multiHeadAttentionForward,
  multiHeadAttentionGeometry,
  multiHeadAttentionStateFloats,
  type MultiHeadAttentionGeometry,
  type MultiHeadAttentionState,
  type MultiHeadAttentionWeights,
} from '../ops/attention.ts';
import type { CallArgument, KerasCall, KerasCallLayer } from '../io/call-arguments.ts';
import { describeValue, initializerConfig, initializerFromConfig, kerasConfig, parseRegularization, regularizationFromConfig, regularizationKeys, regularized, type WeightRegularization } from './config.ts';
import { regularizerConfig, type RegularizerIdentifier } from './regularizers.ts';
import { constraintConfig, type ConstraintIdentifier } from './constraints.ts';
import { parseInitializer, type Initializer } from './initializers.ts';
import { isSymbolicTensor, Layer, type BackwardContext, type ForwardContext, type GraphNode, type LayerArgs, type Shape, type SymbolicTensor, type WeightSpec } from './layer.ts';

export interface MultiHeadAttentionConfig extends LayerArgs {
  numHeads: number;
  /** Size of each head for query and key. */
  keyDim: number;
  /** Size of each head for value; keyDim by default. */
  valueDim?: number | null;
  /** Dropout rate on the attention probabilities (training only). Default 0. */
  dropout?: number;
  useBias?: boolean;
  /** The output's features (a size or sizes after the steps); the query's features by default. */
  outputShape?: number | readonly number[] | null;
  /** Only the default (null, or 1: the steps axis of [batch, steps, features] inputs). */
  attentionAxes?: number | readonly number[] | null;
  /** Default glorotUniform (Keras's). */
  kernelInitializer?: Initializer | string;
  biasInitializer?: Initializer | string;
  kernelRegularizer?: RegularizerIdentifier | null;
  biasRegularizer?: RegularizerIdentifier | null;
  /** Not supported (Keras applies it to each of the four projections' outputs): null only. */
  activityRegularizer?: null;
  kernelConstraint?: ConstraintIdentifier | null;
  biasConstraint?: ConstraintIdentifier | null;
  /** The attention dropout's seed; derived from the layer's name when absent. */
  seed?: number | null;
  /** A call argument in Keras (apply's `useCausalMask`); here also the layer's default. Default false. */
  useCausalMask?: boolean;
}

/** apply()'s call arguments, as Keras's call takes them. */
export interface MultiHeadAttentionCallArgs {
  /** [batch, Tq, Tv]: where it is 0 the query does not attend to the key. */
  attentionMask?: SymbolicTensor;
  /** Queries attend to keys at or before their own step only. */
  useCausalMask?: boolean;
}

/** TF.js-style regularizer/constraint field prefixes → the weights they apply to (all four projections). */
const REGULARIZED = { kernel: 'kernel', bias: 'bias' } as const;
/** The projections' names, in Keras's weight order. */
const PROJECTIONS = ['query', 'key', 'value', 'attention_output'] as const;
const STATE_NAMES = ['q', 'k', 'v', 'o', 'stats'] as const;
const KERAS_CALL_KEYS = ['value', 'key', 'attention_mask', 'use_causal_mask', 'return_attention_scores', 'training'];

function positiveInteger(value: unknown, what: string): number {
  if (!Number.isInteger(value) || (value as number) <= 0) throw new Error(`${what} must be a positive integer, got ${describeValue(value)}`);
  return value as number;
}

export class MultiHeadAttention extends Layer implements KerasCallLayer {
  static override readonly className = 'MultiHeadAttention';
  readonly numHeads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly dropout: number;
  readonly useBias: boolean;
  /** The configured output features (Keras's output_shape), or null for the query's. */
  readonly outputDims: readonly number[] | null;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  readonly regularization: Readonly<Record<string, WeightRegularization>>;
  /** The seed as configured (null: derived from the name); `dropoutSeed` is what the kernels hash. */
  readonly seed: number | null;
  readonly dropoutSeed: number;
  /** Whether queries attend only to keys at or before their step (set by the config or the first apply). */
  useCausalMask: boolean;
  private readonly where: string;

  constructor(config: MultiHeadAttentionConfig) {
    if (!config || typeof config !== 'object') throw new Error(`MultiHeadAttention: expected a config object like { numHeads: 2, keyDim: 16 }, got ${describeValue(config)}`);
    super(config, 'multi_head_attention');
    const where = (this.where = `MultiHeadAttention ${this.name}`);
    this.numHeads = positiveInteger(config.numHeads, `${where}: numHeads`);
    this.keyDim = positiveInteger(config.keyDim, `${where}: keyDim`);
    this.valueDim = config.valueDim === undefined || config.valueDim === null ? this.keyDim : positiveInteger(config.valueDim, `${where}: valueDim`);
    const dropout = config.dropout ?? 0;
    if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) throw new Error(`${where}: dropout must be a number in [0, 1), got ${describeValue(config.dropout)}`);
    this.dropout = dropout;
    if (config.useBias !== undefined && typeof config.useBias !== 'boolean') throw new Error(`${where}: useBias must be true or false, got ${describeValue(config.useBias)}`);
    this.useBias = config.useBias ?? true;
    const out = config.outputShape;
    if (out === undefined || out === null) this.outputDims = null;
    else if (typeof out === 'number') this.outputDims = [positiveInteger(out, `${where}: outputShape`)];
    else if (Array.isArray(out) && out.length > 0 && out.every((d) => Number.isInteger(d) && d > 0)) this.outputDims = [...out];
    else throw new Error(`${where}: outputShape must be a positive integer or a non-empty array of them (the output's sizes after the steps), got ${describeValue(out)}`);
    const axes = config.attentionAxes;
    if (!(axes === undefined || axes === null || axes === 1 || (Array.isArray(axes) && axes.length === 1 && axes[0] === 1))) {
      throw new Error(`${where}: attentionAxes must be null (the default: attention over the steps of [batch, steps, features] inputs, which Keras writes as [1]); other axes are not supported, got ${describeValue(axes)}`);
    }
    this.kernelInitializer = parseInitializer(config.kernelInitializer ?? 'glorotUniform', `${where}: kernelInitializer`);
    this.biasInitializer = parseInitializer(config.biasInitializer ?? 'zeros', `${where}: biasInitializer`);
    this.regularization = parseRegularization(config, REGULARIZED, where);
    if (config.activityRegularizer !== undefined && config.activityRegularizer !== null) {
      throw new Error(`${where}: activityRegularizer is not supported (Keras applies it to the outputs of each of the four projections, which this engine cannot penalize), got ${describeValue(config.activityRegularizer)}`);
    }
    const seed = config.seed ?? null;
    if (seed !== null && !(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw new Error(`${where}: seed must be null or an integer in [0, 2^32), got ${describeValue(seed)}`);
    this.seed = seed;
    // Distinct layers get distinct dropout masks under the same fit seed (as Dropout).
    this.dropoutSeed = seed ?? [...this.name].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0, 2166136261);
    if (config.useCausalMask !== undefined && typeof config.useCausalMask !== 'boolean') throw new Error(`${where}: useCausalMask must be true or false, got ${describeValue(config.useCausalMask)}`);
    this.useCausalMask = config.useCausalMask ?? false;
  }

  /**
   * Connects the layer: `[query, value]` or `[query, value, key]`, and the call arguments
   * (attentionMask, useCausalMask). The node's inputs become [query, value, key(, mask)].
   */
  override apply(inputs: SymbolicTensor | readonly SymbolicTensor[], args: MultiHeadAttentionCallArgs = {}): SymbolicTensor {
    const list = isSymbolicTensor(inputs) ? [inputs] : inputs;
    if (!Array.isArray(list) || list.length < 2 || list.length > 3 || !list.every(isSymbolicTensor)) {
      throw new TypeError(`layer ${this.name} (MultiHeadAttention): apply() takes [query, value] or [query, value, key] (symbolic tensors; key defaults to value), got ${Array.isArray(list) ? `${list.length} value(s)` : describeValue(list)}`);
    }
    if (!args || typeof args !== 'object') throw new TypeError(`layer ${this.name} (MultiHeadAttention): apply()'s call arguments must be { attentionMask?, useCausalMask? }, got ${describeValue(args)}`);
    for (const key of Object.keys(args)) {
      if (key !== 'attentionMask' && key !== 'useCausalMask') throw new Error(`layer ${this.name} (MultiHeadAttention): unknown call argument '${key}'; known: attentionMask, useCausalMask`);
    }
    const mask = args.attentionMask;
    if (mask !== undefined && mask !== null && !isSymbolicTensor(mask)) throw new TypeError(`layer ${this.name} (MultiHeadAttention): attentionMask must be a symbolic tensor [batch, Tq, Tv], got ${describeValue(mask)}`);
    const causal = args.useCausalMask ?? this.useCausalMask;
    if (typeof causal !== 'boolean') throw new TypeError(`layer ${this.name} (MultiHeadAttention): useCausalMask must be true or false, got ${describeValue(causal)}`);
    if (this.inboundNodes.length > 0 && causal !== this.useCausalMask) {
      throw new Error(`layer ${this.name} (MultiHeadAttention) is applied with useCausalMask ${causal}, but its earlier node(s) use ${this.useCausalMask}; every node of a shared layer must agree`);
    }
    const [query, value, key = value] = list as SymbolicTensor[];
    const node = [query!, value!, key!, ...(mask ? [mask] : [])];
    // computeOutputShape (in super.apply) validates the shapes before the flag changes.
    const output = super.apply(node);
    this.useCausalMask = causal;
    return output;
  }

  /** Keras's call for a node: the query, then value, key (when it is not value), the mask and the causal flag. */
  kerasCall(node: GraphNode): KerasCall {
    const [query, value, key, mask] = node.inputs;
    const kwargs: Record<string, CallArgument> = { value: value! };
    if (key !== value) kwargs.key = key!;
    if (mask) kwargs.attention_mask = mask;
    if (this.useCausalMask) kwargs.use_causal_mask = true;
    return { inputs: [query!], kwargs };
  }

  /** Applies the layer as Keras's call with these arguments (model.json's inbound node) would. */
  applyKerasCall(call: KerasCall): SymbolicTensor {
    const { inputs, kwargs } = call;
    for (const key of Object.keys(kwargs)) {
      if (!KERAS_CALL_KEYS.includes(key)) throw new Error(`${this.where}: unknown call argument '${key}'; known: ${KERAS_CALL_KEYS.join(', ')}`);
    }
    const tensor = (name: string, required: boolean): SymbolicTensor | undefined => {
      const v = kwargs[name];
      if (v === undefined || v === null) {
        if (required) throw new Error(`${this.where}: the call needs '${name}' (a tensor reference)`);
        return undefined;
      }
      if (!isSymbolicTensor(v)) throw new Error(`${this.where}: call argument '${name}' must be a tensor reference, got ${describeValue(v)}`);
      return v;
    };
    if (kwargs.return_attention_scores !== undefined && kwargs.return_attention_scores !== false) throw new Error(`${this.where}: return_attention_scores ${describeValue(kwargs.return_attention_scores)} is not supported, only false`);
    if (kwargs.training !== undefined && kwargs.training !== null) throw new Error(`${this.where}: a fixed training call argument (${describeValue(kwargs.training)}) is not supported; the mode follows fit/predict`);
    const causal = kwargs.use_causal_mask ?? false;
    if (typeof causal !== 'boolean') throw new Error(`${this.where}: use_causal_mask must be true or false, got ${describeValue(causal)}`);
    // Keras's query may come positionally with value and key ([q, v(, k)]) or with value as a call argument.
    const value = tensor('value', inputs.length < 2);
    const key = tensor('key', false);
    const list = value ? [...inputs, value, ...(key ? [key] : [])] : [...inputs, ...(key ? [key] : [])];
    return this.apply(list, { attentionMask: tensor('attention_mask', false), useCausalMask: causal });
  }

  /** Output features: outputShape, or the query's. */
  private outputFeatures(queryShape: Shape): number[] {
    return this.outputDims ? [...this.outputDims] : [queryShape[queryShape.length - 1]!];
  }

  private geometry(batch: number, inputShapes: readonly Shape[], training: boolean): MultiHeadAttentionGeometry {
    const who = `layer ${this.name} (MultiHeadAttention)`;
    if (inputShapes.length !== 3 && inputShapes.length !== 4) throw new Error(`${who} takes [query, value, key] and an optional mask, got ${inputShapes.length} input(s)`);
    const names = ['query', 'value', 'key'];
    for (const [i, shape] of inputShapes.slice(0, 3).entries()) {
      if (shape.length !== 2 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
        throw new Error(`${who}: ${names[i]} must have shape [batch, steps, features] (rank 3 with the batch; other ranks need attention_axes, which are not supported), got ${formatShape([null, ...shape])}`);
      }
    }
    const [query, value, key] = inputShapes as [Shape, Shape, Shape];
    if (key[0] !== value[0]) throw new Error(`${who}: key and value must have the same steps, got key ${formatShape([null, ...key])} and value ${formatShape([null, ...value])}`);
    const mask = inputShapes[3];
    if (mask && (mask.length !== 2 || mask[0] !== query[0] || mask[1] !== value[0])) {
      throw new Error(`${who}: the attention mask must have shape [batch, Tq, Tv] = ${formatShape([null, query[0]!, value[0]!])}, got ${formatShape([null, ...mask])}`);
    }
    const attention = { batch, heads: this.numHeads, queries: query[0]!, keys: value[0]!, keyDim: this.keyDim, valueDim: this.valueDim, mask: !!mask, causal: this.useCausalMask, dropout: training ? this.dropout : 0, seed: this.dropoutSeed };
    const sizes = { attention, queryFeatures: query[1]!, keyFeatures: key[1]!, valueFeatures: value[1]!, outputFeatures: sizeOf(this.outputFeatures(query)), bias: this.useBias };
    return multiHeadAttentionGeometry(sizes, who);
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    this.geometry(1, inputShapes, false);
    return [inputShapes[0]![0]!, ...this.outputFeatures(inputShapes[0]!)];
  }

  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    const g = this.geometry(1, inputShapes, false);
    const [h, k, v] = [this.numHeads, this.keyDim, this.valueDim];
    const out = this.outputFeatures(inputShapes[0]!);
    const kernels: Record<(typeof PROJECTIONS)[number], Shape> = { query: [g.query.inputs, h, k], key: [g.key.inputs, h, k], value: [g.value.inputs, h, v], attention_output: [h, v, ...out] };
    const biases: Record<(typeof PROJECTIONS)[number], Shape> = { query: [h, k], key: [h, k], value: [h, v], attention_output: out };
    const specs: WeightSpec[] = [];
    const byName: Record<string, WeightRegularization> = {};
    for (const p of PROJECTIONS) {
      specs.push({ name: `${p}/kernel`, shape: kernels[p], initializer: this.kernelInitializer });
      if (this.useBias) specs.push({ name: `${p}/bias`, shape: biases[p], initializer: this.biasInitializer });
      byName[`${p}/kernel`] = this.regularization.kernel!;
      byName[`${p}/bias`] = this.regularization.bias!;
    }
    return regularized(specs, byName, this.where);
  }

  /** The weights (or their gradients) in weightSpecs order as the op's named views. */
  private named(views: readonly View[]): MultiHeadAttentionWeights {
    const at = (p: number, bias: boolean) => views[p * (this.useBias ? 2 : 1) + (bias ? 1 : 0)]!;
    const w = (p: number) => ({ kernel: at(p, false), bias: this.useBias ? at(p, true) : undefined });
    const [q, k, v, o] = [w(0), w(1), w(2), w(3)];
    return { queryKernel: q.kernel, queryBias: q.bias, keyKernel: k.kernel, keyBias: k.bias, valueKernel: v.kernel, valueBias: v.bias, outputKernel: o.kernel, outputBias: o.bias };
  }

  /** Scratch for what the forward keeps for the backward (in ctx.saved). */
  private newState(ctx: ForwardContext, g: MultiHeadAttentionGeometry): MultiHeadAttentionState {
    const floats = multiHeadAttentionStateFloats(g);
    const state = {} as MultiHeadAttentionState;
    for (const name of STATE_NAMES) {
      state[name] = ctx.scratch(floats[name] * 4, `${this.name} attention ${name}`);
      ctx.saved.set(`attention ${name}`, state[name]);
    }
    return state;
  }

  private forwardDispatches(ctx: ForwardContext, g: MultiHeadAttentionGeometry, state: MultiHeadAttentionState): Dispatch[] {
    const [query, value, key, mask] = ctx.inputs;
    return multiHeadAttentionForward(ctx.engine, g, { query: query!, value: value!, key: key!, mask, stepInfo: ctx.stepInfo, weights: this.named(ctx.weights), state, y: ctx.output });
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes, ctx.training);
    return this.forwardDispatches(ctx, g, this.newState(ctx, g));
  }

  backward(ctx: BackwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes, ctx.training);
    const kept = STATE_NAMES.map((name) => ctx.saved.get(`attention ${name}`));
    const dispatches: Dispatch[] = [];
    let state: MultiHeadAttentionState;
    if (kept.every((v) => v !== undefined)) {
      state = Object.fromEntries(STATE_NAMES.map((name, i) => [name, kept[i]!])) as unknown as MultiHeadAttentionState;
    } else {
      // No forward of this plan kept its state: recompute it (it rewrites the same output).
      state = this.newState(ctx, g);
      dispatches.push(...this.forwardDispatches(ctx, g, state));
    }
    const [query, value, key, mask] = ctx.inputs;
    const [dQuery, dValue, dKey, dMask] = ctx.inputGrads;
    dispatches.push(
      ...multiHeadAttentionBackward(ctx.engine, g, {
        query: query!,
        value: value!,
        key: key!,
        mask,
        stepInfo: ctx.stepInfo,
        weights: this.named(ctx.weights),
        state,
        dy: ctx.outputGrad,
        dQuery: dQuery ?? null,
        dValue: dValue ?? null,
        dKey: dKey ?? null,
        dMask: dMask ?? null,
        grads: this.named(ctx.weightGrads),
        scratch: (floats, label) => ctx.scratch(floats * 4, `${this.name} ${label}`),
      }),
    );
    return dispatches;
  }

  override getConfig(): Record<string, unknown> {
    return {
      ...super.getConfig(),
      num_heads: this.numHeads,
      key_dim: this.keyDim,
      value_dim: this.valueDim,
      dropout: this.dropout,
      use_bias: this.useBias,
      output_shape: this.outputDims ? [...this.outputDims] : null,
      attention_axes: null,
      kernel_initializer: initializerConfig(this.kernelInitializer),
      bias_initializer: initializerConfig(this.biasInitializer),
      kernel_regularizer: regularizerConfig(this.regularization.kernel?.regularizer),
      bias_regularizer: regularizerConfig(this.regularization.bias?.regularizer),
      activity_regularizer: null,
      kernel_constraint: constraintConfig(this.regularization.kernel?.constraint),
      bias_constraint: constraintConfig(this.regularization.bias?.constraint),
      seed: this.seed,
    };
  }

  /**
   * From the Keras config in model.json (the constructor validates the values). use_causal_mask is
   * ours (Keras passes it to the call); tf.keras 2 also writes the inputs' shapes (query_shape, …),
   * which the graph's tensors carry, so they are only checked for form.
   */
  static fromConfig(config: unknown): MultiHeadAttention {
    const shapes = ['query_shape', 'key_shape', 'value_shape'];
    const keys = ['num_heads', 'key_dim', 'value_dim', 'dropout', 'use_bias', 'output_shape', 'attention_axes', 'kernel_initializer', 'bias_initializer', ...regularizationKeys(Object.keys(REGULARIZED)), 'activity_regularizer', 'seed', 'use_causal_mask', ...shapes];
    const c = kerasConfig('MultiHeadAttention', config, keys, { flash_attention: [null, false] });
    for (const key of shapes) {
      const v = c[key];
      if (!(v === undefined || v === null || (Array.isArray(v) && v.every((d) => d === null || (Number.isInteger(d) && d > 0))))) throw new Error(`MultiHeadAttention: ${key} must be null or a shape like [null, 8, 16], got ${describeValue(v)}`);
    }
    return new MultiHeadAttention({
      name: c.name as string | undefined,
      numHeads: c.num_heads as number,
      keyDim: c.key_dim as number,
      valueDim: c.value_dim as number | null | undefined,
      dropout: (c.dropout ?? undefined) as number | undefined,
      useBias: (c.use_bias ?? undefined) as boolean | undefined,
      outputShape: c.output_shape as number | number[] | null | undefined,
      attentionAxes: c.attention_axes as number | number[] | null | undefined,
      kernelInitializer: initializerFromConfig(c.kernel_initializer, 'MultiHeadAttention: kernel_initializer'),
      biasInitializer: initializerFromConfig(c.bias_initializer, 'MultiHeadAttention: bias_initializer'),
      ...regularizationFromConfig(c, Object.keys(REGULARIZED), 'MultiHeadAttention'),
      activityRegularizer: c.activity_regularizer as null | undefined,
      seed: c.seed as number | null | undefined,
      useCausalMask: (c.use_causal_mask ?? undefined) as boolean | undefined,
    });
  }
}

const multiHeadAttentionFactories = registerLayer(MultiHeadAttention, {
  multiHeadAttention: (config: MultiHeadAttentionConfig) => new MultiHeadAttention(config),
});
type MultiHeadAttentionFactories = typeof multiHeadAttentionFactories;
declare module './registry.ts' {
  interface LayerFactories extends MultiHeadAttentionFactories {}
}
