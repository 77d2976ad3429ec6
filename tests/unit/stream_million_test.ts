/**
 * app1 and app2 over 1,000,000 generated traffic-sign rows (fixed seed) and
 * over the real `TrafficSigns_1000.csv`, run through the stream operators
 * (`runJobLocally`, built-in and user-operator specs), must equal an
 * independent computation written here: its own quoted-field CSV reader
 * (not `lib/stream/csv.ts`) and a plain loop.
 */
import assert from "node:assert/strict";
import {
  app1Spec,
  app1UserSpec,
  app2Spec,
  app2UserSpec,
  appUserModules,
} from "../../lib/stream/apps.ts";
import { builtinModel, TrafficSignGenerator } from "../../lib/stream/gen.ts";
import { type LocalInput, readerForSource, runJobLocally } from "../../lib/stream/local.ts";
import { OperatorChain } from "../../lib/stream/operators/chain.ts";
import type { UserModule } from "../../lib/stream/operators/user.ts";
import { planJob } from "../../lib/stream/plan.ts";
import type { JobSpec } from "../../lib/stream/spec.ts";
import type { StreamRecord } from "../../lib/stream/record.ts";

const ROWS = 1_000_000;
const SEED = 424242;
const BATCH = 16_384;
const REAL_FILE = new URL("../../../shared/data/TrafficSigns_1000.csv", import.meta.url);

/**
 * A tiny CSV reader, independent of the product's: fields split on commas,
 * a field opening with `"` runs to the next lone `"` (`""` is a quote) and may
 * hold commas and line breaks. Fed text chunks; calls `row` for each
 * complete row.
 */
class TinyCsv {
  #field = "";
  #fields: string[] = [];
  #quoted = false;
  #afterQuote = false;
  #atFieldStart = true;

  constructor(private readonly row: (fields: string[]) => void) {}

  push(text: string): void {
    let start = 0;
    const n = text.length;
    let i = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (this.#quoted) {
        if (c === 34) {
          this.#field += text.slice(start, i);
          if (i + 1 < n && text.charCodeAt(i + 1) === 34) {
            this.#field += '"';
            i += 2;
            start = i;
            continue;
          }
          if (i + 1 >= n) {
            // A quote at the chunk's end: decide with the next chunk.
            this.#afterQuote = true;
            this.#quoted = false;
            i++;
            start = i;
            continue;
          }
          this.#quoted = false;
          i++;
          start = i;
          continue;
        }
        i++;
        continue;
      }
      if (this.#afterQuote) {
        this.#afterQuote = false;
        if (c === 34) {
          this.#field += '"';
          this.#quoted = true;
          i++;
          start = i;
          continue;
        }
      }
      if (c === 34 && this.#atFieldStart && i === start) {
        this.#quoted = true;
        this.#atFieldStart = false;
        i++;
        start = i;
        continue;
      }
      if (c === 44) {
        this.#fields.push(this.#field + text.slice(start, i));
        this.#field = "";
        this.#atFieldStart = true;
        i++;
        start = i;
        continue;
      }
      if (c === 10) {
        let end = i;
        if (end > start && text.charCodeAt(end - 1) === 13) end--;
        this.#fields.push(this.#field + text.slice(start, end));
        this.#field = "";
        this.#atFieldStart = true;
        const fields = this.#fields;
        this.#fields = [];
        if (!(fields.length === 1 && fields[0] === "")) this.row(fields);
        i++;
        start = i;
        continue;
      }
      this.#atFieldStart = false;
      i++;
    }
    this.#field += text.slice(start, n);
  }
}

/** The expected outputs of app1 (OBJECTID, Sign_Type in input order) and app2 (running counts). */
interface Expected {
  rows: number;
  app1: string[];
  app2: string[];
  finalCounts: Map<string, number>;
}

/** The independent computation: a tiny reader and a plain loop over the rows. */
class Reference {
  readonly out: Expected = { rows: 0, app1: [], app2: [], finalCounts: new Map() };
  #cols: Map<string, number> | undefined;
  readonly #csv = new TinyCsv((f) => this.#row(f));
  readonly #dec = new TextDecoder();

  constructor(readonly pattern: string, readonly signPost: string) {}

  push(chunk: string | Uint8Array): void {
    this.#csv.push(typeof chunk === "string" ? chunk : this.#dec.decode(chunk, { stream: true }));
  }

  #row(f: string[]): void {
    if (!this.#cols) {
      this.#cols = new Map(f.map((name, i) => [name, i]));
      return;
    }
    const c = this.#cols;
    const at = (name: string) => f[c.get(name)!] ?? "";
    this.out.rows++;
    const type = at("Sign_Type");
    if (type.includes(this.pattern)) this.out.app1.push(`${at("OBJECTID")}\t${type}`);
    if (at("Sign_Post") === this.signPost) {
      const cat = at("Category");
      const n = (this.out.finalCounts.get(cat) ?? 0) + 1;
      this.out.finalCounts.set(cat, n);
      this.out.app2.push(`${cat}\t${n}`);
    }
  }
}

function app1Lines(recs: readonly StreamRecord[]): string[] {
  return recs.map((r) => `${r.OBJECTID}\t${r.Sign_Type}`);
}

function app2Lines(recs: readonly StreamRecord[], countField: string): string[] {
  return recs.map((r) => `${r.Category}\t${r[countField]}`);
}

