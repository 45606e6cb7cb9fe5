// Drives the Go election peer (cmd/etcd-election-peer) from tests: spawns it,
// parses its JSON-lines stdout into events, sends stdin commands, and waits
// for events with bounded timeouts.
//
//   const peer = startElectionPeer({ binary, endpoints, election: '/e/1', identity: 'go-1' });
//   const elected = await peer.waitFor((e) => e.event === 'elected');
//   peer.send('resign');
//   await peer.exited; // { code: 0, signal: null }

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Peers still running, killed when the test process exits. */
const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
});

/**
 * @param {object} o
 * @param {string} o.binary
 * @param {string[]} o.endpoints
 * @param {string} o.election
 * @param {string} o.identity
 * @param {number} [o.ttl]        session TTL, seconds
 * @param {string} [o.hold]       Go duration, e.g. '2s'
 * @param {boolean} [o.rejoin]
 * @param {{ca?: string, cert?: string, key?: string}} [o.tls]
 * @param {string} [o.user]
 * @param {string} [o.password]
 * @param {string[]} [o.extraArgs]
 */
export function startElectionPeer(o) {
  const args = [
    '--endpoints',
    o.endpoints.join(','),
    '--election',
    o.election,
    '--identity',
    o.identity,
  ];
  if (o.ttl !== undefined) args.push('--ttl', String(o.ttl));
  if (o.hold !== undefined) args.push('--hold', o.hold);
  if (o.rejoin) args.push('--rejoin');
  if (o.tls?.ca) args.push('--cacert', o.tls.ca);
  if (o.tls?.cert) args.push('--cert', o.tls.cert);
  if (o.tls?.key) args.push('--key', o.tls.key);
  if (o.user !== undefined) args.push('--user', o.user);
  if (o.password !== undefined) args.push('--password', o.password);
  args.push(...(o.extraArgs ?? []));

  const child = spawn(o.binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);

  /** @type {Array<Record<string, any>>} */
  const events = [];
  /** @type {Set<() => void>} */
  const waiters = new Set();
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    // Keep only the tail: the client can be chatty while etcd is down.
    stderr = (stderr + d).slice(-16_000);
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    let ev;
    try {
      ev = JSON.parse(line);
    } catch {
      ev = { event: 'unparsed', line };
    }
    events.push(ev);
    for (const w of [...waiters]) w();
  });
  // Writing to a peer that already exited must not crash the test process.
  child.stdin.on('error', () => {});

  // 'close' (not 'exit'): it fires after stdout is drained, so every line
  // the peer printed has been parsed into `events` by then.
  let closed = false;
  const exited = new Promise((resolve) => {
    child.once('close', (code, signal) => {
      closed = true;
      live.delete(child);
      resolve({ code, signal });
      for (const w of [...waiters]) w();
    });
  });
  child.once('exit', () => live.delete(child));

  const isRunning = () => !closed;

  return {
    child,
    pid: child.pid,
    events,
    exited,
    get stderr() {
      return stderr;
    },
    get running() {
      return isRunning();
    },
    /** Writes one command line to the peer's stdin. */
    send(cmd) {
      if (child.exitCode === null && child.stdin.writable) child.stdin.write(`${cmd}\n`);
    },
    /** Closes stdin (the peer resigns and exits). */
    closeStdin() {
      child.stdin.end();
    },
    /**
     * Resolves with the first event (from the start of the log, or after
     * index `from`) matching pred; rejects after timeoutMs or if the peer exits
     * first.
     */
    waitFor(pred, { timeoutMs = 15_000, from = 0 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = events.slice(from).find(pred);
          if (hit) return done(() => resolve(hit));
          if (!isRunning()) {
            return done(() =>
              reject(
                new Error(
                  `peer ${o.identity} exited before the awaited event; events:\n${events.map((e) => JSON.stringify(e)).join('\n')}\nstderr tail:\n${stderr.slice(-2000)}`,
                ),
              ),
            );
          }
        };
        const timer = setTimeout(
          () =>
            done(() =>
              reject(
                new Error(
                  `timed out after ${timeoutMs} ms waiting for an event from peer ${o.identity}; events:\n${events.map((e) => JSON.stringify(e)).join('\n')}`,
                ),
              ),
            ),
          timeoutMs,
        );
        const done = (fn) => {
          clearTimeout(timer);
          waiters.delete(check);
          fn();
        };
        waiters.add(check);
        check();
      });
    },
    /** Sends a signal; for terminating signals waits (≤ 5 s, then SIGKILL) for exit. */
    async kill(signal = 'SIGTERM') {
      if (!isRunning()) return exited;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
}
