// Builds the Kubernetes test binaries (kube-apiserver from k8s.io/kubernetes,
// a client-go leaderelection candidate, and for the benchmark a client-go
// informer that follows a Lease) from this Go module, into the same cache as
// test/env/build.mjs.
//
//   node test/env/kube/build.mjs                      prebuild all of them
//   node test/env/kube/build.mjs client-go-candidate  build only the named ones
//
// This is a Go module of its own (test/env/kube/go.mod), apart from the etcd
// module in test/env: k8s.io/kubernetes brings a dependency graph several
// times larger than etcd's, and keeping them apart means an etcd bump never
// re-resolves Kubernetes and the reverse.
//
// A binary lives at <cache>/bin/<name>-<hash>; the hash covers go.mod, go.sum,
// the program's sources and the Go version, so an unchanged tree reuses the
// file without invoking Go at all. A cold kube-apiserver build takes 10-25
// minutes on 2 cores; progress lines go to stderr every 30 s.
//
// Environment:
//   LEADER_ELECT_CACHE             cache root (default ~/.cache/leader-elect)
//   LEADER_ELECT_BUILD_TIMEOUT_MS  per-binary build timeout (default 40 min)
//   GO                             go command (default "go")

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MODULE_DIR = dirname(fileURLToPath(import.meta.url));

/** name -> key in the object returned by ensureKubeBinaries, and its package. */
export const KUBE_PROGRAMS = {
  'kube-apiserver': { key: 'kubeApiserver', pkg: './cmd/kube-apiserver' },
  'client-go-candidate': { key: 'clientGoCandidate', pkg: './cmd/client-go-candidate' },
  // The benchmark's observe scenario builds it on demand; the test suites do not need it.
  'client-go-lease-informer': {
    key: 'clientGoLeaseInformer',
    pkg: './cmd/client-go-lease-informer',
    benchOnly: true,
  },
};

const GO = process.env.GO || 'go';
const BUILD_TIMEOUT_MS = Number(process.env.LEADER_ELECT_BUILD_TIMEOUT_MS) || 40 * 60_000;
const PROGRESS_EVERY_MS = 30_000;

export function cacheDir() {
  return process.env.LEADER_ELECT_CACHE || join(homedir(), '.cache', 'leader-elect');
}

function log(msg) {
  process.stderr.write(`[kube-env] ${msg}\n`);
}

/**
 * GOTOOLCHAIN=local: k8s.io/kubernetes v1.37.2 declares go 1.26.0, so the
 * installed Go builds it and no toolchain is ever downloaded.
 * -buildvcs=false: the module sits in the project's git tree.
 */
function goEnv() {
  return {
    ...process.env,
    GOTOOLCHAIN: 'local',
    GOFLAGS: [process.env.GOFLAGS, '-buildvcs=false'].filter(Boolean).join(' '),
  };
}

/**
 * Runs a command at low priority; rejects on non-zero exit or timeout.
 * `onLine` sees every output line (go build -v names each package it compiles).
 */
