/**
 * FLOPs of a model per sample, counted from its layers' shapes. By default only the multiply-adds of
 * Conv2D (any padding or stride: output positions × kernel taps × in × out channels, zero-padded taps
 * included, as a kernel computes them) and Dense count (2 FLOPs each): bias, ReLU, pooling, softmax
 * and the optimizer are O(size) and under 1% of the tutorial CNN. Backward = weight gradient (same
 * multiply-adds as forward) + input gradient (same again) where some layer upstream has weights; the
 * first conv's input gradient is not computed.
 *
 * The sequence models' products count the same way: a recurrent layer (SimpleRNN, LSTM, GRU) per
 * step x·W and h·U for every gate, backward dW, dU, the recurrent dh and dx (only where the input
 * needs a gradient); MultiHeadAttention its four projections, scores and weighted sum over every
 * query-key pair (a causal mask's skipped half counted too), backward their weight gradients and
 * every internal input gradient. An Embedding is a gather: no multiply-adds.
 *
 * With `{ cheapOps: true }` (every model but the tutorial) the O(size) layers count too, per
 * element, as nominal arithmetic (CHEAP below): BatchNormalization, LayerNormalization, Add,
 * Activation, Dropout, pooling, the Embedding's and PositionEmbedding's gradient sums, a recurrent
 * cell's gate arithmetic, attention's softmax, and Conv2D/Dense biases; fused activations and the
 * optimizer still do not.
 */
import { Conv2D, Dense, GRU, LSTM, MultiHeadAttention, SimpleRNN, type LayersModel, type Layer, type Shape } from '../src/index.ts';

/**
 * FLOPs per element of the cheap layers: [forward, input gradient, weight gradient], per element of
 * the layer's output ('out') or input ('in'). BatchNormalization in training: mean and variance
 * (2 + 3), normalize and scale/shift (2 + 2) forward; its input gradient ~ 8 and gamma/beta sums 3.
 */
const CHEAP: Record<string, { per: 'in' | 'out'; forward: number; inputGrad: number; weightGrad: number }> = {
  BatchNormalization: { per: 'out', forward: 9, inputGrad: 8, weightGrad: 3 },
  Add: { per: 'out', forward: 1, inputGrad: 0, weightGrad: 0 },
  Activation: { per: 'out', forward: 1, inputGrad: 1, weightGrad: 0 },
  MaxPooling2D: { per: 'in', forward: 1, inputGrad: 1, weightGrad: 0 },
  GlobalAveragePooling2D: { per: 'in', forward: 1, inputGrad: 1, weightGrad: 0 },
  LayerNormalization: { per: 'out', forward: 9, inputGrad: 8, weightGrad: 3 },
  Dropout: { per: 'out', forward: 1, inputGrad: 1, weightGrad: 0 },
  // Lookups and the broadcast table are copies; their gradients sum into the table.
  Embedding: { per: 'out', forward: 0, inputGrad: 0, weightGrad: 1 },
  PositionEmbedding: { per: 'out', forward: 0, inputGrad: 0, weightGrad: 1 },
};

/** Gate arithmetic per unit and step of a recurrent cell (activations, products, sums): [forward, backward]. */
const CELL_OPS: Record<string, [number, number]> = { SimpleRNN: [2, 3], LSTM: [10, 20], GRU: [10, 20] };
/** Gates of each recurrent cell. */
const GATES: Record<string, number> = { SimpleRNN: 1, LSTM: 4, GRU: 3 };
/** Softmax per attention score: max, exp, sum, divide; its gradient the same again. */
const SOFTMAX_OPS = 4;

export interface LayerFlops {
  layer: string;
  className: string;
  /** Per sample. */
  forward: number;
  inputGrad: number;
  weightGrad: number;
}

export interface ModelFlops {
  layers: LayerFlops[];
  /** Per sample: forward only (prediction). */
  forward: number;
  /** Per sample: forward + backward (one training step's worth). */
  training: number;
}

