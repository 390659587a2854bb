/**
 * The contract between a WGSL kernel family and the host: a kernel is WGSL source with its shapes
 * baked in as constants, the list of its bindings (all in group 0, in binding order), and the
 * workgroup grid to dispatch. `key` identifies the compiled pipeline, so equal keys share one.
 * The helpers that write the WGSL are in shaders/wgsl.ts.
 */
export type BindingKind = 'read' | 'write' | 'uniform';

export interface KernelSource {
  /** Pipeline cache key: family, variant and every baked constant. */
  key: string;
  code: string;
  bindings: readonly BindingKind[];
  workgroups: readonly [number, number, number];
}

/**
 * The names of the two kernel families, used as variant names by the op families that have one of
 * each (src/ops/variants.ts tables): `registers` suits CPU rasterizers (SwiftShader), `tiled` real
 * GPUs. Also EngineOptions.kernelStyle's override of the device profile's kind.
 */
export type KernelStyle = 'registers' | 'tiled';

/**
 * The per-step uniform every plan writes before each submit (16 bytes, STEP_INFO_STRUCT).
 * `offset` is the batch's first position in the epoch's index permutation (the batch gather reads
 * it), `step` counts optimizer steps and `seed` is the fit's seed (dropout masks hash both);
 * `rows` is how many of the plan's rows are real samples: an epoch's partial last batch runs
 * through the full batch's plan, and the loss leaves the other rows out (shaders/softmax.ts).
 */
export const STEP_INFO_BYTES = 16;

export const STEP_INFO_STRUCT = `struct StepInfo {
  offset: u32, // the batch's first position in the permutation
  step: u32,
  seed: u32,
  rows: u32, // real rows of this batch, at most the plan's batch
}`;

export function stepInfoData(offset: number, step: number, seed: number, rows: number): Uint32Array {
  return new Uint32Array([offset >>> 0, step >>> 0, seed >>> 0, rows >>> 0]);
}
