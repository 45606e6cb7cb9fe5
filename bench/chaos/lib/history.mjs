/**
 * The harness's history: one JSON line per event, stamped with the run's timeline
 * (lib/clock.mjs) when the harness saw it. Kinds:
 *
 *   process-start  {election, slot, candidate, kind, pid, skew}   a candidate process started
 *   process-exit   {election, slot, candidate, pid, code, signal}
 *   signal         {election, slot, candidate, pid, signal}         SIGSTOP/SIGCONT/SIGKILL/SIGTERM sent
 *   candidate      {election, slot, candidate, event, ...}          a line the candidate printed
 *   fault          {id, fault, phase: 'applied'|'healed'|'recovered'|'not-recovered', elections, ...}
 *   cluster        {what, ...}                                       server-side actions and notes
 *
 * The fenced resource keeps its own history (fixtures/fenced-resource-server.mjs); the checker
 * reads both.
 */
import { createWriteStream } from 'node:fs';
import { nowMs } from './clock.mjs';

export class History {
  #stream;

  constructor(file) {
    this.file = file;
    this.#stream = createWriteStream(file, { flags: 'w' });
  }

  /** Records one event; returns its time. */
  record(kind, fields, t = nowMs()) {
    this.#stream.write(`${JSON.stringify({ ...fields, t, kind })}\n`);
    return t;
  }

  close() {
    return new Promise((resolve) => this.#stream.end(resolve));
  }
}

/** Reads a JSON-lines file into an array (skipping a torn last line). */
export async function readJsonLines(file) {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(file, 'utf8').catch(() => '');
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a line cut by a crash
    }
  }
  return out;
}
