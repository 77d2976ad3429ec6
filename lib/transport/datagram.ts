/**
 * Encrypted gossip datagrams over UDP (`Deno.listenDatagram`).
 *
 * Wire format of one datagram:
 * `[version=1][key id][nonce: 12 bytes][AES-256-GCM ciphertext + 16-byte tag]`;
 * the plaintext is `[sender id length][sender id][payload]`. The
 * additional authenticated data is the two header bytes followed by the
 * cluster label, so a datagram from another cluster, or with a tampered
 * header, fails authentication. The key id is the first byte of SHA-256 of
 * the key: a hint to try the right key first. Sealing uses the keyring's
 * primary key; opening tries every key, so keys rotate without downtime
 * (add the new key, make it primary, drop the old one). A datagram that
 * fails any check is dropped and counted, never thrown.
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";
import { errorMessage } from "./errors.ts";
import type { FaultInjector } from "./faults.ts";
import { bump, defaultTransportLogger, type TransportLogger } from "./metrics.ts";
import { NODE_ID_PATTERN, type PeerAddress } from "./types.ts";

/** Datagram format version. */
export const DATAGRAM_VERSION = 1;
/** Header bytes before the ciphertext: version, key id, nonce. */
export const DATAGRAM_HEADER_BYTES = 2 + 12;
/** AES-GCM tag bytes. */
export const DATAGRAM_TAG_BYTES = 16;
/** Default maximum datagram size (fits a typical 1500-byte MTU). */
export const DEFAULT_MAX_DATAGRAM_BYTES = 1400;
/** Largest UDP payload over IPv4. */
export const MAX_UDP_PAYLOAD = 65507;

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/** Why a datagram was dropped. */
export type DatagramDropReason =
  | "too_large"
  | "too_short"
  | "bad_version"
  | "auth_failed"
  | "bad_sender"
  | "fault";

/** The result of opening a datagram. */
export type OpenResult =
  | { ok: true; from: string; payload: Uint8Array }
  | { ok: false; reason: DatagramDropReason };

interface RingKey {
  id: number;
  key: CryptoKey;
}

/**
 * Seals and opens datagrams with a keyring (sans-I/O: no sockets; the nonce
 * source is injectable for tests).
 */
export class DatagramCodec {
  readonly #aad: Uint8Array;
  readonly #maxBytes: number;
  readonly #randomNonce: () => Uint8Array;
  #keys: RingKey[] = [];

  private constructor(cluster: string, maxBytes: number, randomNonce: () => Uint8Array) {
    this.#aad = enc.encode(cluster);
    this.#maxBytes = maxBytes;
    this.#randomNonce = randomNonce;
  }

  /** Creates a codec for `cluster` with `keys` (raw AES-256 keys, primary first). */
  static async create(opts: {
    keys: Uint8Array[];
    cluster: string;
    maxDatagramBytes?: number;
    randomNonce?: () => Uint8Array;
  }): Promise<DatagramCodec> {
    const max = opts.maxDatagramBytes ?? DEFAULT_MAX_DATAGRAM_BYTES;
    if (!Number.isInteger(max) || max < 64 || max > MAX_UDP_PAYLOAD) {
      throw new ElasticoreError(
        "datagram_bad_size",
        `maxDatagramBytes must be an integer in 64..${MAX_UDP_PAYLOAD}, got ${max}`,
      );
    }
    const c = new DatagramCodec(
      opts.cluster,
      max,
      opts.randomNonce ?? (() => crypto.getRandomValues(new Uint8Array(12))),
    );
    await c.setKeys(opts.keys);
    return c;
  }

  /** Largest datagram sealed or accepted. */
  get maxDatagramBytes(): number {
    return this.#maxBytes;
  }

  /** Largest payload {@link seal} accepts for sender `from`. */
  maxPayloadBytes(from: string): number {
    return this.#maxBytes - DATAGRAM_HEADER_BYTES - DATAGRAM_TAG_BYTES - 1 -
      enc.encode(from).length;
  }

  /** Replaces the keyring (primary first). Keys must be 32 bytes. */
  async setKeys(keys: Uint8Array[]): Promise<void> {
    if (keys.length === 0) {
      throw new ElasticoreError("keyring_empty", "the gossip keyring has no keys");
    }
    const ring: RingKey[] = [];
    for (const [i, raw] of keys.entries()) {
      if (raw.byteLength !== 32) {
        throw new ElasticoreError(
          "keyring_bad_key",
          `gossip key ${i + 1} has ${raw.byteLength} bytes; AES-256 needs 32`,
        );
      }
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", raw as BufferSource));
      const key = await crypto.subtle.importKey("raw", raw as BufferSource, "AES-GCM", false, [
        "encrypt",
        "decrypt",
      ]);
      ring.push({ id: digest[0], key });
    }
    this.#keys = ring;
  }

