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
