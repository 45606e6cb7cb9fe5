/**
 * The observers of the observe scenario: processes that report who leads an election without
 * campaigning, each driven through CandidateProcess (so each line is stamped by the harness when
 * it arrives, as for every candidate). Their lines become normalized events:
 *
 *   { type: 'leader', leader: string | null, at?: number }   a change of leader (`at`: the
 *                                                            observer's own epoch ms, if it has one)
 *   { type: 'push', up: boolean }                            its push channel is up / down
 *
 * An observer: { id, label, ours, mode: 'push' | 'poll', announcesPush (it reports its push
 * channel up: the scenario waits for that before the first trial), inProcessClock (its leader
 * lines carry `at`), settings, spawn(election) → CandidateProcess }.
 *
 * Ours, on every backend with a CLI: `leader-elect watch --json` (dist/cli/main.js), the library's
 * `observeLeader(backend)` in a process of its own (bench/fixtures/observe-leader.mjs), and that
 * observer with the push channels hidden (poll-only: the baseline, how `watch` followed etcd
 * before it was built on observeLeader). Peers come from the backends (etcdctl elect --listen,
 * a client-go informer).
 */
import { fileURLToPath } from 'node:url';
import { CandidateProcess, parseJsonLine } from './candidate-process.mjs';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const CLI = here('../../dist/cli/main.js');
const FIXTURE = here('../fixtures/observe-leader.mjs');

/** `leader-elect watch`'s poll interval while its watch is down (--poll-interval's default). */
export const DEFAULT_POLL_MS = 2_000;

/** `leader-elect watch --json`: leader lines on stdout, watch-up / watch-down on stderr. */
function parseWatchStdout(line) {
  const e = parseJsonLine(line);
  return e?.event === 'leader' ? { type: 'leader', leader: e.leader ?? null } : null;
}

function parseWatchStderr(line) {
  const e = parseJsonLine(line);
  if (e?.event === 'watch-up') return { type: 'push', up: true };
  if (e?.event === 'watch-down') return { type: 'push', up: false };
  return e?.event === 'error' ? { type: 'info', error: e.message } : null;
}

function parseFixture(line) {
  const e = parseJsonLine(line);
  if (e?.event === 'leader') return { type: 'leader', leader: e.leader ?? null, at: e.at };
  if (e?.event === 'push') return { type: 'push', up: e.up === true };
  return e ? { ...e, type: e.event } : null;
}

/**
 * @param {object} o
 * @param {(election: string) => string[]} o.backendArgs  the `leader-elect watch` backend flags
 *        for an election (the fixture takes the same)
 * @param {Record<string, string>} [o.env]  e.g. PGPASSWORD
 * @param {number} [o.pollMs]
 */
export function ourObservers({ backendArgs, env = {}, pollMs = DEFAULT_POLL_MS }) {
  const process_ = (label, args, parse, parseStderr) =>
    new CandidateProcess({ label, command: process.execPath, args, env, parse, parseStderr });
  return [
    {
      id: 'watch-cli',
      label: 'leader-elect watch (CLI)',
      ours: true,
      mode: 'push',
      announcesPush: true,
      settings: `watch pushed by the backend; --poll-interval ${pollMs} ms only while it is down`,
      spawn: (election) =>
        process_(
          `watch-cli/${election}`,
          [CLI, 'watch', ...backendArgs(election), '--json', '--poll-interval', `${pollMs}ms`],
          parseWatchStdout,
          parseWatchStderr,
        ),
    },
    {
      id: 'observe-api',
      label: 'observeLeader() (library)',
      ours: true,
      mode: 'push',
      announcesPush: true,
      inProcessClock: true,
      settings: `observeLeader(backend), pollInterval ${pollMs} ms only while the push channel is down`,
      spawn: (election) =>
        process_(
          `observe-api/${election}`,
          [FIXTURE, ...backendArgs(election), '--poll-interval-ms', String(pollMs)],
          parseFixture,
        ),
    },
    {
      id: 'observe-poll',
      label: 'observeLeader() poll-only (baseline)',
      ours: true,
      baseline: true,
      mode: 'poll',
      inProcessClock: true,
      pollMs,
      settings: `push channels hidden: inspect() every ${pollMs} ms (the old watch's default --poll-interval)`,
      spawn: (election) =>
        process_(
          `observe-poll/${election}`,
          [FIXTURE, ...backendArgs(election), '--poll-only', '--poll-interval-ms', String(pollMs)],
          parseFixture,
        ),
    },
  ];
}

/**
 * `etcdctl elect --listen NAME` (etcd's `Election.Observe`): prints the leader's key and then its
 * value (the identity) on a line each, whenever the leader changes.
 */
export function etcdctlListenParser(election) {
  let key = null;
  return (line) => {
    const text = line.trim();
    if (text.startsWith(`${election}/`)) {
      key = text;
      return null;
    }
    if (key === null) return { type: 'info', line: text };
    key = null;
    return { type: 'leader', leader: text };
  };
}

/** client-go-lease-informer lines (test/env/kube/cmd/client-go-lease-informer). */
export function parseInformer(line) {
  const e = parseJsonLine(line);
  if (e?.event === 'leader') return { type: 'leader', leader: e.leader ?? null };
  // Synced: the informer's list is in and its watch runs.
  if (e?.event === 'synced') return { type: 'push', up: true };
  return e ? { type: 'info', event: e.event } : null;
}
