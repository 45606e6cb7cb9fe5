#!/usr/bin/env node
// `npm run build`: the published build, from a clean dist/.
//
//   dist/       ESM, every module (the library, the CLI, the conformance suite) with .d.ts
//   dist/cjs/   CommonJS, the library's entry points only, with .d.ts, and a package.json that
//               marks the folder as CommonJS (for Node and for TypeScript's node16 resolution)
//
// No source maps or declaration maps: src/ is not published, so they would point at nothing.
// tsc's output is ES2022 with the comments kept, close enough to the source to read as is.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

rmSync(`${root}dist`, { recursive: true, force: true });
for (const project of ['tsconfig.build.json', 'tsconfig.cjs.json']) {
  const result = spawnSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
mkdirSync(`${root}dist/cjs`, { recursive: true });
writeFileSync(`${root}dist/cjs/package.json`, `${JSON.stringify({ type: 'commonjs' })}\n`);
