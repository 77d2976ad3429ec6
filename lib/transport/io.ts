/**
 * {@link ByteDuplex} adapters: a `node:net`/`node:tls` socket and a pair of
 * web streams (a QUIC bidirectional stream).
 *
 * @module
 */
import type { Socket } from "node:net";
import type { ByteDuplex } from "./channel.ts";

const RESOLVED = Promise.resolve();

/** Adapts a Node-style socket: writes resolve at once unless the socket asks to drain. */
export function socketDuplex(sock: Socket): ByteDuplex {
  let ended = false;
  let onEndCb: ((err?: Error) => void) | null = null;
  const finish = (err?: Error) => {
    if (ended) return;
    ended = true;
    onEndCb?.(err);
  };
  return {
    write(data) {
      if (sock.destroyed) return Promise.reject(new Error("socket is closed"));
      if (sock.write(data)) return RESOLVED;
      return new Promise<void>((resolve) => {
        const done = () => {
          sock.off("drain", done);
          sock.off("close", done);
          resolve();
        };
        sock.on("drain", done);
        sock.on("close", done);
      });
    },
    end() {
      return new Promise<void>((resolve) => sock.end(resolve));
    },
    destroy() {
      sock.destroy();
    },
    start(onData, onEnd) {
      onEndCb = onEnd;
      sock.on("data", (chunk: Uint8Array) => onData(chunk));
      sock.on("end", () => finish());
      sock.on("close", () => finish());
      sock.on("error", (e: Error) => finish(e));
    },
    pause() {
      sock.pause();
    },
    resume() {
      sock.resume();
    },
  };
}

/** Adapts a readable/writable pair, e.g. a `Deno.QuicBidirectionalStream`. */
export function webStreamDuplex(
  readable: ReadableStream<Uint8Array>,
  writable: WritableStream<Uint8Array>,
): ByteDuplex {
  const writer = writable.getWriter();
  const reader = readable.getReader();
  let paused: PromiseWithResolvers<void> | null = null;
  let destroyed = false;
  let writeError: Error | null = null;
  return {
    async write(data) {
      if (writeError) throw writeError;
      await writer.ready;
      writer.write(data).catch((e) => {
        writeError = e instanceof Error ? e : new Error(String(e));
      });
    },
    async end() {
      await writer.ready;
      await writer.close();
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      writer.abort().catch(() => {});
      reader.cancel().catch(() => {});
      paused?.resolve();
    },
    start(onData, onEnd) {
      (async () => {
        for (;;) {
          if (paused) await paused.promise;
          if (destroyed) return;
          const r = await reader.read();
          if (r.done) break;
          onData(r.value);
        }
        onEnd();
      })().catch((e) =>
        onEnd(destroyed ? undefined : e instanceof Error ? e : new Error(String(e)))
      );
    },
    pause() {
      if (!paused) paused = Promise.withResolvers<void>();
    },
    resume() {
      const p = paused;
      paused = null;
      p?.resolve();
    },
  };
}
