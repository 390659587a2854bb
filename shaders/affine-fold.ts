/**
 * Folding a per-channel affine map (a BatchNormalization in inference: y = x·scale + shift) into
 * the weights of the layer before it, whose output channel is the fastest-varying index of its
 * kernel (Conv2D [kh, kw, in, out], Dense [in, out], DepthwiseConv2D [kh, kw, in, multiplier]):
 * kernel'[i] = kernel[i] · scale[i mod CHANNELS], bias'[c] = bias[c] · scale[c] + shift[c].
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { KernelSource } from './kernel.ts';
import { constants, flatIndex, grid } from './wgsl.ts';

const WG = 64;

/**
 * One launch over the kernel's `size` elements (and the bias's `channels`): bindings kernel, bias
 * (when `hasBias`), scale, shift, folded kernel, folded bias.
 */
export function foldAffine(size: number, channels: number, hasBias: boolean): KernelSource {
  if (size % channels !== 0) throw new Error(`foldAffine: a kernel of ${size} values is not a whole number of ${channels}-channel rows`);
  const { workgroups, rowStride } = grid(size, WG);
  const b = hasBias ? 1 : 0;
  return {
    key: `foldAffine:${size}:${channels}:${hasBias}`,
    bindings: ['read', ...(hasBias ? (['read'] as const) : []), 'read', 'read', 'write', 'write'],
    workgroups,
    code: wgsl`
${constants({ SIZE: size, CHANNELS: channels })}

@group(0) @binding(0) var<storage, read> kernel: array<f32>;
#if ${hasBias}
@group(0) @binding(1) var<storage, read> bias: array<f32>;
#endif
@group(0) @binding(${1 + b}) var<storage, read> scale: array<f32>;
@group(0) @binding(${2 + b}) var<storage, read> shift: array<f32>;
@group(0) @binding(${3 + b}) var<storage, read_write> folded_kernel: array<f32>;
@group(0) @binding(${4 + b}) var<storage, read_write> folded_bias: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'SIZE')}
  let c = i % CHANNELS;
  folded_kernel[i] = kernel[i] * scale[c];
  if (i < CHANNELS) {
#if ${hasBias}
    folded_bias[i] = bias[i] * scale[i] + shift[i];
#else
    folded_bias[i] = shift[i];
#endif
  }
}`,
  };
}

/**
 * A BatchNormalization's inference map per channel: scale = γ/√(variance + ε), shift = β − mean·scale
 * (γ = 1 without `scale`, β = 0 without `center`). Bindings: mean, variance, γ?, β?, scale, shift.
 */
export function batchNormAffine(channels: number, epsilon: number, flags: { scale: boolean; center: boolean }): KernelSource {
  const { workgroups, rowStride } = grid(channels, WG);
  let b = 2;
  const gamma = flags.scale ? b++ : -1;
  const beta = flags.center ? b++ : -1;
  return {
    key: `batchNormAffine:${channels}:${epsilon}:${flags.scale}:${flags.center}`,
    bindings: ['read', 'read', ...(flags.scale ? (['read'] as const) : []), ...(flags.center ? (['read'] as const) : []), 'write', 'write'],
    workgroups,
    code: wgsl`
${constants({ CHANNELS: channels })}
${constants({ EPSILON: epsilon }, 'f32')}

@group(0) @binding(0) var<storage, read> mean: array<f32>;
@group(0) @binding(1) var<storage, read> variance: array<f32>;
#if ${flags.scale}
@group(0) @binding(${gamma}) var<storage, read> gamma: array<f32>;
#endif
#if ${flags.center}
@group(0) @binding(${beta}) var<storage, read> beta: array<f32>;
#endif
@group(0) @binding(${b}) var<storage, read_write> scale: array<f32>;
@group(0) @binding(${b + 1}) var<storage, read_write> shift: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'CHANNELS')}
  let s = ${flags.scale ? 'gamma[i]' : '1.0'} / sqrt(variance[i] + EPSILON);
  scale[i] = s;
  shift[i] = ${flags.center ? 'beta[i]' : '0.0'} - mean[i] * s;
}`,
  };
}
