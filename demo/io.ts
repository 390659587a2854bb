/**
 * Saving and loading in a page with the BUILT library: the targets only a browser has,
 * 'indexeddb://' and 'downloads://', which Node cannot exercise (no IndexedDB, no document).
 * test/e2e-io.test.ts reads the results from `window.__io` and checks the downloaded files in Node.
 * Like embed.ts, the module is fetched at run time from its URL so that Vite does not substitute
 * the sources; its types are the sources'.
 */
import { publishState } from './check-page.ts';
import type { LayersModel, NamedWeight } from '../src/index.ts';

type Library = typeof import('../src/index.ts');

const MODEL_PATH = 'webgpu-train-test';
const DOWNLOAD_NAME = 'my-model';
const N = 8;
const FEATURES = 4;
const CLASSES = 3;

/**
 * dist/webgpu-train.js, or a same-origin path given as ?lib=: the test builds the library into a
 * folder of its own, so that it does not race other tests that rebuild (and empty) dist/.
 */
function libraryUrl(): string {
  const requested = new URLSearchParams(location.search).get('lib');
  if (requested === null) return `${import.meta.env.BASE_URL}dist/webgpu-train.js`;
  const url = new URL(requested, location.href);
  // Only this server's files: a page must not import a module from wherever its URL says.
  if (url.origin !== location.origin) throw new Error(`?lib= must name a module on this server, got ${requested}`);
  return url.href;
}

interface IoState {
  status: 'starting' | 'running' | 'done' | 'error';
  libraryUrl?: string;
  /** save('indexeddb://…') then loadModel('indexeddb://…'), without the optimizer. */
  indexedDB?: {
    predictDiff: number;
    weightsDiff: number;
    /** The loaded model's optimizer starts afresh: 0. */
    loadedIterations: number;
    /** Keys of TF.js's database ('tensorflowjs'), read with the raw IndexedDB API. */
    modelsStore: string[];
    infoStore: string[];
  };
  /** The same path overwritten with { includeOptimizer: true } and loaded again. */
  withOptimizer?: {
    savedIterations: number;
    loadedIterations: number;
    slotsDiff: number;
    predictDiff: number;
    /** Weights after one more fit step from the original and from the loaded model. */
    stepWeightsDiff: number;
    /** The same step from the model loaded without its optimizer: must differ, or the check above proves nothing. */
    freshOptimizerStepDiff: number;
  };
  /** save('downloads://my-model'): what the test compares the downloaded files with. */
  downloads?: {
    weightDataBytes: number;
    weights: { name: string; shape: number[]; data: number[] }[];
    x: number[];
    xShape: number[];
    predictions: number[];
  };
  error?: string;
}

const state: IoState = { status: 'starting' };
const setStatus = publishState('__io', state);

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  // NaN compares false everywhere above: make it fail any tolerance.
  for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i]!) || Number.isNaN(b[i]!)) return Infinity;
  return max;
}

/** Largest difference over weights matched by name; both lists must name the same weights. */
function namedDiff(a: readonly NamedWeight[], b: readonly NamedWeight[]): number {
  const byName = new Map(b.map((w) => [w.name, w]));
  if (a.length !== b.length || a.some((w) => !byName.has(w.name))) {
    throw new Error(`different weights: ${a.map((w) => w.name).join(', ')} vs ${b.map((w) => w.name).join(', ')}`);
  }
  return Math.max(0, ...a.map((w) => maxAbsDiff(w.values, byName.get(w.name)!.values)));
}

/** The keys of TF.js's IndexedDB stores, read without the library: proof of where and how it saved. */
function storedKeys(): Promise<{ models: string[]; info: string[] }> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open('tensorflowjs');
    open.onerror = () => reject(new Error(`cannot open IndexedDB 'tensorflowjs': ${open.error?.message}`));
    open.onsuccess = () => {
      const db = open.result;
      try {
        const tx = db.transaction(['models_store', 'model_info_store'], 'readonly');
        const models = tx.objectStore('models_store').getAllKeys();
        const info = tx.objectStore('model_info_store').getAllKeys();
        tx.oncomplete = () => {
          db.close();
          resolve({ models: models.result.map(String), info: info.result.map(String) });
        };
        tx.onerror = () => {
          db.close();
          reject(new Error(`cannot read TF.js's stores: ${tx.error?.message}`));
        };
      } catch (err) {
        db.close();
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
  });
}

/** Seeded inputs and labels: a few samples are enough to move the weights and the optimizer's slots. */
function samples(): { x: Float32Array; y: Int32Array } {
  let s = 12345;
  const uniform = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const x = Float32Array.from({ length: N * FEATURES }, () => uniform() * 2 - 1);
  const y = Int32Array.from({ length: N }, (_, i) => i % CLASSES);
  return { x, y };
}

