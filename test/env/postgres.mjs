// Starts a real PostgreSQL server for tests and benchmarks, from the Debian binaries
// (/usr/lib/postgresql/<major>/bin, package postgresql-<major>, installed by
// scripts/ensure-system-packages.sh when missing):
//
//   const pg = await startPostgres();
//   pg.url                       // postgres://leader_admin:…@127.0.0.1:PORT/postgres (superuser)
//   pg.urlFor('role', 'secret')  // same server and database, another role
//   await pg.restart()           // fast shutdown, then start again on the same port and data
//   await pg.stop()              // stops it by PID and removes its directory
//
// initdb runs in a fresh temporary directory; the server listens on 127.0.0.1 at a random free
// port and on a private socket directory inside that temporary directory. PostgreSQL refuses to
// run as root: when we are root, initdb and the server run as the unprivileged user `nobody`
// through util-linux setpriv, which also gives the server a parent-death signal so that even a
// SIGKILLed test runner cannot leave it running. Stopped by PID only, never by name.
//
// Host connections need a password (scram-sha-256), so wrong-password tests are real; the
// superuser's password is random per server.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const POSTGRES_MAJOR = 15;
export const POSTGRES_BIN = `/usr/lib/postgresql/${POSTGRES_MAJOR}/bin`;
export const ADMIN_USER = 'leader_admin';
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
const RUN_AS = 'nobody';

/** Every live server of this process, killed on exit (synchronously: SIGKILL by PID). */
const live = new Set();
let hookInstalled = false;
function installExitHook() {
  if (hookInstalled) return;
  hookInstalled = true;
  process.on('exit', () => {
    for (const server of live) server.killNow();
  });
}

/** The uid/gid of `nobody` (from /etc/passwd), or null when not found. */
function unprivilegedIds() {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${RUN_AS}:`));
  if (line === undefined) return null;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function wrap(binary, args, { asUser, pdeathsig }) {
  const root = process.getuid?.() === 0;
  if (!root && !pdeathsig) return { command: binary, args };
  if (root && SETPRIV === undefined) {
    throw new Error(
      'PostgreSQL refuses to run as root and util-linux setpriv is missing: apt-get install util-linux',
    );
  }
  if (SETPRIV === undefined) return { command: binary, args };
  const user =
    root && asUser ? [`--reuid=${asUser.uid}`, `--regid=${asUser.gid}`, '--clear-groups'] : [];
  return {
    command: SETPRIV,
    args: [...user, ...(pdeathsig ? ['--pdeathsig', 'KILL'] : []), '--', binary, ...args],
  };
}

function runToEnd(command, args, { cwd, timeoutMs = 120_000 }) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${command} ${args.join(' ')} failed (${code ?? signal}):\n${output}`));
    });
  });
}

/** A free TCP port on 127.0.0.1 (closed again before the server binds it: start retries). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * @param {{ settings?: Record<string, string | number>, log?: (line: string) => void,
 *           startTimeoutMs?: number }} [options]
 */
