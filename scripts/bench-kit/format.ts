/**
 * What one kit run found (the JSON written next to the kit) and the text report printed from it:
 * the adapter, the engine's tuning choices, per model and batch ms/step and samples/s of ours and
 * of TF.js webgpu with their ratio, dispatch counts per step, and per-op timings.
 */
import type { ModelFlops } from '../../bench/flops.ts';
import type { ProbeResult } from '../../bench/fma-probe.ts';
import type { OurTrainResult, StepCounters } from '../../bench/ours.ts';
import type { StepProfile } from '../../bench/profile.ts';
import type { BaselineResult, PredictResult } from '../../bench/results.ts';
import type { KitModel, KitOptions } from './args.ts';
import type { RecipeReport } from './recipe.ts';
import { targetRows } from './targets.ts';
import { formatVariantTable, type VariantRow } from '../../src/runtime/describe-variants.ts';
import type { TuningRecord, TuningStats } from '../../src/runtime/tuning.ts';

export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
  limits: Record<string, number>;
}

export interface EngineReport {
  adapter: string;
  kernelStyle: string;
  winograd: boolean;
  robustBufferAccess: boolean;
  hasTimestamps: boolean;
}

export interface ModelReport {
  model: KitModel;
  description: string;
  flops?: ModelFlops;
  /** Ours, one entry per batch size measured. */
  train: OurTrainResult[];
  predict: PredictResult[];
  profiles: { batch: number; profile: StepProfile }[];
  /** The kernel style each of our runs used. */
  kernelStyle?: string;
  /** Per batch size: what tuning on first use measured and kept, and the variant each layer ran. */
  tuning?: { batch: number; stats: TuningStats; records: TuningRecord[] }[];
  variants?: { batch: number; rows: VariantRow[] }[];
  errors: { batch: number; system: string; error: string }[];
  tfjs?: BaselineResult;
  /** Measurements the time budget left out. */
  skipped: string[];
}

export interface KitResults {
  date: string;
  wallSeconds: number;
  kit: { builtAt?: string; commit?: string; node: string; tfjs?: string; webgpuPackage?: string };
  machine: { cpu: string; cores: number; memoryGiB: number; platform: string };
  /** How run.sh set up Vulkan (its environment variables as the process saw them). */
  vulkan: Record<string, string>;
  adapter?: AdapterReport;
  adapterError?: string;
  /** The adapter TF.js's webgpu backend reported, once it ran. */
  tfjsAdapter?: string;
  engine?: EngineReport;
  probe?: ProbeResult;
  options: KitOptions;
  models: ModelReport[];
  /** The tutorial recipe timed through fit(), where it ran (KitOptions.recipe). */
  recipe?: RecipeReport;
}

