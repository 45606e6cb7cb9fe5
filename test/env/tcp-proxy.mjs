/**
 * A TCP proxy on loopback that injects network faults, shared by the integration tests and the
 * chaos run (`bench/chaos`): one per (candidate, server endpoint), so a fault hits one candidate
 * only.
 *
 * Faults, per direction (`c2s` client→server, `s2c` server→client):
 * - blackhole: forwarding pauses and the sockets stay open. We stop *reading* the source socket,
 *   so the bytes wait in kernel buffers exactly as in a real partition where TCP keeps
 *   retransmitting: the peer sees silence, never a reset, and on heal the queued bytes flow on
 *   (dropping bytes mid-stream would corrupt HTTP/2 framing, which no partition does). A close of
 *   the far side is held back too while its direction is blackholed.
 * - latency: every chunk is delivered `ms` after it was read, in order.
 * `heal()` clears every fault.
 */
import net from 'node:net';

export class TcpProxy {
  /** @type {Set<Pipe>} */
  #pipes = new Set();
  #server;
  state = { c2s: { blackhole: false, latencyMs: 0 }, s2c: { blackhole: false, latencyMs: 0 } };

  /** @param {{targetHost?: string, targetPort: number, label: string}} o */
  constructor({ targetHost = '127.0.0.1', targetPort, label }) {
    this.targetHost = targetHost;
    this.targetPort = targetPort;
    this.label = label;
    /** Bytes forwarded client→server since the start (who talks to which member). */
    this.bytesToServer = 0;
    this.lastToServerAt = 0;
  }

  async listen() {
    this.#server = net.createServer((client) => this.#accept(client));
    this.#server.on('error', () => {});
    await new Promise((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = this.#server.address().port;
    return this;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Open client connections now. */
  get connections() {
    return this.#pipes.size;
  }

  #accept(client) {
    const upstream = net.connect(this.targetPort, this.targetHost);
    const pipe = new Pipe(this, client, upstream);
    this.#pipes.add(pipe);
    pipe.closed.then(() => this.#pipes.delete(pipe));
  }

  /** @param {'c2s' | 's2c' | 'both'} direction */
  blackhole(direction) {
    for (const d of direction === 'both' ? ['c2s', 's2c'] : [direction]) {
      this.state[d].blackhole = true;
    }
    this.#update();
  }

  /** Adds `ms` of latency to each direction given. */
  latency(ms, direction = 'both') {
    for (const d of direction === 'both' ? ['c2s', 's2c'] : [direction]) {
      this.state[d].latencyMs = ms;
    }
    this.#update();
  }

  heal() {
    for (const d of ['c2s', 's2c']) this.state[d] = { blackhole: false, latencyMs: 0 };
    this.#update();
  }

  /** Drops every connection (a fresh start for a restarted candidate). */
  resetConnections() {
    for (const pipe of this.#pipes) pipe.destroy();
  }

  #update() {
    for (const pipe of this.#pipes) pipe.update();
  }

  async close() {
    for (const pipe of this.#pipes) pipe.destroy();
    await new Promise((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }
}

/** One proxied connection: two sockets and a forwarder per direction. */
class Pipe {
  constructor(proxy, client, upstream) {
    this.proxy = proxy;
    this.client = client;
    this.upstream = upstream;
    this.c2s = new Forwarder(proxy, 'c2s', client, upstream);
    this.s2c = new Forwarder(proxy, 's2c', upstream, client);
    this.closed = new Promise((resolve) => {
      let open = 2;
      const done = () => {
        if (--open === 0) resolve();
      };
      client.once('close', done);
      upstream.once('close', done);
    });
    client.on('error', () => {});
    upstream.on('error', () => {});
    // The far side closing is delivered like data: held while its direction is blackholed.
    client.once('close', () => this.c2s.endAfterQueue());
    upstream.once('close', () => this.s2c.endAfterQueue());
  }

  update() {
    this.c2s.update();
    this.s2c.update();
  }

  destroy() {
    this.client.destroy();
    this.upstream.destroy();
  }
}

class Forwarder {
  /** @type {Array<{due: number, chunk: Buffer}>} */
  #queue = [];
  #timer = null;
  #ending = false;
  #backpressured = false;

  constructor(proxy, direction, source, sink) {
    this.proxy = proxy;
    this.direction = direction;
    this.source = source;
    this.sink = sink;
    source.on('data', (chunk) => {
      if (direction === 'c2s') {
        proxy.bytesToServer += chunk.length;
        proxy.lastToServerAt = performance.now();
      }
      this.#queue.push({ due: performance.now() + this.#fault.latencyMs, chunk });
      this.#flush();
    });
    sink.on('drain', () => {
      this.#backpressured = false;
      this.update();
    });
    this.update();
  }

  get #fault() {
    return this.proxy.state[this.direction];
  }

  /** Pauses or resumes reading and flushes what is due. */
  update() {
    const hold = this.#fault.blackhole || this.#backpressured;
    if (hold) this.source.pause();
    else if (!this.source.destroyed) this.source.resume();
    this.#flush();
  }

  endAfterQueue() {
    this.#ending = true;
    this.#flush();
  }

  #flush() {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#fault.blackhole) return;
    const now = performance.now();
    while (this.#queue.length > 0) {
      const head = this.#queue[0];
      // Latency healed: what waits goes now; otherwise each chunk at its due time, in order.
      if (this.#fault.latencyMs > 0 && head.due > now) {
        this.#timer = setTimeout(() => this.#flush(), head.due - now);
        return;
      }
      this.#queue.shift();
      if (this.sink.destroyed) continue;
      if (!this.sink.write(head.chunk)) {
        this.#backpressured = true;
        this.source.pause();
      }
    }
    if (this.#ending) this.sink.destroy();
  }
}
