/**
 * The one contract every layer meets, and the symbolic tensors `layer.apply(x)` connects (a node is
 * a layer with its input edges; `model({ inputs, outputs })` walks back from the outputs): shape inference (`computeOutputShape`), its weights
 * (`weightSpecs`), and the dispatches of its forward and backward passes for a given batch size.
 * Dispatches are built once per plan (model × batch size) and replayed each step, so a layer's
 * forward/backward run at plan-build time only: they create bind groups, never encode.
 */
import type { BufferView, Dispatch, Engine } from '../runtime/engine.ts';
import type { Initializer } from './initializers.ts';
import type { Regularizer } from './regularizers.ts';
import type { Constraint } from './constraints.ts';
import type { ActivationName } from '../ops/activation.ts';
import { formatShape, type Shape } from '../runtime/tensor.ts';

export type { ActivationName, Shape };

// ---- symbolic tensors: the edges of a model's graph before any data exists ----

export interface GraphNode {
  readonly layer: Layer;
  readonly inputs: readonly SymbolicTensor[];
  /** Every output, in the layer's order (Keras's tensor indices); most layers have one. */
  readonly outputs: readonly SymbolicTensor[];
  /** outputs[0]: the output the fusion passes and the mask concern. */
  readonly output: SymbolicTensor;
}

let nextId = 0;

export class SymbolicTensor {
  readonly id = nextId++;
  /** Set once by the node that produces this tensor. */
  producer!: GraphNode;
  /** Its place among the producer's outputs (Keras's tensor index in model.json references). */
  index = 0;
  /** The Keras mask this tensor carries (Layer.computeMask), set once by the node that produces it. */
  mask: TensorMask | null = null;
  constructor(readonly shape: Shape) {}

  /** Keras's shape with the batch dimension: [null, ...shape]. */
  get batchShape(): (number | null)[] {
    return [null, ...this.shape];
  }
}

export function isSymbolicTensor(value: unknown): value is SymbolicTensor {
  return value instanceof SymbolicTensor;
}

// ---- masks: Keras's supports_masking and compute_mask ----

/**
 * A Keras mask over a tensor's leading positions: f32 [batch, ...shape], 1 where a step counts and
 * 0 where it is padding, written once per step by the layer of `node` (Layer.maskForward) and
 * handed on unchanged by the layers that support masking.
 */
export interface TensorMask {
  /** Its per-sample shape: the shape, without its last axis, of the tensor it was made for. */
  readonly shape: Shape;
  /** The node whose layer writes it. */
  readonly node: GraphNode;
}

/** What a layer does with masks: make its output's own, hand its input's on unchanged, or carry none. */
export type MaskRole = 'none' | 'propagate' | 'produce';


export interface WeightSpec {
  /** Keras name suffix: 'kernel' or 'bias'. */
  name: string;
  shape: Shape;
  initializer: Initializer;
  /**
   * Initializes the weight piece by piece along its flat values instead, each piece with its own
   * initializer (an LSTM's bias with unitForgetBias: [bias, ones, bias, bias] over the gates).
   */
  parts?: readonly { initializer: Initializer; size: number }[];
  /**
   * False for state that the layer itself updates (BatchNormalization's moving statistics): kept
   * beside the parameters, saved and loaded with them, never touched by the optimizer.
   */
  trainable?: boolean;
  /** Its penalty joins the training loss and its gradient the weight's (the plan's regularization stage). */
  regularizer?: Regularizer;
  /** Projects the weight after each optimizer step (the plan's constraint stage). */
  constraint?: Constraint;
}

