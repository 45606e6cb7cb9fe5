// Builds the Go test binaries (etcd server, etcdctl, the etcd election peer)
// from the pinned sources in test/env/go.mod, into a cache outside the repo.
//
//   node test/env/build.mjs            prebuild everything
//   node test/env/build.mjs etcd       build only the named programs
//
// A binary lives at <cache>/bin/<name>-<hash>, where the hash covers go.mod,
// go.sum, the program's own sources and the Go version, so any change to
// what would be compiled yields a new file and an unchanged tree reuses the
// old one without invoking the Go toolchain at all.
//
// Environment:
//   LEADER_ELECT_CACHE             cache root (default ~/.cache/leader-elect)
//   LEADER_ELECT_BUILD_TIMEOUT_MS  per-binary build timeout (default 20 min)
//   GO                             go command (default "go")

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ENV_DIR = dirname(fileURLToPath(import.meta.url));

/** name -> key in the object returned by ensureBinaries, and its package. */
export const PROGRAMS = {
  etcd: { key: 'etcd', pkg: './cmd/etcd', optional: false },
  'etcd-election-peer': {
    key: 'etcdElectionPeer',
    pkg: './cmd/etcd-election-peer',
    optional: false,
  },
  // etcdctl is a debugging aid: a failed build is reported, not fatal.
  etcdctl: { key: 'etcdctl', pkg: './cmd/etcdctl', optional: true },
};

const GO = process.env.GO || 'go';
const BUILD_TIMEOUT_MS = Number(process.env.LEADER_ELECT_BUILD_TIMEOUT_MS) || 20 * 60_000;

export function cacheDir() {
  return process.env.LEADER_ELECT_CACHE || join(homedir(), '.cache', 'leader-elect');
}

function log(msg) {
  process.stderr.write(`[env] ${msg}\n`);
}

/**
 * Go environment for every go invocation. GOTOOLCHAIN=local: all modules in
 * go.mod build with the installed Go 1.26, so never download a toolchain.
 * -buildvcs=false: the module sits inside the project's git work tree, and
 * VCS stamping would only make builds depend on git state.
 */
function goEnv() {
  return {
    ...process.env,
    GOTOOLCHAIN: 'local',
    GOFLAGS: [process.env.GOFLAGS, '-buildvcs=false'].filter(Boolean).join(' '),
  };
}

/** Runs a command, collecting output; rejects on non-zero exit or timeout. */
function run(cmd, args, { timeoutMs, cwd = ENV_DIR, nice = false } = {}) {
  // Lower priority for the long compile so an interactive machine stays usable.
  const [file, argv] =
    nice && existsSync('/usr/bin/nice')
      ? ['/usr/bin/nice', ['-n', '10', cmd, ...args]]
      : [cmd, args];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { cwd, env: goEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`${cmd} ${args.join(' ')} timed out after ${timeoutMs} ms\n${out.slice(-4000)}`),
      );
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else
        reject(
          new Error(
            `${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`})\n${out.slice(-4000)}`,
          ),
        );
    });
  });
}

let goVersionPromise;
function goVersion() {
  goVersionPromise ??= run(GO, ['env', 'GOVERSION', 'GOOS', 'GOARCH'], { timeoutMs: 60_000 }).then(
    (s) => s.trim().replace(/\s+/g, ' '),
  );
  return goVersionPromise;
}

async function listSources(dir) {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = [];
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) files.push(...(await listSources(p)));
    else if (e.name.endsWith('.go')) files.push(p);
  }
  return files.sort();
}

/** Hash of everything that determines the binary's content. */
async function sourceHash(name) {
  const h = createHash('sha256');
  h.update(`go:${await goVersion()}\n`);
  for (const f of ['go.mod', 'go.sum']) {
    h.update(`${f}\n`);
    h.update(await readFile(join(ENV_DIR, f)));
  }
  const progDir = join(ENV_DIR, PROGRAMS[name].pkg);
  for (const f of await listSources(progDir)) {
    h.update(`${f.slice(progDir.length)}\n`);
    h.update(await readFile(f));
  }
  return h.digest('hex').slice(0, 16);
}

/** In-process de-duplication: concurrent callers share one build per name. */
const inFlight = new Map();

async function ensureOne(name) {
  const binDir = join(cacheDir(), 'bin');
  const out = join(binDir, `${name}-${await sourceHash(name)}`);
  if (existsSync(out)) {
    log(`${name}: cached (${out})`);
    return out;
  }
  await mkdir(binDir, { recursive: true });
  log(`building ${name}${name === 'etcd' ? ' (first build may take minutes)' : ''}...`);
  const started = Date.now();
  // Build to a private name and rename: another process building the same
  // binary at the same time can never observe a half-written file.
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    await run(GO, ['build', '-trimpath', '-o', tmp, PROGRAMS[name].pkg], {
      timeoutMs: BUILD_TIMEOUT_MS,
      nice: true,
    });
    await rename(tmp, out);
  } finally {
    await rm(tmp, { force: true });
  }
  log(`${name}: built in ${((Date.now() - started) / 1000).toFixed(1)} s (${out})`);
  return out;
}

/**
 * Builds (or finds in the cache) the named programs.
 * @param {string[]} [names] subset of Object.keys(PROGRAMS); default all
 * @returns {Promise<{etcd?: string, etcdElectionPeer?: string, etcdctl?: string|null}>} absolute paths
 */
export async function ensureBinaries(names = Object.keys(PROGRAMS)) {
  const result = {};
  // Sequential on purpose: go build already uses every core, and the later
  // builds reuse the packages the first one compiled.
  for (const name of names) {
    const prog = PROGRAMS[name];
    if (!prog)
      throw new Error(`unknown program ${name}; known: ${Object.keys(PROGRAMS).join(', ')}`);
    if (!inFlight.has(name)) inFlight.set(name, ensureOne(name));
    try {
      result[prog.key] = await inFlight.get(name);
    } catch (err) {
      inFlight.delete(name);
      if (!prog.optional) throw err;
      log(`${name}: build failed, continuing without it: ${err.message.split('\n')[0]}`);
      result[prog.key] = null;
    }
  }
  return result;
}

// Script mode: node test/env/build.mjs [names...]
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const names = process.argv.slice(2);
  ensureBinaries(names.length ? names : undefined).then(
    (paths) => {
      process.stdout.write(`${JSON.stringify(paths, null, 2)}\n`);
    },
    (err) => {
      log(err.stack || String(err));
      process.exitCode = 1;
    },
  );
}
