/**
 * The stream engine on a real cluster (3 masters + 3 workers, separate
 * processes, TLS, DFS, SWIM): the real traffic-signs file and 200,000
 * generated rows are uploaded to the DFS through the API; app1 and app2 run
 * as built-in specs and as user-operator modules (uploaded to the DFS
 * first); every output equals an independent computation written here (its
 * own quoted-field splitter and a plain loop). `elasticore job rainstorm`
 * runs through the real CLI for a stateless and a stateful case, and
 * `elasticore job status` shows per-stage counts and the last checkpoint.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  app1Spec,
  app1UserSpec,
  app2Spec,
  app2UserSpec,
  APP_MODULE_FILES,
  appModuleUrl,
} from "../../lib/stream/apps.ts";
import { builtinModel, TrafficSignGenerator } from "../../lib/stream/gen.ts";
import { TestCluster } from "./cluster_util.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const REAL_FILE = new URL("../../../shared/data/TrafficSigns_1000.csv", import.meta.url);
const GEN_ROWS = 50_000;
const GEN_SEED = 7_777;
const REAL = "/data/TrafficSigns_1000.csv";
const GEN = "/data/generated_200k.csv";

/**
 * Splits one CSV line (no line breaks inside fields in this data): a field
 * opening with `"` runs to the closing `"`, and `""` inside it is a quote.
 */
function splitLine(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (line[i] === '"') {
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        assert.ok(q >= 0, `unterminated quote in ${line}`);
        field += line.slice(i, q);
        if (line[q + 1] === '"') {
          field += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
    }
    const comma = line.indexOf(",", i);
    const end = comma < 0 ? line.length : comma;
    out.push(field + line.slice(i, end));
    if (comma < 0) return out;
    i = comma + 1;
  }
}

/** The rows of a CSV text as objects keyed by the header. */
function rowsOf(text: string): Record<string, string>[] {
  const lines = text.split("\n").map((l) => l.replace(/\r$/, "")).filter((l) => l !== "");
  const header = splitLine(lines[0]);
  return lines.slice(1).map((l) => {
    const f = splitLine(l);
    assert.equal(f.length, header.length, `row width: ${l}`);
    return Object.fromEntries(header.map((h, i) => [h, f[i]]));
  });
}

/** app1's expected output lines (`OBJECTID\tSign_Type`), sorted. */
function expectApp1(rows: Record<string, string>[], pattern: string): string[] {
  return rows.filter((r) => r.Sign_Type.includes(pattern))
    .map((r) => `${r.OBJECTID}\t${r.Sign_Type}`).sort();
}

/**
 * The expected running-count lines (`category\tn`), sorted: a category seen
 * N times must be emitted with 1..N, each exactly once.
 */
function expectCounts(
  rows: Record<string, string>[],
  keep: (r: Record<string, string>) => boolean,
) {
  const final = new Map<string, number>();
  const lines: string[] = [];
  for (const r of rows) {
    if (!keep(r)) continue;
    const n = (final.get(r.Category) ?? 0) + 1;
    final.set(r.Category, n);
    lines.push(`${r.Category}\t${n}`);
  }
  return { lines: lines.sort(), final };
}

function ndjson(text: string): Record<string, unknown>[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

function sameSorted(actual: string[], expected: string[], what: string): void {
  actual.sort();
  assert.equal(
    actual.length,
    expected.length,
    `${what}: ${actual.length} lines, expected ${expected.length}`,
  );
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(
        `${what}: sorted line ${i} is ${JSON.stringify(actual[i])}, ` +
          `expected ${JSON.stringify(expected[i])}`,
      );
    }
  }
}

interface JobJson {
  id: string;
  state: string;
  error?: string;
  restarts: number;
  output: string;
  stages: { name: string; recordsIn: number; recordsOut: number }[];
  lastCheckpoint: { id: number } | null;
}

