/**
 * The contract between a WGSL kernel family and the host: a kernel is WGSL source with its shapes
 * baked in as constants, the list of its bindings (all in group 0, in binding order), and the
 * workgroup grid to dispatch. `key` identifies the compiled pipeline, so equal keys share one.
 */
export type BindingKind = 'read' | 'write' | 'uniform';

export interface KernelSource {
  /** Pipeline cache key: family, variant and every baked constant. */
  key: string;
  code: string;
  bindings: readonly BindingKind[];
  workgroups: readonly [number, number, number];
}

/** Kernel variants: `registers` suits CPU rasterizers (SwiftShader), `tiled` suits real GPUs. */
export type KernelStyle = 'registers' | 'tiled';

/** Formats a number as a WGSL f32 literal (WGSL rejects `1` where it wants a float in some spots). */
export function f32(value: number): string {
  if (!Number.isFinite(value)) throw new Error(`cannot bake non-finite constant ${value} into WGSL`);
  const s = String(Math.fround(value));
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

const MAX_GROUPS_PER_DIM = 65535;

/**
 * A 1-D launch of `invocations` threads in workgroups of `workgroupSize`, folded into 2-D when it
 * exceeds the per-dimension limit. Shaders recover the flat index as `gid.x + gid.y * rowStride`
 * and must bounds-check it against the real count.
 */
export function grid(invocations: number, workgroupSize: number): { workgroups: [number, number, number]; rowStride: number } {
  const groups = Math.max(1, Math.ceil(invocations / workgroupSize));
  if (groups <= MAX_GROUPS_PER_DIM) return { workgroups: [groups, 1, 1], rowStride: groups * workgroupSize };
  const x = MAX_GROUPS_PER_DIM;
  return { workgroups: [x, Math.ceil(groups / x), 1], rowStride: x * workgroupSize };
}

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

/** `fn activate(v: vec4f) -> vec4f`: the fused activation of an epilogue (ReLU, or none). */
export function activation(relu: boolean): string {
  return relu ? 'fn activate(v: vec4f) -> vec4f { return max(v, vec4f(0.0)); }' : 'fn activate(v: vec4f) -> vec4f { return v; }';
}
