/**
 * The library as other projects get it: `npm run build`'s dist/ (ES module + declarations) behind
 * package.json "exports", imported by Node, type-checked by a consumer, and used by a page
 * (demo/embed.html) that creates its own GPUDevice and lends it to the engine.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, ARTIFACTS, ROOT, startSession, waitForValue, type BrowserSession } from '../browser.ts';

const run = promisify(execFile);
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');

describe('library build (dist/) and a page embedding it', () => {
  beforeAll(async () => {
    // What `npm run build` does: the bundle, then the declarations.
    await build({ configFile: path.join(ROOT, 'vite.lib.config.ts'), logLevel: 'warn' });
    await run(process.execPath, [TSC, '-p', path.join(ROOT, 'tsconfig.build.json')], { cwd: ROOT });
  }, 240_000);

  it('emits one self-contained ES module and its declarations, as package.json exports them', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; import: string }> };
    const entry = pkg.exports['.']!;
    expect(existsSync(path.join(ROOT, entry.import))).toBe(true);
    expect(existsSync(path.join(ROOT, entry.types))).toBe(true);
    const bundle = readFileSync(path.join(ROOT, entry.import), 'utf8');
    // Everything is bundled: no static imports remain (Dawn and node: modules load dynamically, in Node only).
    expect(bundle.match(/^\s*import\s[^(]*?from\s*['"][^'"]+['"]/gm) ?? []).toEqual([]);
    expect(bundle).toContain('export {');
  });

  it("works in Node as `import ... from 'webgpu-train'` (training through Dawn)", async () => {
    const script = `
      import { sequential, layers, tensor, createEngine } from 'webgpu-train';
      const engine = await createEngine();
      const m = sequential([layers.dense({ units: 8, activation: 'relu', inputShape: [2] }), layers.dense({ units: 2, activation: 'softmax' })]);
      m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], engine });
      const x = tensor(new Float32Array([0, 1, 1, 0, 0.1, 0.9, 0.9, 0.1]), [4, 2]);
      const y = tensor(new Int32Array([0, 1, 0, 1]), [4]);
      const h = await m.fit(x, y, { epochs: 20, batchSize: 4, verbose: 0 });
      const p = await m.predict(x);
      console.log(JSON.stringify({ first: h.loss[0], last: h.loss.at(-1), shape: p.shape, sums: [0, 1, 2, 3].map((i) => p.values[2 * i] + p.values[2 * i + 1]) }));
      engine.dispose();
    `;
    // A separate Node process: package self-reference resolves 'webgpu-train' through "exports", as for a user.
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, timeout: 120_000 });
    const out = JSON.parse(stdout.trim().split('\n').at(-1)!) as { first: number; last: number; shape: number[]; sums: number[] };
    expect(out.shape).toEqual([4, 2]);
    expect(out.last).toBeLessThan(out.first);
    for (const s of out.sums) expect(s).toBeCloseTo(1, 5);
  }, 180_000);

  it('type-checks a consumer against the emitted declarations', async () => {
    // Inside the package folder, so that 'webgpu-train' resolves to this package through "exports".
    const dir = path.join(ARTIFACTS, 'consumer');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'consumer.ts'),
      [
        "import { sequential, layers, createEngine, tensor, type Engine, type NamedWeight } from 'webgpu-train';",
        "const m = sequential([layers.dense({ units: 4, activation: 'softmax', inputShape: [3] })]);",
        'const params: number = m.countParams();',
        'const engine: Promise<Engine> = createEngine();',
        'const weights: Promise<NamedWeight[]> = m.getWeights();',
        'const t = tensor(new Float32Array(6), [2, 3]);',
        '// @ts-expect-error: must fail to compile, which proves the declarations are real types and not `any`',
        'const wrong: string = m.countParams();',
        'export { params, engine, weights, t, wrong };',
        '',
      ].join('\n'),
    );
    const options = { target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: ['@webgpu/types'], lib: ['ES2022', 'DOM'] };
    // Both resolutions users have: Node's own (NodeNext) and bundlers'. Separate folders, run side by side.
    const configs = [['NodeNext', 'NodeNext'], ['ESNext', 'Bundler']] as const;
    const failures = await Promise.all(
      configs.map(async ([module, moduleResolution]) => {
        const config = path.join(dir, `tsconfig.${moduleResolution}.json`);
        writeFileSync(config, JSON.stringify({ compilerOptions: { ...options, module, moduleResolution }, files: ['consumer.ts'] }));
        return run(process.execPath, [TSC, '-p', config], { cwd: dir }).then(
          () => '',
          (err: { stdout?: string }) => `${moduleResolution}: ${err.stdout || String(err)}`,
        );
      }),
    );
    expect(failures).toEqual(['', '']);
  }, 120_000);

  describe('demo/embed.html in headless Chromium', () => {
    let session: BrowserSession;
    beforeAll(async () => {
      session = await startSession();
    });
    afterAll(async () => {
      await session?.close();
    });

    it('trains and predicts with the built library on the page’s own GPUDevice', async () => {
      const page = await session.newPage();
      await page.setViewport({ width: 820, height: 480 });
      await page.goto(`${session.origin}/demo/embed.html`);
      type Embed = { status: string; error?: string; engineUsesPageDevice?: boolean; losses?: number[]; trainAccuracy?: number; testAccuracy?: number; predictions?: number[][]; deviceUsableAfterDispose?: boolean };
      const state = await waitForValue(page, () => (window as unknown as { __embed: Embed }).__embed, (e) => e.status === 'done' || e.status === 'error', 120_000, 'the embed page');
      expect(state.error).toBeUndefined();
      expect(state.status).toBe('done');
      expect(state.engineUsesPageDevice).toBe(true);
      expect(state.deviceUsableAfterDispose).toBe(true);
      expect(state.losses!.at(-1)!).toBeLessThan(state.losses![0]! / 4);
      expect(state.testAccuracy!).toBeGreaterThanOrEqual(0.9);
      expect(state.predictions).toHaveLength(8);
      for (const row of state.predictions!) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      // The page ran the built bundle, not the sources.
      const modules = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname));
      expect(modules).toContain('/dist/webgpu-train.js');
      expect(modules.filter((m) => m.startsWith('/src/') || m.startsWith('/shaders/'))).toEqual([]);
      await page.screenshot({ path: artifactPath('embed.png'), fullPage: true });
      expect(session.errors).toEqual([]);
    });
  });
});
