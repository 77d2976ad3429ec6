/**
 * The calling half of the RPC layer: one {@link PeerClient} per peer keeps
 * one connection, re-dials it with exponential backoff and jitter after it
 * is lost, and correlates requests with replies. Calls in flight on a
 * connection that dies fail with `peer_unavailable`; later calls reconnect.
 *
 * @module
 */
import { type Envelope, type ErrorBody, FrameKind } from "../../proto/codec.ts";
import type { StreamCreditMsg, StreamDataMsg } from "../../proto/transport.ts";
import { BulkPipe } from "./bulk.ts";
import { errorMessage, TransportError } from "./errors.ts";
import {
  type CallOptions,
  errorFromBody,
  type OpenStream,
  type RpcCore,
  sendVia,
} from "./rpc_types.ts";
import type { Conn, PeerAddress } from "./types.ts";

const DEDICATED = { dedicated: true } as const;

/** Deadlines are checked by one sweep timer per peer at this granularity (no timer per call). */
const SWEEP_MS = 5;

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  /** `performance.now()` after which the call fails with `deadline_exceeded`. */
  deadlineAt?: number;
  deadlineMs?: number;
  signal?: AbortSignal;
  onAbort?: () => void;
  pipe?: BulkPipe;
}

/** The calls in flight on one connection. */
class ClientSession {
  readonly conn: Conn;
  readonly pending = new Map<number, Pending>();
  constructor(conn: Conn) {
    this.conn = conn;
  }
}

function cancelledError(peer: string, signal?: AbortSignal): TransportError {
  const r = signal?.reason;
  if (r instanceof TransportError) return r;
  return new TransportError("cancelled", `call to ${peer} cancelled${r ? `: ${String(r)}` : ""}`);
}

/** Calls to one peer (see the module documentation). */
export class PeerClient {
  readonly peerId: string;
  /** Where the peer listens. */
  addr: PeerAddress | undefined;
  readonly #core: RpcCore;
  #session: ClientSession | null = null;
  #connecting: Promise<ClientSession> | null = null;
  #failures = 0;
  #nextAttemptAt = 0;
  #lastError = "";
  /** Whether the last failed dial was refused (the peer process is down). */
  #lastRefused = false;
  #hadConnection = false;
  #nextId = 1;
  #closed = false;
  #watched = new Set<ClientSession>();
  #sweepTimer: ReturnType<typeof setTimeout> | null = null;

