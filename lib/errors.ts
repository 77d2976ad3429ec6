/**
 * Typed errors with stable codes, shared by the CLI (one clear line, no stack
 * trace) and the HTTP API (`{"error":{"code","message"}}` with a status).
 *
 * @module
 */

/** An error meant for a user: a stable code, a message and what to do about it. */
export class ElasticoreError extends Error {
  /** Stable, machine-readable code, e.g. `config_unknown_key`. */
  readonly code: string;
  /** What the user can do about it, printed after the message. */
  readonly hint?: string;
  /** HTTP status when returned by the API. */
  readonly status: number;

  /** Creates an error with a stable code. */
  constructor(code: string, message: string, opts: { hint?: string; status?: number } = {}) {
    super(message);
    this.name = "ElasticoreError";
    this.code = code;
    this.hint = opts.hint;
    this.status = opts.status ?? 400;
  }

  /** The one line the CLI prints. */
  toLine(): string {
    return `error[${this.code}]: ${this.message}${this.hint ? ` (${this.hint})` : ""}`;
  }
}
