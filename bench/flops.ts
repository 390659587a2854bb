/**
 * FLOPs of a model per sample, counted from its layers' shapes. By default only the multiply-adds of
 * Conv2D (any padding or stride: output positions × kernel taps × in × out channels, zero-padded taps
 * included, as a kernel computes them) and Dense count (2 FLOPs each): bias, ReLU, pooling, softmax
 * and the optimizer are O(size) and under 1% of the tutorial CNN. Backward = weight gradient (same
 * multiply-adds as forward) + input gradient (same again) where some layer upstream has weights; the
 * first conv's input gradient is not computed.
 *
 * With `{ cheapOps: true }` (the residual model) the O(size) layers count too, per element, as
 * nominal arithmetic (CHEAP below): BatchNormalization, Add, Activation, MaxPooling2D,
 * GlobalAveragePooling2D, and Conv2D/Dense biases; fused activations and the optimizer still do not.
 */
import { Conv2D, Dense, type LayersModel, type Layer, type Shape } from '../src/index.ts';

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
};

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

/** Multiply-adds per sample of a layer's main op, or 0 for layers without one. */
function multiplyAdds(layer: Layer, input: Shape, output: Shape): number {
  if (layer instanceof Conv2D) {
    const [outH, outW, outC] = output as [number, number, number];
    const [kH, kW] = layer.kernelSize;
    return outH * outW * kH * kW * input[2]! * outC;
  }
  if (layer instanceof Dense) {
    // Dense acts on the last axis: every leading position is one row of the matmul.
    return product(input.slice(0, -1)) * input[input.length - 1]! * layer.units;
  }
  return 0;
}

/** Forward, input- and weight-gradient FLOPs per sample of a cheap (O(size)) layer, with biases. */
function cheapFlops(layer: Layer, input: Shape, output: Shape): { forward: number; inputGrad: number; weightGrad: number } {
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
    const macs = multiplyAdds(node.layer, inputShapes[0] ?? [], node.output.shape);
    const cheap = options.cheapOps ? cheapFlops(node.layer, inputShapes[0] ?? [], node.output.shape) : { forward: 0, inputGrad: 0, weightGrad: 0 };
    if (macs === 0 && cheap.forward === 0) continue;
    layers.push({
      layer: node.layer.name,
      className: node.layer.className,
      forward: 2 * macs + cheap.forward,
      inputGrad: inputNeedsGrad ? 2 * macs + cheap.inputGrad : 0,
      weightGrad: hasWeights ? 2 * macs + cheap.weightGrad : 0,
    });
  }
  const forward = layers.reduce((s, l) => s + l.forward, 0);
  const training = layers.reduce((s, l) => s + l.forward + l.inputGrad + l.weightGrad, 0);
  return { layers, forward, training };
}
