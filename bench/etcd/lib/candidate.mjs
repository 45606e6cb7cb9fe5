// The test fixture's driver, for plain-JS benchmark scripts (the test one is TypeScript).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(
  new URL('../../../test/etcd/fixtures/candidate.mjs', import.meta.url),
);
const live = new Set();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class CandidateProcess {
  constructor(config) {
    this.events = [];
    this.waiters = new Set();
    this.child = spawn(process.execPath, [FIXTURE, JSON.stringify(config)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    live.add(this.child);
    this.child.stdin.on('error', () => undefined);
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line));
      } catch {
        return;
      }
      for (const w of [...this.waiters]) w();
    });
    this.exited = new Promise((resolve) =>
      this.child.once('close', () => {
        live.delete(this.child);
        resolve();
        for (const w of [...this.waiters]) w();
      }),
    );
  }

  send(command) {
    if (this.child.stdin.writable) this.child.stdin.write(`${command}\n`);
  }

  waitFor(predicate, what, timeoutMs = 10_000, from = 0) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.events.slice(from).find(predicate);
        if (hit) done(() => resolve(hit));
        else if (this.child.exitCode !== null || this.child.signalCode !== null)
          done(() => reject(new Error(`exited before ${what}`)));
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`timed out waiting for ${what}`))),
        timeoutMs,
      );
      const done = (fn) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        fn();
      };
      this.waiters.add(check);
      check();
    });
  }

  async kill() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
