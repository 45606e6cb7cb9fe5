#!/usr/bin/env node
// `npm run docs:api`: regenerates the API reference in docs/api/ from the TSDoc (TypeDoc with
// typedoc-plugin-markdown, configured in typedoc.json; one entry file per package entry point in
// scripts/api-entries/). Broken {@link}s and public types that reference unexported ones fail it.
//
// `npm run docs:api:check` (CI): generates into a temporary folder and fails if docs/api/
// differs, naming the files and the command that brings it up to date.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const committed = join(root, 'docs', 'api');
const typedoc = join(
  createRequire(import.meta.url).resolve('typedoc/package.json'),
  '..',
  'bin',
  'typedoc',
);
const check = process.argv.includes('--check');

function generate(out) {
  const result = spawnSync(process.execPath, [typedoc, '--out', out, '--logLevel', 'Warn'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    process.stderr.write(`docs:api: typedoc failed (exit ${result.status ?? result.signal})\n`);
    process.exit(1);
  }
}

function files(dir) {
  const walk = (at) =>
    readdirSync(at, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? walk(join(at, entry.name)) : [relative(dir, join(at, entry.name))],
    );
  try {
    return walk(dir).sort();
  } catch {
    return [];
  }
}

if (!check) {
  generate(committed);
  process.stdout.write(`docs:api: ${files(committed).length} files in docs/api/\n`);
} else {
  const fresh = mkdtempSync(join(tmpdir(), 'leader-elect-api-'));
  try {
    generate(fresh);
    const ours = files(committed);
    const theirs = files(fresh);
    const stale = [...new Set([...ours, ...theirs])].filter(
      (file) =>
        !ours.includes(file) ||
        !theirs.includes(file) ||
        readFileSync(join(committed, file), 'utf8') !== readFileSync(join(fresh, file), 'utf8'),
    );
    if (stale.length > 0) {
      process.stderr.write(
        `docs:api:check: docs/api/ is stale (${stale.join(', ')}): run \`npm run docs:api\` and commit the result\n`,
      );
      process.exitCode = 1;
    } else {
      process.stdout.write(`docs:api:check: docs/api/ is up to date (${ours.length} files)\n`);
    }
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
}
