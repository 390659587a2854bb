/**
 * Finding a WebGPU implementation: `navigator.gpu` in pages and Workers, Dawn's Node binding
 * (the `webgpu` package) in Node. Without a GPU, Dawn needs a Vulkan driver; Chromium's Debian
 * package ships SwiftShader's, which we point the Vulkan loader at when no adapter is found.
 */

export const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof (globalThis as { window?: unknown }).window === 'undefined';

/** Where Linux distributions put Chromium's SwiftShader Vulkan ICD. */
const SWIFTSHADER_ICDS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib64/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
  '/usr/lib64/chromium-browser/vk_swiftshader_icd.json',
];

export class WebGPUUnavailableError extends Error {
  override name = 'WebGPUUnavailableError';
}

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

let dawn: Promise<DawnModule> | undefined;

async function loadDawn(): Promise<DawnModule> {
  const moduleName = 'webgpu'; // a variable, so bundlers leave this Node-only import alone
  try {
    const mod = (await import(/* @vite-ignore */ moduleName)) as DawnModule;
    // Dawn's enums (GPUBufferUsage, GPUMapMode...) are what page code expects as globals.
    for (const [name, value] of Object.entries(mod.globals)) {
      if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
    }
    return mod;
  } catch (err) {
    throw new WebGPUUnavailableError(
      `WebGPU in Node needs Dawn's binding, the npm package "webgpu" (npm install webgpu): ${(err as Error).message}`,
    );
  }
}

/**
 * Dawn's Node binding polls for GPU completions by rescheduling itself with `setImmediate` for as
 * long as any GPU promise (onSubmittedWorkDone, mapAsync) is pending: one core spins. On a CPU
 * adapter that core is one SwiftShader needs (on 2 cores the spin took more CPU time than both of
 * its worker threads together, bench/NOTES.md). Pacing those polls to one per millisecond frees
 * the core for a completion latency of ≤ 1 ms. Only the binding's own callbacks are paced: they are
 * native functions, which user code never passes to setImmediate unbound.
 */
const PACED = Symbol.for('webgpu-train.pacedDawnPolling');

export function paceDawnPolling(): void {
  const g = globalThis as typeof globalThis & { [PACED]?: boolean };
  if (g[PACED] || typeof g.setImmediate !== 'function') return;
  const immediate = g.setImmediate;
  const paced = ((callback: (...args: unknown[]) => void, ...args: unknown[]) =>
    isNativeFunction(callback) ? setTimeout(callback, 1, ...args) : immediate(callback, ...args)) as unknown as typeof setImmediate;
  g.setImmediate = Object.assign(paced, immediate);
  g[PACED] = true;
}

function isNativeFunction(f: unknown): boolean {
  return typeof f === 'function' && Function.prototype.toString.call(f).endsWith('{ [native code] }');
}

