/**
 * The benchmark kit's pure parts (scripts/bench-kit): its command line, run.sh's choice of Vulkan
 * driver (the generated script run under bash against fake ICD folders) and the printed report.
 * Building the kit (downloads) and running it stay out of the unit suite.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { benchConfigFor, KIT_DEFAULTS, parseKitArgs, profiledBatches, tfjsBatches, trainingSamplesNeeded } from '../scripts/bench-kit/args.ts';
import { formatKitReport, profileLines, speedup, type KitResults, type ModelReport } from '../scripts/bench-kit/format.ts';
import { ICD_DIRS, runScript } from '../scripts/bench-kit/run-script.ts';
import { withKitToggles } from '../scripts/bench-kit/dawn-shim.ts';
import type { StepProfile } from '../bench/profile.ts';
import { overheadFraction, RECIPE_STEPS, targetRows, tiledProducts } from '../scripts/bench-kit/targets.ts';
import type { OurTrainResult } from '../bench/ours.ts';

describe('kit arguments', () => {
  it('defaults to every model at the issue batch sizes, with TF.js', () => {
    const o = parseKitArgs([]);
    expect(o.models).toEqual(['tutorial', 'residual', 'lstm']);
    expect(o.batches.tutorial).toEqual([64, 256, 1024]);
    expect(o.tfjs).toBe(true);
    expect(o.tfjsModels).toEqual(['tutorial', 'residual', 'lstm']);
    expect(o).toEqual({ ...KIT_DEFAULTS, batches: o.batches, models: o.models, tfjsModels: o.tfjsModels });
  });

  it('--quick shortens everything, and later flags still win wherever --quick stands', () => {
    const quick = parseKitArgs(['--quick']);
    expect(quick.batches).toEqual({ tutorial: [64], residual: [64], lstm: [64] });
    expect([quick.warmup, quick.windows, quick.steps, quick.profileRuns]).toEqual([2, 2, 1, 1]);
    const before = parseKitArgs(['--batches', '32,128', '--quick', '--windows=4']);
    expect(before.batches.tutorial).toEqual([32, 128]);
    expect(before.batches.residual).toEqual([64]);
    expect(before.windows).toBe(4);
    expect(before.steps).toBe(1);
  });

  it('parses lists, switches and the = form, and narrows TF.js to the models run', () => {
    const o = parseKitArgs(['--models', 'lstm,tutorial', '--lstm-batches=8', '--tfjs-models', 'residual,lstm', '--no-tfjs', '--max-minutes', '30', '--json', 'out.json']);
    expect(o.models).toEqual(['tutorial', 'lstm']);
    expect(o.batches.lstm).toEqual([8]);
    expect(o.tfjsModels).toEqual(['lstm']);
    expect(o.tfjs).toBe(false);
    expect(tfjsBatches(o, 'lstm')).toEqual([]);
    expect([o.maxMinutes, o.json]).toEqual([30, 'out.json']);
    expect(parseKitArgs(['--help']).help).toBe(true);
  });

  it('rejects what it cannot run, naming the flag, what it expected and what came', () => {
    expect(() => parseKitArgs(['--bogus'])).toThrow(/unknown argument '--bogus'/);
    expect(() => parseKitArgs(['extra'])).toThrow(/unknown argument 'extra'/);
    expect(() => parseKitArgs(['--warmup', '1'])).toThrow(/--warmup: expected an integer ≥ 2, got '1'/);
    expect(() => parseKitArgs(['--steps', '2.5'])).toThrow(/--steps: expected an integer ≥ 1, got '2.5'/);
    expect(() => parseKitArgs(['--batches', '64,x'])).toThrow(/--batches: expected an integer ≥ 1, got 'x'/);
    expect(() => parseKitArgs(['--batches', ','])).toThrow(/--batches: expected a comma-separated list/);
    expect(() => parseKitArgs(['--models', 'charlm'])).toThrow(/--models: unknown model 'charlm'; expected some of tutorial,residual,lstm/);
    expect(() => parseKitArgs(['--windows'])).toThrow(/--windows needs a value \(N\)/);
    expect(() => parseKitArgs(['--quick=yes'])).toThrow(/--quick takes no value/);
    expect(() => parseKitArgs(['--tune', 'always'])).toThrow(/--tune: expected off, first-use or exhaustive, got 'always'/);
    expect(() => parseKitArgs(['--recipe', 'yes'])).toThrow(/--recipe: expected auto, on or off, got 'yes'/);
    expect(() => parseKitArgs(['--peak-gflops', '0'])).toThrow(/--peak-gflops: expected an integer ≥ 1, got '0'/);
  });

  it('maps onto the bench config: one batch, profiled and compared where asked', () => {
    const o = parseKitArgs(['--batches', '64,256', '--profile-batches', '256', '--tfjs-batches', '64', '--tfjs-windows', '2']);
    expect(profiledBatches(o, 'tutorial')).toEqual([256]);
    expect(tfjsBatches(o, 'tutorial')).toEqual([64]);
    const at64 = benchConfigFor(o, 'tutorial', 64);
    expect(at64.batches).toEqual([64]);
    expect([at64.profileRuns, at64.profileBatches]).toEqual([0, []]);
    expect([at64.baselines, at64.baselineBatches, at64.baselineWindows]).toEqual([['tfjs-webgpu'], [64], 2]);
    const at256 = benchConfigFor(o, 'tutorial', 256);
    expect([at256.profileRuns, at256.profileBatches, at256.baselines]).toEqual([o.profileRuns, [256], []]);
    expect(profiledBatches(parseKitArgs(['--profile-runs', '0']), 'lstm')).toEqual([]);
    // Tuning on first use by default; the engine measures with what --tune says.
    expect(at64.tune).toBe('first-use');
    expect(benchConfigFor(parseKitArgs(['--tune', 'off']), 'lstm', 64).tune).toBe('off');
  });

  it('counts the training samples the longest run needs (ours: warmup + windows × steps + 1 steps)', () => {
    const o = parseKitArgs(['--batches', '64,1024', '--warmup', '3', '--windows', '5', '--steps', '5']);
    expect(trainingSamplesNeeded(o, 'tutorial')).toBe(1024 * (3 + 25 + 1));
  });
});

describe('run.sh: Vulkan driver search', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bench-kit-test-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const script = path.join(root, 'run.sh');
  writeFileSync(script, runScript({ kitId: 'test', builtAt: 'now', commit: 'test' }), { mode: 0o755 });
  const dirs = ['a', 'b', 'c'].map((d) => path.join(root, 'icd', d));
  let n = 0;

  /** Fresh ICD folders holding `files` (path relative to the folders' parent → library the manifest names). */
  function printEnv(files: Record<string, string>, env: Record<string, string> = {}): { vars: Record<string, string>; stderr: string } {
    const base = path.join(root, `case${n++}`);
    const caseDirs = dirs.map((d) => path.join(base, path.basename(d)));
    for (const d of caseDirs) mkdirSync(d, { recursive: true });
    for (const [file, lib] of Object.entries(files)) writeFileSync(path.join(base, file), JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: lib, api_version: '1.3.0' } }));
    const r = spawnSync('bash', [script, '--print-env'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: root, WEBGPU_KIT_ICD_DIRS: caseDirs.join(':'), ...env } });
    expect(r.status, r.stderr).toBe(0);
    const vars = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    return { vars, stderr: r.stderr };
  }

  it('is valid bash and searches the usual folders in order', () => {
    expect(() => execFileSync('bash', ['-n', script])).not.toThrow();
    expect(ICD_DIRS).toEqual(['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/nvidia/share/vulkan/icd.d', '/usr/local/share/vulkan/icd.d']);
    expect(runScript({ kitId: 'k', builtAt: 'b', commit: 'c' })).toContain(`ICD_DIRS=(${ICD_DIRS.join(' ')})`);
  });

  it('takes NVIDIA first wherever it is, then the earliest folder', () => {
    const { vars } = printEnv({ 'a/lvp_icd.x86_64.json': '/x/liblvp.so', 'c/nvidia_icd.json': '/x/libGLX_nvidia.so.0' });
    expect(vars.VK_DRIVER_FILES).toMatch(/case\d+\/c\/nvidia_icd\.json$/);
    const two = printEnv({ 'b/nvidia_icd.json': '/x/1', 'c/nvidia_icd.json': '/x/2' });
    expect(two.vars.VK_DRIVER_FILES).toMatch(/\/b\/nvidia_icd\.json$/);
  });

  it('without NVIDIA uses every manifest found, in folder order', () => {
    const { vars } = printEnv({ 'c/radeon_icd.x86_64.json': '/x/r', 'a/intel_icd.x86_64.json': '/x/i' });
    const files = vars.VK_DRIVER_FILES!.split(':').map((f) => f.split('/').slice(-2).join('/'));
    expect(files).toEqual(['a/intel_icd.x86_64.json', 'c/radeon_icd.x86_64.json']);
  });

  it('honours VK_DRIVER_FILES and VK_ICD_FILENAMES as given', () => {
    const given = path.join(root, 'given.json');
    writeFileSync(given, '{"ICD": {"library_path": "/x/y.so"}}');
    expect(printEnv({ 'a/nvidia_icd.json': '/x/n' }, { VK_DRIVER_FILES: given }).vars).toMatchObject({ VK_DRIVER_FILES: given, WEBGPU_KIT_ICD: 'VK_DRIVER_FILES as given' });
    expect(printEnv({ 'a/nvidia_icd.json': '/x/n' }, { VK_ICD_FILENAMES: given }).vars).toMatchObject({ VK_DRIVER_FILES: given, WEBGPU_KIT_ICD: 'VK_ICD_FILENAMES as given' });
  });

  it('says so when it finds nothing, or a driver library that cannot load', () => {
    const none = printEnv({});
    expect(none.vars.VK_DRIVER_FILES).toBe('');
    expect(none.stderr).toMatch(/no Vulkan ICD manifest found/);
    const missing = printEnv({ 'a/nvidia_icd.json': 'libGLX_nvidia_kit_test_absent.so.0' });
    expect(missing.stderr).toMatch(/names libGLX_nvidia_kit_test_absent\.so\.0, which the dynamic loader cannot find.*NVIDIA_DRIVER_CAPABILITIES/s);
    const absolute = printEnv({ 'a/nvidia_icd.json': '/nonexistent/libGLX_nvidia.so.0' });
    expect(absolute.stderr).toMatch(/names \/nonexistent\/libGLX_nvidia\.so\.0, which does not exist/);
  });
});

