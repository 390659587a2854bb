import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: '.',
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // SwiftShader already spreads each dispatch over both cores; more test processes only contend.
    pool: 'forks',
    maxWorkers: 2,
  },
});
