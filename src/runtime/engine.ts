/**
 * The engine owns one GPUDevice and everything made from it: compiled pipelines (cached by kernel
 * key), a buffer pool, and counters. Ops never talk to the device directly: they hand the engine a
 * KernelSource and buffers and get back a Dispatch, a ready-to-encode record that a plan replays
 * every step without creating anything.
 */
import type { BindingKind, KernelSource, KernelStyle } from '../../shaders/kernel.ts';
import { acquireDevice, isCpuAdapter, isNode, paceDawnPolling, type AcquiredDevice, type AcquireOptions } from './gpu.ts';
import { Tuner, type TuneMode, type TuningFile, type TuningRecord, type TuningStats, type TuningStore } from './tuning.ts';
import { defaultTuningStore } from './tuning-store.ts';
import { defaultTuneMode, deviceProfile, kindStyle, type DeviceProfile } from './profile.ts';

/** GPUBufferUsage / GPUMapMode values, spelled out so a caller-supplied device works without globals. */
export const Usage = { MAP_READ: 0x1, MAP_WRITE: 0x2, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;
const MAP_MODE_READ = 0x1;
const STORAGE_USAGE = Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST;

export interface EngineOptions extends AcquireOptions {
  /** Use this device (e.g. the page's own) instead of requesting one; the engine will not destroy it. */
  device?: GPUDevice;
  /**
   * Overrides the profile's kind (DeviceProfile.kind), which the op families' variant tables key
   * on: `registers` makes it 'cpu' (the CPU-rasterizer kernels), `tiled` makes it 'gpu' (the
   * workgroup-tiled kernels, e.g. to test them on SwiftShader); `auto` (default) follows the adapter.
   */
  kernelStyle?: KernelStyle | 'auto';
  /**
   * Stride-1 3×3 convolutions as Winograd (F(4×4, 3×3): 4× fewer multiply-adds, more memory
   * traffic); `auto` uses it on 'cpu' profiles, where it measured faster.
   * Which convolutions run it also depends on bounds checks (conv2dVariants).
   */
  winograd?: boolean | 'auto';
  /** Scan inputs for NaN/Inf before uploading them (off by default: it costs a pass over the data). */
  checkNumerics?: boolean;
  /**
   * Dumps the WGSL of every pipeline this engine compiles, once per key: a callback (ShaderDump),
   * or (Node only) a directory to write one file per key into (shaderDumpFileName, shaderDumpText).
   * Defaults to the directory in the environment variable WEBGPU_TRAIN_DUMP_WGSL (Node); `false`
   * turns that off.
   */
  dumpShaders?: string | ShaderDump | false;
  /**
   * Tuning on first use (src/runtime/tuning.ts): 'off' runs each variant table's hand policy;
   * 'first-use' times the applicable variants of each new geometry once (within a time budget per
   * plan) and keeps the fastest per adapter; 'exhaustive' times every one, with more runs. The
   * default is 'first-use' on GPUs, whose rows nobody has measured for the adapter at hand, and
   * 'off' on CPU and fallback adapters, where the hand policy rests on bench/NOTES.md's measurements.
   */
  tune?: TuneMode;
  /** Where tuning choices persist: by default a file in Node, IndexedDB in pages (defaultTuningStore); false keeps them in memory. */
  tuningStore?: TuningStore | false;
}

/** Receives each newly compiled kernel's pipeline key, WGSL source and bindings (in binding order). */
export type ShaderDump = (key: string, code: string, bindings: readonly BindingKind[]) => void;

/** The environment variable naming a directory the engines of a Node process dump their WGSL into. */
export const DUMP_WGSL_ENV = 'WEBGPU_TRAIN_DUMP_WGSL';

/**
 * A file name for a pipeline key: the key with every character outside [A-Za-z0-9._=-] replaced
 * by '_' (at most 160 of them), then 8 hex digits of the key's FNV-1a hash, so that keys that
 * sanitize alike still get files of their own.
 */
export function shaderDumpFileName(key: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  const name = key.replace(/[^A-Za-z0-9._=-]/g, '_').replace(/^\.+/, '_').slice(0, 160);
  return `${name}-${(hash >>> 0).toString(16).padStart(8, '0')}.wgsl`;
}

/** The dumped file's text: a one-line comment header (key and bindings), then the source verbatim from line 2. */
export function shaderDumpText(key: string, code: string, bindings: readonly BindingKind[]): string {
  const list = bindings.map((kind, i) => `${i} ${kind}`).join(', ');
  return `// ${key.replace(/[\r\n]/g, ' ')} | bindings: ${list}\n${code}\n`;
}

/** What this process has written, by path: a key is written once however many engines compile it. */
const dumpedFiles = new Map<string, string>();

/** A ShaderDump writing files into `dir` (Node's fs, reached without an import a bundler would follow). */
function directoryDump(dir: string): ShaderDump {
  type Fs = typeof import('node:fs');
  type Path = typeof import('node:path');
  const host = isNode ? (process as { getBuiltinModule?: (id: string) => unknown }) : undefined;
  if (typeof host?.getBuiltinModule !== 'function') {
    throw new Error(`dumpShaders: '${dir}': a directory needs Node.js (20.16 or later); in a page pass a callback`);
  }
  const fs = host.getBuiltinModule('node:fs') as Fs;
  const path = host.getBuiltinModule('node:path') as Path;
  fs.mkdirSync(dir, { recursive: true });
  return (key, code, bindings) => {
    const file = path.join(dir, shaderDumpFileName(key));
    const text = shaderDumpText(key, code, bindings);
    const previous = dumpedFiles.get(file);
    if (previous === text) return;
    if (previous !== undefined) console.warn(`dumpShaders: pipeline key ${key} came with two different sources; ${file} holds the last`);
    fs.writeFileSync(file, text);
    dumpedFiles.set(file, text);
  };
}

function shaderDump(option: EngineOptions['dumpShaders']): ShaderDump | undefined {
  if (option === false) return undefined;
  if (typeof option === 'function') return option;
  const dir = option ?? (isNode ? process.env[DUMP_WGSL_ENV] : undefined);
  return dir ? directoryDump(dir) : undefined;
}

export interface Dispatch {
  readonly label: string;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly workgroups: readonly [number, number, number];
  /** It reads the weights and nothing else (a transform of them): evaluate and predict run it once per call, not per batch. */
  readonly weightsOnly?: boolean;
}

/** The dispatch, marked as reading only the weights (Dispatch.weightsOnly). */
export function weightsOnly(dispatch: Dispatch): Dispatch {
  return { ...dispatch, weightsOnly: true };
}

/** A range of a GPU buffer, as kernels bind it. */
export interface BufferView {
  buffer: GPUBuffer;
  offset?: number;
  size?: number;
}

/** A BufferView with its offset and size spelled out, as plans and ops keep them. */
export type View = Required<BufferView>;

/** Where an op takes its temporary buffers from: a view of `byteLength` bytes (a plan's memory, or a bench's). */
export type Scratch = (byteLength: number, label: string) => View;

/** One variant choice an op made (src/ops/variants.ts choose): in which scope, which op, which variant, for which geometry. */
export interface VariantChoice {
  /** The Engine.withScope labels in force when the choice was made, outermost first, joined by '/' ('' outside any). */
  scope: string;
  op: string;
  variant: string;
  /** A short key of the geometry. */
  key: string;
}

/** At most this many distinct choices are kept (a long-lived engine building many plans). */
const MAX_VARIANT_CHOICES = 4096;

export interface EngineStats {
  adapter: string;
  isFallbackAdapter: boolean;
  /** The profile's kind as the kernel families were once named: 'registers' for 'cpu', 'tiled' for 'gpu'. */
  kernelStyle: KernelStyle;
  /** What the variant tables key on (src/runtime/profile.ts). */
  profile: DeviceProfile;
  /** Whether eligible convolutions run as Winograd (shaders/winograd.ts). */
  winograd: boolean;
  /** What tuning on first use has measured and changed (EngineOptions.tune). */
  tuning: TuningStats;
  /** False when Dawn runs our kernels without bounds checks (Node on a CPU adapter, by default). */
  robustBufferAccess: boolean;
  /** Bytes of GPU buffers the engine holds (in use and pooled). */
  bytesAllocated: number;
  buffersAllocated: number;
  bytesInUse: number;
  buffersCreated: number;
  pipelinesCompiled: number;
  bindGroupsCreated: number;
  submits: number;
  readbacks: number;
  dispatches: number;
}

export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
}