export interface ForwardContext {
  engine: Engine;
  batch: number;
  /** One view per input, each `[batch, ...inputShapes[i]]` float32. */
  inputs: readonly Required<BufferView>[];
  inputShapes: readonly Shape[];
  /** `[batch, ...outputShape]` float32; for layers that alias their input it equals inputs[0]. */
  output: Required<BufferView>;
  outputShape: Shape;
  /**
   * Every output of the node (Layer.computeOutputShapes), `outputs[0]` being `output`: a layer
   * with several (a recurrent layer's final states) writes them all. The plan sets both; a caller
   * driving a one-output layer by hand may leave them out.
   */
  outputs?: readonly Required<BufferView>[];
  outputShapes?: readonly Shape[];
  /** Weight views in `weightSpecs` order. */
  weights: readonly Required<BufferView>[];
  training: boolean;
  /** Uniform of the plan's per-step values: `{ step: u32, seed: u32 }` (dropout masks use them). */
  stepInfo: Required<BufferView>;
  /**
   * The mask an input carries (TensorMask: f32 [batch, ...its shape], 1 kept, 0 masked), when one
   * does (the first input's that does); recurrent layers carry their state over the masked steps.
   */
  mask?: Required<BufferView>;
  /** Extra device memory for the plan's lifetime (freed with the plan). */
  scratch(byteLength: number, label: string): Required<BufferView>;
  /**
   * Views the layer's forward keeps for its backward in the same plan (the same map in both
   * contexts), such as an input already transformed; the backward must not rely on an entry.
   */
  saved: Map<string, Required<BufferView>>;
}

export interface BackwardContext extends ForwardContext {
  /** dL/d(output), `[batch, ...outputShape]`. Layers may overwrite it (it is not read afterwards). */
  outputGrad: Required<BufferView>;
  /** dL/d(outputs[i]) for every output, `outputGrads[0]` being `outputGrad`; zeros where nothing reads an output (set by the plan, as `outputs`). */
  outputGrads?: readonly Required<BufferView>[];
  /** Where to write dL/d(input i) (overwrite); null when nobody needs it (e.g. the model input). */
  inputGrads: readonly (Required<BufferView> | null)[];
  /** Where to write dL/dW for each weight (overwrite). */
  weightGrads: readonly Required<BufferView>[];
  /**
   * The ReLU mask is fused across the two layers (the plan sets both sides, see Layer.masksReluInputGrad):
   * `reluMaskInputGrad` asks this layer to multiply its input gradient by [input > 0];
   * `outputGradMasked` tells the layer that produced that input that its fused ReLU's mask is applied.
   */
  reluMaskInputGrad?: boolean;
  outputGradMasked?: boolean;
  /** This layer's forward applied the max pool reading its output (Layer.forwardPooled). */
  forwardPooled?: boolean;
}

/** A per-channel affine map's parameters, one float per channel each (Layer.inferenceAffine). */
export interface AffineViews {
  scale: Required<BufferView>;
  shift: Required<BufferView>;
}

/** The config fields every layer takes (TF.js's LayerArgs). */
export interface LayerArgs {
  name?: string;
  trainable?: boolean;
  inputShape?: readonly number[];
  batchInputShape?: readonly (number | null)[];
}


export abstract class Layer {
  /** Keras class name, shown by summary() and saved in model.json (each class sets its own). */
  static readonly className: string = 'Layer';
  get className(): string {
    return (this.constructor as typeof Layer).className;
  }
  /** The Keras class name (TF.js's `getClassName()`). */
  getClassName(): string {
    return this.className;
  }
  name: string;
  /** Set on an input layer's successor when the user passes `inputShape`. */
  readonly batchInputShape?: readonly (number | null)[];
  /** Layers whose output is the input buffer itself (Flatten, Reshape, inference Dropout). */
  aliasesInput(_training: boolean): boolean {
    return false;
  }

  /**
   * Whether the optimizer updates this layer's weights. Set it (or `trainable: false` in the config)
   * before compile() to freeze the layer, as in Keras; a frozen layer's weights stay in the model,
   * listed after the trainable ones, and a frozen BatchNormalization runs in inference mode.
   */
  trainable: boolean;

  constructor(config: LayerArgs, defaultPrefix: string) {
    this.name = config.name ?? uniqueName(defaultPrefix);
    if (config.trainable !== undefined && typeof config.trainable !== 'boolean') {
      throw new Error(`layer ${this.name}: trainable must be true or false, got ${JSON.stringify(config.trainable)}`);
    }
    this.trainable = config.trainable ?? true;
    if (config.batchInputShape) this.batchInputShape = [...config.batchInputShape];
    else if (config.inputShape) this.batchInputShape = [null, ...config.inputShape];
  }

  /** Validates the inputs and returns the output shape; throws an Error naming what is wrong. */
  abstract computeOutputShape(inputShapes: readonly Shape[]): Shape;