export async function startPostgres(options = {}) {
  const postgres = join(POSTGRES_BIN, 'postgres');
  if (!existsSync(postgres)) {
    throw new Error(
      `${postgres} not found: install PostgreSQL ${POSTGRES_MAJOR} (apt-get install postgresql-${POSTGRES_MAJOR}, or bash scripts/ensure-system-packages.sh)`,
    );
  }
  installExitHook();
  const root = process.getuid?.() === 0;
  const asUser = root ? unprivilegedIds() : null;
  if (root && asUser === null) throw new Error(`no "${RUN_AS}" user to run PostgreSQL as`);

  const dir = await mkdtemp(join(tmpdir(), 'leader-elect-pg-'));
  const dataDir = join(dir, 'data');
  const socketDir = dir;
  const logFile = join(dir, 'postgres.log');
  const password = randomBytes(12).toString('hex');
  const pwFile = join(dir, 'pwfile');
  writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  if (asUser !== null) {
    chownSync(dir, asUser.uid, asUser.gid);
    chownSync(pwFile, asUser.uid, asUser.gid);
  }
  const initdb = wrap(
    join(POSTGRES_BIN, 'initdb'),
    [
      '-D',
      dataDir,
      '-U',
      ADMIN_USER,
      `--pwfile=${pwFile}`,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '--encoding=UTF8',
      '--no-locale',
      '--no-sync',
    ],
    { asUser, pdeathsig: false },
  );
  await runToEnd(initdb.command, initdb.args, { cwd: dir });
  await rm(pwFile, { force: true });

  const settings = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: socketDir,
    max_connections: 200,
    shared_buffers: '32MB',
    // Test data: durability is not what is tested, speed on a shared 2-core machine is.
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    log_min_messages: 'warning',
    log_connections: 'off',
    ...options.settings,
  };
  const port = await freePort();
  let child = null;
  let exited = null;

  const server = {
    dir,
    dataDir,
    socketDir,
    logFile,
    host: '127.0.0.1',
    port,
    user: ADMIN_USER,
    password,
    database: 'postgres',
    get pid() {
      return child?.pid;
    },
    get running() {
      return child !== null;
    },
    get url() {
      return server.urlFor(ADMIN_USER, password);
    },
    urlFor(user, pass, database = 'postgres') {
      const auth =
        pass === undefined
          ? encodeURIComponent(user)
          : `${encodeURIComponent(user)}:${encodeURIComponent(pass)}`;
      return `postgres://${auth}@127.0.0.1:${port}/${database}`;
    },
    async start() {
      if (child !== null) return;
      const args = ['-D', dataDir, '-p', String(port)];
      for (const [key, value] of Object.entries(settings)) args.push('-c', `${key}=${value}`);
      const wrapped = wrap(postgres, args, { asUser, pdeathsig: true });
      const fd = openSync(logFile, 'a');
      let spawned;
      try {
        spawned = spawn(wrapped.command, wrapped.args, {
          cwd: dir,
          stdio: ['ignore', fd, fd],
        });
      } finally {
        closeSync(fd);
      }
      child = spawned;
      live.add(server);
      exited = new Promise((resolve) => {
        spawned.once('exit', (code, signal) => {
          if (child === spawned) child = null;
          live.delete(server);
          resolve({ code, signal });
        });
      });
      const deadline = performance.now() + (options.startTimeoutMs ?? 60_000);
      // Ready once it accepts a connection on the socket directory (the postmaster writes
      // its socket lock file after the startup process finished).
      while (!(await accepts(port))) {
        if (child !== spawned) {
          throw new Error(`postgres exited during start-up; log:\n${tail(logFile)}`);
        }
        if (performance.now() > deadline) {
          await server.kill('SIGKILL');
          throw new Error(`postgres did not accept connections in time; log:\n${tail(logFile)}`);
        }
        await sleep(50);
      }
      await waitForReady(server, deadline);
    },
    /** Sends `signal` to the postmaster (by PID) and waits for it to exit (SIGSTOP/SIGCONT: at once). */
    async kill(signal = 'SIGKILL') {
      const current = child;
      if (current === null) return;
      current.kill(signal);
      if (signal === 'SIGSTOP' || signal === 'SIGCONT') return;
      const done = exited;
      const timer = setTimeout(() => current.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(timer);
    },
    /** Fast shutdown (SIGINT): clients are disconnected, the data stays. */
    async shutdown() {
      await server.kill('SIGINT');
    },
    async restart() {
      await server.shutdown();
      await server.start();
    },
    killNow() {
      try {
        child?.kill('SIGKILL');
      } catch {
        // already gone
      }
    },
    async stop() {
      await server.kill('SIGINT');
      await rm(dir, { recursive: true, force: true });
    },
    log: () => tail(logFile),
  };
  try {
    await server.start();
  } catch (error) {
    await server.stop().catch(() => undefined);
    throw error;
  }
  options.log?.(`PostgreSQL ${POSTGRES_MAJOR} up at 127.0.0.1:${port} (pid ${server.pid})`);
  return server;
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A real login, retried while the server still reports "starting up". */
async function waitForReady(server, deadline) {
  const { default: pg } = await import('pg');
  for (;;) {
    const client = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (error) {
      if (performance.now() > deadline) {
        throw new Error(
          `postgres did not become ready: ${error.message}; log:\n${tail(server.logFile)}`,
        );
      }
    } finally {
      await client.end().catch(() => undefined);
    }
    await sleep(50);
  }
}

function tail(file) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
