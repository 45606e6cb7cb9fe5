#!/usr/bin/env node
// `npm run check:package`: lints the packed tarball (`npm pack`, from the current dist/) as the
// registry would serve it.
//
// - @arethetypeswrong/cli: types and JavaScript resolve to the same module format for
//   TypeScript's node16/nodenext (from ESM and from CommonJS) and bundler resolution. Profile
//   node16 (node10, TypeScript's pre-exports resolution, is not supported for subpaths);
//   leader-elect/testing/conformance is ESM-only like vitest, so it is checked with esm-only.
// - publint --strict: package.json fields and exports against the files in the tarball.
//
// The packed file list itself is checked by test/package/files.test.ts.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => join(root, 'node_modules', '.bin', name);
const ESM_ONLY = './testing/conformance';

function run(command, args, options = {}) {
  process.stdout.write(`$ ${[command, ...args].join(' ')}\n`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.status !== 0) {
    process.stderr.write(
      `check:package: ${command} failed (exit ${result.status ?? result.signal})\n`,
    );
    process.exitCode = 1;
  }
  return result;
}

const dir = mkdtempSync(join(tmpdir(), 'leader-elect-check-'));
try {
  const packed = spawnSync('npm', ['pack', '--json', '--pack-destination', dir], {
    cwd: root,
    encoding: 'utf8',
  });
  if (packed.status !== 0) throw new Error(`npm pack failed:\n${packed.stderr}`);
  const tarball = join(dir, JSON.parse(packed.stdout)[0].filename);
  const attw = [bin('attw'), tarball, '--format', 'ascii', '--no-emoji'];
  run(attw[0], [...attw.slice(1), '--profile', 'node16', '--exclude-entrypoints', ESM_ONLY]);
  run(attw[0], [...attw.slice(1), '--profile', 'esm-only', '--entrypoints', ESM_ONLY]);
  run(bin('publint'), ['run', tarball, '--strict']);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (process.exitCode === 1) process.stderr.write('check:package: FAILED\n');
else process.stdout.write('check:package: attw and publint passed\n');
