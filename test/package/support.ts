/**
 * Helpers for the package tests: the packed tarball, as `npm publish` would upload it, and
 * consumer projects that install it from the npm cache alone (no registry).
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface LockEntry {
  readonly version?: string;
  readonly dependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  readonly [key: string]: unknown;
}

/** Runs a command to completion (bounded), failing with its output when it fails. */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): string {
  const result: SpawnSyncReturns<string> = spawnSync(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 120_000,
  });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} (in ${options.cwd}) exited with ${result.status ?? result.signal}` +
        `${result.error === undefined ? '' : ` (${result.error.message})`}\n` +
        `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
    );
  }
  return result.stdout;
}

/** `npm pack` of the repository (built beforehand by `npm test`) into a fresh temporary folder. */
export function packTarball(): string {
  const dir = mkdtempSync(join(tmpdir(), 'leader-elect-pack-'));
  const out = run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT });
  const [{ filename }] = JSON.parse(out) as [{ filename: string }];
  return join(dir, basename(filename));
}

/**
 * A package-lock.json for a consumer of the tarball with `dependencies`, copied from the
 * repository's own lock file: `npm ci --offline` then installs every package from the npm
 * cache that the repository's `npm ci` filled, with the versions the repository tests.
 */
export function consumerLockfile(
  name: string,
  tarball: string,
  dependencies: Readonly<Record<string, string>>,
): object {
  const repoLock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const ours = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as LockEntry & {
    name: string;
    license: string;
    engines: unknown;
    bin: unknown;
  };
  const packages: Record<string, LockEntry> = {};
  const visit = (from: string, dependency: string, optional: boolean): void => {
    const path = resolveInLock(repoLock.packages, from, dependency);
    if (path === null) {
      if (optional) return;
      throw new Error(
        `${dependency} (needed by ${from || 'the consumer'}) is not in package-lock.json`,
      );
    }
    if (path in packages) return;
    const { dev, devOptional, peer, ...entry } = repoLock.packages[path]!;
    packages[path] = entry;
    for (const dep of Object.keys(entry.dependencies ?? {})) visit(path, dep, false);
    for (const dep of Object.keys(entry.optionalDependencies ?? {})) visit(path, dep, true);
    for (const dep of Object.keys(entry.peerDependencies ?? {})) {
      visit(path, dep, entry.peerDependenciesMeta?.[dep]?.optional === true);
    }
  };
  const tarballSpec = `file:${basename(tarball)}`;
  for (const dep of Object.keys(dependencies)) if (dep !== ours.name) visit('', dep, false);
  for (const dep of Object.keys(ours.dependencies ?? {})) visit('', dep, false);
  return {
    name,
    version: '1.0.0',
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name, version: '1.0.0', dependencies },
      [`node_modules/${ours.name}`]: {
        version: ours.version,
        resolved: tarballSpec,
        integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
        license: ours.license,
        dependencies: ours.dependencies,
        bin: ours.bin,
        engines: ours.engines,
        peerDependencies: ours.peerDependencies,
        peerDependenciesMeta: ours.peerDependenciesMeta,
      },
      ...packages,
    },
  };
}

/** Node's resolution over a lock file's `node_modules/...` paths. */
function resolveInLock(
  packages: Record<string, LockEntry>,
  from: string,
  name: string,
): string | null {
  let base = from;
  for (;;) {
    const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    if (candidate in packages) return candidate;
    if (base === '') return null;
    const up = base.lastIndexOf('/node_modules/');
    base = up === -1 ? '' : base.slice(0, up);
  }
}

/** A consumer project with `files`, the tarball copied in, installed with `npm ci --offline`. */
export function installConsumer(
  name: string,
  tarball: string,
  packageJson: Record<string, unknown> & { dependencies: Record<string, string> },
  files: Readonly<Record<string, string>>,
): string {
  const dir = mkdtempSync(join(tmpdir(), `leader-elect-${name}-`));
  writeFileSync(join(dir, basename(tarball)), readFileSync(tarball));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, ...packageJson }, null, 2));
  writeFileSync(
    join(dir, 'package-lock.json'),
    JSON.stringify(consumerLockfile(name, tarball, packageJson.dependencies), null, 2),
  );
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  run('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir });
  return dir;
}

/** The version the repository's lock file installs of `name` (what our tests run against). */
export function lockedVersion(name: string): string {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const version = lock.packages[`node_modules/${name}`]?.version;
  if (version === undefined) throw new Error(`${name} is not in package-lock.json`);
  return version;
}
