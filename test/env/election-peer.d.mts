import type { ChildProcessWithoutNullStreams } from 'node:child_process';

/** One JSON line of the Go peer; see cmd/etcd-election-peer/main.go. */
export interface PeerEvent {
  event:
    | 'started'
    | 'session'
    | 'campaigning'
    | 'elected'
    | 'leader'
    | 'resigned'
    | 'session-lost'
    | 'error'
    | 'exiting'
    | 'unparsed';
  /** ms since the peer started (monotonic) */
  t_ms: number;
  /** wall clock, Unix ms */
  wall_ms: number;
  identity?: string;
  key?: string;
  /** create revision of the candidate key: the fencing token */
  rev?: number;
  lease?: string;
  error?: string;
  op?: string;
  reason?: string;
  was_leader?: boolean;
  code?: number;
  [field: string]: unknown;
}

export interface StartElectionPeerOptions {
  binary: string;
  endpoints: string[];
  election: string;
  identity: string;
  ttl?: number;
  /** Go duration, e.g. '2s' */
  hold?: string;
  rejoin?: boolean;
  tls?: { ca?: string | undefined; cert?: string | undefined; key?: string | undefined };
  user?: string;
  password?: string;
  extraArgs?: string[];
}

export interface ElectionPeer {
  readonly child: ChildProcessWithoutNullStreams;
  readonly pid: number | undefined;
  readonly events: PeerEvent[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly stderr: string;
  readonly running: boolean;
  send(cmd: 'resign' | 'step-down' | 'campaign' | 'exit' | 'crash' | (string & {})): void;
  closeStdin(): void;
  waitFor(
    pred: (e: PeerEvent) => boolean,
    opts?: { timeoutMs?: number; from?: number },
  ): Promise<PeerEvent>;
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startElectionPeer(opts: StartElectionPeerOptions): ElectionPeer;