describe("the kit's Dawn shim", () => {
  it("turns timestamp quantization off on every instance, keeping the caller's toggles", () => {
    expect(withKitToggles([])).toEqual(['disable-dawn-features=timestamp_quantization']);
    expect(withKitToggles(['enable-dawn-features=disable_robustness'])).toEqual(['enable-dawn-features=disable_robustness', 'disable-dawn-features=timestamp_quantization']);
    expect(withKitToggles(['disable-dawn-features=lazy_clear_resource_on_first_use', 'backend=vulkan'])).toEqual([
      'disable-dawn-features=lazy_clear_resource_on_first_use,timestamp_quantization',
      'backend=vulkan',
    ]);
    expect(withKitToggles(['disable-dawn-features=timestamp_quantization'])).toEqual(['disable-dawn-features=timestamp_quantization']);
  });
});

describe('kit report', () => {
  const train = (batch: number, msPerStep: number, counters: Partial<OurTrainResult['countersPerStep']> = {}): OurTrainResult => ({
    batch,
    steps: { warmup: 2, windows: 2, perWindow: 1 },
    windowMs: [msPerStep * 0.9, msPerStep * 1.1],
    msPerStep,
    samplesPerSec: batch / (msPerStep / 1000),
    gflops: 1,
    fractionOfCeiling: 0.5,
    countersPerStep: { submits: 1, readbacks: 0, buffersCreated: 0, bindGroupsCreated: 0, dispatches: 40, pipelinesCompiled: 0, ...counters },
    loss: 2.3,
    accuracy: 0.1,
  });
  const profile: StepProfile = {
    method: 'timestamp-query',
    runs: 3,
    totalMs: 10,
    wallMs: 11,
    dispatches: Array.from({ length: 15 }, (_, i) => ({ index: i, label: `op${i}:key`, op: `op${i}`, phase: i < 5 ? 'forward' : 'backward', workgroups: [1, 1, 1], ms: (i + 1) / 12 })),
  };
  const tutorial: ModelReport = {
    model: 'tutorial',
    description: 'tutorial CNN',
    train: [train(64, 4), train(256, 12.5, { readbacks: 1 })],
    predict: [{ batch: 64, samples: 256, ms: 10, samplesPerSec: 25600, gflops: 1, fractionOfCeiling: 0.1 }],
    profiles: [{ batch: 64, profile }],
    kernelStyle: 'tiled',
    tuning: [
      {
        batch: 64,
        stats: { mode: 'first-use', geometries: 7, candidates: 16, ms: 2400, changed: 1 },
        records: [
          { op: 'dense', key: '64x784->10', variant: 'tiled-64x64', hand: 'tiled-64x64', ms: { 'tiled-64x64': 0.1 } },
          { op: 'conv2d.forward', key: '64x28x28x1->32', variant: 'tiled-split', hand: 'tiled', ms: { tiled: 0.5, 'tiled-split': 0.25 } },
        ],
      },
    ],
    variants: [{ batch: 64, rows: [{ layer: 'conv2d', op: 'conv2d.forward', variant: 'tiled-split', key: '64x28x28x1->32' }] }],
    errors: [],
    tfjs: { name: 'tfjs-webgpu', version: '4.22.0', detail: 'backend webgpu', train: [{ ...train(64, 40), windowMs: [40] }], predict: [] },
    skipped: [],
  };
  const lstm: ModelReport = {
    model: 'lstm',
    description: 'LSTM',
    train: [],
    predict: [],
    profiles: [],
    errors: [{ batch: 64, system: 'webgpu-train', error: 'device lost\nstack' }],
    tfjs: { name: 'tfjs-webgpu', version: '4.22.0', error: 'batch 64: no kernel', train: [], predict: [] },
    skipped: ['TF.js at batch 256'],
  };
  const results: KitResults = {
    date: '2026-12-03T00:00:00.000Z',
    wallSeconds: 12,
    kit: { node: 'v22.23.5', builtAt: 'yesterday', commit: 'abc', tfjs: '4.22.0', webgpuPackage: '0.6.2' },
    machine: { cpu: 'cpu', cores: 16, memoryGiB: 128, platform: 'linux' },
    vulkan: { VK_DRIVER_FILES: '/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json' },
    adapter: { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200', isFallbackAdapter: false, features: ['timestamp-query'], limits: { maxBufferSize: 1 } },
    engine: { adapter: 'nvidia / hopper', kernelStyle: 'tiled', winograd: false, robustBufferAccess: true, hasTimestamps: true },
    options: parseKitArgs(['--quick']),
    models: [tutorial, lstm],
  };

  it('prints every section with ours, TF.js and their ratio at the same batch', () => {
    const text = formatKitReport(results);
    for (const section of ['== Adapter ==', '== Engine tuning ==', '== Models ==', '== Training and prediction ==', '== Dispatches per training step', '== Per-op timings of one training step ==', "== Issue #20's GPU targets"]) {
      expect(text).toContain(section);
    }
    expect(text).toContain('nvidia / hopper / NVIDIA H200');
    expect(text).toContain("kernel style 'tiled'");
    // What tuning measured and kept, and what each layer runs.
    expect(text).toContain("tutorial batch 64: tuning 'first-use' timed 16 candidates of 7 geometries in 2.4 s; 1 kept another variant than the hand policy");
    expect(text).toContain('conv2d.forward 64x28x28x1->32: tiled-split instead of tiled (ms: tiled 0.500, tiled-split 0.250)');
    expect(text).not.toContain('dense 64x784->10: tiled-64x64 instead');
    expect(text).toMatch(/conv2d\s+conv2d\.forward\s+tiled-split\s+64x28x28x1->32/);
    const row64 = text.split('\n').find((l) => /^\s+tutorial\s+64\s/.test(l))!;
    expect(row64.split(/\s{2,}/).map((c) => c.trim())).toEqual(['', 'tutorial', '64', '4.00', '3.60 4.40', '16000.0', '1.00', '50.0%', '25600.0', '40.0', '1600.0', '—', '10.00×']);
    expect(text.split('\n').find((l) => /^\s+tutorial\s+256\s/.test(l) && l.includes('(!)'))).toMatch(/40\s+1\s+1 \(!\)/);
    expect(text).toContain('lstm batch 64: webgpu-train failed: device lost');
    expect(text).not.toContain('stack');
    expect(text).toContain('lstm: TF.js webgpu failed: batch 64: no kernel');
    expect(text).toContain('lstm: skipped TF.js at batch 256 (time budget spent)');
  });

  it('says why there is no adapter instead of printing numbers', () => {
    const text = formatKitReport({ ...results, adapter: undefined, adapterError: 'Dawn found no WebGPU adapter', engine: undefined, models: [] });
    expect(text).toContain('no adapter: Dawn found no WebGPU adapter');
    expect(text).toContain('none taken');
  });

  it('groups per-op timings by family, largest first, folding the tail', () => {
    const lines = profileLines('tutorial', 64, profile, 3);
    expect(lines[0]).toContain('GPU timestamp queries');
    expect(lines[0]).toContain('15 dispatches sum to 10.0 ms, the replayed step takes 11.0 ms');
    const rows = lines.slice(4).map((l) => l.trim().split(/\s{2,}/));
    expect(rows.map((r) => r[0])).toEqual(['op14', 'op13', 'op12', '(12 more)']);
    expect(rows[3]![1]).toBe('12');
    expect(lines[1]).toMatch(/by phase: backward .* forward/);
  });

  it('gives a ratio only where both ran', () => {
    expect(speedup(50, 5)).toBe('10.00×');
    expect(speedup(undefined, 5)).toBe('—');
    expect(speedup(50, NaN)).toBe('—');
  });
});

describe("kit report: issue #20's GPU targets", () => {
  const dispatch = (index: number, label: string, ms: number) => ({ index, label, op: label.split(':')[0]!, phase: 'forward' as const, workgroups: [1, 1, 1], ms });
  // Two tiled products (a conv forward as implicit GEMM and a dense split-K partial product) and two other kernels.
  const profile1024: StepProfile = {
    method: 'timestamp-query',
    runs: 3,
    totalMs: 4,
    wallMs: 5,
    dispatches: [
      dispatch(0, 'matmul:tiled:1x692224x32x9:AB:strides0,0,0:bias+relu:tile64x64x16', 1),
      dispatch(1, 'matmul:tiled:1x1024x10x1152:AB:strides0,0,0:plain:tile64x64x16', 0.5),
      dispatch(2, 'loss:softmax', 1.5),
      dispatch(3, 'optimizer-update:104202', 1),
    ],
  };
  const profile256: StepProfile = { ...profile1024, totalMs: 1.5, wallMs: 2 };
  const train = (batch: number, msPerStep: number) => ({ batch, msPerStep });

  it('reads the tiled products off their kernel keys, largest first, at 2·batch·m·n·k FLOPs', () => {
    const products = tiledProducts(profile1024);
    expect(products.map((p) => [p.m, p.n, p.k])).toEqual([[692224, 32, 9], [1024, 10, 1152]]);
    expect(products[0]!.flops).toBe(2 * 692224 * 32 * 9);
    expect(products[0]!.gflops).toBeCloseTo((2 * 692224 * 32 * 9) / 1e6, 6);
    expect(overheadFraction(2, 1.6)).toBeCloseTo(0.2, 12);
    expect(overheadFraction(2, 2.5)).toBe(0);
    expect(overheadFraction(0, 1)).toBeNaN();
  });

  it('judges each target from what the run measured, and says what is missing otherwise', () => {
    const recipe = { epochs: 5, samples: 60000, batch: 64, steps: RECIPE_STEPS, seconds: 8.5, warmupSeconds: 3, uniqueImages: 10000, loss: 0.02, accuracy: 0.99, testAccuracy: 0.985, testSamples: 2048 };
    const tutorial = { train: [train(64, 1.5), train(256, 2), train(1024, 5)], profiles: [{ batch: 256, profile: profile256 }, { batch: 1024, profile: profile1024 }] };
    const rows = targetRows({ tutorial, recipe, peakGflops: 1000 });
    expect(rows.map((r) => r.verdict)).toEqual(['met', 'met', 'missed']);
    expect(rows[0]!.measured).toBe('8.50 s');
    // The largest product, 398.7 GFLOP/s: 39.9 % of a 1000 GFLOP/s peak (met), 19.9 % of 2000 (missed).
    expect(rows[1]!.measured).toMatch(/^39\.9% \(largest\)/);
    expect(targetRows({ tutorial, recipe, peakGflops: 2000 })[1]!.verdict).toBe('missed');
    expect(targetRows({ tutorial, recipe, peakGflops: 1300 })[1]!.verdict).toBe('met');
    expect(rows[2]!.measured).toBe('25.0%');
    expect(targetRows({ tutorial: { ...tutorial, profiles: [{ batch: 256, profile: { ...profile256, totalMs: 1.7 } }] }, peakGflops: 0 })[2]!.verdict).toBe('met');
    // No recipe run: an estimate from batch 64's ms/step, never a verdict; no profile or peak: not measured.
    const bare = targetRows({ tutorial: { train: [train(64, 1.5)], profiles: [] }, peakGflops: 0 });
    expect(bare[0]).toMatchObject({ verdict: 'not measured', measured: `≈ ${((1.5 * RECIPE_STEPS) / 1000).toFixed(1)} s (estimate)` });
    expect(bare[1]!.how).toContain('no per-op timings of the tutorial at batch 1024');
    expect(bare[2]!.how).toContain('at batch 256');
    expect(targetRows({ tutorial, recipe: { error: 'device lost' }, peakGflops: 0 })[0]!.how).toContain('the recipe run failed: device lost');
    expect(targetRows({ tutorial, peakGflops: 0, probeGflops: 500 })[1]!.how).toContain("the kit's FMA probe");
    expect(targetRows({ tutorial, peakGflops: 0 })[1]!.how).toContain('no fp32 peak');
    // The 'cpu' kernels (SwiftShader) run no tiled products: nothing to judge.
    const cpuOnly = { ...profile1024, dispatches: profile1024.dispatches.slice(2) };
    expect(targetRows({ tutorial: { ...tutorial, profiles: [{ batch: 1024, profile: cpuOnly }] }, peakGflops: 1000 })[1]!.how).toContain("no tiled products");
    // On a CPU fallback adapter the figures stand, but no GPU target is judged.
    expect(targetRows({ tutorial, recipe, peakGflops: 1000, fallback: true }).map((r) => r.verdict)).toEqual(['not judged (CPU adapter)', 'not judged (CPU adapter)', 'not judged (CPU adapter)']);
  });
});
