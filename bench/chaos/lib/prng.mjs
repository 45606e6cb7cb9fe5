/**
 * A small seeded PRNG (sfc32 seeded through splitmix32): the same seed gives the same fault
 * schedule. Every election and the cluster nemesis draw from their own stream (`fork(label)`),
 * so the sequence of faults one election gets does not depend on how fast the others recover.
 */

function splitmix32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashString(text) {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h >>> 0;
}

export class Prng {
  #a;
  #b;
  #c;
  #d;

  /** @param {number | string} seed */
  constructor(seed) {
    const next = splitmix32(typeof seed === 'number' ? seed : hashString(String(seed)));
    this.seed = seed;
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
    for (let i = 0; i < 12; i++) this.next();
  }

  /** A float in [0, 1). */
  next() {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min, max) {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** A float in [min, max). */
  between(min, max) {
    return min + this.next() * (max - min);
  }

  /** One element of a non-empty array. */
  pick(items) {
    return items[Math.floor(this.next() * items.length)];
  }

  /** An independent stream named `label`, derived from this seed (not from this stream's state). */
  fork(label) {
    return new Prng(hashString(`${this.seed}/${label}`));
  }
}
