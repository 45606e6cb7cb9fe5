/**
 * A downstream resource that enforces fencing tokens, as a database or storage service should:
 * it rejects any write carrying a token lower than the highest it has seen. Timing alone cannot
 * stop a paused former leader from writing; this can.
 */
export class FencedResource {
  #highest: bigint | null = null;
  readonly accepted: { token: bigint; value: string }[] = [];
  readonly rejected: { token: bigint; value: string }[] = [];

  write(token: bigint, value: string): boolean {
    if (this.#highest !== null && token < this.#highest) {
      this.rejected.push({ token, value });
      return false;
    }
    this.#highest = token;
    this.accepted.push({ token, value });
    return true;
  }
}
