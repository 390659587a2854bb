/**
 * The device profile: everything the op families' variant tables (src/ops/variants.ts) may key
 * on, read once per engine from the adapter's info, the device's limits and features, and the
 * engine's options. Tables key on `kind` first: 'cpu' for rasterizers that run on the CPU
 * (SwiftShader, lavapipe, WARP: straight-line register-blocked kernels win there), 'gpu' for the
 * rest (workgroup-tiled kernels). `kind` follows the adapter unless EngineOptions.kernelStyle
 * overrides it ('registers' → cpu, 'tiled' → gpu), which is how tests run the GPU kernels on
 * SwiftShader.
 */
import { isCpuAdapter } from './gpu.ts';

/** What the variant tables key on first: the CPU-rasterizer kernels or the GPU ones. */
export type DeviceKind = 'cpu' | 'gpu';

/** The device limits the variant tables and kernels read. */
export interface ProfileLimits {
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  minStorageBufferOffsetAlignment: number;
}

/** Optional WebGPU features enabled on the device (kernels may use only these). */
export interface ProfileFeatures {
  subgroups: boolean;
  shaderF16: boolean;
  timestampQuery: boolean;
}

export interface DeviceProfile {
  vendor: string;
  architecture: string;
  description: string;
  /** The adapter runs on the CPU (isCpuAdapter), whatever `kind` says. */
  fallback: boolean;
  /** The kernel family the tables pick from: the adapter's, or EngineOptions.kernelStyle's override. */
  kind: DeviceKind;
  limits: ProfileLimits;
  features: ProfileFeatures;
  /** Every storage-buffer access is bounds-checked (robustBufferAccess: browsers always, Node by default on GPUs). */
  boundsChecked: boolean;
  /** Stride-1 3×3 convolutions may run as Winograd (EngineOptions.winograd; by default on 'cpu'). */
  winograd: boolean;
}

/** What deviceProfile reads: the acquired device and the engine's options. */
export interface ProfileSource {
  info: GPUAdapterInfo | undefined;
  limits: GPUSupportedLimits;
  features: ReadonlySet<string> | GPUSupportedFeatures;
  robustBufferAccess: boolean;
  /** EngineOptions.kernelStyle: 'registers' forces 'cpu', 'tiled' forces 'gpu'. */
  kernelStyle?: 'registers' | 'tiled' | 'auto';
  winograd?: boolean | 'auto';
}

const LIMIT_NAMES = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'minStorageBufferOffsetAlignment',
] as const;

/** Builds the profile an engine's variant tables key on (one per engine, never changed after). */
export function deviceProfile(source: ProfileSource): DeviceProfile {
  const info = source.info;
  const fallback = isCpuAdapter(info);
  const style = source.kernelStyle ?? 'auto';
  const kind: DeviceKind = style === 'registers' ? 'cpu' : style === 'tiled' ? 'gpu' : fallback ? 'cpu' : 'gpu';
  const limits = Object.fromEntries(LIMIT_NAMES.map((name) => [name, Number((source.limits as unknown as Record<string, number>)[name])])) as unknown as ProfileLimits;
  const has = (name: string) => source.features.has(name as GPUFeatureName);
  return Object.freeze({
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    description: info?.description ?? '',
    fallback,
    kind,
    limits: Object.freeze(limits),
    features: Object.freeze({ subgroups: has('subgroups'), shaderF16: has('shader-f16'), timestampQuery: has('timestamp-query') }),
    boundsChecked: source.robustBufferAccess,
    winograd: source.winograd === undefined || source.winograd === 'auto' ? kind === 'cpu' : source.winograd,
  });
}

/** The kernel style name a profile's kind maps to ('cpu' → 'registers', 'gpu' → 'tiled'), as stats and logs print it. */
export function kindStyle(kind: DeviceKind): 'registers' | 'tiled' {
  return kind === 'cpu' ? 'registers' : 'tiled';
}

/** Tuning on first use by default where it can pay: a GPU that is not a CPU fallback adapter (EngineOptions.tune). */
export function defaultTuneMode(p: DeviceProfile): 'first-use' | 'off' {
  return p.kind === 'gpu' && !p.fallback ? 'first-use' : 'off';
}
