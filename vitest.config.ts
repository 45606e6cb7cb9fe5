import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // One test file at a time across all projects: the integration tests assert on failover
    // timings and kill servers, and this machine has two cores.
    maxWorkers: 1,
    projects: [
      {
        // No server: the elector on a fake clock, the property test, the memory backend's
        // conformance run and the CLI demo.
        test: {
          name: 'unit',
          include: [
            'test/unit/**/*.test.ts',
            'test/property/**/*.test.ts',
            'test/conformance/memory.test.ts',
            'test/cli/**/*.test.ts',
            // Examples' own tests (they import the built package by name, as users do).
            'examples/**/*.test.mjs',
          ],
          exclude: [
            'test/cli/**/*.etcd.test.ts',
            'test/cli/**/*.kube.test.ts',
            'test/cli/**/*.postgres.test.ts',
          ],
          testTimeout: 30_000,
        },
      },
      {
        // The packed tarball as users get it (npm test builds first): its file list, and fresh
        // ESM and CommonJS projects that install it from the npm cache and run it.
        test: {
          name: 'package',
          include: ['test/package/**/*.test.ts'],
          // Installs and five TypeScript compilations: about 15 s on a quiet machine, 80 s seen
          // on a loaded one.
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
      {
        // A real three-member etcd cluster built from source (test/env), started once.
        test: {
          name: 'etcd',
          include: [
            'test/env/etcd-env.test.ts',
            'test/etcd/**/*.test.ts',
            'test/cli/**/*.etcd.test.ts',
            'test/examples/**/*.etcd.test.ts',
          ],
          globalSetup: ['test/env/global-setup-etcd.mjs'],
          testTimeout: 60_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
      {
        // A kube-apiserver v1.37 built from source on its own etcd; client-go peers; HAProxy.
        test: {
          name: 'kubernetes',
          include: [
            'test/kubernetes/**/*.test.ts',
            'test/cli/**/*.kube.test.ts',
            'test/examples/**/*.kube.test.ts',
          ],
          globalSetup: ['test/env/global-setup-kube.mjs'],
          testTimeout: 60_000,
          // A first run builds kube-apiserver from source (minutes on two cores).
          hookTimeout: 2_400_000,
          fileParallelism: false,
        },
      },
      {
        // A PostgreSQL 15 server from the Debian binaries (initdb in a temporary directory).
        test: {
          name: 'postgres',
          include: ['test/postgres/**/*.test.ts', 'test/cli/**/*.postgres.test.ts'],
          globalSetup: ['test/env/global-setup-postgres.mjs'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