function run(cmd, args, { timeoutMs, onLine = () => {} }) {
  const [file, argv] = existsSync('/usr/bin/nice')
    ? ['/usr/bin/nice', ['-n', '10', cmd, ...args]]
    : [cmd, args];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, {
      cwd: MODULE_DIR,
      env: goEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let partial = '';
    const collect = (d) => {
      const s = String(d);
      out = (out + s).slice(-20_000);
      const lines = (partial + s).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
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
  goVersionPromise ??= run(GO, ['env', 'GOVERSION', 'GOOS', 'GOARCH'], {
    timeoutMs: 60_000,
  }).then((s) => s.trim().replace(/\s+/g, ' '));
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

/**
 * The k8s.io/kubernetes version go.mod pins, stamped into the binary as a release build does
 * (otherwise `kube-apiserver --version` and /version say v0.0.0-master).
 */
async function kubernetesVersion() {
  const mod = await readFile(join(MODULE_DIR, 'go.mod'), 'utf8');
  const match = /^\s*k8s\.io\/kubernetes (v(\d+)\.(\d+)\.\d+\S*)/m.exec(mod);
  if (!match) throw new Error('k8s.io/kubernetes not found in test/env/kube/go.mod');
  return { gitVersion: match[1], major: match[2], minor: match[3] };
}

async function ldflags() {
  const v = await kubernetesVersion();
  const pkg = 'k8s.io/component-base/version';
  return [
    `-X ${pkg}.gitVersion=${v.gitVersion}`,
    `-X ${pkg}.gitMajor=${v.major}`,
    `-X ${pkg}.gitMinor=${v.minor}`,
    `-X ${pkg}.gitTreeState=clean`,
  ].join(' ');
}

/** Hash of everything that determines the binary's content. */
async function sourceHash(name) {
  const h = createHash('sha256');
  h.update(`go:${await goVersion()}\n`);
  h.update(`ldflags:${await ldflags()}\n`);
  for (const f of ['go.mod', 'go.sum']) {
    h.update(`${f}\n`);
    h.update(await readFile(join(MODULE_DIR, f)));
  }
  const progDir = join(MODULE_DIR, KUBE_PROGRAMS[name].pkg);
  for (const f of await listSources(progDir)) {
    h.update(`${f.slice(progDir.length)}\n`);
    h.update(await readFile(f));
  }
  return h.digest('hex').slice(0, 16);
}

/** Path the named binary has (or will have) in the cache. */
export async function kubeBinaryPath(name) {
  return join(cacheDir(), 'bin', `${name}-${await sourceHash(name)}`);
}

const inFlight = new Map();

async function ensureOne(name) {
  const out = await kubeBinaryPath(name);
  if (existsSync(out)) {
    log(`${name}: cached (${out})`);
    return out;
  }
  await mkdir(dirname(out), { recursive: true });
  log(`building ${name}${name === 'kube-apiserver' ? ' (a cold build takes 10-25 min)' : ''}...`);
  const started = Date.now();
  let compiled = 0;
  let last = '';
  const progress = setInterval(() => {
    const min = ((Date.now() - started) / 60_000).toFixed(1);
    log(`${name}: ${min} min, ${compiled} packages compiled${last ? ` (last: ${last})` : ''}`);
  }, PROGRESS_EVERY_MS);
  // Build to a private name and rename, so a concurrent builder never sees a
  // half-written file.
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    await run(
      GO,
      ['build', '-v', '-trimpath', '-ldflags', await ldflags(), '-o', tmp, KUBE_PROGRAMS[name].pkg],
      {
        timeoutMs: BUILD_TIMEOUT_MS,
        onLine: (line) => {
          // -v prints one import path per package built; anything else is a diagnostic.
          if (/^[\w.-]+(\/[\w.~-]+)*$/.test(line.trim())) {
            compiled += 1;
            last = line.trim();
          }
        },
      },
    );
    await rename(tmp, out);
  } finally {
    clearInterval(progress);
    await rm(tmp, { force: true });
  }
  log(`${name}: built in ${((Date.now() - started) / 1000).toFixed(1)} s (${out})`);
  return out;
}

/**
 * Builds (or finds in the cache) the named programs, one after the other
 * (go build already uses every core; the second reuses the first's packages).
 * @param {Array<keyof typeof KUBE_PROGRAMS>} [names] default: all but the benchmark-only ones
 * @returns {Promise<{kubeApiserver?: string, clientGoCandidate?: string, clientGoLeaseInformer?: string}>}
 */
export async function ensureKubeBinaries(
  names = Object.keys(KUBE_PROGRAMS).filter((name) => !KUBE_PROGRAMS[name].benchOnly),
) {
  const result = {};
  for (const name of names) {
    const prog = KUBE_PROGRAMS[name];
    if (!prog)
      throw new Error(`unknown program ${name}; known: ${Object.keys(KUBE_PROGRAMS).join(', ')}`);
    if (!inFlight.has(name)) inFlight.set(name, ensureOne(name));
    try {
      result[prog.key] = await inFlight.get(name);
    } catch (err) {
      inFlight.delete(name);
      throw err;
    }
  }
  return result;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const names = process.argv.slice(2);
  ensureKubeBinaries(names.length ? names : Object.keys(KUBE_PROGRAMS)).then(
    (paths) => process.stdout.write(`${JSON.stringify(paths, null, 2)}\n`),
    (err) => {
      log(err.stack || String(err));
      process.exitCode = 1;
    },
  );
}
