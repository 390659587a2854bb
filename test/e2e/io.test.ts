/**
 * The save/load targets only a page has, proven in headless Chromium with the built library
 * (demo/io.html): 'indexeddb://' round trips (predictions, weights, and with includeOptimizer the
 * optimizer's state, shown by one more training step), and 'downloads://name' delivering
 * name.json and name.weights.bin, which then load in Node through 'file://'.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BrowserContext } from 'puppeteer';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, tensor } from '../../src/index.ts';
import { artifactPath, ARTIFACTS, ROOT, startSession, waitForValue, type BrowserSession } from '../browser.ts';
import { useEngine } from '../helpers.ts';

/**
 * The library is built here rather than into dist/: e2e-embed.test.ts rebuilds (and empties) dist/
 * in its own process, possibly at the same time.
 */
const LIBRARY_DIR = path.join(ARTIFACTS, 'io-lib');
const LIBRARY_URL = `/${path.relative(ROOT, LIBRARY_DIR).split(path.sep).join('/')}/webgpu-train.js`;

interface IoState {
  status: string;
  error?: string;
  indexedDB?: { predictDiff: number; weightsDiff: number; loadedIterations: number; modelsStore: string[]; infoStore: string[] };
  withOptimizer?: { savedIterations: number; loadedIterations: number; slotsDiff: number; predictDiff: number; stepWeightsDiff: number; freshOptimizerStepDiff: number };
  downloads?: { weightDataBytes: number; weights: { name: string; shape: number[]; data: number[] }[]; x: number[]; xShape: number[]; predictions: number[] };
}

const engine = useEngine();

describe('demo/io.html: indexeddb:// and downloads:// in headless Chromium', () => {
  let session: BrowserSession;
  let context: BrowserContext;
  let downloads = '';

  beforeAll(async () => {
    await build({ configFile: path.join(ROOT, 'vite.lib.config.ts'), logLevel: 'warn', build: { outDir: LIBRARY_DIR, emptyOutDir: true } });
    downloads = await mkdtemp(path.join(tmpdir(), 'webgpu-train-downloads-'));
    session = await startSession();
    // A context of its own, so that downloads land in `downloads` (and IndexedDB starts empty).
    context = await session.browser.createBrowserContext({ downloadBehavior: { policy: 'allow', downloadPath: downloads } });
  }, 240_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await session?.close();
    if (downloads) await rm(downloads, { recursive: true, force: true });
  });

  it('saves to and loads from IndexedDB (with the optimizer too) and downloads model.json + weights that load in Node', async () => {
    const page = await context.newPage();
    page.on('pageerror', (err) => session.errors.push(`pageerror: ${(err as Error).message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') session.errors.push(`console: ${msg.text()}`);
    });
    await page.goto(`${session.origin}/demo/io.html?lib=${encodeURIComponent(LIBRARY_URL)}`);
    const state = await waitForValue(page, () => (window as unknown as { __io: IoState }).__io, (s) => s.status === 'done' || s.status === 'error', 120_000, 'the io page');
    expect(state.error).toBeUndefined();
    expect(state.status).toBe('done');

    // IndexedDB, no optimizer: the same model, in TF.js's database layout; a fresh optimizer.
    const idb = state.indexedDB!;
    expect(idb.predictDiff).toBeLessThanOrEqual(1e-6);
    expect(idb.weightsDiff).toBe(0);
    expect(idb.loadedIterations).toBe(0);
    expect(idb.modelsStore).toEqual(['webgpu-train-test']);
    expect(idb.infoStore).toEqual(['webgpu-train-test']);

    // IndexedDB with the optimizer (overwriting the entry): training resumes as if never interrupted.
    const opt = state.withOptimizer!;
    expect(opt.savedIterations).toBe(6); // 3 epochs × 2 batches of 4
    expect(opt.loadedIterations).toBe(opt.savedIterations);
    expect(opt.slotsDiff).toBe(0);
    expect(opt.predictDiff).toBeLessThanOrEqual(1e-6);
    expect(opt.stepWeightsDiff).toBeLessThanOrEqual(1e-6);
    // Without the optimizer's state the same step lands elsewhere, so the check above is not vacuous.
    expect(opt.freshOptimizerStepDiff).toBeGreaterThan(1e-4);

    // downloads://my-model: exactly the two files TF.js's browserDownloads names, once each.
    const saved = state.downloads!;
    const json = path.join(downloads, 'my-model.json');
    const bin = path.join(downloads, 'my-model.weights.bin');
    const arrived = async () => {
      const names = (await readdir(downloads)).sort();
      // Chromium writes '<guid>.crdownload' and renames it when complete.
      return names.length === 2 && existsSync(json) && existsSync(bin) && (await stat(bin)).size === saved.weightDataBytes ? names : null;
    };
    const deadline = Date.now() + 30_000;
    let names = await arrived();
    while (!names && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      names = await arrived();
    }
    expect(names ?? (await readdir(downloads)).sort()).toEqual(['my-model.json', 'my-model.weights.bin']);
    const modelJson = JSON.parse(await readFile(json, 'utf8')) as { format: string; weightsManifest: { paths: string[] }[] };
    expect(modelJson.format).toBe('layers-model');
    // Relative to model.json, as TF.js writes it: the two files load together from wherever they are put.
    expect(modelJson.weightsManifest.map((g) => g.paths)).toEqual([['./my-model.weights.bin']]);

    // The downloaded pair loads in Node: the very weights the page had, and its predictions.
    const loaded = await loadModel(`file://${json}`, { engine: engine() });
    try {
      const weights = await loaded.getWeights();
      expect(weights.map((w) => w.name).sort()).toEqual(saved.weights.map((w) => w.name).sort());
      for (const w of saved.weights) {
        const mine = weights.find((v) => v.name === w.name)!;
        expect(mine.shape).toEqual(w.shape);
        expect(Array.from(mine.values)).toEqual(w.data);
      }
      const predictions = (await loaded.predict(tensor(Float32Array.from(saved.x), saved.xShape))).values;
      // Another WebGPU implementation (Dawn in Node): equal up to float rounding.
      let diff = 0;
      predictions.forEach((p, i) => (diff = Math.max(diff, Math.abs(p - saved.predictions[i]!))));
      expect(diff).toBeLessThanOrEqual(1e-5);
    } finally {
      loaded.dispose();
    }

    // The page ran the built bundle, not the sources.
    const modules = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname));
    expect(modules).toContain(LIBRARY_URL);
    expect(modules.filter((m) => m.startsWith('/src/') || m.startsWith('/shaders/'))).toEqual([]);
    await page.screenshot({ path: artifactPath('io.png'), fullPage: true });
    expect(session.errors).toEqual([]);
  });
});
