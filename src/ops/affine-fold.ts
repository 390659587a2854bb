/**
 * Folding a per-output-channel affine map into a layer's kernel and bias, for inference
 * (conv → BatchNormalization → ReLU runs as one convolution). Any layer whose kernel has the
 * output channel as its fastest-varying index can use it: Conv2D, Dense, DepthwiseConv2D.
 */
import { foldAffine } from '../../shaders/affine-fold.ts';
import { weightsOnly, type Dispatch, type Engine, type View } from '../runtime/engine.ts';

export interface FoldedWeights {
  kernel: View;
  bias: View;
  /** Marked weightsOnly: predict and evaluate run them once per call. */
  dispatches: Dispatch[];
}

/** A kernel (and bias, if any) with `scale` and `shift` folded in, in fresh plan memory from `scratch`. */
export function foldAffineWeights(
  engine: Engine,
  scratch: (byteLength: number, label: string) => View,
  weights: { kernel: View; bias?: View; channels: number },
  affine: { scale: View; shift: View },
  label: string,
): FoldedWeights {
  const size = weights.kernel.size / 4;
  const kernel = scratch(size * 4, `${label} folded kernel`);
  const bias = scratch(weights.channels * 4, `${label} folded bias`);
  const bindings = [weights.kernel, ...(weights.bias ? [weights.bias] : []), affine.scale, affine.shift, kernel, bias];
  return { kernel, bias, dispatches: [weightsOnly(engine.kernel(foldAffine(size, weights.channels, weights.bias !== undefined), bindings))] };
}
