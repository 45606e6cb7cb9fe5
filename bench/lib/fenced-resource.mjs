/**
 * A small fenced resource on loopback (the pause scenario's downstream system): it accepts a
 * write only if its fencing token is ≥ the highest token it has accepted for that election
 * (Kleppmann's rule; Chubby's sequencer check). A write without a token cannot be checked, so it
 * is accepted: that is what using an implementation without fencing tokens means.
 *
 *   POST /<election>?identity=ID&token=N   → 200 accepted | 409 rejected (stale token)
 *
 * Each write is recorded with the harness clock at arrival.
 */
import http from 'node:http';

export async function startFencedResource() {
  /** @type {Map<string, {maxToken: bigint | null, writes: Array<object>}>} */
  const elections = new Map();
  const server = http.createServer((request, response) => {
    const t = performance.now();
    const url = new URL(request.url ?? '/', 'http://x');
    const election = decodeURIComponent(url.pathname.slice(1));
    const identity = url.searchParams.get('identity') ?? '';
    const raw = url.searchParams.get('token');
    let state = elections.get(election);
    if (!state) {
      state = { maxToken: null, writes: [] };
      elections.set(election, state);
    }
    let accepted = true;
    let token = null;
    if (raw !== null) {
      token = BigInt(raw);
      if (state.maxToken !== null && token < state.maxToken) accepted = false;
      else state.maxToken = token;
    }
    state.writes.push({ t, identity, token, accepted });
    request.resume();
    response.writeHead(accepted ? 200 : 409).end();
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    urlFor: (election) => `http://127.0.0.1:${port}/${encodeURIComponent(election)}`,
    writes: (election) => elections.get(election)?.writes ?? [],
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