  #aadFor(header: Uint8Array): Uint8Array {
    const aad = new Uint8Array(2 + this.#aad.length);
    aad.set(header.subarray(0, 2), 0);
    aad.set(this.#aad, 2);
    return aad;
  }

  /** Encrypts `payload` from node `from` with the primary key. Throws if too large. */
  async seal(from: string, payload: Uint8Array): Promise<Uint8Array> {
    const id = enc.encode(from);
    if (id.length === 0 || id.length > 255) {
      throw new ElasticoreError(
        "datagram_bad_sender",
        `sender id ${JSON.stringify(from)} is invalid`,
      );
    }
    const size = DATAGRAM_HEADER_BYTES + DATAGRAM_TAG_BYTES + 1 + id.length + payload.byteLength;
    if (size > this.#maxBytes) {
      throw new ElasticoreError(
        "datagram_too_large",
        `datagram of ${size} bytes exceeds the maximum of ${this.#maxBytes}`,
      );
    }
    const primary = this.#keys[0];
    const plain = new Uint8Array(1 + id.length + payload.byteLength);
    plain[0] = id.length;
    plain.set(id, 1);
    plain.set(payload, 1 + id.length);
    const nonce = this.#randomNonce();
    const out = new Uint8Array(size);
    out[0] = DATAGRAM_VERSION;
    out[1] = primary.id;
    out.set(nonce, 2);
    const sealed = await crypto.subtle.encrypt(
      {
        name: "AES-GCM",
        iv: nonce as BufferSource,
        additionalData: this.#aadFor(out) as BufferSource,
      },
      primary.key,
      plain,
    );
    out.set(new Uint8Array(sealed), DATAGRAM_HEADER_BYTES);
    return out;
  }

  /** Authenticates and decrypts a datagram; never throws. */
  async open(data: Uint8Array): Promise<OpenResult> {
    if (data.byteLength > this.#maxBytes) return { ok: false, reason: "too_large" };
    if (data.byteLength < DATAGRAM_HEADER_BYTES + DATAGRAM_TAG_BYTES + 2) {
      return { ok: false, reason: "too_short" };
    }
    if (data[0] !== DATAGRAM_VERSION) return { ok: false, reason: "bad_version" };
    const hint = data[1];
    const params: AesGcmParams = {
      name: "AES-GCM",
      iv: data.slice(2, DATAGRAM_HEADER_BYTES),
      additionalData: this.#aadFor(data) as BufferSource,
    };
    const body = data.subarray(DATAGRAM_HEADER_BYTES);
    const ordered = [
      ...this.#keys.filter((k) => k.id === hint),
      ...this.#keys.filter((k) => k.id !== hint),
    ];
    for (const k of ordered) {
      let plain: Uint8Array;
      try {
        plain = new Uint8Array(await crypto.subtle.decrypt(params, k.key, body as BufferSource));
      } catch {
        continue;
      }
      if (plain.length === 0) return { ok: false, reason: "bad_sender" };
      const n = plain[0];
      if (n === 0 || plain.length < 1 + n) return { ok: false, reason: "bad_sender" };
      let from: string;
      try {
        from = dec.decode(plain.subarray(1, 1 + n));
      } catch {
        return { ok: false, reason: "bad_sender" };
      }
      if (!NODE_ID_PATTERN.test(from)) return { ok: false, reason: "bad_sender" };
      return { ok: true, from, payload: plain.subarray(1 + n) };
    }
    return { ok: false, reason: "auth_failed" };
  }
}

/** A received, authenticated datagram. */
export interface GossipDatagram {
  /** The sender's node id (authenticated). */
  from: string;
  /** Where it came from. */
  addr: PeerAddress;
  /** The decrypted payload. */
  payload: Uint8Array;
}

/** Options of {@link DatagramTransport.listen}. */
export interface DatagramOptions {
  /** This node's id (sent, authenticated, in every datagram). */
  nodeId: string;
  /** Raw AES-256 keys, primary first. */
  keys: Uint8Array[];
  /** Cluster label (authenticated, not sent). */
  cluster: string;
  /** Address to bind (default 127.0.0.1). */
  hostname?: string;
  /** Port to bind (default 0 = ephemeral). */
  port?: number;
  /** Largest datagram (default 1400). */
  maxDatagramBytes?: number;
  /** Fault injector shared with the RPC layer. */
  faults?: FaultInjector;
  /** Logger (default: logtape category elasticore/transport). */
  logger?: TransportLogger;
}

/** The UDP shell around a {@link DatagramCodec}; counters are plain fields. */
export class DatagramTransport {
  /** Datagrams sent. */
  sent = 0;
  /** Datagrams received and accepted. */
  received = 0;
  /** Datagrams dropped (all reasons). */
  dropped = 0;
  /** Dropped datagrams by reason. */
  readonly droppedByReason = new Map<string, number>();
  /** Sends that failed at the socket. */
  sendErrors = 0;
  /** The bound address. */
  readonly addr: PeerAddress;
  /** The codec (exposed for key rotation: `setKeys`). */
  readonly codec: DatagramCodec;
  readonly #conn: Deno.DatagramConn;
  readonly #nodeId: string;
  readonly #faults?: FaultInjector;
  readonly #logger: TransportLogger;
  #handler: ((d: GossipDatagram) => void) | null = null;
  #closed = false;

  private constructor(conn: Deno.DatagramConn, codec: DatagramCodec, opts: DatagramOptions) {
    this.#conn = conn;
    this.codec = codec;
    this.#nodeId = opts.nodeId;
    this.#faults = opts.faults;
    this.#logger = opts.logger ?? defaultTransportLogger();
    const a = conn.addr as Deno.NetAddr;
    this.addr = { hostname: a.hostname, port: a.port };
  }

  /** Binds the socket and starts receiving. */
  static async listen(opts: DatagramOptions): Promise<DatagramTransport> {
    const codec = await DatagramCodec.create(opts);
    const conn = Deno.listenDatagram({
      transport: "udp",
      hostname: opts.hostname ?? "127.0.0.1",
      port: opts.port ?? 0,
    });
    const t = new DatagramTransport(conn, codec, opts);
    t.#loop();
    return t;
  }

  /** Sets the receiver of accepted datagrams. */
  onDatagram(handler: (d: GossipDatagram) => void): void {
    this.#handler = handler;
  }

  /**
   * Seals and sends `payload` to `to`. `peer` names the destination node for
   * the fault injector (default: `host:port`). Throws when it is too large.
   */
  async send(to: PeerAddress, payload: Uint8Array, peer?: string): Promise<void> {
    const data = await this.codec.seal(this.#nodeId, payload);
    const key = peer ?? `${to.hostname}:${to.port}`;
    const write = async () => {
      try {
        await this.#conn.send(data, { transport: "udp", hostname: to.hostname, port: to.port });
        this.sent++;
      } catch (e) {
        this.sendErrors++;
        this.#logger.debug("datagram to {to} not sent: {error}", {
          to: key,
          error: errorMessage(e),
        });
      }
    };
    if (this.#faults?.active) await this.#faults.apply(key, write);
    else await write();
  }

  #drop(reason: DatagramDropReason, from: string): void {
    this.dropped++;
    bump(this.droppedByReason, reason);
    if (reason !== "fault") {
      this.#logger.debug("dropped datagram from {from}: {reason}", { from, reason });
    }
  }

  async #loop(): Promise<void> {
    const buf = this.#conn;
    try {
      for (;;) {
        const [data, addr] = await buf.receive();
        const a = addr as Deno.NetAddr;
        const where = `${a.hostname}:${a.port}`;
        const res = await this.codec.open(data);
        if (!res.ok) {
          this.#drop(res.reason, where);
          continue;
        }
        if (this.#faults?.active && this.#faults.dropInbound(res.from)) {
          this.#drop("fault", where);
          continue;
        }
        this.received++;
        try {
          this.#handler?.({
            from: res.from,
            addr: { hostname: a.hostname, port: a.port },
            payload: res.payload,
          });
        } catch (e) {
          this.#logger.error("datagram handler failed: {error}", { error: errorMessage(e) });
        }
      }
    } catch (e) {
      if (!this.#closed) {
        this.#logger.error("datagram socket failed: {error}", { error: errorMessage(e) });
      }
    }
  }

  /** Closes the socket. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#conn.close();
  }
}