function showFacts(rows: [string, string][]): void {
  const table = document.getElementById('facts') as HTMLTableElement;
  table.replaceChildren();
  for (const [k, v] of rows) {
    const tr = table.insertRow();
    const th = document.createElement('th');
    th.textContent = k;
    tr.appendChild(th);
    tr.insertCell().textContent = v;
  }
}

async function main(): Promise<void> {
  state.libraryUrl = libraryUrl();
  const lib = (await import(/* @vite-ignore */ state.libraryUrl)) as Library;
  const engine = await lib.createEngine();
  const models: LayersModel[] = [];
  try {
    setStatus('running', 'Training a tiny model…');
    const data = samples();
    const x = lib.tensor(data.x, [N, FEATURES]);
    const y = lib.tensor(data.y, [N]);
    const model = lib.sequential({
      layers: [lib.layers.dense({ units: 8, activation: 'relu', inputShape: [FEATURES] }), lib.layers.dense({ units: CLASSES, activation: 'softmax' })],
      name: 'io_page_model',
    });
    models.push(model);
    // Adam: its slots and iteration count (bias correction) are what includeOptimizer must carry.
    model.compile({ optimizer: lib.optimizers.adam({ learningRate: 0.02 }), loss: 'sparseCategoricalCrossentropy', engine });
    await model.fit(x, y, { epochs: 3, batchSize: 4, verbose: 0 });
    const expected = (await model.predict(x)).values;

    setStatus('running', `Saving to indexeddb://${MODEL_PATH} and loading it back…`);
    await model.save(`indexeddb://${MODEL_PATH}`);
    const loaded = await lib.loadModel(`indexeddb://${MODEL_PATH}`, { engine });
    models.push(loaded);
    const keys = await storedKeys();
    state.indexedDB = {
      predictDiff: maxAbsDiff((await loaded.predict(x)).values, expected),
      weightsDiff: namedDiff(await loaded.getWeights(), await model.getWeights()),
      loadedIterations: (await loaded.getOptimizerState()).iterations,
      modelsStore: keys.models,
      infoStore: keys.info,
    };

    setStatus('running', 'Saving and loading with the optimizer’s state…');
    // The same path again: an overwrite, so a stale entry would show as a wrong iteration count.
    await model.save(`indexeddb://${MODEL_PATH}`, { includeOptimizer: true });
    const resumed = await lib.loadModel(`indexeddb://${MODEL_PATH}`, { engine });
    models.push(resumed);
    const savedState = await model.getOptimizerState();
    const loadedState = await resumed.getOptimizerState();
    const predictDiff = maxAbsDiff((await resumed.predict(x)).values, expected);
    // One whole-batch step without shuffling and with one seed: the same update if the state is the same.
    const step = { epochs: 1, batchSize: N, shuffle: false, seed: 7, verbose: 0 } as const;
    await model.fit(x, y, step);
    await resumed.fit(x, y, step);
    await loaded.fit(x, y, step);
    const after = await model.getWeights();
    state.withOptimizer = {
      savedIterations: savedState.iterations,
      loadedIterations: loadedState.iterations,
      slotsDiff: namedDiff(loadedState.slots, savedState.slots),
      predictDiff,
      stepWeightsDiff: namedDiff(await resumed.getWeights(), after),
      freshOptimizerStepDiff: namedDiff(await loaded.getWeights(), after),
    };

    setStatus('running', `Saving with downloads://${DOWNLOAD_NAME}…`);
    const predictions = (await model.predict(x)).values;
    const result = await model.save(`downloads://${DOWNLOAD_NAME}`);
    state.downloads = {
      weightDataBytes: result.modelArtifactsInfo.weightDataBytes,
      weights: after.map((w) => ({ name: w.name, shape: w.shape, data: Array.from(w.values) })),
      x: Array.from(data.x),
      xShape: [N, FEATURES],
      predictions: Array.from(predictions),
    };

    showFacts([
      ['adapter', engine.adapterDescription],
      ['IndexedDB: max |Δ prediction|', state.indexedDB.predictDiff.toExponential(2)],
      ['IndexedDB stores (TF.js layout)', `${keys.models.join(', ')} / ${keys.info.join(', ')}`],
      ['with optimizer: iterations saved → loaded', `${savedState.iterations} → ${loadedState.iterations}`],
      ['with optimizer: max |Δ weight| after one more step', state.withOptimizer.stepWeightsDiff.toExponential(2)],
      ['without optimizer: max |Δ weight| after that step', state.withOptimizer.freshOptimizerStepDiff.toExponential(2)],
      ['downloads', `${DOWNLOAD_NAME}.json, ${DOWNLOAD_NAME}.weights.bin (${state.downloads.weightDataBytes} bytes)`],
    ]);
    setStatus('done', 'Saved and loaded through IndexedDB; downloads started.');
  } finally {
    for (const m of models) m.dispose();
    engine.dispose();
  }
}

main().catch((err: unknown) => {
  state.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  setStatus('error', state.error);
});
