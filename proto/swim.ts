/**
 * Wire messages of the SWIM membership protocol (`lib/swim`), version 1.
 *
 * Datagrams (ping, ping-req, ack, nack, gossip) carry a bounded list of
 * piggybacked membership updates; the periodic full-state exchange
 * (push/pull) travels over the stream transport. {@link swimMessages} is the
 * registry record the datagram and stream transports register, so they carry
 * exactly these shapes.
 *
 * @module
 */
import {
  array,
  bool,
  type Infer,
  object,
  oneOf,
  optional,
  record,
  type Schema,
  SchemaError,
  str,
  uint,
} from "./schema.ts";

/** Longest node id accepted on the wire. */
export const MAX_ID_CHARS = 128;
/** Longest gossip address (`host:port`) accepted on the wire. */
export const MAX_ADDR_CHARS = 256;
/** Most piggybacked updates in one datagram. */
export const MAX_UPDATES_PER_DATAGRAM = 256;
/** Most members in one push/pull state. */
export const MAX_PUSH_PULL_MEMBERS = 65536;
/** Most metadata entries per member. */
export const MAX_META_ENTRIES = 16;
/** Longest metadata string value. */
export const MAX_META_VALUE_CHARS = 256;

const id = str(MAX_ID_CHARS);
const addr = str(MAX_ADDR_CHARS);

/** A metadata value: a bounded string or a finite non-negative integer. */
export const metaValue: Schema<string | number> = {
  describe: `string<=${MAX_META_VALUE_CHARS}|uint`,
  parse(v, path = "") {
    if (typeof v === "string") {
      if (v.length > MAX_META_VALUE_CHARS) {
        throw new SchemaError(path, `string longer than ${MAX_META_VALUE_CHARS}`);
      }
      return v;
    }
    return uint.parse(v, path);
  },
};

/**
 * Member metadata: a small record of strings and numbers, e.g.
 * `{ roles: "master,worker", rpc: "10.0.0.1:7400", api: "10.0.0.1:7443", dfs_capacity: 1e9,
 * version: "0.1.0" }`.
 */
export const MemberMeta = record(metaValue, MAX_META_ENTRIES, 64);
/** Member metadata (see {@link MemberMeta}). */
export type MemberMeta = Infer<typeof MemberMeta>;

/** "Node `id` is alive at incarnation `inc`, reachable at `addr`, with `meta`." */
export const AliveUpdate = object({
  t: oneOf(["alive"]),
  id,
  inc: uint,
  addr,
  meta: MemberMeta,
});
/** An alive update. */
export type AliveUpdate = Infer<typeof AliveUpdate>;

/** "`from` suspects node `id` at incarnation `inc`." */
export const SuspectUpdate = object({ t: oneOf(["suspect"]), id, inc: uint, from: id });
/** A suspect update. */
export type SuspectUpdate = Infer<typeof SuspectUpdate>;

/** "`from` declared node `id` dead at incarnation `inc`." */
export const DeadUpdate = object({ t: oneOf(["dead"]), id, inc: uint, from: id });
/** A dead update. */
export type DeadUpdate = Infer<typeof DeadUpdate>;

/** "Node `id` left the cluster gracefully at incarnation `inc`." */
export const LeftUpdate = object({ t: oneOf(["left"]), id, inc: uint });
/** A left update. */
export type LeftUpdate = Infer<typeof LeftUpdate>;

/** One membership update, as gossiped. */
export type Update = AliveUpdate | SuspectUpdate | DeadUpdate | LeftUpdate;

const updateSchemas: Record<Update["t"], Schema<Update>> = {
  alive: AliveUpdate,
  suspect: SuspectUpdate,
  dead: DeadUpdate,
  left: LeftUpdate,
};

