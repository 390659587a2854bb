/**
 * The printed report of `npm run bench`, from the same object that is written as JSON.
 */
import { describeConfig, type BenchConfig, type ModelName } from './config.ts';
import type { ModelFlops } from './flops.ts';
import type { ProbeResult } from './fma-probe.ts';
import type { EngineResult, StepCounters } from './ours.ts';
import type { StepProfile } from './profile.ts';
import type { BaselineResult, PredictResult, TrainResult } from './results.ts';

export interface BenchResults {
  date: string;
  wallSeconds: number;
  machine: { cpu: string; cores: number; platform: string; node: string; loadAverageStart: number[]; loadAverageEnd: number[] };
  source: { commit: string; uncommitted: string[] };
  config: BenchConfig;
  flops: ModelFlops;
  node?: EngineResult;
  nodeError?: string;
  chromium?: {
    version: string;
    flags: string[];
    ours?: EngineResult;
    oursError?: string;
    /** The FMA probe when our engine did not run in Chromium (baselines still need a ceiling). */
    probe?: { adapter: string; probe: ProbeResult };
    baselines: BaselineResult[];
  };
  chromiumError?: string;
  /** Every model but the tutorial (residual, lstm, charlm per kind): its FLOPs and the same measurements, in the same run. */
  sections?: ModelSection[];
  /** Results written before `sections` held the residual model here. */
  residual?: ModelSection;
}

/** One model's measurements other than the tutorial's (whose fields sit at the top level, as before). */
export interface ModelSection {
  model: ModelName;
  /** The language model's kind. */
  variant?: string;
  /** Set for models measured in tokens/s (the language model: its sequence length). */
  tokensPerSample?: number;
  description: string;
  flops: ModelFlops;
  node?: EngineResult;
  nodeError?: string;
  chromium?: {
    ours?: EngineResult;
    oursError?: string;
    baselines: BaselineResult[];
    /** Frameworks not run on this model, and why. */
    skipped: { name: string; reason: string }[];
  };
}

/** What the sections print for one model. */
interface ModelView {
  tokensPerSample?: number;
  node?: EngineResult;
  nodeError?: string;
  ours?: EngineResult;
  oursError?: string;
  baselines: BaselineResult[];
}

function tutorialView(r: BenchResults): ModelView {
  return { node: r.node, nodeError: r.nodeError, ours: r.chromium?.ours, oursError: r.chromium?.oursError, baselines: r.chromium?.baselines ?? [] };
}

function sectionView(s: ModelSection): ModelView {
  return { tokensPerSample: s.tokensPerSample, node: s.node, nodeError: s.nodeError, ours: s.chromium?.ours, oursError: s.chromium?.oursError, baselines: s.chromium?.baselines ?? [] };
}

/** Targets for a steady-state training step. */
const COUNTER_TARGETS: Partial<Record<keyof StepCounters, number>> = { submits: 1, readbacks: 0, buffersCreated: 0, bindGroupsCreated: 0, pipelinesCompiled: 0 };

