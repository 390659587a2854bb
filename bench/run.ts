/**
 * `npm run bench`: our engine in Node (Dawn) and in headless Chromium, then TensorFlow.js and jax-js
 * in the same Chromium, one after the other on the same cores (never concurrently). Prints the
 * report and writes it as JSON to bench/results/latest.json. `npm run bench -- --help` lists the knobs.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'puppeteer';
import { createServer, type ViteDevServer } from 'vite';
import { loadCorpus, loadMnist, mnistCnn } from '../src/index.ts';
import type { ProbeResult } from './fma-probe.ts';
import { MODEL_DESCRIPTIONS, residualModel, tutorialModel, type BenchModel } from './models.ts';
import { charlmDescription, charlmModel, LSTM_DESCRIPTION, lstmModel } from './sequence-models.ts';
import { launchChromium, ROOT, waitForValue, WEBGPU_FLAGS } from '../test/browser.ts';
import type { PageJob, PageResult, PageState } from './browser.ts';
import { describeConfig, modelConfig, parseConfig, usage, type BaselineName, type BenchConfig, type ModelName } from './config.ts';
import { modelFlops, type ModelFlops } from './flops.ts';
import { benchEngine, benchModelFlops, type EngineResult } from './ours.ts';
import { formatReport, type BenchResults, type ModelSection } from './report.ts';
import type { BaselineResult } from './results.ts';

const CHROMIUM_BENCH_FLAGS = [
  ...WEBGPU_FLAGS,
  // Full-resolution timestamp queries (Chromium otherwise quantizes them to 100 µs).
  '--enable-webgpu-developer-features',
  // TF.js's webgl backend needs WebGL, which here is SwiftShader's; Chromium 156 asks for this opt-in.
  '--enable-unsafe-swiftshader',
  // A hidden headless page must not be throttled while it waits on the GPU for seconds.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
];

/** The npm package each baseline's version is read from. */
const BASELINE_PACKAGES: Record<BaselineName, string> = {
  'tfjs-webgpu': '@tensorflow/tfjs-backend-webgpu',
  'tfjs-webgl': '@tensorflow/tfjs',
  'jax-webgpu': '@jax-js/jax',
};

/** Longest a single page may run (ours at batch 256 takes minutes on a CPU adapter). */
const PAGE_TIMEOUT_MS = 60 * 60 * 1000;

const log = (line: string) => console.log(line);

function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * The commit measured, and the engine files that differed from it when the run started: kernels
 * are edited while benchmarks run, and Vite serves the page whatever is on disk at load time.
 */
