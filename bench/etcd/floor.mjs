#!/usr/bin/env node
/**
 * The floor under every etcd graceful handoff on this machine: one write committed by the
 * three-member cluster and its watch event delivered to another client — no election code at
 * all. A writer deletes (or puts) a key after an idle gap like the benchmark's; a watcher on its
 * own connection times the event. The idle gap matters: processes that have been waiting wake up
 * slower than ones in a tight loop.
 *
 *   node bench/etcd/floor.mjs [--trials 200] [--gap-ms 250] [--endpoints URL,URL]
 *
 * Without --endpoints it starts a private three-member etcd from the test environment (the same
 * settings as the benchmark's).
 */
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { etcdForTool } from './lib/cluster.mjs';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '200' },
    'gap-ms': { type: 'string', default: '250' },
    endpoints: { type: 'string' },
  },
});
const trials = Number(values.trials);
const gapMs = Number(values['gap-ms']);
if (!Number.isInteger(trials) || trials < 1 || !Number.isFinite(gapMs) || gapMs < 0) {
  console.error('usage: node bench/etcd/floor.mjs [--trials N] [--gap-ms MS] [--endpoints URLS]');
  process.exit(2);
}

const cluster = await etcdForTool(values.endpoints, 'bench-floor');
const { endpoints } = cluster;
const writer = new Etcd3({ hosts: endpoints });
const watcher = new Etcd3({ hosts: endpoints });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};

try {
  const key = `bench-floor/${Date.now().toString(36)}`;
  const watch = await watcher.watch().key(key).create();
  let onEvent = () => {};
  watch.on('put', () => onEvent(performance.now()));
  watch.on('delete', () => onEvent(performance.now()));
  const toEvent = [];
  const toResponse = [];
  // Bounded: `trials` iterations, each waiting at most 5 s for its event.
  for (let i = 0; i < trials; i++) {
    await sleep(gapMs);
    const seen = new Promise((resolve) => {
      onEvent = resolve;
      setTimeout(() => resolve(Number.NaN), 5_000).unref();
    });
    const t0 = performance.now();
    const write = i % 2 === 0 ? writer.put(key).value('x').exec() : writer.delete().key(key).exec();
    await write;
    toResponse.push(performance.now() - t0);
    toEvent.push((await seen) - t0);
  }
  const fmt = (xs) =>
    `p50 ${pct(xs, 50).toFixed(2)}  p99 ${pct(xs, 99).toFixed(2)}  max ${Math.max(...xs).toFixed(2)} ms`;
  console.log(`etcd floor, ${trials} writes after ${gapMs} ms idle each (3 members, loopback)`);
  console.log(`write → response to the writer   ${fmt(toResponse)}`);
  console.log(`write → event at another client  ${fmt(toEvent.filter(Number.isFinite))}`);
  await watch.cancel();
} finally {
  writer.close();
  watcher.close();
  await cluster.stop();
}
