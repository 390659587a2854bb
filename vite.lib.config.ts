/**
 * The library build: `dist/webgpu-train.js`, one ES module for pages, workers, bundlers and Node
 * (`npm run build`; types come from tsconfig.build.json). Dawn's `webgpu` binding and Node
 * builtins stay external: the engine imports them by variable name, only when it runs in Node.
 */
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: here,
  // The demo's plugins (MNIST serving) have no business in the library.
  plugins: [],
  publicDir: false,
  build: {
    outDir: 'dist',
    // tsc writes the declarations into dist/types afterwards; vite runs first and may clear dist.
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // Readable output: users step through kernels' WGSL sources and stack traces.
    minify: false,
    lib: {
      entry: path.join(here, 'src/index.ts'),
      formats: ['es'],
      fileName: () => 'webgpu-train.js',
    },
    rollupOptions: {
      external: ['webgpu', ...builtinModules, ...builtinModules.map((m) => `node:${m}`)],
    },
  },
});