function sourceState(): BenchResults['source'] {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  try {
    const changed = git('status', '--porcelain', '--', 'src', 'shaders').split('\n').filter(Boolean).map((line) => line.replace(/^\s*\S+\s+/, ''));
    return { commit: git('rev-parse', '--short', 'HEAD'), uncommitted: changed };
  } catch (err) {
    return { commit: `unknown (${message(err)})`, uncommitted: [] };
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A Vite dev server on the project's config (it serves MNIST under /mnist/) with its own dependency
 * cache: test runs share node_modules/.vite, and one server re-optimizing it breaks another's pages
 * mid-run ("Outdated Optimize Dep"). TF.js and jax-js are pre-bundled up front for the same reason.
 */
async function startBenchServer(): Promise<{ server: ViteDevServer; origin: string }> {
  const server = await createServer({
    configFile: path.join(ROOT, 'vite.config.ts'),
    root: ROOT,
    cacheDir: path.join(ROOT, 'node_modules/.vite-bench'),
    logLevel: 'warn',
    clearScreen: false,
    optimizeDeps: { entries: ['bench/browser.html'], include: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu', '@jax-js/jax'] },
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, watch: null },
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') throw new Error('the Vite server has no TCP address');
  return { server, origin: `http://127.0.0.1:${address.port}` };
}

async function runPage(page: Page, origin: string, job: PageJob): Promise<PageResult> {
  page.on('console', (msg) => log(`[chromium ${job.system}] ${msg.text()}`));
  page.on('pageerror', (err) => log(`[chromium ${job.system}] page error: ${message(err)}`));
  // A module the server could not build (HTTP 5xx) leaves the page without __runBench: fail now.
  const broken = new Promise<never>((_, reject) =>
    page.on('response', (r) => {
      if (r.status() >= 500) reject(new Error(`${r.url()}: HTTP ${r.status()} ${r.statusText()} (the server's error is above)`));
    }),
  );
  broken.catch(() => {});
  // The first load waits while Vite pre-bundles TF.js and jax-js.
  await Promise.race([page.goto(`${origin}/bench/browser.html`, { timeout: 300_000 }), broken]);
  await Promise.race([page.waitForFunction(() => typeof window.__runBench === 'function', { timeout: 300_000 }), broken]);
  await page.evaluate((j) => window.__runBench(j), job);
  // 'idle' again means the page reloaded under us (e.g. Vite re-optimizing dependencies).
  const state = await waitForValue(page, () => window.__bench.state, (s) => s !== 'running', PAGE_TIMEOUT_MS, `${job.system} in Chromium`);
  const final = (await page.evaluate(() => window.__bench)) as PageState;
  if (state === 'idle') throw new Error('the page reloaded during the run');
  if (final.state === 'error') throw new Error(final.error);
  return final.result!;
}

/** A model other than the tutorial: its report section, how Node builds it, and the config it runs under. */
interface SectionJob {
  section: ModelSection;
  config: BenchConfig;
  spec(): BenchModel;
}

/** Why a framework does not run on a model, or undefined where it does. */
function skipReason(name: BaselineName, model: ModelName): string | undefined {
  if (model === 'charlm') return 'ours only: TF.js 4.22 has no attention layer, the lstm model compares LSTMs with TF.js, and jax-js has no port of it in the bench';
  if (name === 'jax-webgpu') return 'no jax-js port of this model in the bench; bench/jax.ts has the tutorial CNN only';
  return undefined;
}

/** The sections of the models other than the tutorial, in the order they run; the corpus is read only when the language model runs. */
async function sectionJobs(config: BenchConfig): Promise<SectionJob[]> {
  const jobs: SectionJob[] = [];
  const add = (spec: () => BenchModel, description: string) => {
    const built = spec();
    const section: ModelSection = { model: built.name, description, flops: benchModelFlops(built) };
    if (built.variant) section.variant = built.variant;
    if (built.tokensPerSample) section.tokensPerSample = built.tokensPerSample;
    jobs.push({ section, config: modelConfig(config, built.name), spec });
  };
  if (config.models.includes('residual')) add(residualModel, MODEL_DESCRIPTIONS.residual);
  if (config.models.includes('lstm')) add(lstmModel, LSTM_DESCRIPTION);
  if (config.models.includes('charlm')) {
    const text = await loadCorpus();
    for (const kind of config.charlmKinds) {
      const spec = () => charlmModel(text, kind, config.charlmSequence);
      add(spec, charlmDescription(kind, config.charlmSequence, spec().data.vocab.size));
    }
  }
  return jobs;
}

/** Tutorial pages first (ours, then each framework), then each other model's, filling its section's `chromium`. */
async function chromium(config: BenchConfig, flops: ModelFlops, sections: readonly SectionJob[]): Promise<NonNullable<BenchResults['chromium']>> {
  const { server, origin } = await startBenchServer();
  try {
    const browser = await launchChromium(CHROMIUM_BENCH_FLAGS);
    try {
      const result: NonNullable<BenchResults['chromium']> = { version: await browser.version(), flags: CHROMIUM_BENCH_FLAGS, baselines: [] };
      const inPage = async (job: PageJob) => {
        const page = await browser.newPage();
        try {
          return await runPage(page, origin, job);
        } finally {
          await page.close().catch(() => {});
        }
      };
      const tutorial = config.models.includes('tutorial');
      /** The FMA ceiling in this Chromium, taken once (by our first page, or a probe-only page). */
      let probe: ProbeResult | undefined;
      const ceiling = async (): Promise<number> => {
        if (!probe) {
          result.probe = (await inPage({ system: 'probe', config })) as { adapter: string; probe: EngineResult['probe'] };
          probe = result.probe.probe;
        }
        return probe.gflops;
      };
      if (tutorial && config.targets.includes('chromium')) {
        try {
          result.ours = (await inPage({ system: 'ours', config })) as EngineResult;
          probe = result.ours.probe;
        } catch (err) {
          result.oursError = message(err);
          log(`chromium: our engine failed: ${result.oursError}`);
        }
      }
      if (tutorial && config.baselines.length > 0) {
        const gflops = await ceiling();
        for (const name of config.baselines) {
          const version = packageVersion(BASELINE_PACKAGES[name]);
          try {
            const baseline = (await inPage({ system: name, config, flops, ceiling: gflops })) as BaselineResult;
            result.baselines.push({ ...baseline, version });
          } catch (err) {
            result.baselines.push({ name, version, error: message(err).split('\n')[0]!, train: [], predict: [] });
            log(`chromium: ${name} failed: ${message(err)}`);
          }
        }
      }
      for (const { section: s, config: sc } of sections) {
        const model = s.model;
        const tag = `chromium ${model}${s.variant ? ` (${s.variant})` : ''}`;
        const section: NonNullable<ModelSection['chromium']> = { baselines: [], skipped: [] };
        s.chromium = section;
        if (config.targets.includes('chromium')) {
          try {
            section.ours = (await inPage({ system: 'ours', config: sc, model, variant: s.variant, probe })) as EngineResult;
            probe ??= section.ours.probe;
          } catch (err) {
            section.oursError = message(err);
            log(`${tag}: our engine failed: ${section.oursError}`);
          }
        }
        for (const name of config.baselines) {
          const reason = skipReason(name, model);
          if (reason) {
            section.skipped.push({ name, reason });
            continue;
          }
          const version = packageVersion(BASELINE_PACKAGES[name]);
          try {
            const baseline = (await inPage({ system: name, config: sc, flops: s.flops, ceiling: await ceiling(), model })) as BaselineResult;
            section.baselines.push({ ...baseline, version });
          } catch (err) {
            section.baselines.push({ name, version, error: message(err).split('\n')[0]!, train: [], predict: [] });
            log(`${tag}: ${name} failed: ${message(err)}`);
          }
        }
      }
      return result;
    } finally {
      await browser.close().catch(() => {});
    }
  } finally {
    await server.close();
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    console.log(usage());
    return;
  }
  const config = parseConfig(argv, process.env);
  const started = performance.now();
  const cpus = os.cpus();
  const results: BenchResults = {
    date: new Date().toISOString(),
    wallSeconds: 0,
    machine: { cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, platform: `${os.platform()} ${os.release()}`, node: process.version, loadAverageStart: os.loadavg(), loadAverageEnd: [] },
    source: sourceState(),
    config,
    flops: modelFlops(mnistCnn()),
  };
  const sections = await sectionJobs(config);
  if (sections.length) results.sections = sections.map((j) => j.section);
  log(`config: ${describeConfig(config)}`);
  if (config.targets.includes('node')) {
    if (config.models.includes('tutorial')) {
      try {
        results.node = await benchEngine('node', tutorialModel(await loadMnist()), config, log);
      } catch (err) {
        results.nodeError = message(err);
        log(`node: our engine failed: ${results.nodeError}`);
      }
    }
    /** The FMA ceiling is taken once, by the first model that runs. */
    let probe = results.node?.probe;
    for (const { section, config: sc, spec } of sections) {
      try {
        section.node = await benchEngine('node', spec(), sc, log, probe);
        probe ??= section.node.probe;
      } catch (err) {
        section.nodeError = message(err);
        log(`node ${section.model}${section.variant ? ` (${section.variant})` : ''}: our engine failed: ${section.nodeError}`);
      }
    }
  }
  if (config.targets.includes('chromium') || config.baselines.length > 0) {
    try {
      results.chromium = await chromium(config, results.flops, sections);
    } catch (err) {
      results.chromiumError = message(err);
      log(`chromium: ${results.chromiumError}`);
    }
  }
  results.wallSeconds = (performance.now() - started) / 1000;
  results.machine.loadAverageEnd = os.loadavg();
  console.log('\n' + formatReport(results));
  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
  log(`\nwrote ${path.relative(process.cwd(), path.join(dir, 'latest.json'))}`);
}

main().then(
  // Dawn keeps the process alive while its GPU object is referenced: exit explicitly.
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
