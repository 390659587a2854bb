/**
 * Batch gathers: the training set is uploaded once and stays on the GPU; each step copies its batch
 * out of it through the epoch's shuffled index buffer, so a step uploads nothing but the 4-byte
 * offset of its batch in the permutation. The batch size is baked in (one plan per batch size: the
 * last batch of an epoch is usually partial, 60,000 = 937·64 + 32); the offset comes from a
 * uniform, so one compiled plan serves every step of every epoch.
 *
 * All gathers bind, in order: the dataset (read), the permutation (read, u32), the step info
 * (uniform) and the output (write).
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { STEP_INFO_STRUCT, type KernelSource } from './kernel.ts';
import { constants, f32, flatIndex, grid } from './wgsl.ts';

const WG = 256;

// The gathers read only StepInfo's `offset` (kernel.ts); a partial last batch gathers the plan's
// whole batch, its rows past the end repeating the last sample (positions are clamped).
const BATCH_ROW = `// The dataset row of the batch's row b, the position clamped to the permutation.
fn batchRow(b: u32) -> u32 { return indices[min(step.offset + b, arrayLength(&indices) - 1u)]; }`;

function positiveInteger(value: number, name: string, family: string): void {
  // Below 2^31 keeps every index product the shaders form below 2^32 for realistic shapes, and
  // catches a swapped or garbage argument before WGSL compilation does, less clearly.
  if (!Number.isInteger(value) || value < 1 || value >= 2 ** 31) {
    throw new RangeError(`${family}: ${name} must be a positive integer, got ${value}`);
  }
}

export type ImageSource = 'uint8' | 'float32';

/**
 * out[b, f] = dataset[indices[offset + b], f] · scale, out f32 [batch, features].
 *
 * `uint8`: the dataset is bytes packed 4 per u32 word (little-endian, as WebGPU stores them),
 * row r starting at byte r·features: upload the Uint8Array as is and bind the whole (4-byte
 * padded) buffer. `float32`: the dataset is f32 [N, features]. `scale` 1/255 maps pixels to
 * [0, 1]; the product is rounded once, so results equal f32(byte) · f32(scale) exactly.
 *
 * When features is a multiple of 4 (MNIST's 784), each invocation moves one word / one vec4, and
 * rows are word-aligned. Otherwise rows straddle words and each invocation extracts one byte.
 * The host builds the permutation (u32 byte offsets cap the dataset at 4 GiB). Positions and
 * rows are still clamped to the bindings: Node runs without bounds checks, where a stale offset
 * (a replayed step after another plan rewrote StepInfo) read far past the buffers and crashed
 * SwiftShader; clamped, it reads a wrong row instead.
 */