export class GPUValidationError extends Error {
  override name = 'GPUValidationError';
}

const LAYOUT_ENTRY: Record<BindingKind, GPUBufferBindingType> = {
  read: 'read-only-storage',
  write: 'storage',
  uniform: 'uniform',
};

export class Engine {
  readonly device: GPUDevice;
  /** What the op families' variant tables key on: adapter, kind, limits, features, bounds checks. */
  readonly profile: DeviceProfile;
  /** Tuning on first use: the measured choices the variant tables consult (src/ops/variants.ts choose). */
  readonly tuning: Tuner;
  readonly adapterDescription: string;
  readonly isFallbackAdapter: boolean;
  readonly checkNumerics: boolean;
  readonly hasTimestamps: boolean;
  /** Sees every dispatch list as it is encoded: profilers capture a step's dispatches to replay them timed. */
  onEncode: ((dispatches: readonly Dispatch[]) => void) | undefined = undefined;

  private readonly acquired: AcquiredDevice;
  private readonly pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  private readonly freeBuffers = new Map<string, GPUBuffer[]>();
  private readonly liveBuffers = new Set<GPUBuffer>();
  private counters = { buffersCreated: 0, bindGroupsCreated: 0, submits: 0, readbacks: 0, dispatches: 0 };
  private bytesAllocated = 0;
  private bytesInUse = 0;
  /** Device loss or disposal: permanent. */
  private failure: Error | undefined;
  /** A validation or out-of-memory error not yet reported: thrown once, then the engine goes on. */
  private pendingError: Error | undefined;
  private disposed = false;
  private readonly lostPromise: Promise<never>;
  private readonly dumpShader: ShaderDump | undefined;
  private readonly scopes: string[] = [];
  private readonly choices: VariantChoice[] = [];
  private readonly choiceKeys = new Set<string>();
  private readonly recorders: VariantChoice[][] = [];

