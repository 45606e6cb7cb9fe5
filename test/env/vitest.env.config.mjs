// Stand-alone config for the real-etcd environment's own tests:
//   npx vitest run -c test/env/vitest.env.config.mjs
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/env/**/*.test.ts'],
    globalSetup: ['test/env/global-setup-etcd.mjs'],
    testTimeout: 60_000,
    // The first run compiles etcd from source.
    hookTimeout: 600_000,
  },
});