/** Equal lists, with a short message naming the first difference. */
function assertSameList(actual: readonly string[], expected: readonly string[], what: string) {
  const n = Math.min(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(
        `${what}: item ${i} is ${JSON.stringify(actual[i])}, ` +
          `expected ${JSON.stringify(expected[i])}`,
      );
    }
  }
  assert.equal(
    actual.length,
    expected.length,
    `${what}: ${actual.length} items, expected ${expected.length}`,
  );
}

/** The generated rows as chunks (header first), each also fed to `tap`. */
function* generated(seed: number, rows: number, tap?: (c: Uint8Array) => void) {
  const gen = new TrafficSignGenerator(builtinModel(), seed);
  const header = new TextEncoder().encode(gen.header());
  tap?.(header);
  yield header;
  for (let id = 1; id <= rows; id += BATCH) {
    const bytes = gen.rowBytes(id, Math.min(BATCH, rows - id + 1));
    tap?.(bytes);
    yield bytes;
  }
}

async function run(spec: unknown, input: LocalInput) {
  return await runJobLocally(spec, input, { modules: appUserModules() });
}

/**
 * Runs several specs over one pass of the input: one record reader (the
 * one `runJobLocally` uses for the spec's source) feeds every spec's
 * operator chain, so 1M rows are parsed once for all of them.
 */
function runShared(specs: readonly JobSpec[], chunks: Iterable<Uint8Array>) {
  const modules = appUserModules();
  const resolve = (path: string): UserModule => {
    const m = modules[path];
    assert.ok(m, `no module ${path}`);
    return m;
  };
  const chains = specs.map((s) =>
    OperatorChain.fromOps(planJob(s).stages.flatMap((st) => st.ops), resolve)
  );
  const outs = specs.map((): StreamRecord[] => []);
  const reader = readerForSource(specs[0].source);
  let n = 0;
  const feed = (recs: StreamRecord[]) => {
    n += recs.length;
    chains.forEach((c, i) => c.processAll(recs, outs[i]));
  };
  for (const c of chunks) feed(reader.push(c));
  feed(reader.finish());
  chains.forEach((c, i) => outs[i].push(...c.finish()));
  return { outs, inputRecords: n, rejected: reader.rejected };
}

Deno.test("stream: the independent CSV reader handles quotes, escaped quotes and line breaks", () => {
  const rows: string[][] = [];
  const r = new TinyCsv((f) => rows.push(f));
  for (const c of ['a,"b,1","c""d"', ',"\ne"\nx,"y"', '"z",\r\n']) r.push(c);
  assert.deepEqual(rows, [["a", "b,1", 'c"d', "\ne"], ["x", 'y"z', ""]]);
});

Deno.test("stream: app1 and app2 over 1,000,000 generated rows equal an independent computation", () => {
  const t0 = performance.now();
  const ref = new Reference("No Outlet", "Punched Telespar");
  const o = { input: "/gen.csv" };
  const specs = [app1Spec("No Outlet", o), app2Spec("Punched Telespar", o)];
  specs.push(app1UserSpec("No Outlet", o), app2UserSpec("Punched Telespar", o));
  const res = runShared(specs, generated(SEED, ROWS, (c) => ref.push(c)));
  const ms = performance.now() - t0;
  const exp = ref.out;
  assert.equal(exp.rows, ROWS, "the reference read every generated row");
  assert.equal(res.inputRecords, ROWS);
  assert.equal(res.rejected, 0);
  assert.ok(exp.app1.length > 10_000, `app1 should select many rows, got ${exp.app1.length}`);
  assert.ok(exp.finalCounts.size >= 5, `app2 should see several categories`);
  const [a1, a2, u1, u2] = res.outs;
  assertSameList(app1Lines(a1), exp.app1, "app1 over 1M rows");
  assertSameList(app2Lines(a2, "count"), exp.app2, "app2 over 1M rows");
  assertSameList(app1Lines(u1), exp.app1, "user-operator app1 over 1M rows");
  assertSameList(app2Lines(u2, "count"), exp.app2, "user-operator app2 over 1M rows");
  console.log(
    `1M rows, 4 jobs + reference in one pass: ${ms.toFixed(0)} ms; app1 ${exp.app1.length} ` +
      `rows, app2 ${JSON.stringify(Object.fromEntries(exp.finalCounts))}`,
  );
});

Deno.test("stream: app1 and app2 over the real TrafficSigns_1000.csv", async () => {
  const bytes = await Deno.readFile(REAL_FILE);
  const ref = new Reference("No Outlet", "Punched Telespar");
  ref.push(bytes);
  assert.equal(ref.out.rows, 1000);
  assert.deepEqual(Object.fromEntries(ref.out.finalCounts), {
    Streetname: 312,
    Regulatory: 178,
    Parking: 80,
    Warning: 33,
    Custom: 22,
    School: 5,
    "Object Marker": 1,
  });
  assert.equal(ref.out.app1.length, 37);
  for (
    const [label, s1, s2] of [
      ["built-in", app1Spec(), app2Spec()],
      ["user", app1UserSpec(), app2UserSpec()],
    ] as const
  ) {
    const a1 = await run(s1, bytes);
    assert.equal(a1.inputRecords, 1000, label);
    assertSameList(app1Lines(a1.records), ref.out.app1, `${label} app1 on the real file`);
    const a2 = await run(s2, bytes);
    assertSameList(app2Lines(a2.records, "count"), ref.out.app2, `${label} app2 on the real file`);
  }
});