  /**
   * Every output's shape, for a layer with several outputs (a recurrent layer with returnState: its
   * output, then its final states); the first is computeOutputShape's.
   */
  computeOutputShapes(inputShapes: readonly Shape[]): Shape[] {
    return [this.computeOutputShape(inputShapes)];
  }

  weightSpecs(_inputShapes: readonly Shape[]): WeightSpec[] {
    return [];
  }

  /**
   * The regularizer of this layer's output (its activation included), when it has one: in
   * training the plan adds its penalty over the batch's real rows, divided by their number (Keras
   * 2), to the loss, and its gradient to the output's.
   */
  get activityRegularizer(): Regularizer | undefined {
    return undefined;
  }

  /** The activation applied after this layer's main op, when it is one the plan should split out. */
  get activation(): ActivationName {
    return 'linear';
  }

  /**
   * The activations this layer's own kernels apply; the plan runs any other as an op after it
   * (or folds it into the loss), and the layer's kernels then compute the linear output.
   */
  get fusedActivations(): readonly ActivationName[] {
    return ['linear'];
  }

  /**
   * Whether this layer's backward can apply a preceding fused ReLU's mask to its input gradient at
   * no cost (BackwardContext.reluMaskInputGrad), and whether a fused ReLU of this layer's own
   * honours BackwardContext.outputGradMasked by skipping its mask.
   */
  get masksReluInputGrad(): boolean {
    return false;
  }
  get skipsMaskedRelu(): boolean {
    return false;
  }

  abstract forward(ctx: ForwardContext): Dispatch[];
  abstract backward(ctx: BackwardContext): Dispatch[];

  /**
   * This layer's forward followed by a 2×2 max pool at stride 2 ('valid'), with ctx.output the
   * pooled tensor, when a kernel of this layer can pool before storing (saving the pool's pass and
   * the store of the unpooled output); null otherwise, and the plan runs both. For training,
   * `argmax` receives each window's first-max positions (shaders/pool.ts POOL_WINDOW_WGSL), which
   * the pool's backward reads instead of the unpooled output; the layer's own backward then gets
   * no output (ctx.output) and must not need one: the pool applies a fused ReLU's mask.
   */
  forwardPooled(_ctx: ForwardContext, _argmax?: Required<BufferView>): Dispatch[] | null {
    return null;
  }

  /**
   * Whether this layer is a 2×2 max pool at stride 2 ('valid') that the producer of its input may
   * apply itself (forwardPooled) for an input of this shape; in training its backward must then
   * route the gradient from the saved first-max positions (ops/pool.ts POOL_ARGMAX).
   */
  poolsInProducer(_inputShape: Shape, _training: boolean): boolean {
    return false;
  }

  /**
   * Inference: when this layer is a per-channel affine map of its input's last axis
   * (y = x·scale + shift, a BatchNormalization's moving statistics), the dispatches writing
   * `scale` and `shift` from its weights (marked weightsOnly); null otherwise. The plan then folds
   * the map into the producer of its input (forwardAffine) and skips this layer.
   */
  inferenceAffine(_ctx: ForwardContext, _affine: AffineViews): Dispatch[] | null {
    return null;
  }

  /**
   * Inference: this layer's forward with a per-output-channel affine map folded into its weights,
   * and `activation` (one of fusedActivations) applied by its kernels; null when it cannot.
   */
  forwardAffine(_ctx: ForwardContext, _affine: AffineViews, _activation: ActivationName): Dispatch[] | null {
    return null;
  }

  /** The activation this layer applies and nothing else (an Activation layer, a plain ReLU), which a producer may apply instead. */
  get onlyActivation(): ActivationName | undefined {
    return undefined;
  }

  /**
   * Keras's supports_masking: the layer accepts an input that carries a mask, and by default hands
   * it on to its output unchanged (Dense over a sequence, Dropout, Activation, the normalizations);
   * recurrent layers read it (ForwardContext.mask).
   */
  get supportsMasking(): boolean {
    return false;
  }

