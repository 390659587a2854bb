/**
 * Dropout: y = x · keep / (1 − rate), where keep is a Bernoulli(1 − rate) draw hashed from
 * (seed, step, element index). The backward pass re-hashes the same mask instead of storing it.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { STEP_INFO_STRUCT, type KernelSource } from './kernel.ts';
import { constants, flatIndex, grid } from './wgsl.ts';

const WG = 256;

function dropoutKernel(direction: 'forward' | 'backward', n: number, rate: number, layerSeed: number): KernelSource {
  const { workgroups, rowStride } = grid(n, WG);
  // keep ⇔ hash ≥ rate·2³²; comparing integers avoids float rounding at the threshold.
  const threshold = Math.min(0xffffffff, Math.round(rate * 4294967296));
  return {
    key: `dropout-${direction}:${n}:${rate}:${layerSeed}`,
    bindings: ['read', 'uniform', 'write'],
    workgroups,
    code: wgsl`
${STEP_INFO_STRUCT}
${constants({ LAYER_SEED: layerSeed >>> 0, THRESHOLD: threshold })}
${constants({ SCALE: 1 / (1 - rate) }, 'f32')} // 1 / (1 - rate)

@group(0) @binding(0) var<storage, read> source: array<f32>; // x forward, dy backward
@group(0) @binding(1) var<uniform> info: StepInfo;
@group(0) @binding(2) var<storage, read_write> result: array<f32>;

// PCG-style integer hash (Jarzynski & Olano 2020): cheap and well mixed.
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, n)}
  let h = pcg(i ^ pcg(info.step ^ pcg(info.seed ^ LAYER_SEED)));
  result[i] = select(0.0, source[i] * SCALE, h >= THRESHOLD);
}`,
  };
}

export function dropoutForward(n: number, rate: number, layerSeed: number): KernelSource {
  return dropoutKernel('forward', n, rate, layerSeed);
}

/** The mask depends only on (seed, step, index), so backward applies the same one to dy. */
export function dropoutBackward(n: number, rate: number, layerSeed: number): KernelSource {
  return dropoutKernel('backward', n, rate, layerSeed);
}
