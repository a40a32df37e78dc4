import { defineConfig } from 'vitest/config';

// Kernel tests share one software-Vulkan device per worker; the machine has 2 cores, so
// run files in a small pool of forked workers (Dawn is happiest in its own process).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
  },
});