export function gatherImages(batch: number, features: number, source: ImageSource, options: { scale?: number } = {}): KernelSource {
  const family = 'gatherImages';
  positiveInteger(batch, 'batch', family);
  positiveInteger(features, 'features', family);
  if (source !== 'uint8' && source !== 'float32') throw new Error(`${family}: source must be 'uint8' or 'float32', got ${String(source)}`);
  const scale = options.scale ?? 1;
  const scaled = scale !== 1;
  const times = scaled ? ` * ${f32(scale)}` : '';
  const scaleBits = new Uint32Array(new Float32Array([scale]).buffer)[0]!;
  const vectorized = features % 4 === 0;
  const n = batch * features;
  const { workgroups, rowStride } = grid(vectorized ? n / 4 : n, WG);
  const key = `gather-images:${batch}:${features}:${source}:${scaleBits}`;
  const bindings = ['read', 'read', 'uniform', 'write'] as const;

  if (vectorized) {
    const words = features / 4; // words (uint8) or vec4s (float32) per row
    return {
      key,
      bindings,
      workgroups,
      code: wgsl`
${STEP_INFO_STRUCT}
${constants({ WORDS: words })} // words (uint8) or vec4s (float32) per row

@group(0) @binding(0) var<storage, read> dataset: array<${source === 'uint8' ? 'u32' : 'vec4f'}>;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<uniform> step: StepInfo;
@group(0) @binding(3) var<storage, read_write> out: array<vec4f>;
${BATCH_ROW}

// One invocation per 4 output values: ${words} per sample, ${batch} samples.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, batch * words)}
  let b = i / WORDS;
  let w = i - b * WORDS;
  let row = batchRow(b);
#if ${source === 'uint8'}
  let word = dataset[min(row * WORDS + w, arrayLength(&dataset) - 1u)];
  // Byte k of a word is bits 8k..8k+7 (little-endian), i.e. feature 4w + k of the row.
  let bytes = vec4u(word, word >> 8u, word >> 16u, word >> 24u) & vec4u(255u);
  out[i] = vec4f(bytes)${times};
#else
  out[i] = dataset[min(row * WORDS + w, arrayLength(&dataset) - 1u)]${times};
#endif
}`,
    };
  }

  return {
    key,
    bindings,
    workgroups,
    code: wgsl`
${STEP_INFO_STRUCT}
${constants({ FEATURES: features })}

@group(0) @binding(0) var<storage, read> dataset: array<${source === 'uint8' ? 'u32' : 'f32'}>;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<uniform> step: StepInfo;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${BATCH_ROW}

// One invocation per output value; rows of ${features} features are not word-aligned.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, n)}
  let b = i / FEATURES;
  let f = i - b * FEATURES;
  let row = batchRow(b);
#if ${source === 'uint8'}
  let byte = row * FEATURES + f;
  let word = dataset[min(byte >> 2u, arrayLength(&dataset) - 1u)];
  out[i] = f32((word >> ((byte & 3u) * 8u)) & 255u)${times};
#else
  out[i] = dataset[min(row * FEATURES + f, arrayLength(&dataset) - 1u)]${times};
#endif
}`,
  };
}

export type LabelSource = 'sparse' | 'dense';

/**
 * Gathers a batch's labels. `sparse`: labels u32 [N, positions] (a class index per position, one
 * per sample for [batch, classes] outputs; convert int32 labels with `sparseLabelsToU32`, which
 * also validates them) → u32 [batch, positions]. `dense`: f32 [N, classes] → f32 [batch, classes].
 */
export function gatherLabels(batch: number, source: LabelSource, classes: number, positions = 1): KernelSource {
  const family = 'gatherLabels';
  positiveInteger(batch, 'batch', family);
  positiveInteger(classes, 'classes', family);
  positiveInteger(positions, 'positions', family);
  if (source !== 'sparse' && source !== 'dense') throw new Error(`${family}: source must be 'sparse' or 'dense', got ${String(source)}`);
  const sparse = source === 'sparse';
  // Words per sample: a row of them is gathered per batch row (one class index: a word per row).
  const rows = !sparse || positions > 1;
  const WIDTH = sparse ? 'POSITIONS' : 'CLASSES';
  const n = sparse ? batch * positions : batch * classes;
  const { workgroups, rowStride } = grid(n, WG);
  return {
    // Sparse gathers do not depend on the class count (nor does their code: CLASSES is dense's),
    // so they share one pipeline across models.
    key: sparse ? `gather-labels:${batch}:sparse${positions > 1 ? `:${positions}` : ''}` : `gather-labels:${batch}:dense:${classes}`,
    bindings: ['read', 'read', 'uniform', 'write'],
    workgroups,
    code: wgsl`
${STEP_INFO_STRUCT}
#if ${rows}
${constants(sparse ? { POSITIONS: positions } : { CLASSES: classes })}
#endif

@group(0) @binding(0) var<storage, read> labels: array<${sparse ? 'u32' : 'f32'}>;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<uniform> step: StepInfo;
@group(0) @binding(3) var<storage, read_write> out: array<${sparse ? 'u32' : 'f32'}>;
${BATCH_ROW}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, n)}
  // Clamped like the images' gather (see there).
#if ${!rows}
  out[i] = labels[min(batchRow(i), arrayLength(&labels) - 1u)];
#else
  let b = i / ${WIDTH};
  let c = i - b * ${WIDTH};
  let row = batchRow(b);
  out[i] = labels[min(row * ${WIDTH} + c, arrayLength(&labels) - 1u)];
#endif
}`,
  };
}
