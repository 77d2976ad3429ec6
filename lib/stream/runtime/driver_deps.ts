/**
 * What a job driver (`job_driver.ts`) needs from its job manager: the RPC endpoint, stores,
 * the worker directory and the tuning of its tasks.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { Rpc } from "../../transport/mod.ts";
import type { WorkerInfo } from "./directory.ts";
import type { StreamFs } from "./fs.ts";
import type { MetaStore } from "./meta.ts";

/** Task id to worker id. */
export type Assignment = Readonly<Record<string, string>>;

/** What a driver needs from its job manager. */
export interface DriverDeps {
  /** The RPC endpoint. */
  rpc: Rpc;
  /** Job records and manifests. */
  meta: MetaStore;
  /** Files. */
  fs: StreamFs;
  /** Where to log. */
  logger?: Logger;
  /** Live workers. */
  workers(): WorkerInfo[];
  /** Tasks per worker of every other job. */
  load(except: string): Map<string, number>;
  /** A deploy to `worker` failed: it is probably dead. */
  suspect(worker: string): void;
  /** The part of an assignment that stays when it is balanced over `workers`. */
  balance(assignment: Assignment, workers: readonly WorkerInfo[]): Record<string, string>;
  /** Records per batch. */
  batchSize: number;
  /** Credit window per channel, in records. */
  creditWindow: number;
  /** Coordinator tick period in ms. */
  tickMs: number;
  /** Restarts after which a job fails. */
  maxRestarts: number;
  /** Stall timeout override (default {@link stallTimeoutMs} of the job's checkpoint timeout). */
  stallTimeoutMs?: number;
  /** Called when the job's state changed. */
  changed(): void;
}
