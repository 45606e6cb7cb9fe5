/**
 * The line protocol every Node candidate fixture speaks with the harness (bench/lib/
 * candidate-process.mjs). stdout: one JSON object per line, `{"event": ..., ...}`:
 *
 *   started        after the imports, before any connection (process start is not measured)
 *   campaigning    the candidate entered the election
 *   elected        it leads: { token?: string, lease?: string, at?: number } — the harness stamps
 *                  the time; ours adds `at`, its own epoch time in ms (performance.timeOrigin +
 *                  performance.now()) when its onStartedLeading ran
 *   lost           it stopped leading without being asked: { reason }
 *   stepped-down   a step-down command finished (it released what it held)
 *   progress       scale mode, every second until all are won: { elected, of }
 *   ready          scale mode: all elections won: { elections, ms }
 *   transferred    a `transfer <identity>` command finished: { to, token }
 *   error          something failed: { op, error }
 *
 * stdin, one command per line: `step-down` (release, stay alive), `campaign` (enter again),
 * `transfer <identity>` (hand the term to that candidate; ours only), `exit` (release and exit
 * 0). EOF behaves like `exit`.
 */
import http from 'node:http';
import { createInterface } from 'node:readline';

export function emit(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

/** Calls `handle(command)` for each stdin line, one at a time; EOF → 'exit'. */
export function onCommands(handle) {
  let queue = Promise.resolve();
  const run = (command) => {
    queue = queue
      .then(() => handle(command))
      .catch((error) => {
        emit('error', { op: command, error: String(error?.message ?? error) });
      });
  };
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const command = line.trim();
    if (command !== '') run(command);
  });
  lines.on('close', () => run('exit'));
}

/** Exits after `ms` whatever happens (a stuck client must not keep a fixture alive). */
export function exitSoon(code, ms = 3_000) {
  setTimeout(() => process.exit(code), ms).unref();
}

/** Scale mode: how many elections are won so far, every second until all are. */
export function reportProgress(elected, of) {
  const timer = setInterval(() => {
    const n = elected();
    emit('progress', { elected: n, of });
    if (n >= of) clearInterval(timer);
  }, 1_000);
  timer.unref();
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });

/**
 * The work a leader does in the pause scenario: a write to the harness's fenced resource every
 * `intervalMs` while `isLeader()` says so. `token()` is the fencing token to send (undefined when
 * the implementation offers none: the resource cannot reject such writes). A write that the
 * process started before it was paused reaches the resource after it resumes, as in real life.
 */
export function startFencedWrites({ url, intervalMs, identity, isLeader, token }) {
  if (!url) return () => {};
  let stopped = false;
  let timer;
  const tick = () => {
    if (stopped) return;
    if (isLeader()) {
      const query = new URLSearchParams({ identity, sent: String(Date.now()) });
      const t = token();
      if (t !== undefined) query.set('token', String(t));
      const request = http.request(`${url}?${query}`, { method: 'POST', agent }, (response) => {
        response.resume();
      });
      request.on('error', () => {});
      request.end();
    }
    timer = setTimeout(tick, intervalMs);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
