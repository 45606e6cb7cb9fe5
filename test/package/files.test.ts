/**
 * What `npm publish` would upload (`npm pack --dry-run`): what users need and nothing else.
 * Checked by rule rather than by a frozen list, so that a new source file needs no edit here,
 * while a stray test, benchmark, source map or missing build output fails.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { ROOT, run } from './support.js';

interface PackageJson {
  readonly license: string;
  readonly main: string;
  readonly types: string;
  readonly bin: Record<string, string>;
  readonly exports: Record<string, unknown>;
  readonly peerDependencies: Record<string, string>;
  readonly peerDependenciesMeta: Record<string, { optional?: boolean }>;
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;

/** Every file the tarball may contain. */
const ALLOWED = [
  /^(package\.json|README\.md|LICENSE|CHANGELOG\.md)$/,
  /^docs\/[a-z0-9-]+\.md$/, // the guides (the API reference stays in the repository)
  /^dist\/cjs\/package\.json$/,
  /^dist\/[a-z0-9/-]+\.(js|d\.ts)$/,
  /^sql\/[a-z0-9-]+\.sql$/, // the PostgreSQL schema, for DBAs who create the table themselves
];

/** Modules of src/ (without extension), relative to src/. */
function sourceModules(dir = join(ROOT, 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceModules(path);
    return entry.name.endsWith('.ts') ? [relative(join(ROOT, 'src'), path).slice(0, -3)] : [];
  });
}

/** Only for the CLI, which users run rather than import. */
const isCliOnly = (module: string) => /^(cli|demo)\//.test(module);
/** ESM only, as vitest is. */
const isEsmOnly = (module: string) =>
  isCliOnly(module) || module.startsWith('testing/conformance/');

/** The ESM entry points of `exports`, as modules of src/ ('etcd/index' for ./dist/etcd/index.js). */
function esmEntries(): string[] {
  return Object.values(pkg.exports)
    .map((target) => (target as { import?: { default?: string } }).import?.default)
    .filter((target): target is string => typeof target === 'string')
    .map((target) => target.replace(/^\.\/dist\//, '').replace(/\.js$/, ''));
}

/** Every path an `exports` condition (at any depth) points to. */
function exportTargets(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value !== 'object' || value === null) return [];
  return Object.values(value).flatMap(exportTargets);
}

let files: string[];
beforeAll(() => {
  const out = run('npm', ['pack', '--dry-run', '--json'], { cwd: ROOT });
  const [report] = JSON.parse(out) as [{ files: { path: string }[] }];
  files = report.files.map((file) => file.path).sort();
});

describe('the packed file list', () => {
  test('holds only what users need: no sources, tests, benchmarks, examples or source maps', () => {
    const unexpected = files.filter((file) => !ALLOWED.some((pattern) => pattern.test(file)));
    expect(unexpected).toEqual([]);
    expect(files.filter((file) => file.endsWith('.map'))).toEqual([]);
    // The CLI is run, not imported: its modules ship without declarations, and only as ESM.
    expect(files.filter((file) => /^dist\/(cli|demo)\/.*\.d\.ts$/.test(file))).toEqual([]);
    expect(
      files.filter((file) => /^dist\/cjs\/(cli|demo|testing\/conformance)\//.test(file)),
    ).toEqual([]);
  });

  test('holds the license, the changelog, the README and the guides', () => {
    for (const file of ['LICENSE', 'CHANGELOG.md', 'README.md', 'package.json']) {
      expect(files).toContain(file);
    }
    const guides = readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md'));
    expect(guides.length).toBeGreaterThan(0);
    for (const guide of guides) expect(files).toContain(`docs/${guide}`);
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(
      /^\s*Apache License\s+Version 2\.0, January 2004/,
    );
    expect(pkg.license).toBe('Apache-2.0');
  });

  test('every module of src/ is built: declarations, the ESM entry points bundled, the CLI as modules, and CommonJS for the library', () => {
    const modules = sourceModules();
    expect(modules).toContain('index');
    const entries = esmEntries();
    expect(entries).toContain('index');
    // The library's ESM is bundled into its entry points (scripts/build.mjs).
    const hasEsmFile = (module: string) => isCliOnly(module) || entries.includes(module);
    const missing: string[] = [];
    for (const module of modules) {
      const expected: string[] = [];
      if (hasEsmFile(module)) expected.push(`dist/${module}.js`);
      if (!isCliOnly(module)) expected.push(`dist/${module}.d.ts`);
      if (!isEsmOnly(module)) expected.push(`dist/cjs/${module}.js`, `dist/cjs/${module}.d.ts`);
      missing.push(...expected.filter((file) => !files.includes(file)));
    }
    expect(missing).toEqual([]);
    expect(files).toContain('dist/cjs/package.json');
    expect(JSON.parse(readFileSync(join(ROOT, 'dist/cjs/package.json'), 'utf8'))).toEqual({
      type: 'commonjs',
    });
    // Nothing left over from a module that no longer exists (the build starts from a clean dist/),
    // no library module's ESM file beside its bundle, and the bundles' shared chunks only in
    // dist/shared/.
    const built = new Set(
      modules.flatMap((m) => [
        `dist/${m}.d.ts`,
        `dist/cjs/${m}.js`,
        `dist/cjs/${m}.d.ts`,
        ...(hasEsmFile(m) ? [`dist/${m}.js`] : []),
      ]),
    );
    const stale = files
      .filter((file) => file.startsWith('dist/') && file !== 'dist/cjs/package.json')
      .filter((file) => !built.has(file) && !/^dist\/shared\/[a-z0-9-]+\.js$/.test(file));
    expect(stale).toEqual([]);
    expect(files.filter((file) => file.startsWith('dist/shared/')).length).toBeGreaterThan(0);
  });

  test('every entry point, the bin and main/types point into the tarball', () => {
    const targets = [
      ...exportTargets(pkg.exports),
      pkg.main,
      pkg.types,
      ...Object.values(pkg.bin),
    ].map((target) => target.replace(/^\.\//, ''));
    expect(targets.length).toBeGreaterThan(20);
    expect(targets.filter((target) => !files.includes(target))).toEqual([]);
    for (const entry of [
      '.',
      './memory',
      './testing',
      './etcd',
      './kubernetes',
      './postgres',
      './prometheus',
    ]) {
      expect(Object.keys(pkg.exports[entry] as object)).toEqual(['import', 'require']);
    }
    expect(Object.keys(pkg.exports['./testing/conformance'] as object)).toEqual(['import']);
    // A memory-only user installs none of them.
    for (const peer of Object.keys(pkg.peerDependencies)) {
      expect(pkg.peerDependenciesMeta[peer]?.optional, peer).toBe(true);
    }
  });
});
