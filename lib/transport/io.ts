/**
 * {@link ByteDuplex} adapters: a `node:net`/`node:tls` socket and a pair of
 * web streams (a QUIC bidirectional stream).
 *
 * @module
 */
import type { Socket } from "node:net";
import type { ByteDuplex } from "./channel.ts";

const RESOLVED = Promise.resolve();

/**
 * Bytes a socket (or stream) may hold unwritten before a write waits for it to drain.
 * Node's own mark (16 KiB) would stall the writer after every batch; this
 * keeps a few batches in flight per connection.
 */
const SOCKET_BUFFER_BYTES = 1024 * 1024;

/**
 * Adapts a Node-style socket: writes resolve at once unless the socket holds
 * more than {@link SOCKET_BUFFER_BYTES} unwritten, then once it drained.
 */
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
      if (sock.write(data) || sock.writableLength < SOCKET_BUFFER_BYTES) return RESOLVED;
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

/**
 * Adapts a readable/writable pair, e.g. a `Deno.QuicBidirectionalStream`:
 * writes resolve at once while less than {@link SOCKET_BUFFER_BYTES} are
 * unwritten, else once the writable is ready.
 */
export function webStreamDuplex(
  readable: ReadableStream<Uint8Array>,
  writable: WritableStream<Uint8Array>,
): ByteDuplex {
  const writer = writable.getWriter();
  const reader = readable.getReader();
  let paused: PromiseWithResolvers<void> | null = null;
  let destroyed = false;
  let writeError: Error | null = null;
  let unwritten = 0;
  return {
    async write(data) {
      if (writeError) throw writeError;
      // Several writes may be in flight (up to the same byte bound as a socket's buffer).
      if (unwritten >= SOCKET_BUFFER_BYTES) await writer.ready;
      const n = data.byteLength;
      unwritten += n;
      writer.write(data).then(() => {
        unwritten -= n;
      }, (e) => {
        unwritten -= n;
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