  /**
   * Keras's compute_mask, decided once per node when the layer is applied: 'produce' when the layer
   * makes its output's mask (maskForward writes it), 'propagate' when its output carries its
   * input's mask unchanged, 'none' when it carries none. `inputMasks` has each input's mask (null:
   * none). The default hands a mask on when the layer supports masking and otherwise refuses it: a
   * layer that would treat padding as data is an Error, not a silently different model.
   */
  computeMask(inputMasks: readonly (TensorMask | null)[], _inputShapes: readonly Shape[]): MaskRole {
    const index = inputMasks.findIndex((m) => m !== null);
    if (index < 0) return 'none';
    const mask = inputMasks[index]!;
    const from = (m: TensorMask) => `layer ${m.node.layer.name} (${m.node.layer.className})`;
    if (!this.supportsMasking) {
      throw new Error(
        `layer ${this.name} (${this.className}) does not support masking, but its input${inputMasks.length > 1 ? ` ${index}` : ''} carries the mask of ${from(mask)}: ` +
          'it would treat the masked steps as data. Let a layer that consumes the mask come first (a recurrent layer without returnSequences), or drop the mask (maskZero: false, no Masking layer).',
      );
    }
    const other = inputMasks.find((m) => m !== null && m !== mask);
    if (other) throw new Error(`layer ${this.name} (${this.className}) receives two different masks, from ${from(mask)} and ${from(other)}; combining masks is not supported`);
    return 'propagate';
  }

  /**
   * A layer whose computeMask says 'produce': the dispatches writing its output's mask into `mask`
   * (f32 [batch, ...the output's shape without its last axis], 1 kept, 0 masked), built once per
   * plan; they run before the layer's forward and read only its inputs.
   */
  maskForward(_ctx: Omit<ForwardContext, 'output'>, _mask: Required<BufferView>): Dispatch[] {
    throw new Error(`layer ${this.name} (${this.className}) says it produces a mask but has no maskForward`);
  }

  /**
   * Checks a batch of a model input this layer reads directly, on the host before it is uploaded
   * (Embedding's ids must lie in [0, inputDim)); throws an Error naming the sample and the value.
   * `sampleShape` excludes the batch; `firstSample` is the index of values[0]'s sample in the data.
   */
  checkInputData(_values: ArrayLike<number>, _sampleShape: Shape, _firstSample: number): void {}

  /**
   * The nodes this layer was applied at, in order (TF.js's `inboundNodes`). A layer applied at
   * several nodes shares its weights between them: their gradients add up.
   */
  readonly inboundNodes: GraphNode[] = [];

  /**
   * Connects this layer in a functional graph: `const y = layers.dense({ units: 10 }).apply(x)`.
   * A layer with several outputs returns them as an array, as TF.js's apply does; its class types
   * that (a recurrent layer's apply with returnState), and applyAll() returns every layer's outputs
   * as an array.
   */
  apply(inputs: SymbolicTensor | readonly SymbolicTensor[]): SymbolicTensor {
    const outputs = this.applyAll(inputs);
    if (outputs.length !== 1) throw new Error(`layer ${this.name} (${this.className}) has ${outputs.length} outputs; its class's apply returns them`);
    return outputs[0]!;
  }

  /** Connects this layer like apply() and returns every output of the new node. */
  applyAll(inputs: SymbolicTensor | readonly SymbolicTensor[]): SymbolicTensor[] {
    const list = isSymbolicTensor(inputs) ? [inputs] : inputs;
    if (!Array.isArray(list) || list.length === 0 || !list.every(isSymbolicTensor)) {
      throw new TypeError(`layer ${this.name}: apply() takes a symbolic tensor (from input() or another layer's apply()) or an array of them`);
    }
    if (this.batchInputShape) {
      const expected = this.batchInputShape.slice(1);
      const got = list[0]!.shape;
      if (expected.length !== got.length || expected.some((d, i) => d !== null && d !== got[i])) {
        throw new Error(`layer ${this.name} was declared with inputShape ${formatShape(expected)} but is applied to ${formatShape(got)}`);
      }
    }
    const shapes = list.map((t) => t.shape);
    const outputShapes = this.computeOutputShapes(shapes);
    const first = this.inboundNodes[0];
    if (first) {
      // A shared layer has one set of weights: every node must need the same ones.
      const had = this.weightSpecs(first.inputs.map((t) => t.shape)).map((s) => formatShape(s.shape)).join(', ');
      const needs = this.weightSpecs(shapes).map((s) => formatShape(s.shape)).join(', ');
      if (had !== needs) {
        throw new Error(`layer ${this.name} is applied again to inputs ${shapes.map(formatShape).join(', ')}, which need weights of shapes [${needs}], but its weights have shapes [${had}] from its first inputs ${first.inputs.map((t) => formatShape(t.shape)).join(', ')}`);
      }
    }
    const role = this.computeMask(list.map((t) => t.mask), shapes);
    const outputs = outputShapes.map((shape, index) => Object.assign(new SymbolicTensor(shape), { index }));
    const node: GraphNode = { layer: this, inputs: list, outputs, output: outputs[0]! };
    // The mask role concerns the first output; the others (final states) carry none, as in Keras.
    outputs[0]!.mask = maskOf(node, role);
    this.inboundNodes.push(node);
    for (const t of outputs) t.producer = node;
    return outputs;
  }

