import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Integration suites start processes and share one Redis; keep files isolated but bounded.
    pool: 'forks',
    maxWorkers: 2,
  },
})