/** True for adapters that run on the CPU (SwiftShader, lavapipe, WARP): their device profile's kind is 'cpu' (src/runtime/profile.ts). */
export function isCpuAdapter(info: GPUAdapterInfo | undefined): boolean {
  return !!(info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter || info?.architecture === 'swiftshader';
}

/** Dawn's instance flag that turns off bounds checks on every buffer access (see AcquireOptions.robustBufferAccess). */
const DISABLE_ROBUSTNESS = 'enable-dawn-features=disable_robustness';

/** Dawn in Node rounds timestamp queries to 65.536 µs unless told not to: per-dispatch GPU times need the full resolution. */
const FULL_TIMESTAMPS = 'disable-dawn-features=timestamp_quantization';

/**
 * Every Dawn instance made, kept alive for the process: the binding keeps polling an instance for
 * pending events (a destroyed device's lost event) after an engine lets go of it, and if the
 * garbage collector frees the instance in between, Node aborts inside Dawn's ProcessEvents.
 */
const INSTANCES = new Set<GPU>();

function createInstance(create: DawnModule['create'], flags: readonly string[]): GPU {
  const gpu = create([...flags, FULL_TIMESTAMPS]);
  INSTANCES.add(gpu);
  return gpu;
}

async function nodeAdapter(options: GPURequestAdapterOptions, robustBufferAccess: boolean | undefined): Promise<{ gpu: GPU; adapter: GPUAdapter; robust: boolean }> {
  dawn ??= loadDawn();
  const { create } = await dawn;
  const flags = robustBufferAccess === false ? [DISABLE_ROBUSTNESS] : [];
  let gpu = createInstance(create, flags);
  let adapter = await gpu.requestAdapter(options);
  if (!adapter && !process.env.VK_ICD_FILENAMES) {
    const fs = await import('node:fs');
    const icd = SWIFTSHADER_ICDS.find((p) => fs.existsSync(p));
    if (icd) {
      process.env.VK_ICD_FILENAMES = icd;
      gpu = createInstance(create, flags);
      adapter = await gpu.requestAdapter(options);
    }
  }
  if (!adapter) {
    throw new WebGPUUnavailableError(
      'Dawn found no WebGPU adapter. Without a GPU it runs on SwiftShader, the CPU Vulkan driver shipped with ' +
        'Chromium: on Debian/Ubuntu run `apt-get install -y chromium libvulkan1` (or point VK_ICD_FILENAMES at a ' +
        'vk_swiftshader_icd.json). With a GPU, install its Vulkan driver and libvulkan1.',
    );
  }
  if (robustBufferAccess === undefined && isCpuAdapter(adapter.info)) {
    // The flag belongs to the instance, and whether we want it depends on the adapter it found.
    gpu = createInstance(create, [DISABLE_ROBUSTNESS]);
    adapter = (await gpu.requestAdapter(options)) ?? adapter;
    return { gpu, adapter, robust: false };
  }
  return { gpu, adapter, robust: robustBufferAccess !== false };
}

async function browserAdapter(options: GPURequestAdapterOptions): Promise<{ gpu: GPU; adapter: GPUAdapter }> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new WebGPUUnavailableError(
      'This browser exposes no WebGPU (navigator.gpu is missing). Use a recent Chrome/Edge (113+), Safari 26 or ' +
        'Firefox 141+ over https or localhost; on Linux start Chromium with --enable-unsafe-webgpu.',
    );
  }
  const adapter = await gpu.requestAdapter(options);
  if (!adapter) {
    throw new WebGPUUnavailableError(
      'navigator.gpu returned no adapter: WebGPU is blocked for this GPU or driver. Check chrome://gpu, or ' +
        'start Chromium with --enable-unsafe-webgpu (it then falls back to SwiftShader on the CPU).',
    );
  }
  return { gpu, adapter };
}

export interface AcquiredDevice {
  gpu?: GPU;
  adapter?: GPUAdapter;
  device: GPUDevice;
  info: GPUAdapterInfo | undefined;
  /** True when we created the device and so may destroy it. */
  owned: boolean;
  /** False when the device was created without bounds checks on buffer accesses. */
  robustBufferAccess: boolean;
}

/** Limits we raise to the adapter's maximum: training keeps whole datasets and activations on the GPU. */
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
] as const;

/** Features requested whenever the adapter has them: timestamps for profiling, subgroups and f16 for kernels that can use them. */
const OPTIONAL_FEATURES = ['timestamp-query', 'subgroups', 'shader-f16'] as const;

export interface AcquireOptions {
  device?: GPUDevice;
  powerPreference?: GPUPowerPreference;
  /** Request the adapter's maximum buffer sizes (default); false keeps WebGPU's portable defaults. */
  raiseLimits?: boolean;
  /**
   * Bounds checks on every storage-buffer access, as WebGPU requires for untrusted shaders. Our
   * kernels stay in bounds by construction (their tests read back NaN-prefilled buffers and
   * property-test random shapes), and on SwiftShader the checks slow the conv kernels down
   * (bench/NOTES.md item 2). Only Dawn in Node can turn them off: by default it does so for CPU adapters;
   * `true` keeps them, `false` drops them on any adapter. Pages and given devices always keep them.
   */
  robustBufferAccess?: boolean;
}

export async function acquireDevice(options: AcquireOptions = {}): Promise<AcquiredDevice> {
  if (options.device) {
    return { device: options.device, info: options.device.adapterInfo, owned: false, robustBufferAccess: true };
  }
  const adapterOptions: GPURequestAdapterOptions = { powerPreference: options.powerPreference ?? 'high-performance' };
  const { gpu, adapter, robust } = isNode ? await nodeAdapter(adapterOptions, options.robustBufferAccess) : { ...(await browserAdapter(adapterOptions)), robust: true };
  const requiredLimits: Record<string, number> = {};
  for (const name of options.raiseLimits === false ? [] : RAISED_LIMITS) {
    const value = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  // Enabled where the adapter has them, so that the device profile (src/runtime/profile.ts) can offer them to kernels.
  const requiredFeatures = OPTIONAL_FEATURES.filter((name) => adapter.features.has(name)) as GPUFeatureName[];
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'webgpu-train' });
  return { gpu, adapter, device, info: adapter.info, owned: true, robustBufferAccess: robust };
}