  constructor(acquired: AcquiredDevice, options: EngineOptions = {}) {
    this.acquired = acquired;
    this.device = acquired.device;
    const info = acquired.info;
    this.isFallbackAdapter = isCpuAdapter(info);
    // A CPU adapter's worker threads need every core Dawn's completion polling would spin on.
    if (isNode && this.isFallbackAdapter) paceDawnPolling();
    this.adapterDescription = info ? [info.vendor, info.architecture, info.description].filter(Boolean).join(' / ') || 'unknown adapter' : 'unknown adapter';
    this.profile = deviceProfile({
      info,
      limits: this.device.limits,
      features: this.device.features,
      robustBufferAccess: acquired.robustBufferAccess,
      kernelStyle: options.kernelStyle,
      winograd: options.winograd,
    });
    const tune = options.tune ?? defaultTuneMode(this.profile);
    if (!['off', 'first-use', 'exhaustive'].includes(tune)) throw new Error(`createEngine(): tune must be 'off', 'first-use' or 'exhaustive', got ${JSON.stringify(tune)}`);
    this.tuning = new Tuner(this.profile, tune, tune === 'off' || options.tuningStore === false ? undefined : (options.tuningStore ?? defaultTuningStore()));
    this.checkNumerics = options.checkNumerics ?? false;
    this.dumpShader = shaderDump(options.dumpShaders);
    this.hasTimestamps = this.device.features.has('timestamp-query');
    this.device.addEventListener('uncapturederror', (event) => {
      const error = (event as GPUUncapturedErrorEvent).error;
      this.pendingError ??= new GPUValidationError(`WebGPU error: ${error.message}`);
    });
    this.lostPromise = this.device.lost.then((info) => {
      this.failure = new DeviceLostError(
        this.disposed
          ? 'This engine was disposed; create a new engine (and rebuild the model on it).'
          : `The GPU device was lost (${info.reason}): ${info.message || 'no message'}. Create a new engine and ` +
              'rebuild the model from its last saved weights.',
      );
      throw this.failure;
    });
    this.lostPromise.catch(() => {}); // observed through `failure`; never an unhandled rejection
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** The profile's kind under its old name ('cpu' → 'registers', 'gpu' → 'tiled'), for logs; ops read `profile`. */
  get kernelStyle(): KernelStyle {
    return kindStyle(this.profile.kind);
  }

  /** Whether eligible convolutions may run as Winograd (DeviceProfile.winograd). */
  get winograd(): boolean {
    return this.profile.winograd;
  }

  // ---- variant choices -------------------------------------------------------------------

  /** Runs fn with `label` as the scope the variant choices made inside it are recorded under (e.g. a layer's name). */
  withScope<T>(label: string, fn: () => T): T {
    this.scopes.push(label);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** Records an op's variant choice (src/ops/variants.ts choose calls it); the engine keeps each distinct one once. */
  recordVariant(op: string, variant: string, key: string): void {
    const choice: VariantChoice = { scope: this.scopes.join('/'), op, variant, key };
    for (const recorder of this.recorders) recorder.push(choice);
    const id = `${choice.scope}\u0000${op}\u0000${variant}\u0000${key}`;
    if (this.choiceKeys.has(id) || this.choices.length >= MAX_VARIANT_CHOICES) return;
    this.choiceKeys.add(id);
    this.choices.push(choice);
  }

  /** The distinct variant choices this engine's ops have made, oldest first. */
  variantChoices(): readonly VariantChoice[] {
    return this.choices;
  }

  /** Runs fn and returns, besides its result, every variant choice made inside it, in order (repeats included). */
  recordVariantChoices<T>(fn: () => T): { result: T; choices: VariantChoice[] } {
    const recorder: VariantChoice[] = [];
    this.recorders.push(recorder);
    try {
      return { result: fn(), choices: recorder };
    } finally {
      this.recorders.splice(this.recorders.indexOf(recorder), 1);
    }
  }

  /** Throws the device's loss, or its first unreported validation/out-of-memory error. */
  throwIfFailed(): void {
    if (this.failure) throw this.failure;
    const pending = this.pendingError;
    if (pending) {
      this.pendingError = undefined;
      throw pending;
    }
  }

  /** Resolves `promise` unless the device is lost first: no call hangs on a dead device. */
  async guard<T>(promise: Promise<T>): Promise<T> {
    this.throwIfFailed();
    const result = await Promise.race([promise, this.lostPromise]);
    this.throwIfFailed();
    return result;
  }

  // ---- pipelines and dispatches ----------------------------------------------------------

  private pipelineFor(source: KernelSource): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
    let entry = this.pipelines.get(source.key);
    if (!entry) {
      // Explicit layouts: 'auto' would drop bindings a variant happens not to use.
      const layout = this.device.createBindGroupLayout({
        label: source.key,
        entries: source.bindings.map((kind, binding) => ({
          binding,
          visibility: 0x4 /* GPUShaderStage.COMPUTE */,
          buffer: { type: LAYOUT_ENTRY[kind] },
        })),
      });
      this.dumpShader?.(source.key, source.code, source.bindings);
      const module = this.device.createShaderModule({ label: source.key, code: source.code });
      const pipeline = this.device.createComputePipeline({
        label: source.key,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main' },
      });
      entry = { pipeline, layout };
      this.pipelines.set(source.key, entry);
    }
    return entry;
  }

  /** Binds `buffers` to a kernel; the result is replayed as often as wanted at no further cost. */
  kernel(source: KernelSource, buffers: ReadonlyArray<GPUBuffer | BufferView>): Dispatch {
    this.throwIfFailed();
    if (buffers.length !== source.bindings.length) {
      throw new Error(`kernel ${source.key} takes ${source.bindings.length} buffers, got ${buffers.length}`);
    }
    const { pipeline, layout } = this.pipelineFor(source);
    const bindGroup = this.device.createBindGroup({
      label: source.key,
      layout,
      entries: buffers.map((b, binding) => ({ binding, resource: 'buffer' in b ? b : { buffer: b } })),
    });
    this.counters.bindGroupsCreated++;
    return { label: source.key, pipeline, bindGroup, workgroups: source.workgroups };
  }

  /** Encodes dispatches into one compute pass (WebGPU orders storage writes between dispatches). */
  encode(encoder: GPUCommandEncoder, dispatches: readonly Dispatch[], timestampWrites?: GPUComputePassTimestampWrites): void {
    this.onEncode?.(dispatches);
    const pass = encoder.beginComputePass(timestampWrites ? { timestampWrites } : undefined);
    // A pipeline stays set across dispatches: runs of one pipeline (the Winograd products, one
    // dispatch per slice) set it once. Each call crosses Chromium's GPU-process wire.
    let pipeline: GPUComputePipeline | undefined;
    for (const d of dispatches) {
      if (d.pipeline !== pipeline) pass.setPipeline((pipeline = d.pipeline));
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
    }
    pass.end();
    this.counters.dispatches += dispatches.length;
  }

  /** One command encoder, one submit: `record` adds passes and copies. */
  submit(record: (encoder: GPUCommandEncoder) => void): void {
    this.throwIfFailed();
    const encoder = this.device.createCommandEncoder();
    record(encoder);
    this.device.queue.submit([encoder.finish()]);
    this.counters.submits++;
  }

  /** Runs dispatches in one submit. */
  run(dispatches: readonly Dispatch[]): void {
    this.submit((encoder) => this.encode(encoder, dispatches));
  }

  /** Waits until the GPU has finished all submitted work (rejects on device loss or error). */
  async sync(): Promise<void> {
    await this.guard(this.device.queue.onSubmittedWorkDone());
  }

  // ---- buffers -------------------------------------------------------------------------

  /** A storage buffer of at least `byteLength` bytes from the pool (contents undefined). */
  buffer(byteLength: number, label = 'tensor'): GPUBuffer {
    this.throwIfFailed();
    const size = Math.max(16, Math.ceil(byteLength / 16) * 16);
    const maxSize = Math.min(this.limits.maxBufferSize, this.limits.maxStorageBufferBindingSize);
    if (size > maxSize) {
      throw new RangeError(
        `${label} needs ${size} bytes on the GPU, over this device's limit of ${maxSize} bytes ` +
          `(maxStorageBufferBindingSize ${this.limits.maxStorageBufferBindingSize}, maxBufferSize ${this.limits.maxBufferSize}). ` +
          'Use a smaller batch size, or split the data into several calls.',
      );
    }
    const key = String(size);
    const pooled = this.freeBuffers.get(key)?.pop();
    let buffer = pooled;
    if (!buffer) {
      buffer = this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
      this.counters.buffersCreated++;
      this.bytesAllocated += size;
    }
    this.liveBuffers.add(buffer);
    this.bytesInUse += size;
    return buffer;
  }

  /** A small uniform buffer (per-step values such as the batch offset or the learning rate). */
  uniform(byteLength: number, label = 'uniform'): GPUBuffer {
    this.throwIfFailed();
    const size = Math.max(16, Math.ceil(byteLength / 16) * 16);
    const buffer = this.device.createBuffer({ size, usage: Usage.UNIFORM | Usage.COPY_DST, label });
    this.counters.buffersCreated++;
    this.bytesAllocated += size;
    this.liveBuffers.add(buffer);
    this.bytesInUse += size;
    return buffer;
  }

  /** Returns a buffer to the pool. */
  release(buffer: GPUBuffer | undefined): void {
    if (!buffer || !this.liveBuffers.delete(buffer)) return;
    this.bytesInUse -= buffer.size;
    if (buffer.usage & Usage.UNIFORM) {
      // Uniform buffers are few and tiny: destroyed rather than pooled.
      this.bytesAllocated -= buffer.size;
      buffer.destroy();
      return;
    }
    const key = String(buffer.size);
    let list = this.freeBuffers.get(key);
    if (!list) this.freeBuffers.set(key, (list = []));
    list.push(buffer);
  }

  /** Destroys pooled buffers nobody holds, returning their memory to the device. */
  trim(): void {
    for (const list of this.freeBuffers.values()) {
      for (const b of list) {
        this.bytesAllocated -= b.size;
        b.destroy();
      }
    }
    this.freeBuffers.clear();
  }

  /** Uploads a typed array into a new pooled buffer. */
  upload(data: ArrayBufferView, label = 'upload'): GPUBuffer {
    const buffer = this.buffer(data.byteLength, label);
    this.write(buffer, data);
    return buffer;
  }

  write(target: GPUBuffer | BufferView, data: ArrayBufferView, byteOffset = 0): void {
    this.throwIfFailed();
    const view = 'buffer' in target ? target : { buffer: target, offset: 0 };
    // writeBuffer wants a multiple of 4 bytes; uint8 data is padded through a copy.
    let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.byteLength % 4) {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      bytes = padded;
    }
    this.device.queue.writeBuffer(view.buffer, (view.offset ?? 0) + byteOffset, bytes as Uint8Array<ArrayBuffer>);
  }