/** Text columns, the first left-aligned and the rest right-aligned unless `left` says otherwise. */
export function table(header: string[], rows: string[][], left: (col: number) => boolean = (c) => c === 0): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) => '  ' + cells.map((cell, c) => (left(c) ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

/** A number with `digits` decimals, '—' where there is none. */
export function fixed(v: number | undefined, digits: number): string {
  return v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

/** ms with enough digits to read both a GPU's sub-millisecond times and a CPU adapter's seconds. */
export function ms(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
}

/** How many times faster ours is: their ms/step over ours ('—' without both). */
export function speedup(theirsMs: number | undefined, oursMs: number | undefined): string {
  if (theirsMs === undefined || oursMs === undefined || !(theirsMs > 0) || !(oursMs > 0)) return '—';
  return `${(theirsMs / oursMs).toFixed(2)}×`;
}

function pct(fraction: number | undefined): string {
  return fraction === undefined || !Number.isFinite(fraction) ? '—' : `${(fraction * 100).toFixed(fraction < 0.1 ? 2 : 1)}%`;
}

function adapterLines(r: KitResults): string[] {
  const out = ['== Adapter =='];
  const a = r.adapter;
  if (!a) {
    out.push(`  no adapter: ${r.adapterError ?? 'unknown error'}`);
  } else {
    out.push(`  ${[a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ') || 'unknown'}${a.isFallbackAdapter ? ' (fallback adapter: runs on the CPU)' : ''}`);
    out.push(`  features: ${a.features.join(', ') || 'none'}`);
    out.push(`  limits: ${Object.entries(a.limits).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  if (r.tfjsAdapter) out.push(`  TF.js webgpu backend's adapter: ${r.tfjsAdapter}`);
  const vk = Object.entries(r.vulkan);
  out.push(`  vulkan: ${vk.length ? vk.map(([k, v]) => `${k}=${v}`).join('; ') : 'the system defaults (run without run.sh)'}`);
  out.push(`  machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memoryGiB.toFixed(0)} GiB, ${r.machine.platform}; node ${r.kit.node}`);
  out.push(`  kit: built ${r.kit.builtAt ?? 'unknown'} from ${r.kit.commit ?? 'unknown'}; TF.js ${r.kit.tfjs ?? '—'}; webgpu (Dawn) ${r.kit.webgpuPackage ?? '—'}`);
  return out;
}

function tuningLines(r: KitResults): string[] {
  const out = ['== Engine tuning =='];
  const e = r.engine;
  if (e) {
    out.push(
      `  kernel style '${e.kernelStyle}' (registers: CPU adapters; tiled: GPUs), Winograd ${e.winograd ? 'on' : 'off'}, ` +
        `bounds checks ${e.robustBufferAccess ? 'on' : 'off'}, timestamp queries ${e.hasTimestamps ? 'yes' : 'no'}`,
    );
  }
  const p = r.probe;
  if (p) {
    const others = p.variants.filter((v) => v !== p.best).map((v) => `${v.chains}×${v.form} ${v.gflops.toFixed(1)}`);
    out.push(`  FMA ceiling ${p.gflops.toFixed(1)} GFLOP/s (best: ${p.best.chains} chains ${p.best.form}, workgroup ${p.best.workgroupSize}; others ${others.join(', ') || 'none'})`);
  }
  for (const m of r.models) {
    const families = new Set(m.profiles.flatMap(({ profile }) => profile.dispatches.map((d) => d.op)));
    if (families.size) out.push(`  ${m.model}: kernel families in a training step: ${[...families].join(', ')}`);
    for (const t of m.tuning ?? []) {
      const s = t.stats;
      out.push(`  ${m.model} batch ${t.batch}: tuning '${s.mode}' timed ${s.candidates} candidates of ${s.geometries} geometries in ${(s.ms / 1000).toFixed(1)} s; ${s.changed} kept another variant than the hand policy`);
      for (const rec of t.records.filter((x) => x.variant !== x.hand)) {
        const times = Object.entries(rec.ms).map(([name, ms]) => `${name} ${ms.toFixed(3)}`).join(', ');
        out.push(`    ${rec.op} ${rec.key}: ${rec.variant} instead of ${rec.hand} (ms: ${times})`);
      }
    }
    for (const v of (m.variants ?? []).slice(0, 1)) {
      out.push(`  ${m.model} batch ${v.batch}: the variant each layer runs`);
      out.push(...formatVariantTable(v.rows).split('\n').map((line) => `    ${line}`));
    }
  }
  return out;
}

function trainingLines(r: KitResults): string[] {
  const out = [
    '== Training and prediction ==',
    '  ms/step: median over timed windows; × = TF.js ms/step ÷ ours at the same batch (how many times faster ours is); predict: median of timed predict() calls',
  ];
  const rows: string[][] = [];
  for (const m of r.models) {
    const batches = [...new Set([...m.train.map((t) => t.batch), ...(m.tfjs?.train.map((t) => t.batch) ?? [])])].sort((a, b) => a - b);
    for (const batch of batches) {
      const t = m.train.find((x) => x.batch === batch);
      const p = m.predict.find((x) => x.batch === batch);
      const theirs = m.tfjs?.train.find((x) => x.batch === batch);
      const theirPredict = m.tfjs?.predict.find((x) => x.batch === batch);
      rows.push([
        m.model,
        String(batch),
        ms(t?.msPerStep),
        t ? t.windowMs.map(ms).join(' ') : '—',
        fixed(t?.samplesPerSec, 1),
        fixed(t?.gflops, 2),
        pct(t?.fractionOfCeiling),
        fixed(p?.samplesPerSec, 1),
        ms(theirs?.msPerStep),
        fixed(theirs?.samplesPerSec, 1),
        fixed(theirPredict?.samplesPerSec, 1),
        speedup(theirs?.msPerStep, t?.msPerStep),
      ]);
    }
  }
  out.push(
    ...table(
      ['model', 'batch', 'ms/step', 'windows', 'samples/s', 'GFLOP/s', '% ceiling', 'predict/s', 'tfjs ms/step', 'tfjs samples/s', 'tfjs predict/s', '×'],
      rows,
      (c) => c === 0 || c === 3,
    ),
  );
  for (const m of r.models) {
    if (m.tfjs?.error) out.push(`  ${m.model}: TF.js webgpu failed: ${m.tfjs.error.split('\n')[0]}`);
    else if (m.tfjs?.detail) out.push(`  ${m.model}: TF.js webgpu ${m.tfjs.version}: ${m.tfjs.detail}`);
    for (const e of m.errors) out.push(`  ${m.model} batch ${e.batch}: ${e.system} failed: ${e.error.split('\n')[0]}`);
    for (const s of m.skipped) out.push(`  ${m.model}: skipped ${s} (time budget spent)`);
  }
  return out;
}

/** Counters per step off their steady-state targets (1 submit, nothing created or read back) get a (!). */
const TARGETS: Partial<Record<keyof StepCounters, number>> = { submits: 1, readbacks: 0, buffersCreated: 0, bindGroupsCreated: 0, pipelinesCompiled: 0 };

function counterCell(c: StepCounters, k: keyof StepCounters): string {
  const text = Number.isInteger(c[k]) ? String(c[k]) : c[k].toFixed(2);
  return TARGETS[k] !== undefined && c[k] !== TARGETS[k] ? `${text} (!)` : text;
}

function dispatchLines(r: KitResults): string[] {
  const out = ['== Dispatches per training step (engine counters over the timed windows; (!) = off the steady-state target) =='];
  const rows = r.models.flatMap((m) =>
    m.train.map((t) => {
      const c = t.countersPerStep;
      return [m.model, String(t.batch), counterCell(c, 'dispatches'), counterCell(c, 'submits'), counterCell(c, 'readbacks'), counterCell(c, 'buffersCreated'), counterCell(c, 'bindGroupsCreated'), counterCell(c, 'pipelinesCompiled'), fixed(t.loss, 3)];
    }),
  );
  out.push(...table(['model', 'batch', 'dispatches', 'submits', 'readbacks', 'buffers', 'bind groups', 'pipelines', 'fit loss'], rows));
  return out;
}

/** One profiled step: how it was timed, its phases, and its kernel families by time (the first `top`). */
export function profileLines(model: string, batch: number, p: StepProfile, top = 12): string[] {
  const how = p.method === 'timestamp-query' ? 'GPU timestamp queries, one pass per dispatch' : 'each dispatch submitted and awaited alone (no usable timestamps)';
  const out = [`  ${model} batch ${batch}: ${how}; median of ${p.runs} replay${p.runs === 1 ? '' : 's'}; ${p.dispatches.length} dispatches sum to ${ms(p.totalMs)} ms, the replayed step takes ${ms(p.wallMs)} ms`];
  if (p.note) out.push(`    (${p.note})`);
  const group = (key: (d: StepProfile['dispatches'][number]) => string) => {
    const groups = new Map<string, { ms: number; n: number }>();
    for (const d of p.dispatches) {
      const g = groups.get(key(d)) ?? { ms: 0, n: 0 };
      g.ms += d.ms;
      g.n++;
      groups.set(key(d), g);
    }
    return [...groups].sort((a, b) => b[1].ms - a[1].ms);
  };
  const share = (v: number) => pct(p.totalMs > 0 ? v / p.totalMs : undefined);
  out.push('    by phase: ' + group((d) => d.phase).map(([k, g]) => `${k} ${ms(g.ms)} ms (${share(g.ms)})`).join(', '));
  const ops = group((d) => d.op);
  const rows = ops.slice(0, top).map(([k, g]) => [k, String(g.n), ms(g.ms), share(g.ms)]);
  if (ops.length > top) {
    const rest = ops.slice(top);
    const restMs = rest.reduce((s, [, g]) => s + g.ms, 0);
    rows.push([`(${rest.length} more)`, String(rest.reduce((s, [, g]) => s + g.n, 0)), ms(restMs), share(restMs)]);
  }
  out.push(...table(['op', 'dispatches', 'ms', 'share'], rows).map((l) => `  ${l}`));
  return out;
}

function profileSection(r: KitResults): string[] {
  const out = ['== Per-op timings of one training step =='];
  const any = r.models.some((m) => m.profiles.length);
  if (!any) out.push('  none taken (--profile-runs 0, or no run finished)');
  for (const m of r.models) for (const { batch, profile } of m.profiles) out.push(...profileLines(m.model, batch, profile));
  return out;
}

function targetSection(r: KitResults): string[] {
  const rows = targetRows({ tutorial: r.models.find((m) => m.model === 'tutorial'), recipe: r.recipe, peakGflops: r.options.peakGflops, probeGflops: r.probe?.gflops, fallback: r.adapter?.isFallbackAdapter });
  return [
    "== Issue #20's GPU targets (on a datacenter GPU) ==",
    ...table(['target', 'measured', 'verdict'], rows.map((t) => [t.target, t.measured, t.verdict]), (c) => c !== 1),
    ...rows.map((t) => `  ${t.target}: ${t.how}`),
  ];
}

/** The whole printed report. */
export function formatKitReport(r: KitResults): string {
  const models = r.models.map((m) => `  ${m.model}: ${m.description}${m.flops ? ` (${(m.flops.training / 1e6).toFixed(1)} MFLOP per training sample)` : ''}`);
  return [
    `webgpu-train GPU benchmark kit, ${r.date}, ${r.wallSeconds.toFixed(0)} s`,
    '',
    ...adapterLines(r),
    '',
    ...tuningLines(r),
    '',
    '== Models ==',
    ...models,
    '',
    ...trainingLines(r),
    '',
    ...dispatchLines(r),
    '',
    ...profileSection(r),
    '',
    ...targetSection(r),
    '',
  ].join('\n');
}
