import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The built CLI: the tests run what users run (`npm run build` first). */
export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): CliResult {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 20_000,
    env: options.env ?? process.env,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Lines of a text, without the empty last one. */
export function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

/** A loopback port nobody listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A running `leader-elect` process with its output collected as it arrives. */
export class CliProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: readonly string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(process.execPath, [CLI, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** JSON lines of a stream (`--json`). */
  events(stream: 'stdout' | 'stderr' = 'stderr'): Record<string, unknown>[] {
    return lines(this[stream])
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /** Resolves with the first JSON event that matches, polling the output. */
  async waitForEvent(
    match: (event: Record<string, unknown>) => boolean,
    options: { timeoutMs?: number; stream?: 'stdout' | 'stderr'; after?: number } = {},
  ): Promise<Record<string, unknown>> {
    const deadline = performance.now() + (options.timeoutMs ?? 20_000);
    for (;;) {
      const found = this.events(options.stream)
        .slice(options.after ?? 0)
        .find(match);
      if (found !== undefined) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`process exited before the event; stderr:\n${this.stderr}`);
      }
      if (performance.now() > deadline) {
        throw new Error(
          `timed out waiting for an event; stderr:\n${this.stderr}\nstdout:\n${this.stdout}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/** True while a process with this pid exists (zombies included). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether the built etcd backend offers inspect() (`status` and `watch` need it). */
export async function etcdCanInspect(): Promise<boolean> {
  const module = (await import(
    fileURLToPath(new URL('../../dist/etcd/index.js', import.meta.url))
  )) as typeof import('../../src/etcd/index.js');
  const backend = module.etcdBackend({ endpoints: ['http://127.0.0.1:1'], election: 'probe' });
  const can = typeof backend.inspect === 'function';
  await backend.close();
  return can;
}
