/**
 * FLOPs of a model per sample, counted from its layers' shapes. Only the multiply-adds of Conv2D
 * and Dense count (2 FLOPs each): bias, ReLU, pooling, softmax and the optimizer are O(size) and
 * under 1% of this CNN. Backward = weight gradient (same multiply-adds as forward) + input gradient
 * (same again) where some layer upstream has weights; the first conv's input gradient is not computed.
 */
import { Conv2D, Dense, type LayersModel, type Layer, type Shape } from '../src/index.ts';

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

export function modelFlops(model: LayersModel): ModelFlops {
  const nodes = model.layers.map((layer) => layer.node).filter((n) => n !== undefined);
  /** Whether a tensor's gradient is needed: some layer at or upstream of its producer has weights. */
  const upstreamWeights = new Map<unknown, boolean>();
  const layers: LayerFlops[] = [];
  for (const node of nodes) {
    const inputShapes = node.inputs.map((t) => t.shape);
    const hasWeights = node.layer.weightSpecs(inputShapes).length > 0;
    const inputNeedsGrad = node.inputs.some((t) => upstreamWeights.get(t) === true);
    upstreamWeights.set(node.output, hasWeights || inputNeedsGrad);
    const macs = multiplyAdds(node.layer, inputShapes[0] ?? [], node.output.shape);
    if (macs === 0) continue;
    layers.push({
      layer: node.layer.name,
      className: node.layer.className,
      forward: 2 * macs,
      inputGrad: inputNeedsGrad ? 2 * macs : 0,
      weightGrad: hasWeights ? 2 * macs : 0,
    });
  }
  const forward = layers.reduce((s, l) => s + l.forward, 0);
  const training = layers.reduce((s, l) => s + l.forward + l.inputGrad + l.weightGrad, 0);
  return { layers, forward, training };
}
