/**
 * Tuning on first use (EngineOptions.tune): where a variant table (src/ops/variants.ts) offers
 * more than one variant for a geometry, the engine may time them on this device and keep the
 * fastest per (adapter, op, geometry key), instead of the table's hand policy.
 *
 * Plans are built synchronously, so a choice cannot wait for a measurement: choose() takes the
 * recorded winner when there is one, else the hand policy's row, and asks the tuner to measure
 * that geometry (`request`). The model runtime then awaits `tunePending` before the plan's first
 * step, and rebuilds the plan when a winner differs from what it built with. Each candidate runs on
 * scratch buffers its table's `bench` builds (never on the plan's), timed with timestamp queries
 * where the device has them, else by wall time around submits.
 *
 * A candidate replaces the hand policy's variant only when its median beats the hand variant's
 * median by the margin of bench/NOTES.md item 69, so noise alone never moves a choice. Choices
 * persist (a JSON file in Node, IndexedDB in pages and workers) under the adapter's key, and can be
 * exported and imported as JSON.
 */
import type { DeviceProfile } from './profile.ts';
import type { Dispatch, Engine } from './engine.ts';

export type TuneMode = 'off' | 'first-use' | 'exhaustive';

/** One geometry's measurement: every candidate's median time, the hand policy's variant and the one kept. */
export interface TuningRecord {
  op: string;
  key: string;
  variant: string;
  hand: string;
  /** Median milliseconds per candidate (those measured). */
  ms: Record<string, number>;
}

/** The persisted form: records per adapter (adapterKey), each under `${op}|${key}`. */
export interface TuningFile {
  format: 'webgpu-train-tuning';
  version: 1;
  adapters: Record<string, Record<string, TuningRecord>>;
}

/** Where choices persist between runs. */
export interface TuningStore {
  load(): Promise<TuningFile | undefined>;
  save(file: TuningFile): Promise<void>;
}

/** A variant's dispatches on scratch buffers, and how to free them. */
export interface BenchRun {
  dispatches: Dispatch[];
  dispose(): void;
}

/** What the tuner measures: one geometry of one table, its candidates in policy order (the first is the hand policy's). */
export interface TuningRequest {
  op: string;
  key: string;
  candidates: readonly string[];
  /** Builds a candidate's dispatches on scratch buffers. */
  bench(name: string): BenchRun;
}

/** What tuning has cost and decided so far (EngineStats.tuning). */
export interface TuningStats {
  mode: TuneMode;
  /** Geometries measured in this engine's life, and candidates timed over them. */
  geometries: number;
  candidates: number;
  /** Wall milliseconds spent measuring. */
  ms: number;
  /** Geometries whose kept variant is not the hand policy's. */
  changed: number;
}

/** bench/NOTES.md item 69: a candidate must beat the hand variant's median by this fraction. */
export const TUNING_MARGIN = 0.1;

/** Runs per candidate and pass: first-use stays short; exhaustive takes more for steadier medians. */
const RUNS: Record<Exclude<TuneMode, 'off'>, number> = { 'first-use': 5, exhaustive: 15 };

/** first-use stops measuring new geometries after this many milliseconds in one tunePending call (the rest keep the hand policy until the next call). */
const FIRST_USE_BUDGET_MS = 5_000;

