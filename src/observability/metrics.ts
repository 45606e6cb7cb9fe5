/**
 * A metrics sink. Every method is optional; the elector calls what is there and ignores errors
 * thrown by the sink. `leader-elect/prometheus` offers one over prom-client with client-go's
 * metric names.
 */
export interface ElectionMetrics {
  /** 1 while leading, 0 otherwise (client-go: `leader_election_master_status{name}`). */
  leaderStatus?(name: string, leading: boolean): void;
  /** A term started. */
  termStarted?(name: string, token: bigint): void;
  /** A term ended. */
  termEnded?(name: string, reason: string): void;
  /** One renewal call finished. */
  renewLatency?(name: string, latencyMs: number, ok: boolean): void;
  /** Time from the start of a campaign (or of the last loss) to acquisition. */
  timeToAcquire?(name: string, waitedMs: number): void;
  /** A renewal fell back from the cached record to get + update (client-go: `slowpath`). */
  slowPath?(name: string): void;
}

/**
 * The elector's side of a sink: one election's name bound in, every call guarded (a failing
 * sink never affects the election), and nothing done without a sink.
 */
export class MetricsRecorder {
  /** The recorder of every election without a sink (one for the process: it holds nothing). */
  static readonly none = new MetricsRecorder(undefined, '');

  /** A recorder for `sink` and `name`, or the shared no-op one without a sink. */
  static for(sink: ElectionMetrics | undefined, name: string): MetricsRecorder {
    return sink === undefined ? MetricsRecorder.none : new MetricsRecorder(sink, name);
  }

  readonly #sink: ElectionMetrics | undefined;
  readonly #name: string;

  private constructor(sink: ElectionMetrics | undefined, name: string) {
    this.#sink = sink;
    this.#name = name;
  }

  /** True when a sink is installed (callers skip measuring otherwise). */
  get enabled(): boolean {
    return this.#sink !== undefined;
  }

  leaderStatus(leading: boolean): void {
    try {
      this.#sink?.leaderStatus?.(this.#name, leading);
    } catch {
      // best effort
    }
  }

  termStarted(token: bigint): void {
    try {
      this.#sink?.termStarted?.(this.#name, token);
    } catch {
      // best effort
    }
  }

  termEnded(reason: string): void {
    try {
      this.#sink?.termEnded?.(this.#name, reason);
    } catch {
      // best effort
    }
  }

  renewLatency(latencyMs: number, ok: boolean): void {
    try {
      this.#sink?.renewLatency?.(this.#name, latencyMs, ok);
    } catch {
      // best effort
    }
  }

  timeToAcquire(waitedMs: number): void {
    try {
      this.#sink?.timeToAcquire?.(this.#name, waitedMs);
    } catch {
      // best effort
    }
  }

  /** Bound once, handed to the backend with every attempt (client-go's `slowpath` metric). */
  readonly slowPath = (): void => {
    try {
      this.#sink?.slowPath?.(this.#name);
    } catch {
      // best effort
    }
  };
}