Deno.test({
  name: "stream cluster: app1/app2 (built-in and user modules) and job rainstorm on 3+3 processes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const t0 = Date.now();
    const c = await TestCluster.start({ masters: 3, workers: 3 });
    console.log(`cluster up in ${Date.now() - t0} ms`);
    const via = () => c.running()[Math.floor(Math.random() * c.running().length)];
    const put = async (path: string, bytes: Uint8Array<ArrayBuffer>) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const r = await c.request(via(), "PUT", `/v1/fs${path}?overwrite=true`, bytes, 60_000)
          .catch((e) => ({ status: 0, text: String(e) }));
        if (r.status === 201 || r.status === 200) return;
        // Right after start the ring may still be forming.
        if (Date.now() > deadline) assert.fail(`upload of ${path}: ${r.status} ${r.text}`);
        await new Promise((res) => setTimeout(res, 300));
      }
    };
    const runJob = async (spec: object): Promise<JobJson> => {
      const r = await c.request(
        via(),
        "POST",
        "/v1/jobs?wait=1&timeoutMs=60000",
        JSON.stringify(spec),
        70_000,
      );
      assert.equal(r.status, 201, r.text);
      const job = r.json as unknown as JobJson;
      assert.equal(job.state, "finished", `${job.id}: ${job.error}`);
      return job;
    };
    const outputOf = async (id: string) => {
      const r = await c.request(via(), "GET", `/v1/jobs/${id}/output`, undefined, 30_000);
      assert.equal(r.status, 200, r.text);
      return r.text;
    };
    const cli = async (args: string[]) => {
      const env = Object.fromEntries(
        Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("ELASTICORE_")),
      );
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-P", "main.ts", ...args],
        cwd: ROOT,
        clearEnv: true,
        env: {
          ...env,
          ELASTICORE_API: [...c.nodes.values()].map((n) => n.api).join(","),
          ELASTICORE_TOKEN: c.token,
          ELASTICORE_CA: join(c.dir, "ca.pem"),
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(80_000),
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      const err = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `elasticore ${args.join(" ")}:\n${text}\n${err}`);
      return text;
    };
    try {
      const realBytes = await Deno.readFile(REAL_FILE);
      const gen = new TrafficSignGenerator(builtinModel(), GEN_SEED);
      const genText = gen.header() + gen.rows(1, GEN_ROWS);
      const genBytes = new TextEncoder().encode(genText);
      const real = rowsOf(new TextDecoder().decode(realBytes));
      const generated = rowsOf(genText);
      assert.equal(real.length, 1000);
      assert.equal(generated.length, GEN_ROWS);
      const punched = (r: Record<string, string>) => r.Sign_Post === "Punched Telespar";

      await t.step("upload the data and the app modules to the DFS", async () => {
        const t1 = Date.now();
        await put(REAL, realBytes);
        await put(GEN, genBytes);
        for (const f of APP_MODULE_FILES) {
          await put(`/apps/${f}`, await Deno.readFile(appModuleUrl(f)));
        }
        console.log(
          `uploaded ${genBytes.length + realBytes.length} bytes in ${Date.now() - t1} ms`,
        );
      });

      await t.step("app1 and app2 on the real file equal the independent computation", async () => {
        const exp2 = expectCounts(real, punched);
        assert.deepEqual(Object.fromEntries(exp2.final), {
          Streetname: 312,
          Regulatory: 178,
          Parking: 80,
          Warning: 33,
          Custom: 22,
          School: 5,
          "Object Marker": 1,
        });
        const exp1 = expectApp1(real, "No Outlet");
        assert.equal(exp1.length, 37);
        for (const [s1, s2] of [[app1Spec(), app2Spec()], [app1UserSpec(), app2UserSpec()]]) {
          const [j1, j2] = await Promise.all([runJob(s1), runJob(s2)]);
          const out1 = ndjson(await outputOf(j1.id)).map((r) => `${r.OBJECTID}\t${r.Sign_Type}`);
          sameSorted(out1, exp1, `${s1.name} on the real file`);
          const out2 = ndjson(await outputOf(j2.id)).map((r) => `${r.Category}\t${r.count}`);
          sameSorted(out2, exp2.lines, `${s2.name} on the real file`);
        }
      });

      let genApp2Id = "";
      await t.step("app1 and app2 on generated rows (3 tasks per stage)", async () => {
        const o = { input: GEN, parallelism: 3 };
        const ck = { checkpoint: { intervalMs: 200, timeoutMs: 5000 } };
        const t1 = Date.now();
        const [j1, j2] = await Promise.all([
          runJob({ ...app1Spec(undefined, o), ...ck }),
          runJob({ ...app2Spec(undefined, o), ...ck }),
        ]);
        console.log(`${GEN_ROWS} rows: app1 and app2 side by side in ${Date.now() - t1} ms`);
        const out1 = ndjson(await outputOf(j1.id)).map((r) => `${r.OBJECTID}\t${r.Sign_Type}`);
        sameSorted(out1, expectApp1(generated, "No Outlet"), `app1 on ${GEN_ROWS} rows`);
        const out2 = ndjson(await outputOf(j2.id)).map((r) => `${r.Category}\t${r.count}`);
        sameSorted(out2, expectCounts(generated, punched).lines, `app2 on ${GEN_ROWS} rows`);
        genApp2Id = j2.id;
      });

      await t.step("job status shows per-stage counts and the last checkpoint", async () => {
        const text = await cli(["job", "status", genApp2Id]);
        assert.match(text, new RegExp(`^${genApp2Id}\\s+app2\\s+finished`));
        const stages = [...text.matchAll(/^\s+(\S+)\s+x(\d+)\s+in (\d+)\s+out (\d+)/gm)];
        assert.ok(stages.length >= 2, text);
        assert.equal(Number(stages[0][3]), GEN_ROWS, `the first stage read every row:\n${text}`);
        const punchedN = generated.filter(punched).length;
        assert.equal(Number(stages[0][4]), punchedN, `the filter passed every match:\n${text}`);
        const last = stages[stages.length - 1];
        assert.equal(Number(last[3]), punchedN, text);
        assert.equal(Number(last[4]), punchedN, text);
        assert.match(text, /last checkpoint \d+ at \S+ \(\d+ ms\)/);
        const json = JSON.parse(await cli(["job", "status", genApp2Id, "--json"])) as JobJson;
        assert.ok(json.lastCheckpoint && json.lastCheckpoint.id >= 1, JSON.stringify(json));
      });

      await t.step("job rainstorm app1 app1 (stateless) through the CLI", async () => {
        const dest = "/out/rainstorm_stateless.ndjson";
        const text = await cli(["job", "rainstorm", "app1", "app1", GEN, dest, "3", "No Outlet"]);
        assert.match(text, /rainstorm\s+finished/);
        const r = await c.request(via(), "GET", `/v1/fs${dest}`, undefined, 30_000);
        assert.equal(r.status, 200, r.text);
        const out = ndjson(r.text).map((x) => `${x.OBJECTID}\t${x.Sign_Type}`);
        sameSorted(out, expectApp1(generated, "No Outlet"), "rainstorm stateless");
      });

      await t.step("job rainstorm app1 app2 --stateful through the CLI", async () => {
        const dest = "/out/rainstorm_stateful.ndjson";
        const text = await cli([
          "job",
          "rainstorm",
          "app1",
          "app2",
          GEN,
          dest,
          "3",
          "Stop",
          "--stateful",
          "--json",
        ]);
        const job = JSON.parse(text.trim().split("\n").pop()!) as JobJson;
        assert.equal(job.state, "finished", text);
        const r = await c.request(via(), "GET", `/v1/fs${dest}`, undefined, 30_000);
        assert.equal(r.status, 200, r.text);
        const out = ndjson(r.text).map((x) => `${x.Category}\t${x.count}`);
        const exp = expectCounts(generated, (row) => row.Sign_Type.includes("Stop"));
        assert.ok(exp.lines.length > 1000, "the stateful case should count many rows");
        sameSorted(out, exp.lines, "rainstorm stateful");
      });
      console.log(`whole test ${Date.now() - t0} ms`);
    } finally {
      await c.stop();
    }
  },
});
