/**
 * Starts the fenced resource (fixtures/fenced-resource-server.mjs) as its own process and gives
 * its URL; `stop()` ends it with SIGTERM so that the history file is flushed.
 */

import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { killProcess, spawnTracked } from './processes.mjs';

const SERVER = fileURLToPath(new URL('../fixtures/fenced-resource-server.mjs', import.meta.url));

export async function startFencedResource({ historyFile }) {
  const child = spawnTracked(process.execPath, [SERVER, '--history', historyFile], {
    label: 'fenced-resource',
  });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('fenced resource: no port within 10 s')),
      10_000,
    );
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line).port);
    });
    child.exited.then(() => reject(new Error('fenced resource exited at start')));
  });
  child.stderr.on('data', (d) => process.stderr.write(`[resource] ${d}`));
  return {
    url: `http://127.0.0.1:${port}/write`,
    historyFile,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([child.exited, new Promise((r) => setTimeout(r, 5_000))]);
      await killProcess(child);
    },
  };
}
