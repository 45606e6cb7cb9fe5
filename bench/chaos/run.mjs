#!/usr/bin/env node
/**
 * `npm run chaos`: a real-process nemesis run (issue 11 part 2; docs/chaos.md).
 *
 *   node bench/chaos/run.mjs [--minutes 3] [--seed S] [--backend etcd|kubernetes|all]
 *        [--faults a,b,c] [--elections N] [--candidates N] [--etcd-clusters N]
 *        [--json FILE] [--out DIR] [--keep-history] [--dist DIR]
 *
 * Starts private servers (3-member etcd, kube-apiserver), the fenced resource, and per election
 * N candidate processes (library electors and `leader-elect run` supervisors), each behind its
 * own TCP proxies; runs the nemesis for --minutes; stops everything it started (by PID); checks
 * the histories; writes the report. Exit code 0 when every target within the model holds, 1 when
 * the checker found a failure, 2 on bad flags, 3 when the run could not be set up.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { currentLoad, describeMachine } from '../lib/machine.mjs';
import { CandidateSlot, FAKETIME_LIB } from './lib/candidates.mjs';
import { nowMs, sleep } from './lib/clock.mjs';
import { Election } from './lib/election.mjs';
import { CLUSTER_FAULTS, CONTROL_FAULT, ELECTION_FAULTS } from './lib/faults.mjs';
import { readFencedHistory } from './lib/fenced-etcd-history.mjs';
import { startFencedResource } from './lib/fenced-resource.mjs';
import { History } from './lib/history.mjs';
import { Nemesis } from './lib/nemesis.mjs';
import { Prng } from './lib/prng.mjs';
import { killAll, liveAdopted, liveProcesses } from './lib/processes.mjs';
import { writeReport } from './lib/report.mjs';
import { startServers } from './lib/servers.mjs';
import { checkRun, saveRunFiles } from './lib/verdict.mjs';

/**
 * Lease 2 s / renew deadline 1.5 s / retry 500 ms: short, so that a run of an hour reaches ten
 * thousand transitions, yet valid for both backends (etcd TTLs are whole seconds, 2 s is the
 * shortest the test cluster grants with its 500 ms election timeout; Kubernetes wants whole
 * seconds too) and with a margin L / R = 1.33 that skews of ±25 % stay inside. P = 500 ms leaves
 * R / P = 3 renewal attempts per deadline, as the defaults (10 s / 2 s) leave 5.
 */
const TIMINGS = { leaseDuration: 2000, renewDeadline: 1500, retryPeriod: 500 };
const ALL_FAULTS = [...Object.keys(ELECTION_FAULTS), CONTROL_FAULT, ...Object.keys(CLUSTER_FAULTS)];

function usage(message) {
  process.stderr.write(`chaos: ${message}\n  faults: ${ALL_FAULTS.join(', ')}\n`);
  process.exit(2);
}

function parseFlags() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        minutes: { type: 'string', default: '3' },
        seed: { type: 'string' },
        backend: { type: 'string', default: 'all' },
        faults: { type: 'string' },
        elections: { type: 'string', default: '3' },
        candidates: { type: 'string', default: '3' },
        'etcd-clusters': { type: 'string', default: '3' },
        json: { type: 'string' },
        out: { type: 'string' },
        'keep-history': { type: 'boolean', default: false },
        dist: { type: 'string' },
      },
    }));
  } catch (error) {
    usage(error.message);
  }
  const minutes = Number(values.minutes);
  if (!(minutes > 0 && minutes <= 120))
    usage(`--minutes must be in (0, 120], got ${values.minutes}`);
  const backends = values.backend === 'all' ? ['etcd', 'kubernetes'] : [values.backend];
  for (const b of backends) if (!['etcd', 'kubernetes'].includes(b)) usage(`unknown backend ${b}`);
  const faults = new Set(
    values.faults ? values.faults.split(',').map((f) => f.trim()) : ALL_FAULTS,
  );
  for (const f of faults) if (!ALL_FAULTS.includes(f)) usage(`unknown fault ${f}`);
  const elections = Number(values.elections);
  const candidates = Number(values.candidates);
  if (!(Number.isInteger(elections) && elections >= 1 && elections <= 10))
    usage('--elections must be 1..10');
  if (!(Number.isInteger(candidates) && candidates >= 2 && candidates <= 6))
    usage('--candidates must be 2..6');
  const etcdClusters = Number(values['etcd-clusters']);
  if (!(Number.isInteger(etcdClusters) && etcdClusters >= 1 && etcdClusters <= 3))
    usage('--etcd-clusters must be 1..3');
  const seed = values.seed ?? String(Math.floor(Math.random() * 2 ** 31));
  // A run of 10 minutes or more is a report to keep (bench/chaos/results/); shorter ones go to
  // results/tmp/ (ignored by git), so that a CI or trial run does not overwrite it.
  const out =
    values.out ??
    fileURLToPath(new URL(minutes >= 10 ? './results/' : './results/tmp/', import.meta.url));
  return {
    minutes,
    backends,
    faults,
    elections,
    candidates,
    etcdClusters,
    seed,
    out,
    json: values.json,
    keepHistory: values['keep-history'],
    dist: values.dist,
  };
}