  /** Copies `byteLength` bytes of a buffer back to the host (one submit, one readback). */
  async read(source: GPUBuffer | BufferView, byteLength?: number): Promise<ArrayBuffer> {
    const view = 'buffer' in source ? source : { buffer: source };
    const offset = view.offset ?? 0;
    const length = byteLength ?? view.size ?? view.buffer.size - offset;
    const staging = this.device.createBuffer({ size: Math.ceil(length / 4) * 4, usage: Usage.MAP_READ | Usage.COPY_DST, label: 'readback' });
    try {
      this.submit((encoder) => encoder.copyBufferToBuffer(view.buffer, offset, staging, 0, staging.size));
      this.counters.readbacks++;
      await this.guard(staging.mapAsync(MAP_MODE_READ));
      return staging.getMappedRange().slice(0, length);
    } finally {
      staging.destroy();
    }
  }

  // ---- tuning ----------------------------------------------------------------------------

  /** Measures the geometries plans asked about since the last call; returns the choices that differ from the hand policy's. */
  tunePending(): Promise<TuningRecord[]> {
    return this.tuning.hasPending ? this.tuning.tunePending(this) : Promise.resolve([]);
  }

  /** Every tuning record this engine knows (measured, loaded or imported), for every adapter: JSON. */
  exportTuning(): TuningFile {
    return this.tuning.export();
  }

