// Debian's etcd-server package (etcd 3.4.x on bookworm) as a second, older
// server version for compatibility tests. It is installed by .ci/run with
//   apt-get install -y etcd-server etcd-client
// and is only ever started by startEtcdCluster on random loopback ports.
//
// The package enables a system service that would listen on the default
// ports 2379/2380. In containers apt's policy-rc.d normally stops it from
// starting; ensureDebianEtcd() makes sure it is not running either way.

import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const DEBIAN_ETCD = '/usr/bin/etcd';
export const DEBIAN_ETCDCTL = '/usr/bin/etcdctl';

function log(msg) {
  process.stderr.write(`[env] ${msg}\n`);
}

/**
 * pids of etcd daemons started from the Debian binary with its default
 * configuration (the system service: configured through /etc/default/etcd,
 * so it has no --listen-client-urls flag). Clusters started by the test
 * environment always pass that flag, so they are never matched.
 */
function systemServicePids() {
  const pids = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/exe`) !== DEBIAN_ETCD) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!argv.some((a) => a.startsWith('--listen-client-urls'))) pids.push(Number(entry));
    } catch {
      // process vanished or is not ours to inspect
    }
  }
  return pids;
}

async function stopSystemService() {
  // Under a running systemd, stop and disable the unit properly.
  if (existsSync('/run/systemd/system')) {
    try {
      await run('systemctl', ['disable', '--now', 'etcd'], { timeout: 30_000 });
    } catch {
      // no such unit, or not allowed: fall through to the pid check
    }
  }
  for (const pid of systemServicePids()) {
    log(`stopping the Debian etcd system service (pid ${pid}) that occupies the default ports`);
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone
    }
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && existsSync(`/proc/${pid}`))
      await new Promise((r) => setTimeout(r, 100));
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** "3.4.23" for the given etcd binary, or null if it cannot be run. */
export async function etcdVersion(binary) {
  try {
    const { stdout } = await run(binary, ['--version'], { timeout: 10_000 });
    return /etcd Version:\s*(\S+)/.exec(stdout)?.[1] ?? null;
  } catch {
    return null;
  }
}

/**
 * @returns {Promise<string|null>} DEBIAN_ETCD if the Debian etcd server is
 *   installed (after making sure its system service is not running), else null.
 */
export async function ensureDebianEtcd() {
  if (!existsSync(DEBIAN_ETCD)) return null;
  await stopSystemService();
  const version = await etcdVersion(DEBIAN_ETCD);
  if (!version) {
    log(`${DEBIAN_ETCD} exists but does not run; ignoring it`);
    return null;
  }
  if (!version.startsWith('3.4.'))
    log(`note: ${DEBIAN_ETCD} is etcd ${version}, not the expected 3.4.x`);
  return DEBIAN_ETCD;
}

/** Debian's etcdctl (3.4), or null if etcd-client is not installed. */
export function debianEtcdctl() {
  return existsSync(DEBIAN_ETCDCTL) ? DEBIAN_ETCDCTL : null;
}
