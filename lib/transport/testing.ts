/**
 * Test support for code that uses the transport: a throw-away cluster CA
 * with node identities, and RPC nodes on 127.0.0.1 ephemeral ports. Used by
 * this layer's tests and benchmarks and by other subsystems' integration
 * tests.
 *
 * @module
 */
import { MessageRegistry } from "../../proto/codec.ts";
import type { Schema } from "../../proto/schema.ts";
import { type ClusterCa, createClusterCa, issueNodeCertificate } from "../security/pki.ts";
import type { TransportLogger } from "./metrics.ts";
import { createTransport } from "./mod.ts";
import { Rpc, type RpcOptions } from "./rpc.ts";
import type { NodeIdentity, TransportKind, TransportOptions } from "./types.ts";

/** A logger that keeps every record (tests assert on what was logged). */
export class MemoryLogger implements TransportLogger {
  /** Records as `level message props`. */
  readonly records: { level: string; message: string; props?: Record<string, unknown> }[] = [];
  /** Records a debug line. */
  debug(message: string, props?: Record<string, unknown>): void {
    this.records.push({ level: "debug", message, props });
  }
  /** Records an info line. */
  info(message: string, props?: Record<string, unknown>): void {
    this.records.push({ level: "info", message, props });
  }
  /** Records a warning. */
  warn(message: string, props?: Record<string, unknown>): void {
    this.records.push({ level: "warn", message, props });
  }
  /** Records an error. */
  error(message: string, props?: Record<string, unknown>): void {
    this.records.push({ level: "error", message, props });
  }
  /** Whether a warning whose props mention `reason` was logged. */
  warned(reason: string): boolean {
    return this.records.some((r) => r.level === "warn" && JSON.stringify(r.props).includes(reason));
  }
}

/** A cluster CA able to issue node identities. */
export interface TestPki {
  /** The CA. */
  ca: ClusterCa;
  /** Issues an identity for `nodeId` valid for 127.0.0.1 (options pass through). */
  identity(
    nodeId: string,
    opts?: { notBefore?: Date; notAfter?: Date },
  ): Promise<NodeIdentity>;
}

/** Creates a fresh CA named `name`. */
export async function testPki(name = "test-ca"): Promise<TestPki> {
  const ca = await createClusterCa({ name });
  return {
    ca,
    async identity(nodeId, opts = {}) {
      const c = await issueNodeCertificate(ca, { nodeId, hosts: ["127.0.0.1"], ...opts });
      return { nodeId, caPem: ca.certPem, certPem: c.certPem, keyPem: c.keyPem };
    },
  };
}

/** A running RPC node for tests. */
export interface TestNode {
  /** The RPC layer. */
  rpc: Rpc;
  /** Its address. */
  addr: { hostname: string; port: number };
  /** The logger it writes to. */
  logger: MemoryLogger;
  /** Its registry. */
  registry: MessageRegistry;
}

/** Starts an RPC node with `identity` on an ephemeral (or given) port. */
export async function startTestNode(opts: {
  kind: TransportKind;
  identity: NodeIdentity;
  messages: Record<string, Schema<unknown>>;
  port?: number;
  cluster?: string;
  transport?: Partial<TransportOptions>;
  rpc?: Partial<RpcOptions>;
  /** Set to false for a client-only node (default true). */
  listen?: boolean;
}): Promise<TestNode> {
  const logger = new MemoryLogger();
  const registry = new MessageRegistry().register(opts.messages);
  const transport = createTransport(opts.kind, {
    identity: opts.identity,
    cluster: opts.cluster ?? "test",
    registry,
    port: opts.port ?? 0,
    connectTimeoutMs: 1500,
    logger,
    ...opts.transport,
  });
  const rpc = new Rpc({ transport, registry, logger, backoffBaseMs: 20, ...opts.rpc });
  const addr = opts.listen === false ? { hostname: "127.0.0.1", port: 0 } : await rpc.start();
  return { rpc, addr, logger, registry };
}
