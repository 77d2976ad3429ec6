/**
 * Node logging on logtape: one category per subsystem
 * (`["elasticore", <subsystem>]`) with its level from `logs.level` /
 * `logs.levels`, JSON lines into rotating files under `<data_dir>/logs/`
 * (`node.jsonl`, format documented in `./format.ts`), and a human-readable
 * console format on stderr when asked (by default when stderr is a terminal).
 *
 * @module
 */
import {
  configure,
  getLogger as logtapeLogger,
  type Logger,
  reset,
  type Sink,
} from "@logtape/logtape";
import { join } from "node:path";
import { type Config, type Subsystem, SUBSYSTEMS } from "../config/schema.ts";
import { getRotatingFileSink } from "./file_sink.ts";
import { formatConsoleLine, formatJsonLine } from "./format.ts";

export {
  getRotatingFileSink,
  type RotatingFileSink,
  type RotatingFileSinkOptions,
} from "./file_sink.ts";
export {
  formatConsoleLine,
  formatJsonLine,
  renderMessage,
  subsystemOf,
  toJsonValue,
} from "./format.ts";
export { type Subsystem, SUBSYSTEMS };

/** Options of {@link setupLogging}. */
export interface LoggingOptions {
  /** Also log to stderr in the console format; default: when stderr is a terminal. */
  console?: boolean;
  /** Color the console output; default: when stderr is a terminal. */
  color?: boolean;
  /** How often the file sink flushes (ms); default 250. */
  flushIntervalMs?: number;
}

/** Running logging, returned by {@link setupLogging}. */
export interface Logging extends AsyncDisposable {
  /** Directory of the log files: `<data_dir>/logs`. */
  readonly dir: string;
  /** Writes buffered file records now. */
  flush(): void;
  /** Flushes and closes the sinks; loggers stop writing. */
  close(): Promise<void>;
}

/** A sink writing console lines to stderr synchronously. */
function stderrSink(color: boolean): Sink {
  const encoder = new TextEncoder();
  return (record) => {
    const data = encoder.encode(formatConsoleLine(record, color));
    let off = 0;
    while (off < data.length) off += Deno.stderr.writeSync(data.subarray(off));
  };
}

/**
 * Configures logtape for a node (replacing any earlier configuration): the
 * rotating JSON-lines file sink always, the console sink when asked.
 */
export async function setupLogging(config: Config, opts: LoggingOptions = {}): Promise<Logging> {
  const dir = join(config.node.data_dir, "logs");
  const tty = Deno.stderr.isTerminal();
  const file = getRotatingFileSink({
    dir,
    format: (r) => formatJsonLine(r, config.node.id),
    maxBytes: config.logs.file_max_bytes,
    maxAgeMs: config.logs.file_max_age_s * 1000,
    filesKept: config.logs.files_kept,
    flushIntervalMs: opts.flushIntervalMs,
  });
  const sinks: Record<string, Sink> = { file };
  if (opts.console ?? tty) sinks.console = stderrSink(opts.color ?? tty);
  const names = Object.keys(sinks);
  const levels = config.logs.levels;
  await configure({
    reset: true,
    sinks,
    loggers: [
      { category: ["elasticore"], sinks: names, lowestLevel: config.logs.level },
      ...SUBSYSTEMS.map((s) => ({
        category: ["elasticore", s],
        sinks: names,
        parentSinks: "override" as const,
        lowestLevel: levels[s] ?? config.logs.level,
      })),
      { category: ["logtape", "meta"], sinks: names, lowestLevel: "warning" },
    ],
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await reset();
  };
  return { dir, flush: () => file.flush(), close, [Symbol.asyncDispose]: close };
}

/** The logger of a subsystem: category `["elasticore", subsystem]`. */
export function getLogger(subsystem: Subsystem): Logger {
  return logtapeLogger(["elasticore", subsystem]);
}
