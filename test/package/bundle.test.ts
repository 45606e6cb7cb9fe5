/**
 * The ESM build bundles the library's entry points (scripts/build.mjs). What must hold: a process
 * that imports several entry points holds one copy of each module — one LeaderElectError class,
 * one MemoryStore — and an entry point reaches the others' code only through dist/shared/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, test } from 'vitest';
import { ROOT } from './support.js';

const DIST = join(ROOT, 'dist');
const load = (entry: string) => import(pathToFileURL(join(DIST, entry)).href);

describe('the bundled ESM entry points', () => {
  test('share one copy of each module', async () => {
    const core = await load('index.js');
    const memory = await load('memory/index.js');
    const kubernetes = await load('kubernetes/index.js');
    expect(memory.MemoryStore).toBe(core.MemoryStore);
    // An error made by another entry point's code is the core's class.
    const thrown: unknown = await kubernetes.loadKubeconfig(42).then(
      () => null,
      (error: unknown) => error,
    );
    expect(thrown).toBeInstanceOf(core.LeaderElectError);
    expect(core.isLeaderElectError(thrown)).toBe(true);
  });

  test('import one another only through dist/shared, never a per-module file', () => {
    const entries = ['index.js', 'etcd/index.js', 'kubernetes/index.js', 'postgres/index.js'];
    for (const entry of entries) {
      const code = readFileSync(join(DIST, entry), 'utf8');
      const relative = [...code.matchAll(/^(?:import|export)[^'"\n]*from\s*["'](\.[^"']+)["']/gm)]
        .map((m) => m[1])
        .filter((spec): spec is string => spec !== undefined);
      expect(relative.length, entry).toBeGreaterThan(0);
      for (const spec of relative)
        expect(spec, entry).toMatch(/^(\.\.?\/)+shared\/[a-z0-9-]+\.js$/);
    }
    expect(
      readdirSync(join(DIST, 'elector'), { withFileTypes: true }).some((f) =>
        f.name.endsWith('.js'),
      ),
    ).toBe(false);
  });
});