function table(header: string[], rows: string[][], rightAligned: (col: number) => boolean = (c) => c > 0): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) =>
    '  ' + cells.map((cell, c) => (rightAligned(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

const fixed = (v: number | undefined, digits: number) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));
const pct = (fraction: number | undefined) => (fraction === undefined || !Number.isFinite(fraction) ? '—' : `${(fraction * 100).toFixed(fraction < 0.1 ? 2 : 1)}%`);
const mflop = (flops: number) => `${(flops / 1e6).toFixed(2)} MFLOP`;
const ratio = (theirs: number, ours: number) => `${(theirs / ours).toFixed(2)}×`;
/** The layer classes whose multiply-adds flops.ts counts (the rest are nominal per-element FLOPs). */
const PRODUCT_LAYERS = ['Conv2D', 'Dense', 'SimpleRNN', 'LSTM', 'GRU', 'MultiHeadAttention'];

function probeLine(env: string, adapter: string, probe: ProbeResult): string[] {
  const b = probe.best;
  const others = probe.variants.filter((v) => v !== b).map((v) => `${v.chains}×${v.form} ${v.gflops.toFixed(2)}`);
  return [env, adapter, fixed(probe.gflops, 2), `${b.chains} chains ${b.form}, wg ${b.workgroupSize}`, others.join(', ')];
}

interface Row {
  system: string;
  env: string;
  train?: TrainResult;
  predict?: PredictResult;
  note?: string;
}

function throughputRows(results: ModelView): Row[] {
  const rows: Row[] = [];
  const ours = (env: string, r: EngineResult | undefined) => {
    for (const t of r?.train ?? []) rows.push({ system: 'webgpu-train', env, train: t, predict: r!.predict.find((p) => p.batch === t.batch) });
  };
  ours('node', results.node);
  if (results.nodeError) rows.push({ system: 'webgpu-train', env: 'node', note: results.nodeError });
  ours('chromium', results.ours);
  if (results.oursError) rows.push({ system: 'webgpu-train', env: 'chromium', note: results.oursError });
  for (const b of results.baselines) {
    if (b.error) rows.push({ system: `${b.name} ${b.version}`, env: 'chromium', note: b.error });
    for (const t of b.train) rows.push({ system: `${b.name} ${b.version}`, env: 'chromium', train: t, predict: b.predict.find((p) => p.batch === t.batch) });
  }
  return rows;
}

function counterRows(env: string, r: EngineResult | undefined): string[][] {
  return (r?.train ?? []).map((t) => {
    const c = t.countersPerStep;
    const cell = (k: keyof StepCounters) => {
      const target = COUNTER_TARGETS[k];
      const text = Number.isInteger(c[k]) ? String(c[k]) : c[k].toFixed(2);
      return target !== undefined && c[k] !== target ? `${text} (!)` : text;
    };
    return [env, String(t.batch), cell('submits'), cell('readbacks'), cell('buffersCreated'), cell('bindGroupsCreated'), cell('dispatches'), cell('pipelinesCompiled'), fixed(t.loss, 3)];
  });
}

function breakdown(env: string, batch: number, p: StepProfile): string[] {
  const out: string[] = [];
  const how = p.method === 'timestamp-query' ? `GPU timestamps, each dispatch in its own pass` : `each dispatch submitted and awaited alone`;
  out.push(`${env}, batch ${batch}: ${how}; median of ${p.runs} replay${p.runs === 1 ? '' : 's'}; dispatches sum to ${p.totalMs.toFixed(0)} ms, a whole replayed step takes ${p.wallMs.toFixed(0)} ms`);
  if (p.note) out.push(`  (${p.note})`);
  const share = (ms: number) => pct(ms / p.totalMs);
  const group = <K extends string>(key: (d: StepProfile['dispatches'][number]) => K) => {
    const groups = new Map<K, { ms: number; n: number }>();
    for (const d of p.dispatches) {
      const g = groups.get(key(d)) ?? { ms: 0, n: 0 };
      g.ms += d.ms;
      g.n++;
      groups.set(key(d), g);
    }
    return [...groups].sort((a, b) => b[1].ms - a[1].ms);
  };
  out.push('  by phase: ' + group((d) => d.phase).map(([k, g]) => `${k} ${g.ms.toFixed(0)} ms (${share(g.ms)})`).join(', '));
  out.push(...table(['op', 'dispatches', 'ms', 'share'], group((d) => d.op).map(([k, g]) => [k, String(g.n), g.ms.toFixed(1), share(g.ms)]), (c) => c > 0));
  out.push('');
  out.push(
    ...table(
      ['#', 'phase', 'ms', 'share', 'kernel key'],
      p.dispatches.map((d) => [String(d.index), d.phase, d.ms.toFixed(1), share(d.ms), d.label.length > 110 ? `${d.label.slice(0, 107)}...` : d.label]),
      (c) => c === 0 || c === 2 || c === 3,
    ),
  );
  return out;
}

/** Training and prediction throughput, ours vs theirs, baseline details: the tutorial's lines, or another model's. */
function throughputSections(out: string[], v: ModelView, ratioNote = ''): void {
  out.push('Training (median ms/step over timed windows) and prediction (median of timed predict() calls); GFLOP/s and % of the ceiling use the FLOPs counted above');
  const rows = throughputRows(v);
  const tokens = v.tokensPerSample;
  out.push(
    ...table(
      ['system', 'env', 'batch', 'ms/step', 'windows (ms/step)', 'train samples/s', ...(tokens ? ['train tokens/s'] : []), 'GFLOP/s', '% ceiling', 'predict samples/s', '(samples)', '% ceiling'],
      rows
        .filter((row) => !row.note)
        .map((row) => [
          row.system,
          row.env,
          String(row.train!.batch),
          fixed(row.train!.msPerStep, 0),
          row.train!.windowMs.map((w) => w.toFixed(0)).join(' '),
          fixed(row.train!.samplesPerSec, 1),
          ...(tokens ? [fixed(row.train!.samplesPerSec * tokens, 0)] : []),
          fixed(row.train!.gflops, 3),
          pct(row.train!.fractionOfCeiling),
          fixed(row.predict?.samplesPerSec, 1),
          row.predict ? String(row.predict.samples) : '—',
          pct(row.predict?.fractionOfCeiling),
        ]),
      (c) => c >= 2 && c !== 4,
    ),
  );
  for (const row of rows) if (row.note) out.push(`  ${row.system} (${row.env}) cannot run here: ${row.note.split('\n')[0]}`);
  out.push('');

  const ours = v.ours;
  const baselines = v.baselines.filter((b) => !b.error);
  if (ours && baselines.length) {
    out.push(
      `Ours vs theirs in the same Chromium (× = how many times faster ours is: their ms/step ÷ ours; prediction: our samples/s ÷ theirs; ` +
        `the last column: ours in Node against them in Chromium)${ratioNote}`,
    );
    const ratioRows: string[][] = [];
    for (const b of baselines) {
      for (const t of b.train) {
        const mine = ours.train.find((o) => o.batch === t.batch);
        const myPredict = ours.predict.find((p) => p.batch === t.batch);
        const theirPredict = b.predict.find((p) => p.batch === t.batch);
        const inNode = v.node?.train.find((o) => o.batch === t.batch);
        ratioRows.push([
          `${b.name} ${b.version}`,
          String(t.batch),
          mine ? ratio(t.msPerStep, mine.msPerStep) : 'ours not run at this batch',
          myPredict && theirPredict ? ratio(myPredict.samplesPerSec, theirPredict.samplesPerSec) : '—',
          inNode ? ratio(t.msPerStep, inNode.msPerStep) : '—',
        ]);
      }
    }
    out.push(...table(['baseline', 'batch', 'training', 'prediction', 'training (ours in node)'], ratioRows));
    out.push('');
  }
  for (const b of v.baselines) if (b.detail) out.push(`${b.name}: ${b.detail}`);
}

/** Engine counters and the per-dispatch breakdowns of one model. */
function engineSections(out: string[], v: ModelView): void {
  out.push('Engine counters per training step over the timed windows (targets: 1 submit, 0 readbacks, 0 buffers, 0 bind groups, 0 pipelines; (!) = off target)');
  out.push(
    ...table(
      ['env', 'batch', 'submits', 'readbacks', 'buffersCreated', 'bindGroupsCreated', 'dispatches', 'pipelinesCompiled', 'fit loss'],
      [...counterRows('node', v.node), ...counterRows('chromium', v.ours)],
      (c) => c > 0,
    ),
  );
  out.push('');

  if (![v.node, v.ours].some((r) => r?.profiles.length)) return;
  out.push('Per-dispatch breakdown of one training step (input = batch gather; sum-partials finish the conv gradient reductions)');
  for (const [env, res] of [['node', v.node], ['chromium', v.ours]] as const) {
    for (const { batch, profile } of res?.profiles ?? []) {
      out.push(...breakdown(env, batch, profile));
      out.push('');
    }
  }
}

function flopsLine(name: string, flops: ModelFlops): string {
  return (
    `model: ${name}, ${mflop(flops.forward)}/sample forward, ${mflop(flops.training)}/sample training (` +
    flops.layers.map((l) => `${l.layer} ${mflop(l.forward)} fwd + ${mflop(l.inputGrad + l.weightGrad)} bwd`).join('; ') +
    ')'
  );
}

function sectionName(s: ModelSection): string {
  return `${s.model}${s.variant ? ` (${s.variant})` : ''}`;
}

/** A model's whole section (every model but the tutorial): FLOPs, throughput, ratios, counters, breakdowns. */
function modelSection(out: string[], s: ModelSection): void {
  const v = sectionView(s);
  out.push(`==== Model: ${sectionName(s)} ====`);
  out.push(`${s.description}`);
  const products = s.flops.layers.filter((l) => PRODUCT_LAYERS.includes(l.className));
  const sum = (ls: typeof s.flops.layers) => ls.reduce((a, l) => a + l.forward + l.inputGrad + l.weightGrad, 0);
  out.push(
    `FLOPs counted per layer (bench/flops.ts): multiply-adds of conv2d ('same' padding: zero-padded taps count), dense, recurrent cells and attention (every query-key pair, ` +
      `causal or not), plus nominal per-element FLOPs of biases, normalization, add, activations, pooling, gate arithmetic, softmax and embedding gradients ` +
      `(products ${mflop(sum(products))} of ${mflop(s.flops.training)} per training sample); embedding lookups and the optimizer are not counted`,
  );
  out.push(flopsLine(sectionName(s), s.flops));
  out.push('');
  throughputSections(out, v, s.model === 'residual' || s.model === 'lstm' ? '; the target is ≥ 10× tfjs-webgpu' : '');
  for (const k of s.chromium?.skipped ?? []) out.push(`${k.name}: skipped for the ${sectionName(s)} model (${k.reason})`);
  out.push('');
  engineSections(out, v);
}

/**
 * One table over every model but the tutorial: training throughput (tokens/s where counted),
 * dispatches per step, and how many times faster ours is than each framework in Chromium.
 */
function summary(out: string[], sections: readonly ModelSection[], baselineNames: readonly string[]): void {
  out.push('==== Summary of the models after the tutorial (training at each batch size; × = their ms/step ÷ ours, ours in the same env: Chromium; or Node against their Chromium) ====');
  const rows: string[][] = [];
  for (const s of sections) {
    const theirs = (s.chromium?.baselines ?? []).filter((b) => !b.error);
    const push = (system: string, env: string, t: TrainResult, dispatches: string, mine?: TrainResult) => {
      const ratios = baselineNames.map((name) => {
        const b = theirs.find((x) => x.name === name)?.train.find((x) => x.batch === t.batch);
        return b && mine ? ratio(b.msPerStep, mine.msPerStep) : '—';
      });
      rows.push([sectionName(s), system, env, String(t.batch), fixed(t.msPerStep, 0), fixed(t.samplesPerSec, 1), s.tokensPerSample ? fixed(t.samplesPerSec * s.tokensPerSample, 0) : '—', dispatches, ...ratios]);
    };
    for (const [env, r] of [['node', s.node], ['chromium', s.chromium?.ours]] as const) {
      for (const t of r?.train ?? []) push('webgpu-train', env, t, String(t.countersPerStep.dispatches), t);
    }
    for (const [env, error] of [['node', s.nodeError], ['chromium', s.chromium?.oursError]] as const) if (error) rows.push([sectionName(s), 'webgpu-train', env, 'failed: ' + error.split('\n')[0]!.slice(0, 80)]);
    for (const b of s.chromium?.baselines ?? []) {
      if (b.error) rows.push([sectionName(s), b.name, 'chromium', 'failed: ' + b.error.slice(0, 80)]);
      for (const t of b.train) push(b.name, 'chromium', t, '—');
    }
    for (const k of s.chromium?.skipped ?? []) rows.push([sectionName(s), k.name, 'chromium', 'skipped']);
  }
  out.push(...table(['model', 'system', 'env', 'batch', 'ms/step', 'samples/s', 'tokens/s', 'dispatches/step', ...baselineNames.map((n) => `× ${n}`)], rows, (c) => c >= 3));
  out.push('');
}

export function formatReport(r: BenchResults): string {
  const out: string[] = [];
  const m = r.machine;
  const models = r.config.models ?? ['tutorial'];
  out.push(`webgpu-train benchmark, ${r.date}, whole run ${(r.wallSeconds / 60).toFixed(1)} min`);
  out.push(`machine: ${m.cores} × ${m.cpu} (${m.platform}), Node ${m.node}${r.chromium ? `, ${r.chromium.version}` : ''}`);
  out.push(`load average (1 min) ${fixed(m.loadAverageStart[0], 2)} at start, ${fixed(m.loadAverageEnd[0], 2)} at end: other processes share these cores, so numbers move with it`);
  const dirty = r.source.uncommitted;
  out.push(`source: commit ${r.source.commit}${dirty.length ? ` + uncommitted changes to ${dirty.join(', ')}` : ''}`);
  out.push(`config: ${describeConfig(r.config)}`);
  if (models.includes('tutorial')) out.push(flopsLine('tutorial CNN', r.flops));
  out.push('');
  out.push('FMA ceiling (independent vec4 multiply-add chains, no memory traffic; best variant of the probe)');
  const probes: string[][] = [];
  const sections = r.sections ?? (r.residual ? [r.residual] : []);
  const nodeEngine = r.node ?? sections.find((s) => s.node)?.node;
  const chromiumEngine = r.chromium?.ours ?? sections.find((s) => s.chromium?.ours)?.chromium?.ours;
  if (nodeEngine) probes.push(probeLine('node', nodeEngine.adapter, nodeEngine.probe));
  if (chromiumEngine) probes.push(probeLine('chromium', chromiumEngine.adapter, chromiumEngine.probe));
  else if (r.chromium?.probe) probes.push(probeLine('chromium', r.chromium.probe.adapter, r.chromium.probe.probe));
  out.push(...table(['env', 'adapter', 'GFLOP/s', 'best variant', 'other variants (GFLOP/s)'], probes, (c) => c === 2));
  out.push('');

  if (models.includes('tutorial')) {
    const v = tutorialView(r);
    throughputSections(out, v);
    if (r.chromium?.flags) out.push(`chromium flags: ${r.chromium.flags.join(' ')}`);
    out.push('');
    engineSections(out, v);
  } else if (r.chromium?.flags) {
    out.push(`chromium flags: ${r.chromium.flags.join(' ')}`);
    out.push('');
  }
  for (const s of sections) modelSection(out, s);
  if (sections.length) summary(out, sections, (r.config.baselines ?? []).filter((b) => b !== 'jax-webgpu'));
  if (r.chromiumError) out.push(`chromium: ${r.chromiumError}`);
  return out.join('\n');
}