  /** Fails the calls whose deadline passed; re-arms itself while calls are pending. */
  readonly #sweep = (): void => {
    this.#sweepTimer = null;
    const now = performance.now();
    for (const s of this.#watched) {
      if (s.pending.size === 0) {
        this.#watched.delete(s);
        continue;
      }
      for (const [id, p] of s.pending) {
        if (p.deadlineAt !== undefined && p.deadlineAt <= now) {
          this.#settle(
            s,
            id,
            new TransportError(
              "deadline_exceeded",
              `call to ${this.peerId} exceeded its deadline of ${p.deadlineMs} ms`,
            ),
            true,
          );
        }
      }
    }
    if (this.#watched.size > 0 && !this.#closed) {
      this.#sweepTimer = setTimeout(this.#sweep, SWEEP_MS);
    }
  };

  /** Creates the client; nothing is dialed before the first call. */
  constructor(core: RpcCore, peerId: string, addr?: PeerAddress) {
    this.#core = core;
    this.peerId = peerId;
    this.addr = addr;
  }

  /** Whether a connection is up. */
  get connected(): boolean {
    return this.#session !== null && !this.#session.conn.closed;
  }

  /**
   * Sends a request and resolves with the reply body. On a live connection
   * this is synchronous up to the reply: one promise per call, no timer.
   */
  call(type: string, body: unknown, opts: CallOptions = {}): Promise<unknown> {
    const s = this.#session;
    if (s === null || s.conn.closed) return this.#callConnecting(type, body, opts);
    const deadlineMs = opts.deadlineMs ?? this.#core.defaultDeadlineMs;
    return this.#request(s, type, body, undefined, deadlineMs, opts.signal);
  }

  async #callConnecting(type: string, body: unknown, opts: CallOptions): Promise<unknown> {
    const deadlineAt = performance.now() + (opts.deadlineMs ?? this.#core.defaultDeadlineMs);
    const s = await this.#connect(deadlineAt, opts.signal, opts.waitForReady);
    return await this.#request(s, type, body, deadlineAt, 0, opts.signal);
  }

  #request(
    s: ClientSession,
    type: string,
    body: unknown,
    deadlineAt: number | undefined,
    deadlineMs: number,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    if (signal?.aborted) return Promise.reject(cancelledError(this.peerId, signal));
    const id = this.#nextId++;
    const now = performance.now();
    // Either an absolute deadline (the call waited for a connection) or a budget from now.
    const remaining = Math.max(
      0,
      Math.round(deadlineAt === undefined ? deadlineMs : deadlineAt - now),
    );
    const reply = this.#register(s, id, remaining, signal, undefined, now);
    // A failed send settles the call with the error; the reply promise carries it.
    this.#sendRequest(s, {
      kind: FrameKind.Request,
      id,
      type,
      body,
      deadlineMs: remaining,
    }, this.#core.streamPerRpc);
    return reply;
  }

  /** Sends a one-way message (resolves once queued). */
  async notify(type: string, body: unknown, opts: CallOptions = {}): Promise<void> {
    const deadlineAt = performance.now() + (opts.deadlineMs ?? this.#core.defaultDeadlineMs);
    const s = this.#session && !this.#session.conn.closed
      ? this.#session
      : await this.#connect(deadlineAt, opts.signal, opts.waitForReady);
    await sendVia(this.#core, s.conn, { kind: FrameKind.Message, id: 0, type, body });
  }

  /** Opens a bulk stream; the handler's reply arrives in `result`. */
  async openStream(type: string, meta: unknown, opts: CallOptions = {}): Promise<OpenStream> {
    const core = this.#core;
    const now = performance.now();
    const deadlineAt = opts.deadlineMs !== undefined ? now + opts.deadlineMs : Infinity;
    const s = this.#session && !this.#session.conn.closed ? this.#session : await this.#connect(
      Math.min(deadlineAt, now + core.defaultDeadlineMs),
      opts.signal,
      opts.waitForReady,
    );
    const id = this.#nextId++;
    const remaining = opts.deadlineMs !== undefined
      ? Math.max(0, Math.round(deadlineAt - performance.now()))
      : undefined;
    const pipe = new BulkPipe(id, (f) => sendVia(core, s.conn, f), (err) => {
      this.#settle(s, id, err, true);
    }, core.streamWindowBytes);
    const result = this.#register(s, id, remaining, opts.signal, pipe);
    result.catch(() => {});
    await this.#sendRequest(s, {
      kind: FrameKind.Request,
      id,
      type,
      body: meta,
      deadlineMs: remaining,
    }, true);
    return { readable: pipe.readable, writable: pipe.writable, result };
  }

  #register(
    s: ClientSession,
    id: number,
    deadlineMs: number | undefined,
    signal?: AbortSignal,
    pipe?: BulkPipe,
    now = performance.now(),
  ): Promise<unknown> {
    if (signal?.aborted) return Promise.reject(cancelledError(this.peerId, signal));
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const p: Pending = { resolve, reject, pipe };
    if (deadlineMs !== undefined) {
      p.deadlineAt = now + deadlineMs;
      p.deadlineMs = deadlineMs;
      this.#watched.add(s);
      if (this.#sweepTimer === null) this.#sweepTimer = setTimeout(this.#sweep, SWEEP_MS);
    }
    if (signal) {
      p.signal = signal;
      p.onAbort = () => this.#settle(s, id, cancelledError(this.peerId, signal), true);
      signal.addEventListener("abort", p.onAbort, { once: true });
    }
    s.pending.set(id, p);
    return promise;
  }

  /** Sends a request frame; a failure settles call `env.id` (the returned promise never rejects). */
  #sendRequest(
    s: ClientSession,
    env: Envelope | Omit<Envelope, "v">,
    dedicated: boolean,
  ): Promise<void> {
    let sent: Promise<void>;
    try {
      sent = sendVia(this.#core, s.conn, env, dedicated ? DEDICATED : undefined);
    } catch (e) {
      sent = Promise.reject(e);
    }
    return sent.catch((e) => {
      const err = e instanceof TransportError
        ? e
        : new TransportError("peer_unavailable", errorMessage(e));
      this.#settle(s, env.id, err, false);
    });
  }

  /** Ends call `id` with `err` (or a value); tells the server when `cancel` is set. */
  #settle(s: ClientSession, id: number, err: Error | { value: unknown }, cancel: boolean): void {
    const p = s.pending.get(id);
    if (!p) return;
    s.pending.delete(id);
    if (p.onAbort) p.signal?.removeEventListener("abort", p.onAbort);
    if (err instanceof Error) {
      p.pipe?.fail(err);
      p.reject(err);
      if (cancel && !s.conn.closed) {
        sendVia(this.#core, s.conn, { kind: FrameKind.Cancel, id, type: "cancel", body: null })
          .catch(() => {});
      }
    } else {
      p.pipe?.fail(new TransportError("closed", `stream ${id} finished`));
      p.resolve(err.value);
    }
  }

  #onEnvelope(s: ClientSession, env: Envelope): void {
    const core = this.#core;
    if (core.faults.active && core.faults.dropInbound(this.peerId)) return;
    const p = s.pending.get(env.id);
    if (!p) {
      core.metrics.orphanReplies++;
      return;
    }
    switch (env.kind) {
      case FrameKind.Response:
        this.#settle(s, env.id, { value: env.body }, false);
        return;
      case FrameKind.Error:
        this.#settle(s, env.id, errorFromBody(this.peerId, env.body as ErrorBody), false);
        return;
      case FrameKind.Message:
        if (env.type === "transport.data") p.pipe?.onData(env.body as StreamDataMsg);
        else if (env.type === "transport.credit") p.pipe?.onCredit(env.body as StreamCreditMsg);
        return;
      default:
        core.metrics.orphanReplies++;
    }
  }

  #onClose(s: ClientSession, err?: Error): void {
    if (this.#session === s) this.#session = null;
    const why = err ? `: ${err.message}` : "";
    for (const id of [...s.pending.keys()]) {
      this.#settle(
        s,
        id,
        new TransportError(
          "peer_unavailable",
          `connection to ${this.peerId} lost with the call in flight${why}`,
        ),
        false,
      );
    }
  }

  /** A live session, dialing (with backoff) as long as the deadline allows. */
  async #connect(
    deadlineAt: number,
    signal?: AbortSignal,
    waitForReady = false,
  ): Promise<ClientSession> {
    for (;;) {
      if (this.#closed) throw new TransportError("closed", "RPC client is closed");
      if (this.#session && !this.#session.conn.closed) return this.#session;
      if (signal?.aborted) throw cancelledError(this.peerId, signal);
      if (!this.#connecting) {
        const wait = this.#nextAttemptAt - performance.now();
        if (wait > 0) {
          if ((this.#lastRefused && !waitForReady) || performance.now() + wait >= deadlineAt) {
            throw new TransportError(
              "peer_unavailable",
              `${this.peerId} is unreachable (${this.#lastError}); next attempt in ${
                Math.ceil(wait)
              } ms`,
            );
          }
          await sleep(wait, signal);
          continue;
        }
        this.#connecting = this.#dial().finally(() => this.#connecting = null);
      }
      const left = deadlineAt - performance.now();
      try {
        return await raceTimeout(this.#connecting, left, signal);
      } catch (e) {
        if (e instanceof TimeoutSignal) {
          throw new TransportError(
            "peer_unavailable",
            `could not connect to ${this.peerId} within the deadline`,
          );
        }
        if (signal?.aborted) throw cancelledError(this.peerId, signal);
        // A refused handshake is not worth retrying within this call; the backoff still applies.
        if (e instanceof TransportError && (e.code === "closed" || e.code === "handshake_failed")) {
          throw e;
        }
        // A peer that refused the connection (its process is down) fails the call at once
        // unless the caller asked to wait; a slow or flaky dial, or a peer whose address is
        // not known yet (membership still spreading it), is retried within the deadline.
        if (e instanceof TransportError && e.refused && !waitForReady) throw e;
      }
    }
  }

  async #dial(): Promise<ClientSession> {
    const core = this.#core;
    if (!this.addr) {
      this.#lastError = "no known address";
      this.#nextAttemptAt = performance.now() + core.backoffBaseMs;
      throw new TransportError("peer_unavailable", `no address known for ${this.peerId}`);
    }
    try {
      const conn = await core.transport.dial(this.peerId, this.addr);
      if (this.#closed) {
        conn.close();
        throw new TransportError("closed", "RPC client is closed");
      }
      const s = new ClientSession(conn);
      conn.setHandlers({
        onEnvelope: (env) => this.#onEnvelope(s, env),
        onClose: (err) => this.#onClose(s, err),
      });
      if (this.#hadConnection) {
        core.metrics.reconnects++;
        core.logger.info("reconnected to {peer} after {failures} failed attempts", {
          peer: this.peerId,
          failures: this.#failures,
        });
      }
      this.#hadConnection = true;
      this.#failures = 0;
      this.#lastRefused = false;
      this.#nextAttemptAt = 0;
      this.#session = s;
      return s;
    } catch (e) {
      this.#failures++;
      this.#lastError = errorMessage(e);
      this.#lastRefused = e instanceof TransportError && e.refused;
      const exp = Math.min(core.backoffMaxMs, core.backoffBaseMs * 2 ** (this.#failures - 1));
      // "Equal jitter": half fixed, half random, so retries spread out but never bunch at 0.
      this.#nextAttemptAt = performance.now() + exp / 2 + core.random() * exp / 2;
      core.logger.debug("dial {peer} failed ({failures}): {error}", {
        peer: this.peerId,
        failures: this.#failures,
        error: this.#lastError,
      });
      throw e;
    }
  }

  /** Fails every call and closes the connection. */
  close(): void {
    this.#closed = true;
    if (this.#sweepTimer !== null) clearTimeout(this.#sweepTimer);
    this.#sweepTimer = null;
    const s = this.#session;
    this.#session = null;
    s?.conn.close(new TransportError("closed", "RPC client closed"));
  }
}

class TimeoutSignal extends Error {}

function raceTimeout<T>(p: Promise<T>, ms: number, signal?: AbortSignal): Promise<T> {
  if (ms <= 0) {
    // The dial goes on without us; its failure must not become an unhandled rejection.
    p.catch(() => {});
    return Promise.reject(new TimeoutSignal());
  }
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => done(() => reject(new TimeoutSignal())), ms);
    const onAbort = () => done(() => reject(signal!.reason));
    const done = (f: () => void) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      f();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    p.then((v) => done(() => resolve(v)), (e) => done(() => reject(e)));
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(finish, ms);
    function finish() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", finish);
      resolve();
    }
    signal?.addEventListener("abort", finish, { once: true });
  });
}