/** The key an adapter's records live under: what identifies a device and its driver to WebGPU. */
export function adapterKey(profile: DeviceProfile): string {
  return [profile.vendor || 'unknown', profile.architecture || '-', profile.description || '-', profile.fallback ? 'fallback' : 'hardware', profile.boundsChecked ? 'checked' : 'unchecked'].join(' / ');
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Checks a TuningFile read from JSON; an Error names what is wrong. */
export function checkTuningFile(value: unknown): TuningFile {
  const file = value as Partial<TuningFile> | null;
  if (!file || typeof file !== 'object' || file.format !== 'webgpu-train-tuning' || file.version !== 1 || !file.adapters || typeof file.adapters !== 'object') {
    throw new Error(`importTuning(): expected { format: 'webgpu-train-tuning', version: 1, adapters: {...} } (an exportTuning() result), got ${JSON.stringify(value)?.slice(0, 120)}`);
  }
  for (const [adapter, records] of Object.entries(file.adapters)) {
    for (const [id, r] of Object.entries(records ?? {})) {
      if (!r || typeof r.op !== 'string' || typeof r.key !== 'string' || typeof r.variant !== 'string' || typeof r.hand !== 'string' || `${r.op}|${r.key}` !== id) {
        throw new Error(`importTuning(): record '${id}' of adapter '${adapter}' must be { op, key, variant, hand, ms } filed under 'op|key'`);
      }
    }
  }
  return file as TuningFile;
}

export class Tuner {
  readonly adapter: string;
  private records = new Map<string, TuningRecord>();
  private readonly pending = new Map<string, TuningRequest>();
  private loaded: Promise<void> | undefined;
  private file: TuningFile = { format: 'webgpu-train-tuning', version: 1, adapters: {} };
  private readonly totals = { geometries: 0, candidates: 0, ms: 0 };

  constructor(
    readonly profile: DeviceProfile,
    readonly mode: TuneMode,
    private readonly store?: TuningStore,
  ) {
    this.adapter = adapterKey(profile);
  }

  /** The kept variant of (op, key) on this adapter, when measured (or imported); never with tuning 'off', which runs the hand policy. */
  chosen(op: string, key: string): string | undefined {
    return this.mode === 'off' ? undefined : this.records.get(`${op}|${key}`)?.variant;
  }

  /** Asks for (op, key) to be measured at the next tunePending, unless it is known or tuning is off. */
  request(request: TuningRequest): void {
    const id = `${request.op}|${request.key}`;
    if (this.mode === 'off' || request.candidates.length < 2 || this.records.has(id) || this.pending.has(id)) return;
    this.pending.set(id, request);
  }

  /** Whether requests wait for tunePending. */
  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  /** Reads the store once (choices of earlier runs on this adapter). */
  load(): Promise<void> {
    this.loaded ??= (async () => {
      const file = this.store ? await this.store.load().catch(() => undefined) : undefined;
      if (file) this.import(file);
    })();
    return this.loaded;
  }

  /**
   * Measures every pending geometry (first-use: until its time budget is spent) and keeps each
   * winner; returns the records whose kept variant changed what a plan built before would run.
   */
  async tunePending(engine: Engine): Promise<TuningRecord[]> {
    await this.load();
    const changed: TuningRecord[] = [];
    const started = performance.now();
    for (const [id, request] of [...this.pending]) {
      if (this.mode === 'first-use' && performance.now() - started > FIRST_USE_BUDGET_MS) break;
      this.pending.delete(id);
      if (this.records.has(id)) continue;
      const record = await this.measure(engine, request);
      this.records.set(id, record);
      (this.file.adapters[this.adapter] ??= {})[id] = record;
      if (record.variant !== request.candidates[0]) changed.push(record);
    }
    this.pending.clear();
    this.totals.ms += performance.now() - started;
    if (this.store && this.totals.geometries > 0) await this.store.save(this.export()).catch(() => undefined);
    return changed;
  }

  /**
   * Times every candidate in interleaved rounds (one run of each per round, so that a change of load
   * weighs on all alike), twice; a candidate replaces the hand policy's variant only when it beats
   * it by the margin in both (bench/NOTES.md item 69).
   */
  private async measure(engine: Engine, request: TuningRequest): Promise<TuningRecord> {
    const runs = RUNS[this.mode === 'exhaustive' ? 'exhaustive' : 'first-use'];
    const benches = request.candidates.map((name) => ({ name, bench: request.bench(name) }));
    const medians: Record<string, number>[] = [];
    try {
      for (const { bench } of benches) await timeRuns(engine, bench.dispatches, 1);
      for (let pass = 0; pass < 2; pass++) {
        const times = new Map<string, number[]>(benches.map((b) => [b.name, []]));
        for (let r = 0; r < runs; r++) {
          for (const { name, bench } of benches) times.get(name)!.push(...(await timeRuns(engine, bench.dispatches, 1, false)));
        }
        medians.push(Object.fromEntries([...times].map(([name, t]) => [name, median(t)])));
      }
    } finally {
      for (const { bench } of benches) bench.dispose();
    }
    this.totals.candidates += benches.length;
    this.totals.geometries++;
    const hand = request.candidates[0]!;
    const ms = Object.fromEntries(request.candidates.map((name) => [name, median(medians.map((m) => m[name]!))]));
    let variant = hand;
    for (const name of request.candidates) if (ms[name]! < ms[variant]!) variant = name;
    // The hand policy stands unless the candidate beats it by the margin in both passes (bench/NOTES.md item 69).
    const beats = medians.every((m) => m[variant]! < (1 - TUNING_MARGIN) * m[hand]!);
    if (variant !== hand && !beats) variant = hand;
    return { op: request.op, key: request.key, variant, hand, ms };
  }

  /** The records of every adapter known to this tuner, as JSON-ready data. */
  export(): TuningFile {
    return JSON.parse(JSON.stringify(this.file)) as TuningFile;
  }

  /** Adds records (an exportTuning() result, or a stored file); this adapter's take effect for plans built after. */
  import(value: unknown): void {
    const file = checkTuningFile(value);
    for (const [adapter, records] of Object.entries(file.adapters)) {
      const mine = (this.file.adapters[adapter] ??= {});
      Object.assign(mine, records);
      if (adapter === this.adapter) for (const [id, r] of Object.entries(records)) this.records.set(id, r);
    }
  }

  stats(): TuningStats {
    const changed = [...this.records.values()].filter((r) => r.variant !== r.hand).length;
    return { mode: this.mode, ...this.totals, changed };
  }

  /** This adapter's records (what describeVariants and the kit print). */
  list(): TuningRecord[] {
    return [...this.records.values()];
  }
}

/**
 * Milliseconds of `runs` executions of the dispatches (after one warm-up unless told not): the GPU's own timestamps
 * around the pass where the device has timestamp queries, else wall time from submit to done.
 */
export async function timeRuns(engine: Engine, dispatches: readonly Dispatch[], runs: number, warmUp = true): Promise<number[]> {
  const device = engine.device;
  if (warmUp) {
    engine.run(dispatches);
    await engine.sync();
  }
  const times: number[] = [];
  if (!engine.hasTimestamps) {
    for (let r = 0; r < runs; r++) {
      const start = performance.now();
      engine.run(dispatches);
      await engine.sync();
      times.push(performance.now() - start);
    }
    return times;
  }
  const QUERY_RESOLVE = 0x200;
  const COPY_SRC = 0x4;
  const COPY_DST = 0x8;
  const MAP_READ = 0x1;
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
  const resolve = device.createBuffer({ size: 16, usage: QUERY_RESOLVE | COPY_SRC, label: 'tuning-resolve' });
  const readback = device.createBuffer({ size: 16, usage: MAP_READ | COPY_DST, label: 'tuning-readback' });
  try {
    for (let r = 0; r < runs; r++) {
      engine.submit((encoder) => {
        engine.encode(encoder, dispatches, { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 });
        encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
        encoder.copyBufferToBuffer(resolve, 0, readback, 0, 16);
      });
      await engine.guard(readback.mapAsync(MAP_READ));
      const stamps = new BigUint64Array(readback.getMappedRange().slice(0));
      readback.unmap();
      times.push(Number(stamps[1]! - stamps[0]!) / 1e6);
    }
  } finally {
    querySet.destroy();
    resolve.destroy();
    readback.destroy();
  }
  return times;
}
