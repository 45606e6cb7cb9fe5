/**
 * What the elector last learnt about the world, for its user: who leads (as last observed) and
 * whether the backend answers (readiness). Each is announced only when it changes: `onNewLeader`
 * and `newLeader` for a new leader or token, `readiness` for a new readiness or reason.
 */
import type { ElectorReporter } from './elector-reporter.js';
import type { LeaderInfo, Readiness } from './events.js';
import type { LeaderElectorOptions } from './options.js';

export class ElectorStatus<Fence> {
  readonly #report: ElectorReporter<Fence>;
  readonly #options: Pick<LeaderElectorOptions<Fence>, 'onNewLeader'>;
  #leader: LeaderInfo | undefined;
  #readiness: Readiness = { ready: false, reason: 'not running', code: null };

  constructor(
    report: ElectorReporter<Fence>,
    options: Pick<LeaderElectorOptions<Fence>, 'onNewLeader'>,
  ) {
    this.#report = report;
    this.#options = options;
  }

  /** The leader as last observed (`undefined` before the first observation). */
  get leader(): LeaderInfo | undefined {
    return this.#leader;
  }

  get readiness(): Readiness {
    return this.#readiness;
  }

  /** Who leads now, as observed; announced when the identity or the token changed. */
  observeLeader(leader: LeaderInfo): void {
    const last = this.#leader;
    if (last !== undefined && last.identity === leader.identity && last.token === leader.token)
      return;
    this.#leader = leader;
    this.#report.callback('onNewLeader', () => this.#options.onNewLeader?.(leader));
    this.#report.emit('newLeader', leader);
  }

  /** Whether the backend answers (and why not); announced when it or its reason changed. */
  setReadiness(ready: boolean, reason: string, code: string | null): void {
    const last = this.#readiness;
    if (last.ready === ready && last.reason === reason) return;
    this.#readiness = { ready, reason, code };
    if (this.#report.listens('readiness')) this.#report.emit('readiness', this.#readiness);
  }
}