  /** Adds tuning records (an exportTuning() result); this adapter's choices apply to plans built afterwards. */
  importTuning(records: unknown): void {
    this.tuning.import(records);
  }

  // ---- bookkeeping ----------------------------------------------------------------------

  stats(): EngineStats {
    return {
      adapter: this.adapterDescription,
      isFallbackAdapter: this.isFallbackAdapter,
      kernelStyle: this.kernelStyle,
      profile: this.profile,
      winograd: this.winograd,
      tuning: this.tuning.stats(),
      robustBufferAccess: this.acquired.robustBufferAccess,
      bytesAllocated: this.bytesAllocated,
      buffersAllocated: this.liveBuffers.size + [...this.freeBuffers.values()].reduce((n, l) => n + l.length, 0),
      bytesInUse: this.bytesInUse,
      pipelinesCompiled: this.pipelines.size,
      ...this.counters,
    };
  }

  /** False when Dawn runs our kernels without bounds checks (Node on a CPU adapter, by default). */
  get robustBufferAccess(): boolean {
    return this.acquired.robustBufferAccess;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Frees every buffer; destroys the device when the engine created it. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.failure ??= new DeviceLostError('This engine was disposed; create a new engine (and rebuild the model on it).');
    for (const b of this.liveBuffers) b.destroy();
    this.liveBuffers.clear();
    this.trim();
    this.bytesAllocated = 0;
    this.bytesInUse = 0;
    this.pipelines.clear();
    if (this.acquired.owned) this.acquired.device.destroy();
    this.acquired.gpu = undefined;
    this.acquired.adapter = undefined;
  }
}

export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  // Resolved first: a dump directory a page cannot write fails before a device is acquired.
  const dumpShaders = shaderDump(options.dumpShaders) ?? false;
  return new Engine(await acquireDevice(options), { ...options, dumpShaders });
}

let defaultEngine: Promise<Engine> | undefined;

/** The engine models use unless given one; created on first need. */
export function getDefaultEngine(): Promise<Engine> {
  defaultEngine ??= createEngine();
  return defaultEngine.then((engine) => {
    if (engine.isDisposed) {
      defaultEngine = createEngine();
      return defaultEngine;
    }
    return engine;
  });
}

/** Makes `engine` the default (e.g. one built on a page's own device). */
export function setDefaultEngine(engine: Engine): void {
  defaultEngine = Promise.resolve(engine);
}
