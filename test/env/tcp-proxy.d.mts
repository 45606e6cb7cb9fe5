export type Direction = 'c2s' | 's2c' | 'both';

export class TcpProxy {
  constructor(options: { targetHost?: string; targetPort: number; label: string });
  readonly targetPort: number;
  readonly label: string;
  readonly port: number;
  readonly url: string;
  readonly connections: number;
  bytesToServer: number;
  lastToServerAt: number;
  listen(): Promise<this>;
  blackhole(direction: Direction): void;
  latency(ms: number, direction?: Direction): void;
  heal(): void;
  resetConnections(): void;
  close(): Promise<void>;
}
