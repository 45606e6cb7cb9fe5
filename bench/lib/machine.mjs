/** What the report records about where and with what it ran. */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

async function quiet(fn) {
  try {
    return await fn();
  } catch {
    return null;
  }
}

export async function packageVersion(name) {
  const path = name === '.' ? `${root}package.json` : `${root}node_modules/${name}/package.json`;
  return quiet(async () => JSON.parse(await readFile(path, 'utf8')).version);
}

export async function describeMachine() {
  const cpu = cpus();
  const os = await quiet(
    async () => /PRETTY_NAME="([^"]+)"/.exec(await readFile('/etc/os-release', 'utf8'))?.[1],
  );
  // Read-only git queries: which commit the measured code is, and whether it had local changes.
  const commit = await quiet(async () =>
    (await run('git', ['rev-parse', '--short', 'HEAD'], { cwd: root })).stdout.trim(),
  );
  const dirty = await quiet(
    async () =>
      (
        await run('git', ['status', '--porcelain', '--', 'src', 'bench'], { cwd: root })
      ).stdout.trim() !== '',
  );
  return {
    cpu: `${cpu.length} × ${cpu[0]?.model?.trim() ?? 'unknown CPU'}`,
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${os ?? 'Linux'} (kernel ${release()})`,
    node: process.version,
    leaderElect: await packageVersion('.'),
    commit: commit === null ? null : `${commit}${dirty ? ' + uncommitted changes' : ''}`,
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

export function currentLoad() {
  return loadavg().map((l) => Math.round(l * 100) / 100);
}
