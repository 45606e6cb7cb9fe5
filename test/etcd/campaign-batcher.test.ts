/**
 * Batched campaign transactions (src/etcd/campaign-batcher.ts) against the real cluster: each
 * campaign gets the answer its own transaction would have given, whatever else shares its batch.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, describe, expect, inject, test } from 'vitest';
import { CampaignBatcher, MAX_CAMPAIGNS_PER_TXN } from '../../src/etcd/campaign-batcher.js';
import { prefixRange } from '../../src/etcd/election-recipe.js';
import { unary } from '../../src/etcd/grpc-call.js';
import { candidateKey, electionPrefix } from '../../src/etcd/keys.js';
import { uniqueElection } from './support/etcd-test-env.js';

const endpoints = inject('etcdEndpoints');
const admin = new Etcd3({ hosts: endpoints });
const closers: (() => unknown)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});
afterAll(() => admin.close());

/** A batcher whose transactions are counted, and a lease of its own for the keys. */
async function setup() {
  let transactions = 0;
  const batcher = new CampaignBatcher(
    admin,
    (call, signal, timeoutMs) => {
      transactions++;
      return unary(call, signal, timeoutMs);
    },
    5_000,
  );
  const lease = admin.lease(30, { autoKeepAlive: false });
  const id = BigInt(await lease.grant());
  closers.push(async () => {
    batcher.close();
    await lease.revoke().catch(() => undefined);
  });
  return { batcher, id, transactions: () => transactions };
}

function request(election: string, lease: bigint, identity = `id-${election}`) {
  return {
    key: Buffer.from(candidateKey(election, lease)),
    value: Buffer.from(identity),
    lease: lease.toString(),
    prefix: prefixRange(electionPrefix(election)),
  };
}

const signal = () => AbortSignal.timeout(10_000);

describe('CampaignBatcher', () => {
  test('campaigns of one lease in one turn go out MAX_CAMPAIGNS_PER_TXN to a transaction; each is answered with its own election, its key created at the batch revision', async () => {
    const { batcher, id, transactions } = await setup();
    const base = uniqueElection('batch');
    const count = 2 * MAX_CAMPAIGNS_PER_TXN + 5;
    const elections = Array.from({ length: count }, (_, i) => `${base}-${i}`);
    const answers = await Promise.all(
      elections.map((election) => batcher.campaign(request(election, id), signal())),
    );
    expect(transactions()).toBe(Math.ceil(count / MAX_CAMPAIGNS_PER_TXN));
    answers.forEach((answer, i) => {
      const election = elections[i] as string;
      expect(answer.created).toBe(true);
      // Only its own election's keys, with our value on our lease.
      expect(answer.kvs.map((kv) => kv.key.toString())).toEqual([candidateKey(election, id)]);
      expect(answer.kvs[0]?.value.toString()).toBe(`id-${election}`);
      expect(BigInt(answer.kvs[0]?.lease ?? 0)).toBe(id);
      expect(BigInt(answer.kvs[0]?.create_revision ?? 0)).toBe(answer.revision);
    });
    // Within one batch every key has the batch's revision.
    const first = answers.slice(0, MAX_CAMPAIGNS_PER_TXN).map((a) => a.revision);
    expect(new Set(first).size).toBe(1);
    for (const election of elections) {
      const stored = await admin.get(candidateKey(election, id)).string();
      expect(stored).toBe(`id-${election}`);
    }
  });

  test('a key that exists fails the batch: its campaign gets the failure branch its own transaction would have, the others are sent again alone and created', async () => {
    const { batcher, id, transactions } = await setup();
    const base = uniqueElection('batch-existing');
    const elections = [`${base}-a`, `${base}-b`, `${base}-c`];
    // b's key exists already (an earlier campaign on this lease), with an older value, and an
    // older candidate of b on another lease.
    const other = admin.lease(30, { autoKeepAlive: false });
    const otherId = BigInt(await other.grant());
    closers.push(() => other.revoke().catch(() => undefined));
    await admin
      .put(candidateKey(`${base}-b`, otherId))
      .value('older')
      .lease(otherId.toString())
      .exec();
    const existing = await admin
      .put(candidateKey(`${base}-b`, id))
      .value('before')
      .lease(id.toString())
      .exec();
    const answers = await Promise.all(
      elections.map((election) => batcher.campaign(request(election, id), signal())),
    );
    expect(transactions()).toBe(3); // the batch, then a and c alone
    const [a, b, c] = answers;
    expect(a?.created).toBe(true);
    expect(c?.created).toBe(true);
    expect(b?.created).toBe(false);
    expect(b?.kvs.map((kv) => [kv.key.toString(), kv.value.toString()])).toEqual(
      [
        [candidateKey(`${base}-b`, id), 'before'],
        [candidateKey(`${base}-b`, otherId), 'older'],
      ].sort((x, y) => ((x[0] as string) < (y[0] as string) ? -1 : 1)),
    );
    expect(
      BigInt(b?.kvs.find((kv) => kv.value.toString() === 'before')?.create_revision ?? 0),
    ).toBe(BigInt(existing.header.revision));
    expect(await admin.get(candidateKey(`${base}-b`, id)).string()).toBe('before');
    expect(await admin.get(candidateKey(`${base}-a`, id)).string()).toBe(`id-${base}-a`);
  });

  test('a batch etcd refuses as a whole (the same key twice) is sent again one campaign at a time: one creates the key, the other finds it', async () => {
    const { batcher, id, transactions } = await setup();
    const election = uniqueElection('batch-twice');
    const answers = await Promise.all([
      batcher.campaign(request(election, id, 'first'), signal()),
      batcher.campaign(request(election, id, 'second'), signal()),
    ]);
    expect(transactions()).toBe(3);
    expect(answers.map((a) => a.created).sort()).toEqual([false, true]);
    const stored = await admin.get(candidateKey(election, id)).string();
    const creator = answers.findIndex((a) => a.created) === 0 ? 'first' : 'second';
    expect(stored).toBe(creator);
  });

  test("a caller's abort rejects that campaign with its reason; the rest of its batch is answered", async () => {
    const { batcher, id } = await setup();
    const base = uniqueElection('batch-abort');
    const controller = new AbortController();
    const aborted = batcher.campaign(request(`${base}-x`, id), controller.signal);
    const kept = batcher.campaign(request(`${base}-y`, id), signal());
    const reason = new Error('stopped');
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    await expect(kept).resolves.toMatchObject({ created: true });
  });

  test('a batch whose every caller gave up is cancelled, not sent: nothing is written', async () => {
    const { batcher, id } = await setup();
    const base = uniqueElection('batch-all-aborted');
    const controller = new AbortController();
    const reason = new Error('stopped');
    const campaigns = [`${base}-p`, `${base}-q`].map((election) =>
      batcher.campaign(request(election, id), controller.signal),
    );
    controller.abort(reason);
    for (const campaign of campaigns) await expect(campaign).rejects.toBe(reason);
    // Its flush (a turn later) finds every caller gone.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const election of [`${base}-p`, `${base}-q`]) {
      expect(await admin.get(candidateKey(election, id)).string()).toBeNull();
    }
  });

  test('after close, campaigns fail at once and nothing is written', async () => {
    const { batcher, id } = await setup();
    const election = uniqueElection('batch-closed');
    batcher.close();
    await expect(batcher.campaign(request(election, id), signal())).rejects.toThrow('released');
    expect(await admin.get(candidateKey(election, id)).string()).toBeNull();
  });
});
