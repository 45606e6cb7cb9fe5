#!/usr/bin/env node
/**
 * Peer: the etcd3 npm package's `Election` (microsoft/etcd3), used as its README shows:
 * `client.election(name, ttl).campaign(value)`, `elected` and `error` events, `resign()`.
 * Speaks the harness protocol of ./lib/protocol.mjs.
 *
 *   node bench/fixtures/etcd3-npm.mjs --endpoints URL[,URL] --election NAME --identity ID
 *        [--ttl SECONDS] [--scale --elections N] [--fence-url URL --write-interval-ms MS]
 *
 * Its keys live under `election/<name>/<lease ID in decimal>`, one lease per campaign.
 * It offers no fencing token (the key revision is private), so its writes carry none.
 */
import { parseArgs } from 'node:util';
import { emit, exitSoon, onCommands, reportProgress, startFencedWrites } from './lib/protocol.mjs';

const { values: flags } = parseArgs({
  options: {
    endpoints: { type: 'string' },
    election: { type: 'string' },
    identity: { type: 'string' },
    ttl: { type: 'string', default: '15' },
    elections: { type: 'string', default: '1' },
    scale: { type: 'boolean', default: false },
    'fence-url': { type: 'string' },
    'write-interval-ms': { type: 'string', default: '50' },
  },
});

const { Etcd3 } = await import('etcd3');
emit('started', { pid: process.pid });

const ttl = Number(flags.ttl);
const scale = flags.scale;
const count = scale ? Number(flags.elections) : 1;
const client = new Etcd3({ hosts: flags.endpoints.split(',') });

/** One campaign per election; `leading` mirrors what the library told us. */
const slots = Array.from({ length: count }, (_, i) => ({
  name: scale ? `${flags.election}-${i}` : flags.election,
  campaign: null,
  leading: false,
}));
let stopWrites = () => {};
let electedCount = 0;
const startedAt = performance.now();

function campaign(slot) {
  const c = client.election(slot.name, ttl).campaign(flags.identity);
  slot.campaign = c;
  c.on('elected', async () => {
    if (slot.campaign !== c) return;
    slot.leading = true;
    if (!scale) {
      let key;
      try {
        key = await c.getCampaignKey();
      } catch {
        // only informative
      }
      emit('elected', { key });
      stopWrites = startFencedWrites({
        url: flags['fence-url'],
        intervalMs: Number(flags['write-interval-ms']),
        identity: flags.identity,
        // The library's own notion of leadership: elected until an error or resign.
        isLeader: () => slot.leading,
        token: () => undefined,
      });
    } else if (++electedCount === count) {
      emit('ready', { elections: count, ms: performance.now() - startedAt });
    }
  });
  c.on('error', (error) => {
    if (slot.campaign !== c) return;
    const was = slot.leading;
    slot.leading = false;
    if (!scale) emit('lost', { reason: String(error?.message ?? error), wasLeader: was });
  });
  if (!scale) emit('campaigning');
}

async function stepDown() {
  stopWrites();
  await Promise.all(
    slots.map(async (slot) => {
      const c = slot.campaign;
      slot.leading = false;
      slot.campaign = null;
      if (c) await c.resign().catch(() => {});
    }),
  );
}

for (const slot of slots) campaign(slot);
if (scale) reportProgress(() => electedCount, count);

onCommands(async (command) => {
  if (command === 'step-down') {
    await stepDown();
    emit('stepped-down');
  } else if (command === 'campaign') {
    for (const slot of slots) if (!slot.campaign) campaign(slot);
  } else if (command === 'exit') {
    exitSoon(0, 10_000);
    await stepDown();
    client.close();
    process.exit(0);
  } else {
    emit('error', { op: 'command', error: `unknown command ${command}` });
  }
});
