#!/usr/bin/env node
// `npm run build`: the published build, from a clean dist/.
//
//   dist/       ESM: the library's entry points bundled (below) with every module's .d.ts, and
//               the CLI's modules as tsc wrote them
//   dist/cjs/   CommonJS, the library's entry points only, with .d.ts, and a package.json that
//               marks the folder as CommonJS (for Node and for TypeScript's node16 resolution)
//
// No source maps or declaration maps: src/ is not published, so they would point at nothing.
// tsc's output is ES2022 with the comments kept, close enough to the source to read as is.
//
// The ESM library (the entry points of package.json `exports`) is then bundled: each entry point
// becomes one file, the modules several of them share go into dist/shared/ (one copy each, so a
// process that imports `leader-elect` and `leader-elect/etcd` still has one LeaderElectError
// class), and the per-module files they were made of are removed (their .d.ts stay: the types
// are tsc's). Why: loading ~70 small modules costs more than their code. Measured with
// `node bench/import-time.mjs --runs 15` (fresh processes; etcd3, cockatiel and eventemitter3
// loaded first), 2026-12-02: `leader-elect` + `leader-elect/etcd` p50 42.9–44.8 ms as tsc's
// modules, 19.5–20.0 ms bundled — paid by every start of a process, three times over when three
// candidates start at once on two cores (the cold-start benchmark). The CLI (dist/cli,
// dist/demo) stays tsc's modules and reaches the library only through the entry points. The
// bundler keeps the code as tsc wrote it (comments included), moved into fewer files; the
// CommonJS build is not bundled.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

rmSync(`${root}dist`, { recursive: true, force: true });
for (const project of ['tsconfig.build.json', 'tsconfig.cjs.json']) {
  const result = spawnSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
mkdirSync(`${root}dist/cjs`, { recursive: true });
writeFileSync(`${root}dist/cjs/package.json`, `${JSON.stringify({ type: 'commonjs' })}\n`);

// ---------------------------------------------------------------- bundling the ESM entry points

const dist = `${root}dist`;
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
/** 'etcd/index' for "./dist/etcd/index.js": every ESM entry point of `exports`. */
const entries = Object.values(pkg.exports)
  .map((target) => target?.import?.default)
  .filter((target) => typeof target === 'string')
  .map((target) => target.replace(/^\.\/dist\//, '').replace(/\.js$/, ''));
/** Where the bundles are written first (beside dist/, in .gitignore). */
const staging = `${root}dist-bundle`;
rmSync(staging, { recursive: true, force: true });
const bundle = await rolldown({
  input: Object.fromEntries(entries.map((entry) => [entry, join(dist, `${entry}.js`)])),
  // Dependencies (etcd3, pg, …, the optional peers among them) and Node's modules stay imports.
  external: (id) => !id.startsWith('.') && !id.startsWith('/'),
  platform: 'node',
});
await bundle.write({
  dir: staging,
  format: 'esm',
  entryFileNames: '[name].js',
  chunkFileNames: 'shared/[name].js',
});
await bundle.close();

/** The .js files under `base`, relative to it. */
function jsFiles(base, dir = base) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return jsFiles(base, path);
    return entry.name.endsWith('.js') ? [relative(base, path)] : [];
  });
}
const keep = (file) => /^(cjs|cli|demo)\//.test(file);
for (const file of jsFiles(dist)) if (!keep(file)) rmSync(join(dist, file));
for (const file of jsFiles(staging)) {
  mkdirSync(join(dist, file, '..'), { recursive: true });
  renameSync(join(staging, file), join(dist, file));
}
rmSync(staging, { recursive: true, force: true });
