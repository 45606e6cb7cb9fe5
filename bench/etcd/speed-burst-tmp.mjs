// Profile one 10,000-election burst (ad hoc, not committed).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { etcdForTool } from './lib/cluster.mjs';
const n = Number(process.argv[2] ?? 10000);
const prof = process.argv[3] === 'prof';
const cluster = await etcdForTool(undefined, 'speed-burst');
try {
  const args = [...(prof ? ['--cpu-prof', '--cpu-prof-dir=/tmp/speed-prof'] : []), '/work/wt/speed/bench/fixtures/ours-etcd.mjs', '--endpoints', cluster.endpoints.join(','), '--election', `burst-${Date.now()}`, '--identity', 'me', '--scale', '--elections', String(n), '--lease-duration-ms', '15000', '--renew-deadline-ms', '10000', '--retry-period-ms', '2000'];
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let errors = 0;
  let peak = 0;
  const sampler = setInterval(() => {
    try {
      const s = require('node:fs');
    } catch {}
  }, 1000);
  clearInterval(sampler);
  const fs = await import('node:fs');
  const rss = setInterval(() => {
    try {
      const st = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const hwm = Number(/VmHWM:\s+(\d+)/.exec(st)?.[1] ?? 0) / 1024;
      peak = Math.max(peak, hwm);
    } catch {}
  }, 500);
  await new Promise((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const e = JSON.parse(line);
      if (e.event === 'error') errors++;
      if (e.event === 'ready') {
        console.log(`ready after ${(performance.now() - t0).toFixed(0)} ms from spawn (own ${e.ms?.toFixed(0)} ms), errors ${errors} ${JSON.stringify(e.errors)}`);
        resolve();
      } else if (e.event !== 'error' && e.event !== 'progress') console.log(line.slice(0, 200));
    });
    setTimeout(resolve, 120_000);
  });
  clearInterval(rss);
  console.log(`peak RSS so far ${peak.toFixed(0)} MB, error events ${errors}`);
  child.stdin.write('exit\n');
  await new Promise((r) => { child.once('close', r); setTimeout(() => { child.kill('SIGKILL'); r(); }, 15_000); });
} finally {
  await cluster.stop();
}