const log = (msg) =>
  process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

async function main() {
  const flags = parseFlags();
  if (!FAKETIME_LIB && [...flags.faults].some((f) => f.startsWith('skew'))) {
    log(
      'libfaketime is missing (the skew faults need it): run bash scripts/ensure-system-packages.sh as root, or leave out the skew faults with --faults',
    );
    process.exit(3);
  }
  mkdirSync(flags.out, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'leader-elect-chaos-'));
  const history = new History(join(dir, 'harness.jsonl'));
  const resourceFile = join(dir, 'resource.jsonl');
  const machine = await describeMachine();
  const startedAt = nowMs();
  const cleanups = [];
  let interrupted = false;
  const onSignal = (signal) => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping everything`);
    killAll();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let servers;
  try {
    servers = await startServers({
      backends: flags.backends,
      etcdClusters: flags.etcdClusters,
      log,
    });
    cleanups.push(() => servers.stop());
    if (servers.etcd) {
      const { Etcd3 } = await import('etcd3');
      for (const cluster of servers.etcd) {
        // The harness's own client, straight to the members: next in line, the fenced history.
        cluster.client = new Etcd3({ hosts: cluster.endpoints });
        cleanups.push(async () => cluster.client.close());
      }
    }
  } catch (error) {
    log(`servers could not be started: ${error.stack ?? error}`);
    killAll();
    process.exit(3);
  }
  const resource = await startFencedResource({ historyFile: resourceFile });
  cleanups.push(() => resource.stop());

  const elections = [];
  const groups = [
    ...(servers.etcd ?? []).map((etcd) => ({ name: etcd.name, backend: 'etcd', etcd })),
    ...(servers.kube ? [{ name: 'kubernetes', backend: 'kubernetes', kube: servers.kube }] : []),
  ];
  for (const backend of flags.backends) {
    for (const kind of ['library', 'cli']) {
      for (let i = 0; i < flags.elections; i++) {
        const name = `${backend === 'etcd' ? 'etcd' : 'kube'}-${kind === 'library' ? 'lib' : 'cli'}-${i}`;
        // etcd elections are spread over the clusters, library and cli alike.
        const etcd = backend === 'etcd' ? servers.etcd[i % servers.etcd.length] : undefined;
        const cluster = etcd ? etcd.name : 'kubernetes';
        const slots = [];
        for (let c = 0; c < flags.candidates; c++) {
          slots.push(
            await new CandidateSlot({
              id: `${name}/c${c}`,
              election: name,
              backend,
              kind,
              servers,
              etcd,
              timings: TIMINGS,
              resourceUrl: resource.url,
              dir,
              history,
              ...(flags.dist ? { dist: flags.dist } : {}),
            }).init(),
          );
        }
        elections.push(new Election({ name, backend, kind, cluster, etcd, slots }));
      }
    }
  }
  const allSlots = elections.flatMap((e) => e.slots);
  cleanups.unshift(async () => {
    await Promise.all(allSlots.map((s) => s.close()));
  });
  const layout = `${elections.length} elections (${flags.backends.map((b) => `${b}: ${flags.elections} of library electors and ${flags.elections} of \`leader-elect run\``).join('; ')}) × ${flags.candidates} candidates; server groups: ${groups.map((g) => g.name).join(', ')}`;
  log(`${layout}; seed ${flags.seed}; logs in ${dir}`);

  let exitCode = 0;
  try {
    for (const slot of allSlots) slot.start();
    const ready = await Promise.all(elections.map((e) => e.waitStable(60_000)));
    const notReady = elections.filter((_, i) => !ready[i]).map((e) => e.name);
    if (notReady.length > 0)
      throw new Error(`elections without a stable leader after 60 s: ${notReady.join(', ')}`);
    log('every election has a leader; the nemesis starts');
    const nemesisAt = nowMs();
    history.record('cluster', { what: 'nemesis-start' }, nemesisAt);
    const nemesis = new Nemesis({
      elections,
      servers,
      groups,
      history,
      prng: new Prng(flags.seed),
      timings: TIMINGS,
      deadline: nemesisAt + flags.minutes * 60_000,
      faults: flags.faults,
      // Two controls a minute per backend: ≥ 200 in an hour-long run over both backends.
      controlRuns: Math.max(1, Math.round(flags.minutes * 2)),
      recoveryHardMs: 30_000,
      log,
    });
    const progress = setInterval(() => {
      const n = Object.values(nemesis.counts).reduce((a, b) => a + b, 0);
      log(
        `${Math.round((nowMs() - nemesisAt) / 1000)} s: ${n} faults applied; load ${currentLoad().join(' ')}`,
      );
    }, 60_000);
    await nemesis.run();
    clearInterval(progress);
    const endAt = nowMs();
    history.record('cluster', { what: 'nemesis-end' }, endAt);
    log('nemesis done; stopping candidates');
    for (const slot of allSlots) slot.autoRestart = false;
    await Promise.all(allSlots.map((s) => s.kill()));
    await sleep(300);
    const fenced = { byElection: {}, complete: true };
    for (const cluster of servers.etcd ?? []) {
      const part = await readFencedHistory(cluster.client);
      Object.assign(fenced.byElection, part.byElection);
      fenced.complete &&= part.complete;
    }
    if (!fenced.complete) log('warning: the fenced etcd history could not be read completely');
    for (const fn of cleanups.splice(0))
      await fn().catch((error) => log(`cleanup: ${error.message}`));
    await history.close();

    const meta = {
      seed: flags.seed,
      minutes: flags.minutes,
      durationS: Math.round((nowMs() - startedAt) / 1000),
      backends: flags.backends,
      layout,
      timings: TIMINGS,
      faults: [...flags.faults],
      machine,
      loadAtEnd: currentLoad(),
      historyDir: dir,
      nemesisAt,
      endAt,
    };
    await saveRunFiles(dir, { meta, fenced: fenced.byElection });
    log('checking');
    const { result, faults } = await checkRun(dir);
    const files = await writeReport({
      result,
      meta,
      faults,
      startAt: nemesisAt,
      outDir: flags.out,
      jsonFile: flags.json,
    });
    log(`report: ${files.join(', ')}`);
    log(`transitions ${result.transitions}; faults ${JSON.stringify(result.faultsApplied)}`);
    log(
      `overlapping terms ${result.overlappingTerms} (within the model ${result.overlappingTermsWithinModel}); stale accepted ${result.staleWritesAccepted}; stale fenced ${result.staleFencedWritesAccepted}; controlDetected ${result.controlDetected}; leaderless p99 ${result.leaderlessP99Ms} ms`,
    );
    if (result.ok) log('PASS');
    else {
      log(`FAIL: ${result.failures.join('; ')}`);
      exitCode = 1;
    }
  } catch (error) {
    log(`run failed: ${error.stack ?? error}`);
    exitCode = 3;
  } finally {
    for (const fn of cleanups.splice(0)) await fn().catch(() => {});
    killAll();
    const left = [...liveProcesses(), ...liveAdopted().map((pid) => ({ pid, label: 'adopted' }))];
    if (left.length > 0) log(`still running after cleanup (killed): ${JSON.stringify(left)}`);
  }
  if (!flags.keepHistory && exitCode === 0) {
    const { rm } = await import('node:fs/promises');
    await rm(dir, { recursive: true, force: true });
  } else log(`histories kept in ${dir}`);
  process.exit(exitCode);
}

main().catch((error) => {
  log(`chaos: ${error.stack ?? error}`);
  killAll();
  process.exit(3);
});
