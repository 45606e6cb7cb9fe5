/**
 * Two kube-apiservers on one etcd behind HAProxy (TCP, health-checked), started for this file
 * alone: killing either apiserver while we lead must not cost the leadership. The leader's
 * renewals move to the surviving apiserver within the renew deadline; the follower's watch
 * reconnects.
 */
import { existsSync } from 'node:fs';
import { describe, expect, inject, test } from 'vitest';
import { type LeaderElectError, LeaderElector, type StopReason } from '../../src/index.js';
import { kubernetesBackend } from '../../src/kubernetes/index.js';
import { startKubeApiserver } from '../env/kube-apiserver.mjs';
import { sleep, waitFor } from '../support/wait.js';
import { loadKubeConfig } from './support.js';

// The property: a renewal that meets the dead apiserver fails (its connection is reset) and the
// next one, through HAProxy to the survivor, lands within the renew deadline. With 1.5 s that
// held on a quiet machine but not under a load average of 20–30 on 2 cores (1 failure in 5 flake
// runs: the retry's new TLS connection and the survivor's answer took longer). The deadline gives
// the same path 4.5 s; what is checked is unchanged.
const timings = { leaseDuration: 6000, renewDeadline: 4500, retryPeriod: 500 };
const haproxyInstalled = existsSync('/usr/sbin/haproxy');

describe('kubernetes HA: two apiservers behind HAProxy', () => {
  test.skipIf(!haproxyInstalled)(
    'killing one apiserver while we lead keeps the leadership (each of the two in turn)',
    async () => {
      const env = await startKubeApiserver({
        binary: inject('kubeApiserverBinary'),
        etcdBinary: inject('kubeEtcdBinary'),
        apiservers: 2,
        haproxy: true,
      });
      const electors: LeaderElector[] = [];
      try {
        const kubeConfig = loadKubeConfig(env.adminKubeconfig);
        const make = (identity: string) => {
          const e = new LeaderElector({
            backend: kubernetesBackend({
              kubeConfig,
              namespace: 'default',
              name: 'ha-election',
              requestTimeoutMs: 1500,
            }),
            identity,
            ...timings,
          });
          electors.push(e);
          return e;
        };
        const leader = make('ha-leader');
        const follower = make('ha-follower');
        const stops: StopReason[] = [];
        const errors: LeaderElectError[] = [];
        let renewals = 0;
        leader.on('stoppedLeading', (_t, reason) => stops.push(reason));
        leader.on('renewed', () => renewals++);
        leader.on('error', (err) => errors.push(err));
        void leader.run();
        const term = await leader.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
        void follower.run();
        await waitFor(() => follower.leader?.identity === 'ha-leader', 'the follower', 5_000);

        for (const victim of [0, 1]) {
          if (victim === 1) {
            await env.apiservers[0]!.start(); // back, ready, before the other one goes
          }
          const before = renewals;
          await env.apiservers[victim]!.kill('SIGKILL');
          const until = performance.now() + timings.leaseDuration * 2;
          while (performance.now() < until) {
            expect(leader.isLeader()).toBe(true);
            expect(follower.isLeader()).toBe(false);
            await sleep(10);
          }
          expect(renewals - before).toBeGreaterThanOrEqual(5);
        }
        expect(stops).toEqual([]);
        expect(leader.currentTerm()?.token).toBe(term.token);
        // Failures while an apiserver died are transient, retried within the term.
        for (const err of errors) expect(err.transient).toBe(true);
      } finally {
        await Promise.all(electors.map((e) => e.stop()));
        await env.stop();
      }
    },
    180_000,
  );
});
