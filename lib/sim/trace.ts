/**
 * A running 64-bit hash of every event a simulation executes (two
 * independent 32-bit lanes: FNV-1a and a multiplicative mix, over UTF-16 code
 * units), plus a bounded tail of recent lines for failure reports. Identical
 * seeds must give identical hashes; that is how determinism is tested.
 *
 * @module
 */

/** Hashes trace lines and keeps the last few for diagnostics. */
export class TraceHasher {
  #h1 = 0x811c9dc5;
  #h2 = 0x9747b28c;
  #lines = 0;
  #tail: string[] = [];
  readonly #tailSize: number;

  /** Keeps the last `tailSize` lines. */
  constructor(tailSize = 50) {
    this.#tailSize = tailSize;
  }

  /** Adds one line to the trace. */
  add(line: string): void {
    let h1 = this.#h1;
    let h2 = this.#h2;
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    h1 = Math.imul(h1 ^ 10, 0x01000193);
    h2 = Math.imul(h2 ^ 10, 0x5bd1e995);
    this.#h1 = h1 >>> 0;
    this.#h2 = h2 >>> 0;
    this.#lines++;
    if (this.#tailSize > 0) {
      this.#tail.push(line);
      if (this.#tail.length > this.#tailSize) this.#tail.shift();
    }
  }

  /** The hash so far, as 16 hex digits. */
  get hash(): string {
    return this.#h1.toString(16).padStart(8, "0") + this.#h2.toString(16).padStart(8, "0");
  }

  /** Number of lines added. */
  get lines(): number {
    return this.#lines;
  }

  /** The most recent lines, oldest first. */
  tail(): string[] {
    return [...this.#tail];
  }
}
