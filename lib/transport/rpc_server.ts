/**
 * The serving half of the RPC layer: one {@link ServerSession} per accepted
 * connection runs handlers for requests, one-way messages and bulk streams,
 * honours deadlines and Cancel frames, and stops reading from a peer that
 * has too many requests in flight (inbound backpressure).
 *
 * @module
 */
import { type Envelope, FrameKind } from "../../proto/codec.ts";
import { replyType, type StreamCreditMsg, type StreamDataMsg } from "../../proto/transport.ts";
import { BulkPipe } from "./bulk.ts";
import type { OutEnvelope } from "./channel.ts";
import { errorMessage, TransportError } from "./errors.ts";
import { errorBodyOf, type HandlerContext, type RpcCore, sendVia } from "./rpc_types.ts";
import type { Conn } from "./types.ts";

interface Active {
  done: boolean;
  ac: AbortController | null;
  timer?: ReturnType<typeof setTimeout>;
  pipe?: BulkPipe;
}

/** Serves one accepted connection. */
export class ServerSession {
  readonly #core: RpcCore;
  readonly #conn: Conn;
  readonly #active = new Map<number, Active>();
  readonly #replyTypes = new Map<string, string>();
  #paused = false;

  /** Attaches to `conn`. */
  constructor(core: RpcCore, conn: Conn) {
    this.#core = core;
    this.#conn = conn;
    conn.setHandlers({
      onEnvelope: (env) => this.#onEnvelope(env),
      onClose: (err) => this.#onClose(err),
      onRejected: (info) => {
        if (info.kind === FrameKind.Request && info.id) {
          this.#send({
            kind: FrameKind.Error,
            id: info.id,
            type: info.type ?? "error",
            body: { code: "bad_request", message: `request rejected: ${info.code}` },
          });
        }
      },
    });
  }

  /** The authenticated node id of the peer. */
  get peerId(): string {
    return this.#conn.peerId;
  }

  /** Requests being served. */
  get inflight(): number {
    return this.#active.size;
  }

  #send(env: OutEnvelope): void {
    sendVia(this.#core, this.#conn, env).catch((e) => {
      this.#core.logger.debug("reply to {peer} not sent: {error}", {
        peer: this.#conn.peerId,
        error: errorMessage(e),
      });
    });
  }

  #onEnvelope(env: Envelope): void {
    const core = this.#core;
    if (core.faults.active && core.faults.dropInbound(this.#conn.peerId)) return;
    switch (env.kind) {
      case FrameKind.Request:
        this.#request(env);
        return;
      case FrameKind.Message:
        if (env.id === 0) this.#message(env);
        else this.#streamFrame(env);
        return;
      case FrameKind.Cancel: {
        const a = this.#active.get(env.id);
        if (a) {
          this.#finish(env.id, a, {
            kind: FrameKind.Error,
            id: env.id,
            type: "error",
            body: { code: "cancelled", message: "cancelled by the caller" },
          }, new TransportError("cancelled", "cancelled by the caller"));
        }
        return;
      }
      default:
        core.metrics.orphanReplies++;
    }
  }

  #context(env: Envelope, a: Active): HandlerContext {
    return new RequestContext(this, env, a);
  }

  /** The abort signal of a request, created on first use (most handlers never look). */
  signalOf(id: number, a: Active, deadlineMs: number | undefined): AbortSignal {
    if (!a.ac) {
      a.ac = new AbortController();
      if (a.done) a.ac.abort(new TransportError("cancelled", "request already finished"));
      else if (deadlineMs !== undefined) {
        a.timer = setTimeout(() => {
          this.#finish(id, a, {
            kind: FrameKind.Error,
            id,
            type: "error",
            body: { code: "deadline_exceeded", message: `deadline of ${deadlineMs} ms exceeded` },
          }, new TransportError("deadline_exceeded", `deadline of ${deadlineMs} ms exceeded`));
        }, deadlineMs);
      }
    }
    return a.ac.signal;
  }

  #request(env: Envelope): void {
    const core = this.#core;
    if (this.#active.has(env.id)) {
      core.metrics.orphanReplies++;
      return;
    }
    const stream = core.streamHandlers.get(env.type);
    const handler = stream ? undefined : core.handlers.get(env.type);
    const reply = this.#replyTypeOf(env.type);
    if ((!stream && !handler) || !core.registry.get(reply)) {
      this.#send({
        kind: FrameKind.Error,
        id: env.id,
        type: env.type,
        body: {
          code: "unknown_method",
          message: stream || handler
            ? `${env.type} has no reply type ${reply} registered`
            : `no handler for ${env.type} on ${core.transport.nodeId}`,
        },
      });
      return;
    }
    const a: Active = { done: false, ac: null };
    this.#active.set(env.id, a);
    if (!this.#paused && this.#active.size >= core.maxInflightPerConn) {
      this.#paused = true;
      this.#conn.pauseReading();
    }
    const ctx = this.#context(env, a);
    const ok = (result: unknown) =>
      this.#finish(env.id, a, { kind: FrameKind.Response, id: env.id, type: reply, body: result });
    const fail = (e: unknown) => {
      a.pipe?.fail(e instanceof Error ? e : new Error(String(e)));
      this.#finish(env.id, a, {
        kind: FrameKind.Error,
        id: env.id,
        type: "error",
        body: errorBodyOf(e),
      });
    };
    if (stream) {
      const pipe = new BulkPipe(env.id, (f) => sendVia(core, this.#conn, f), (err) => {
        this.#finish(env.id, a, {
          kind: FrameKind.Error,
          id: env.id,
          type: "error",
          body: errorBodyOf(err),
        }, err);
      }, core.streamWindowBytes);
      a.pipe = pipe;
      (async () => {
        const result = await stream(env.body, pipe, ctx);
        await pipe.finishIfOpen();
        return result;
      })().then(ok, fail);
      return;
    }
    try {
      const r = handler!(env.body, ctx);
      if (r instanceof Promise) r.then(ok, fail);
      else ok(r);
    } catch (e) {
      fail(e);
    }
  }

  /** `T.reply` for `T`, remembered per type (a few dozen types, one string each). */
  #replyTypeOf(type: string): string {
    let r = this.#replyTypes.get(type);
    if (r === undefined) {
      r = replyType(type);
      if (this.#replyTypes.size < 1024) this.#replyTypes.set(type, r);
    }
    return r;
  }

  #finish(id: number, a: Active, frame: OutEnvelope, abortReason?: Error): void {
    if (a.done) return;
    a.done = true;
    if (a.timer !== undefined) clearTimeout(a.timer);
    if (abortReason) {
      a.ac?.abort(abortReason);
      a.pipe?.fail(abortReason);
    }
    if (this.#active.get(id) === a) this.#active.delete(id);
    if (this.#paused && this.#active.size < this.#core.maxInflightPerConn / 2) {
      this.#paused = false;
      this.#conn.resumeReading();
    }
    this.#send(frame);
  }

  #message(env: Envelope): void {
    const handler = this.#core.handlers.get(env.type);
    if (!handler) {
      this.#core.logger.debug("no handler for one-way {type} from {peer}", {
        type: env.type,
        peer: this.#conn.peerId,
      });
      return;
    }
    const a: Active = { done: true, ac: null };
    const report = (e: unknown) =>
      this.#core.logger.warn("handler of one-way {type} from {peer} failed: {error}", {
        type: env.type,
        peer: this.#conn.peerId,
        error: errorMessage(e),
      });
    try {
      const r = handler(env.body, this.#context(env, a));
      if (r instanceof Promise) r.catch(report);
    } catch (e) {
      report(e);
    }
  }

  #streamFrame(env: Envelope): void {
    const pipe = this.#active.get(env.id)?.pipe;
    if (!pipe) {
      this.#core.metrics.orphanReplies++;
      return;
    }
    if (env.type === "transport.data") pipe.onData(env.body as StreamDataMsg);
    else if (env.type === "transport.credit") pipe.onCredit(env.body as StreamCreditMsg);
  }

  #onClose(err?: Error): void {
    const reason = new TransportError(
      "peer_unavailable",
      `connection from ${this.#conn.peerId} closed${err ? `: ${err.message}` : ""}`,
    );
    for (const a of this.#active.values()) {
      a.done = true;
      if (a.timer !== undefined) clearTimeout(a.timer);
      a.ac?.abort(reason);
      a.pipe?.fail(reason);
    }
    this.#active.clear();
  }
}

/** The {@link HandlerContext} of one request; its abort signal is made on first use. */
class RequestContext implements HandlerContext {
  readonly peer: string;
  readonly type: string;
  readonly id: number;
  readonly deadlineMs?: number;
  readonly deadline?: number;
  readonly #session: ServerSession;
  readonly #active: Active;

  constructor(session: ServerSession, env: Envelope, a: Active) {
    this.#session = session;
    this.#active = a;
    this.peer = session.peerId;
    this.type = env.type;
    this.id = env.id;
    if (env.deadlineMs !== undefined) {
      this.deadlineMs = env.deadlineMs;
      this.deadline = Date.now() + env.deadlineMs;
    }
  }

  get signal(): AbortSignal {
    return this.#session.signalOf(this.id, this.#active, this.deadlineMs);
  }
}
