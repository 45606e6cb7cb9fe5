/**
 * The etcd backend's admission control (src/etcd/request-gate.ts): a pure scheduler, tested with
 * promises we settle by hand.
 */
import { describe, expect, test } from 'vitest';
import { RequestGate } from '../../src/etcd/request-gate.js';

interface Manual {
  readonly started: string[];
  request(name: string): () => Promise<string>;
  settle(name: string, ok?: boolean): Promise<void>;
}

function manual(): Manual {
  const started: string[] = [];
  const pending = new Map<string, { resolve: (v: string) => void; reject: (e: Error) => void }>();
  return {
    started,
    request: (name) => () => {
      started.push(name);
      return new Promise<string>((resolve, reject) => pending.set(name, { resolve, reject }));
    },
    settle: async (name, ok = true) => {
      const entry = pending.get(name);
      if (entry === undefined) throw new Error(`${name} was not started`);
      pending.delete(name);
      if (ok) entry.resolve(name);
      else entry.reject(new Error(name));
      // let the gate's completion handlers run
      for (let i = 0; i < 5; i++) await Promise.resolve();
    },
  };
}

const never = new AbortController().signal;

describe('RequestGate', () => {
  test('keeps at most `limit` requests in flight and starts waiters in order as slots free', async () => {
    const gate = new RequestGate(2);
    const m = manual();
    const results = ['a', 'b', 'c', 'd'].map((n) => gate.run(m.request(n), never));
    expect(m.started).toEqual(['a', 'b']);
    expect(gate.running).toBe(2);
    expect(gate.waiting).toBe(2);
    await m.settle('b');
    expect(m.started).toEqual(['a', 'b', 'c']);
    await m.settle('a', false); // a failure frees its slot too
    expect(m.started).toEqual(['a', 'b', 'c', 'd']);
    await m.settle('c');
    await m.settle('d');
    await expect(results[0]).rejects.toThrow('a');
    await expect(Promise.all(results.slice(1))).resolves.toEqual(['b', 'c', 'd']);
    expect(gate.running).toBe(0);
    expect(gate.waiting).toBe(0);
  });

  test('the urgent lane goes before every normal waiter', async () => {
    const gate = new RequestGate(1);
    const m = manual();
    void gate.run(m.request('first'), never);
    void gate.run(m.request('n1'), never);
    void gate.run(m.request('n2'), never);
    void gate.run(m.request('u1'), never, 'urgent');
    void gate.run(m.request('u2'), never, 'urgent');
    await m.settle('first');
    await m.settle('u1');
    await m.settle('u2');
    await m.settle('n1');
    expect(m.started).toEqual(['first', 'u1', 'u2', 'n1', 'n2']);
  });

  test('a waiter whose signal aborts leaves the queue with the reason and is never started', async () => {
    const gate = new RequestGate(1);
    const m = manual();
    void gate.run(m.request('busy'), never);
    const controller = new AbortController();
    const waiting = gate.run(m.request('aborted'), controller.signal);
    void gate.run(m.request('next'), never);
    const reason = new Error('deadline');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(gate.waiting).toBe(1);
    await m.settle('busy');
    expect(m.started).toEqual(['busy', 'next']);
  });

  test('an already aborted signal rejects at once; a throwing request frees its slot', async () => {
    const gate = new RequestGate(1);
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    await expect(gate.run(async () => 'x', controller.signal)).rejects.toThrow('gone');
    await expect(
      gate.run(() => {
        throw new Error('sync failure');
      }, never),
    ).rejects.toThrow('sync failure');
    await expect(gate.run(async () => 'after', never)).resolves.toBe('after');
    expect(gate.running).toBe(0);
  });

  test('enter() hands out slots in order; a release frees its slot once, however often it is called', async () => {
    const gate = new RequestGate(1);
    const first = await gate.enter(never);
    const admitted: string[] = [];
    const second = gate.enter(never).then((release) => {
      admitted.push('second');
      return release;
    });
    void gate.enter(never).then(() => admitted.push('third'));
    await Promise.resolve();
    expect(admitted).toEqual([]);
    first();
    first(); // a second call must not free the slot a second time
    const releaseSecond = await second;
    await Promise.resolve();
    expect(admitted).toEqual(['second']);
    expect(gate.running).toBe(1);
    expect(gate.waiting).toBe(1);
    releaseSecond();
    await Promise.resolve();
    await Promise.resolve();
    expect(admitted).toEqual(['second', 'third']);
  });

  test('thousands of waiters, most of them aborted while they wait: the rest are admitted in order and the counts stay exact', async () => {
    const gate = new RequestGate(1);
    const busy = await gate.enter(never);
    const order: number[] = [];
    const controllers: AbortController[] = [];
    const waits = Array.from({ length: 5_000 }, (_, i) => {
      const controller = new AbortController();
      controllers.push(controller);
      return gate.enter(controller.signal).then(
        (release) => {
          order.push(i);
          release();
        },
        () => undefined,
      );
    });
    for (let i = 0; i < controllers.length; i++) {
      if (i % 7 !== 0) controllers[i]?.abort(new Error('gone'));
    }
    expect(gate.waiting).toBe(Math.ceil(5_000 / 7));
    busy();
    await Promise.all(waits);
    expect(order).toEqual(Array.from({ length: 5_000 }, (_, i) => i).filter((i) => i % 7 === 0));
    expect(gate.running).toBe(0);
    expect(gate.waiting).toBe(0);
  });

  test('rejects a limit that is not a positive integer', () => {
    expect(() => new RequestGate(0)).toThrow(RangeError);
    expect(() => new RequestGate(1.5)).toThrow(RangeError);
  });
});
