// The shared watch stream's logic on a fake clock, against a scripted watch service: creation,
// delivery in order, re-creation after a broken stream from where delivery stopped, the liveness
// probe of a quiet stream, and what startNow reports. The real service: test/etcd/.
import type { IKeyValue } from 'etcd3';
import { describe, expect, test } from 'vitest';
import type { LeaderElectError } from '../../../src/errors.js';
import { WatchHub } from '../../../src/etcd/watch-hub.js';
import type { WatchSink } from '../../../src/etcd/watch-subscription.js';
import { FakeClock, flushMicrotasks } from '../../../src/testing/fake-clock.js';
import { ScriptedEtcd } from '../../support/scripted-etcd.js';

function setup() {
  const clock = new FakeClock();
  const etcd = new ScriptedEtcd();
  const hub = new WatchHub(etcd.client, ['http://127.0.0.1:2379'], () => false, clock);
  return { clock, etcd, hub };
}

function recordingSink() {
  const log: string[] = [];
  const sink: WatchSink = {
    event: (type, kv) => log.push(`${type}@${kv.mod_revision}`),
    ready: () => log.push('ready'),
    down: (error: LeaderElectError) => log.push(`down:${error.code}`),
    ended: (error) => log.push(`ended:${error === null ? 'compacted' : error.code}`),
  };
  return { log, sink };
}

const kv = (key: string, modRevision: number): IKeyValue =>
  ({
    key: Buffer.from(key),
    value: Buffer.from('v'),
    create_revision: '1',
    mod_revision: String(modRevision),
    version: '1',
    lease: '0',
  }) as IKeyValue;

const created = (revision: number) => ({
  created: true,
  canceled: false,
  watch_id: '1',
  header: { revision: String(revision) },
  events: [],
});

describe('WatchHub', () => {
  test('creates the watcher at its start revision, delivers events, resumes after a break', async () => {
    const { clock, etcd, hub } = setup();
    const { log, sink } = recordingSink();
    const subscription = hub.subscribe(
      { key: Buffer.from('e/1'), deletesOnly: true, startRevision: 10n },
      sink,
    );
    await flushMicrotasks();
    const first = etcd.watch;
    expect(first.written[0]).toMatchObject({
      create_request: { start_revision: '10', watch_id: 1, filters: [0] },
    });
    first.answer(created(9));
    expect(subscription.active).toBe(true);
    expect(subscription.synced).toBe(true); // starts after the store's revision: synced at once
    first.answer({
      created: false,
      canceled: false,
      watch_id: '1',
      events: [{ type: 'Delete', kv: kv('e/1', 12) }],
    });
    first.fail('stream removed');
    expect(subscription.active).toBe(false);
    // Reconnect with backoff: 50 ms, jittered down to no less than half.
    await clock.advance(50);
    await flushMicrotasks();
    expect(etcd.watchStreams).toHaveLength(2);
    expect(etcd.watch.written[0]).toMatchObject({ create_request: { start_revision: '13' } });
    etcd.watch.answer(created(13));
    expect(log).toEqual(['ready', 'delete@12', 'down:LE_BACKEND_UNAVAILABLE', 'ready']);
    hub.close();
    expect(clock.pendingTimers).toBe(0);
  });

  test('a quiet stream is probed once the store reached every start revision; no answer resets it', async () => {
    const { clock, etcd, hub } = setup();
    const { log, sink } = recordingSink();
    hub.subscribe({ key: Buffer.from('e/1'), deletesOnly: true, startRevision: 5n }, sink);
    await flushMicrotasks();
    const stream = etcd.watch;
    stream.answer(created(4));
    // Nothing known past revision 4: a silent healthy member is expected, no probe.
    await clock.advance(10_000);
    expect(stream.written.filter((r) => 'progress_request' in r)).toHaveLength(0);
    // A keepalive header shows the store at revision 6: silence may now hide an event.
    hub.noteRevision(6n);
    await clock.advance(3_000);
    expect(stream.written.filter((r) => 'progress_request' in r)).toHaveLength(1);
    // No answer within the probe interval (2 s by default): the stream is reset.
    await clock.advance(2_000);
    expect(stream.cancelled).toBe(true);
    expect(log.at(-1)).toBe('down:LE_BACKEND_UNAVAILABLE');
    hub.close();
  });

  test('an answered probe keeps the stream', async () => {
    const { clock, etcd, hub } = setup();
    const { sink } = recordingSink();
    hub.subscribe({ key: Buffer.from('e/1'), deletesOnly: true, startRevision: 5n }, sink);
    await flushMicrotasks();
    const stream = etcd.watch;
    stream.answer(created(4));
    hub.noteRevision(6n);
    await clock.advance(3_000);
    expect(stream.written.some((r) => 'progress_request' in r)).toBe(true);
    stream.answer({
      created: false,
      canceled: false,
      watch_id: '-1',
      header: { revision: '6' },
      events: [],
    });
    await clock.advance(1_500);
    expect(stream.cancelled).toBe(false);
    hub.close();
  });

  test('startNow: complete only if nothing was written since the start revision', async () => {
    const { etcd, hub } = setup();
    const quiet = hub.subscribe(
      { key: Buffer.from('a'), deletesOnly: true, startRevision: 8n, startNow: true },
      recordingSink().sink,
    );
    const moved = hub.subscribe(
      { key: Buffer.from('b'), deletesOnly: true, startRevision: 8n, startNow: true },
      recordingSink().sink,
    );
    await flushMicrotasks();
    const stream = etcd.watch;
    expect(stream.written[0]).toMatchObject({ create_request: { start_revision: '0' } });
    stream.answer(created(7));
    stream.answer({ ...created(9), watch_id: '2' });
    expect(quiet.complete).toBe(true);
    expect(moved.complete).toBe(false);
    expect(moved.synced).toBe(true);
    hub.close();
  });

  test('a compacted watch ends for good; the last subscription closing ends the stream', async () => {
    const { etcd, hub } = setup();
    const { log, sink } = recordingSink();
    const subscription = hub.subscribe(
      { key: Buffer.from('e/1'), deletesOnly: false, startRevision: 2n },
      sink,
    );
    await flushMicrotasks();
    const stream = etcd.watch;
    stream.answer(created(5));
    stream.answer({
      created: false,
      canceled: true,
      watch_id: '1',
      compact_revision: '3',
      events: [],
    });
    expect(log).toEqual(['ready', 'ended:compacted']);
    expect(subscription.active).toBe(false);
    expect(stream.ended).toBe(true);
  });
});