function product(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Multiply-adds per sample of a layer's products: forward; backward's that give the layer's input
 * its gradient (needed only where the input needs one); backward's for its weights and its
 * internal gradients (needed wherever it has weights). Zeros for layers without products.
 */
function multiplyAdds(layer: Layer, inputs: readonly Shape[], output: Shape): { forward: number; inputGrad: number; weightGrad: number } {
  const input = inputs[0] ?? [];
  const same = (m: number) => ({ forward: m, inputGrad: m, weightGrad: m });
  if (layer instanceof Conv2D) {
    const [outH, outW, outC] = output as [number, number, number];
    const [kH, kW] = layer.kernelSize;
    return same(outH * outW * kH * kW * input[2]! * outC);
  }
  if (layer instanceof Dense) {
    // Dense acts on the last axis: every leading position is one row of the matmul.
    return same(product(input.slice(0, -1)) * input[input.length - 1]! * layer.units);
  }
  if (layer instanceof SimpleRNN || layer instanceof LSTM || layer instanceof GRU) {
    const [time, features] = input as [number, number];
    const cols = GATES[layer.className]! * layer.units;
    const x = time * features * cols;
    const h = time * layer.units * cols;
    // Backward: dx = dz·Wᵀ; dW = xᵀ·dz, dU = hᵀ·dz and the recurrent dh = dz·Uᵀ.
    return { forward: x + h, inputGrad: x, weightGrad: x + 2 * h };
  }
  if (layer instanceof MultiHeadAttention) {
    const [query, value, key] = inputs as [Shape, Shape, Shape];
    const [tq, tv, heads] = [query[0]!, value[0]!, layer.numHeads];
    const projections = tq * query[1]! * heads * layer.keyDim + tv * key[1]! * heads * layer.keyDim + tv * value[1]! * heads * layer.valueDim;
    const out = tq * heads * layer.valueDim * product(output.slice(1));
    const attention = tq * tv * heads * (layer.keyDim + layer.valueDim);
    // Backward: the projections' dx; every weight gradient, the output projection's dx and both
    // operands' gradients of the scores and the weighted sum.
    return { forward: projections + out + attention, inputGrad: projections, weightGrad: projections + 2 * out + 2 * attention };
  }
  return { forward: 0, inputGrad: 0, weightGrad: 0 };
}

/** Forward, input- and weight-gradient FLOPs per sample of a cheap (O(size)) layer, with biases. */
function cheapFlops(layer: Layer, inputs: readonly Shape[], output: Shape): { forward: number; inputGrad: number; weightGrad: number } {
  const input = inputs[0] ?? [];
  const cell = CELL_OPS[layer.className];
  if (cell && (layer instanceof SimpleRNN || layer instanceof LSTM || layer instanceof GRU)) {
    const n = input[0]! * layer.units;
    return { forward: cell[0] * n, inputGrad: 0, weightGrad: cell[1] * n };
  }
  if (layer instanceof MultiHeadAttention) {
    const scores = inputs[0]![0]! * inputs[1]![0]! * layer.numHeads;
    return { forward: SOFTMAX_OPS * scores, inputGrad: 0, weightGrad: SOFTMAX_OPS * scores };
  }
  const c = CHEAP[layer.className];
  if (c) {
    const n = product(c.per === 'in' ? input : output);
    return { forward: c.forward * n, inputGrad: c.inputGrad * n, weightGrad: c.weightGrad * n };
  }
  if ((layer instanceof Conv2D || layer instanceof Dense) && layer.useBias) {
    const n = product(output);
    return { forward: n, inputGrad: 0, weightGrad: n };
  }
  return { forward: 0, inputGrad: 0, weightGrad: 0 };
}

export function modelFlops(model: LayersModel, options: { cheapOps?: boolean } = {}): ModelFlops {
  const nodes = model.nodes;
  /** Whether a tensor's gradient is needed: some layer at or upstream of its producer has weights. */
  const upstreamWeights = new Map<unknown, boolean>();
  const layers: LayerFlops[] = [];
  for (const node of nodes) {
    const inputShapes = node.inputs.map((t) => t.shape);
    const hasWeights = node.layer.weightSpecs(inputShapes).length > 0;
    const inputNeedsGrad = node.inputs.some((t) => upstreamWeights.get(t) === true);
    upstreamWeights.set(node.output, hasWeights || inputNeedsGrad);
    const macs = multiplyAdds(node.layer, inputShapes, node.output.shape);
    const cheap = options.cheapOps ? cheapFlops(node.layer, inputShapes, node.output.shape) : { forward: 0, inputGrad: 0, weightGrad: 0 };
    if (macs.forward === 0 && cheap.forward === 0 && cheap.weightGrad === 0) continue;
    layers.push({
      layer: node.layer.name,
      className: node.layer.className,
      forward: 2 * macs.forward + cheap.forward,
      inputGrad: inputNeedsGrad ? 2 * macs.inputGrad + cheap.inputGrad : 0,
      weightGrad: hasWeights ? 2 * macs.weightGrad + cheap.weightGrad : 0,
    });
  }
  const forward = layers.reduce((s, l) => s + l.forward, 0);
  const training = layers.reduce((s, l) => s + l.forward + l.inputGrad + l.weightGrad, 0);
  return { layers, forward, training };
}