  /** The node at `index`; `what` names the property in the error a user sees. */
  private nodeAt(index: number, what: string): GraphNode {
    const node = this.inboundNodes[index];
    if (!node) {
      throw new Error(
        this.inboundNodes.length === 0
          ? `layer ${this.name} has no ${what}: it is not connected yet (apply it to a symbolic tensor first)`
          : `layer ${this.name} has no node ${index}; it was applied at ${this.inboundNodes.length} node(s)`,
      );
    }
    return node;
  }

  private onlyNode(what: string): GraphNode {
    if (this.inboundNodes.length > 1) {
      throw new Error(`layer ${this.name} has multiple inbound nodes, so its ${what} is ambiguous; use getOutputAt(nodeIndex) / getInputAt(nodeIndex)`);
    }
    return this.nodeAt(0, what);
  }

  /** The symbolic output of the layer's only node, as `base.getLayer('x').output` in Keras. */
  get output(): SymbolicTensor {
    return this.onlyNode('output').output;
  }

  /** The symbolic input of the layer's only node: a tensor, or an array for a layer of several inputs. */
  get input(): SymbolicTensor | SymbolicTensor[] {
    const inputs = this.onlyNode('input').inputs;
    return inputs.length === 1 ? inputs[0]! : [...inputs];
  }

  getOutputAt(nodeIndex: number): SymbolicTensor {
    return this.nodeAt(nodeIndex, 'output').output;
  }

  getInputAt(nodeIndex: number): SymbolicTensor | SymbolicTensor[] {
    const inputs = this.nodeAt(nodeIndex, 'input').inputs;
    return inputs.length === 1 ? inputs[0]! : [...inputs];
  }

  /** Keras's output shape with the batch dimension: [null, ...shape]. */
  get outputShape(): (number | null)[] {
    return this.onlyNode('outputShape').output.batchShape;
  }

  /** Keras config for model.json (name and class-specific fields). */
  getConfig(): Record<string, unknown> {
    return { name: this.name, trainable: this.trainable };
  }
}

const nameCounts = new Map<string, number>();

/** Keras-style unique names: conv2d, conv2d_1, conv2d_2... */
export function uniqueName(prefix: string): string {
  const n = nameCounts.get(prefix) ?? 0;
  nameCounts.set(prefix, n + 1);
  return n === 0 ? prefix : `${prefix}_${n}`;
}

/** The mask of node's output for its layer's MaskRole; a propagated mask must still cover the output's leading axes. */
function maskOf(node: GraphNode, role: MaskRole): TensorMask | null {
  const shape = node.output.shape;
  if (role === 'produce') return { shape: shape.slice(0, -1), node };
  if (role !== 'propagate') return null;
  const mask = node.inputs.find((t) => t.mask)?.mask;
  if (!mask) return null;
  if (mask.shape.length > shape.length - 1 || mask.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`layer ${node.layer.name} (${node.layer.className}) hands on the mask of layer ${mask.node.layer.name}, of shape ${formatShape(mask.shape)}, but its output ${formatShape(shape)} does not keep those leading axes`);
  }
  return mask;
}

/** Throws if a layer expecting exactly `count` inputs got another number. */
export function expectInputs(layer: Layer, inputShapes: readonly Shape[], count: number): void {
  if (inputShapes.length !== count) {
    throw new Error(`layer ${layer.name} (${layer.className}) takes ${count} input${count === 1 ? '' : 's'}, got ${inputShapes.length}`);
  }
}
