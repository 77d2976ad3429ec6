/**
 * A running 64-bit FNV-1a hash of every event a simulation executes, plus a
 * bounded tail of recent lines for failure reports. Identical seeds must give
 * identical hashes; that is how determinism is tested.
 *
 * @module
 */

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;

/** Hashes trace lines and keeps the last few for diagnostics. */
export class TraceHasher {
  #hash = FNV_OFFSET;
  #lines = 0;
  #tail: string[] = [];
  readonly #tailSize: number;
  readonly #enc = new TextEncoder();

  /** Keeps the last `tailSize` lines. */
  constructor(tailSize = 50) {
    this.#tailSize = tailSize;
  }

  /** Adds one line to the trace. */
  add(line: string): void {
    let h = this.#hash;
    for (const b of this.#enc.encode(line + "\n")) {
      h = ((h ^ BigInt(b)) * FNV_PRIME) & MASK;
    }
    this.#hash = h;
    this.#lines++;
    if (this.#tailSize > 0) {
      this.#tail.push(line);
      if (this.#tail.length > this.#tailSize) this.#tail.shift();
    }
  }

  /** The hash so far, as 16 hex digits. */
  get hash(): string {
    return this.#hash.toString(16).padStart(16, "0");
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
