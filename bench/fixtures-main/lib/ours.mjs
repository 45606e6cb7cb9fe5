/**
 * The candidate loop shared by our fixtures (ours-etcd.mjs, ours-kube.mjs): one LeaderElector
 * per election, used the way the README shows, speaking the harness protocol.
 *
 * The leader's work in the pause scenario checks `term.isValid()` before every write and sends
 * `term.token`: the recommended use (the clock check stops a resumed leader before its first
 * write, the token makes the resource reject anything that slips through).
 */
import { LeaderElector } from '../../../dist/index.js';
import { emit, exitSoon, onCommands, reportProgress, startFencedWrites } from './protocol.mjs';

/**
 * @param {object} o
 * @param {(election: string) => import('../../../dist/index.js').LeaseBackend<any>} o.makeBackend
 * @param {string} o.election
 * @param {string} o.identity
 * @param {{leaseDuration: number, renewDeadline: number, retryPeriod: number}} o.timings
 * @param {number} o.elections           number of elections (scale mode: named `<election>-<i>`)
 * @param {boolean} [o.scale]            scale mode: report `ready` once all are won, nothing per term
 * @param {string} [o.fenceUrl]
 * @param {number} [o.writeIntervalMs]
 * @param {() => Promise<void>} [o.close] after every elector stopped (close shared clients)
 * @param {(term: import('../../../dist/index.js').Term<any>) => () => void} [o.startWrites]
 *        the leader's pause-scenario work instead of HTTP writes to `fenceUrl` (PostgreSQL:
 *        fenced transactions in the database); returns its stop function
 */
export function runOurCandidate(o) {
  const single = !o.scale;
  const names = single
    ? [o.election]
    : Array.from({ length: o.elections }, (_, i) => `${o.election}-${i}`);
  let electors = [];
  let stopWrites = () => {};
  let leading = 0;
  const startedAt = performance.now();
  /** Scale mode: `error` events until all are won, by code (reported with `ready`). */
  const errorsUntilReady = {};

  const campaign = () => {
    electors = names.map((name) => {
      const elector = new LeaderElector({
        backend: o.makeBackend(name),
        identity: o.identity,
        ...o.timings,
        onStartedLeading: (term) => {
          if (single) {
            // `at`: this process's epoch time (the observe scenario compares it across processes).
            emit('elected', {
              token: String(term.token),
              at: performance.timeOrigin + performance.now(),
            });
            stopWrites =
              o.startWrites?.(term) ??
              startFencedWrites({
                url: o.fenceUrl,
                intervalMs: o.writeIntervalMs ?? 50,
                identity: o.identity,
                isLeader: () => term.isValid(),
                token: () => term.token,
              });
          } else if (++leading === names.length) {
            emit('ready', {
              elections: names.length,
              ms: performance.now() - startedAt,
              errors: errorsUntilReady,
            });
          }
        },
        onStoppedLeading: (_term, reason) => {
          if (single) {
            stopWrites();
            emit('lost', { reason: String(reason) });
          }
        },
      });
      elector.on?.('error', (error) => {
        if (single) emit('error', { op: 'elector', error: String(error?.message ?? error) });
        else if (leading < names.length) {
          const code = error?.code ?? 'other';
          errorsUntilReady[code] = (errorsUntilReady[code] ?? 0) + 1;
        }
      });
      void elector.run().catch((error) => {
        emit('error', { op: 'run', error: String(error?.message ?? error) });
      });
      return elector;
    });
    if (single) emit('campaigning');
  };

  const stopAll = async () => {
    stopWrites();
    const stopping = electors;
    electors = [];
    await Promise.all(stopping.map((e) => e.stop().catch(() => {})));
  };

  campaign();
  if (!single) reportProgress(() => leading, names.length);
  onCommands(async (command) => {
    if (command === 'step-down') {
      await stopAll();
      emit('stepped-down');
    } else if (command === 'campaign') {
      if (electors.length === 0) campaign();
    } else if (command.startsWith('transfer ')) {
      const to = command.slice('transfer '.length);
      const elector = electors[0];
      if (elector === undefined) throw new Error('not campaigning');
      const result = await elector.transfer(to);
      emit('transferred', { to, token: String(result.token) });
    } else if (command === 'exit') {
      exitSoon(0, 15_000);
      await stopAll();
      await o.close?.();
      process.exit(0);
    } else {
      emit('error', { op: 'command', error: `unknown command ${command}` });
    }
  });
}

/** Timings from the fixture flags, in milliseconds. */
export function timingsFromFlags(flags) {
  return {
    leaseDuration: Number(flags['lease-duration-ms']),
    renewDeadline: Number(flags['renew-deadline-ms']),
    retryPeriod: Number(flags['retry-period-ms']),
  };
}

export const timingFlagOptions = {
  'lease-duration-ms': { type: 'string', default: '15000' },
  'renew-deadline-ms': { type: 'string', default: '10000' },
  'retry-period-ms': { type: 'string', default: '2000' },
};