/** Any {@link Update}, discriminated by its `t` field. */
export const Update: Schema<Update> = {
  describe: "alive|suspect|dead|left update",
  parse(v, path = "") {
    if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) {
      throw new SchemaError(path, "expected an update object");
    }
    const t = (v as Record<string, unknown>).t;
    const s = typeof t === "string" && Object.hasOwn(updateSchemas, t)
      ? updateSchemas[t as Update["t"]]
      : undefined;
    if (!s) {
      throw new SchemaError(`${path}.t`, `expected alive|suspect|dead|left, got ${String(t)}`);
    }
    return s.parse(v, path);
  },
};

const gossip = optional(array(Update, MAX_UPDATES_PER_DATAGRAM));

/** Direct probe: "are you `target`? answer with an ack carrying `seq`". */
export const Ping = object({ seq: uint, from: id, target: id, gossip });
/** A ping. */
export type Ping = Infer<typeof Ping>;

/** Indirect probe request: "ping `target` at `targetAddr` for me". */
export const PingReq = object({
  seq: uint,
  from: id,
  target: id,
  targetAddr: addr,
  nack: bool,
  gossip,
});
/** A ping-req. */
export type PingReq = Infer<typeof PingReq>;

/** Answer to a ping (or forwarded answer of an indirect ping). */
export const Ack = object({ seq: uint, from: id, gossip });
/** An ack. */
export type Ack = Infer<typeof Ack>;

/** Lifeguard: "I relayed your ping-req `seq` but got no ack in time". */
export const Nack = object({ seq: uint, from: id, gossip });
/** A nack. */
export type Nack = Infer<typeof Nack>;

/** A datagram carrying only piggybacked updates (the gossip interval). */
export const Gossip = object({ from: id, gossip: array(Update, MAX_UPDATES_PER_DATAGRAM) });
/** A gossip datagram. */
export type Gossip = Infer<typeof Gossip>;

/** One member's full state in a push/pull exchange. */
export const MemberState = object({
  id,
  addr,
  inc: uint,
  state: oneOf(["alive", "suspect", "dead", "left"]),
  meta: MemberMeta,
});
/** A member's full state. */
export type MemberState = Infer<typeof MemberState>;

/** Full-state exchange over a stream; `join` is set by a node joining through a seed. */
export const PushPull = object({
  from: id,
  join: bool,
  members: array(MemberState, MAX_PUSH_PULL_MEMBERS),
});
/** A push/pull state. */
export type PushPull = Infer<typeof PushPull>;

/** Every SWIM message type and its schema: register this in a `MessageRegistry`. */
export const swimMessages = {
  "swim.ping": Ping,
  "swim.ping_req": PingReq,
  "swim.ack": Ack,
  "swim.nack": Nack,
  "swim.gossip": Gossip,
  "swim.push_pull": PushPull,
} as const satisfies Record<string, Schema<unknown>>;

/** The registered message type names. */
export type SwimMessageType = keyof typeof swimMessages;

/** A typed SWIM datagram: its registry type and its body. */
export type SwimDatagram =
  | { type: "swim.ping"; body: Ping }
  | { type: "swim.ping_req"; body: PingReq }
  | { type: "swim.ack"; body: Ack }
  | { type: "swim.nack"; body: Nack }
  | { type: "swim.gossip"; body: Gossip };

/**
 * An upper bound of the msgpack size of `u` in bytes (the codec never
 * produces more), used to fill datagrams without encoding inside the core.
 */
export function updateSizeBound(u: Update): number {
  // map header + the key "t" and the kind string + key/value of id and inc
  let n = 1 + 2 + (2 + u.t.length) + 3 + strBound(u.id) + 4 + 9;
  if (u.t === "alive") n += 5 + strBound(u.addr) + 5 + metaSizeBound(u.meta);
  else if (u.t !== "left") n += 5 + strBound(u.from);
  return n;
}

/** An upper bound of the msgpack size of a metadata record. */
export function metaSizeBound(meta: MemberMeta): number {
  let n = 3;
  for (const k in meta) {
    const v = meta[k];
    n += strBound(k) + (typeof v === "string" ? strBound(v) : 9);
  }
  return n;
}

function strBound(s: string): number {
  // UTF-8 length (a surrogate pair counts 6 ≥ its 4 bytes) + the largest str header
  let n = 5;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
  }
  return n;
}
