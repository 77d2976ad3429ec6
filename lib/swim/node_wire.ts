/**
 * What the SWIM shell ({@link SwimNode} in node.ts) puts on the wire around
 * the core's messages: the envelope of a gossip datagram payload, the RPC
 * message set (push/pull and the stream fallback ping with their replies),
 * gossip address parsing, and the seed discovery convention.
 *
 * Seed discovery: a seed is configured by its gossip address only, but the
 * stream transport must know a peer's node id (it authenticates the peer's
 * certificate against it) and its RPC address. The joining shell therefore
 * sends a `swim.ping` whose `target` is empty to the seed's gossip address;
 * the seed's shell answers with a `swim.ack` carrying the seed's own alive
 * update (id, incarnation, gossip address, metadata with the `rpc` address).
 * Discovery sequence numbers start at {@link DISCOVERY_SEQ_BASE}, far above
 * the core's own counter, so the two never collide. The core never sees
 * either message.
 *
 * @module
 */
import { decodePayload, encodeFrame, FrameKind, MessageRegistry } from "../../proto/codec.ts";
import type { Schema } from "../../proto/schema.ts";
import {
  Ack,
  type AliveUpdate,
  type MemberMeta,
  PushPull,
  type SwimDatagram,
  swimMessages,
} from "../../proto/swim.ts";
import { parseHostPort } from "../config/schema.ts";
import { ElasticoreError } from "../errors.ts";
import type { PeerAddress } from "../transport/types.ts";

/** RPC type of the full-state exchange (request and reply are both a `PushPull`). */
export const PUSH_PULL_RPC = "swim.push_pull";
/** RPC type of the stream fallback ping (request `Ping`, reply `Ack`). */
export const STREAM_PING_RPC = "swim.ping";

/**
 * Every message type the SWIM shell needs in the RPC registry: the SWIM
 * schemas plus the replies of the two requests. Register this record (not
 * `swimMessages` as well) in the node's `MessageRegistry`.
 */
export const swimRpcMessages = {
  ...swimMessages,
  "swim.push_pull.reply": PushPull,
  "swim.ping.reply": Ack,
} as const satisfies Record<string, Schema<unknown>>;

/** First sequence number of discovery pings (2^48; the core counts up from 1). */
export const DISCOVERY_SEQ_BASE = 2 ** 48;

/** The datagram message types (push/pull travels over the stream transport). */
const datagramRegistry = new MessageRegistry().register({
  "swim.ping": swimMessages["swim.ping"],
  "swim.ping_req": swimMessages["swim.ping_req"],
  "swim.ack": swimMessages["swim.ack"],
  "swim.nack": swimMessages["swim.nack"],
  "swim.gossip": swimMessages["swim.gossip"],
});

/** Encodes a SWIM datagram as a versioned envelope (a frame without its length prefix). */
export function encodeDatagram(msg: SwimDatagram, maxBytes: number): Uint8Array {
  const frame = encodeFrame(
    { kind: FrameKind.Message, id: 0, type: msg.type, body: msg.body },
    { maxFrameBytes: maxBytes },
  );
  return frame.subarray(4);
}

/** A decoded datagram: its type and validated body, or the reason it was refused. */
export type DecodedDatagram =
  | { ok: true; type: string; body: Record<string, unknown> }
  | { ok: false; reason: string };

/** Decodes and validates a datagram payload; never throws. */
export function decodeDatagram(payload: Uint8Array, maxBytes: number): DecodedDatagram {
  const r = decodePayload(payload, datagramRegistry, { maxFrameBytes: maxBytes });
  if (!r.ok) return { ok: false, reason: r.error.code };
  if (r.value.kind !== FrameKind.Message) return { ok: false, reason: "bad_kind" };
  const body = r.value.body;
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, reason: "bad_field" };
  }
  return { ok: true, type: r.value.type, body: body as Record<string, unknown> };
}

/** Parses a `host:port` (or `[v6]:port`) address; throws a typed error naming `what`. */
export function parseAddr(addr: string, what = "address"): PeerAddress {
  const hp = parseHostPort(addr);
  if (!hp) {
    throw new ElasticoreError(
      "swim_bad_address",
      `${what} ${JSON.stringify(addr)} is not host:port`,
    );
  }
  return { hostname: hp.host, port: hp.port };
}

/** Formats a host and port as an address (brackets around IPv6 literals). */
export function formatAddr(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** What a discovery answer tells about a seed. */
export interface SeedIdentity {
  /** The seed's node id. */
  id: string;
  /** Its RPC (stream transport) address. */
  rpc: PeerAddress;
}

/**
 * Reads a discovery answer: the ack's sender must have put its own alive
 * update, with an `rpc` address in its metadata, among the piggybacked
 * updates. Returns undefined for any other ack.
 */
export function seedFromAck(from: string, body: Record<string, unknown>): SeedIdentity | undefined {
  const gossip = body.gossip;
  if (!Array.isArray(gossip)) return undefined;
  for (const u of gossip as unknown[]) {
    if (typeof u !== "object" || u === null) continue;
    const a = u as Partial<AliveUpdate>;
    if (a.t !== "alive" || a.id !== from) continue;
    const rpc = a.meta?.rpc;
    if (typeof rpc !== "string") return undefined;
    const hp = parseHostPort(rpc);
    return hp ? { id: from, rpc: { hostname: hp.host, port: hp.port } } : undefined;
  }
  return undefined;
}

/** Metadata a node gossips about itself: roles, addresses and version. */
export interface NodeMetaInput {
  /** Roles, e.g. `["master", "worker"]`. */
  roles: readonly string[];
  /** RPC address `host:port` (required: push/pull and stream pings use it). */
  rpc: string;
  /** HTTPS API address `host:port`, when the node serves one. */
  api?: string;
  /** Software version. */
  version: string;
}

/** Builds the gossiped metadata record (`roles` comma-separated). */
export function nodeMeta(input: NodeMetaInput): MemberMeta {
  const meta: MemberMeta = { roles: input.roles.join(","), rpc: input.rpc, version: input.version };
  if (input.api !== undefined) meta.api = input.api;
  return meta;
}

/**
 * The shell's clock: `performance.timeOrigin + performance.now()`, monotonic
 * and close to Unix milliseconds.
 */
export function swimClock(): number {
  return performance.timeOrigin + performance.now();
}
