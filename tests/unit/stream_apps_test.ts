import assert from "node:assert/strict";
import {
  app1Spec,
  app1UserSpec,
  app2Spec,
  app2UserSpec,
  APP_MODULE_FILES,
  appModuleUrl,
  appUserModules,
} from "../../lib/stream/apps.ts";
import { latestByKey, runJobLocally } from "../../lib/stream/local.ts";
import {
  builtinModel,
  generateToFile,
  learnModel,
  TrafficSignGenerator,
} from "../../lib/stream/gen.ts";

const DATA = new URL("../../../shared/data/TrafficSigns_1000.csv", import.meta.url);

/** An independent, deliberately simple RFC 4180 reader (char by char). */
function tinyCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let f = "";
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '"' && text[i + 1] === '"') (f += '"', i++);
      else if (c === '"') q = false;
      else f += c;
    } else if (c === '"') q = true;
    else if (c === ",") (row.push(f), f = "");
    else if (c === "\n") (row.push(f.replace(/\r$/, "")), rows.push(row), row = [], f = "");
    else f += c;
  }
  if (f !== "" || row.length > 0) (row.push(f), rows.push(row));
  return rows;
}

function tinyApp1(text: string, pattern: string): string[][] {
  const [h, ...rows] = tinyCsv(text);
  const id = h.indexOf("OBJECTID");
  const t = h.indexOf("Sign_Type");
  return rows.filter((r) => r[t].includes(pattern)).map((r) => [r[id], r[t]]);
}

function tinyApp2(text: string, post: string): Record<string, number> {
  const [h, ...rows] = tinyCsv(text);
  const p = h.indexOf("Sign_Post");
  const c = h.indexOf("Category");
  const out: Record<string, number> = {};
  for (const r of rows) if (r[p] === post) out[r[c]] = (out[r[c]] ?? 0) + 1;
  return out;
}

function finalCounts(records: Record<string, string | number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, r] of latestByKey(records, "Category")) out[k] = Number(r.count);
  return out;
}

const REF_APP2 = {
  Streetname: 312,
  Regulatory: 178,
  Parking: 80,
  Warning: 33,
  Custom: 22,
  School: 5,
  "Object Marker": 1,
};

Deno.test("app1 and app2 on the real file equal the reference numbers and a tiny CSV", async () => {
  const bytes = await Deno.readFile(DATA);
  const text = new TextDecoder().decode(bytes);
  const a1 = await runJobLocally(app1Spec("No Outlet"), bytes);
  assert.equal(a1.records.length, 37);
  assert.deepEqual(
    a1.records.map((r) => Object.keys(r)),
    a1.records.map(() => ["OBJECTID", "Sign_Type"]),
  );
  assert.deepEqual(a1.records.map((r) => [r.OBJECTID, r.Sign_Type]), tinyApp1(text, "No Outlet"));
  const a2 = await runJobLocally(app2Spec("Punched Telespar"), bytes);
  assert.deepEqual(finalCounts(a2.records), REF_APP2);
  assert.equal(a2.records.length, 631);
  assert.deepEqual(finalCounts(a2.records), tinyApp2(text, "Punched Telespar"));
  const other = await runJobLocally(app2Spec("Unpunched Telespar"), bytes);
  assert.deepEqual(finalCounts(other.records), tinyApp2(text, "Unpunched Telespar"));
});

Deno.test("the user-operator versions of app1 and app2 give the same results", async () => {
  const bytes = await Deno.readFile(DATA);
  const modules = appUserModules();
  const u1 = await runJobLocally(app1UserSpec("No Outlet"), bytes, { modules });
  const b1 = await runJobLocally(app1Spec("No Outlet"), bytes);
  assert.deepEqual(u1.records, b1.records);
  const u2 = await runJobLocally(app2UserSpec(), bytes, { modules });
  assert.deepEqual(finalCounts(u2.records), REF_APP2);
  for (const f of APP_MODULE_FILES) {
    const src = await Deno.readTextFile(appModuleUrl(f));
    assert.match(src, /export function process\(/);
    assert.doesNotMatch(src, /^import /m, `${f} must be self-contained`);
  }
});

Deno.test("app2 on 200k generated rows equals the independent computation", async () => {
  const model = learnModel(await Deno.readFile(DATA));
  const gen = new TrafficSignGenerator(model, 42);
  const text = gen.header() + gen.rows(1, 200_000);
  const chunks: Uint8Array[] = [];
  const bytes = new TextEncoder().encode(text);
  for (let i = 0; i < bytes.length; i += 65_536) chunks.push(bytes.subarray(i, i + 65_536));
  const res = await runJobLocally(app2Spec(), chunks);
  assert.equal(res.inputRecords, 200_000);
  const want = tinyApp2(text, "Punched Telespar");
  assert.deepEqual(finalCounts(res.records), want);
  const total = Object.values(want).reduce((a, b) => a + b, 0);
  assert.ok(total > 100_000 && total < 150_000, `about 63% match, got ${total}`);
});

Deno.test("generator: deterministic per seed, real columns, learned or built-in frequencies", async () => {
  const learned = learnModel(await Deno.readFile(DATA));
  assert.equal(learned.origin, "learned");
  const a = new TrafficSignGenerator(learned, 7).rows(1, 500);
  assert.equal(a, new TrafficSignGenerator(learned, 7).rows(1, 500));
  assert.notEqual(a, new TrafficSignGenerator(learned, 8).rows(1, 500));
  const rows = tinyCsv(
    new TrafficSignGenerator(builtinModel(), 3).header() +
      new TrafficSignGenerator(builtinModel(), 3).rows(1, 2000),
  );
  assert.equal(rows[0].length, 20);
  assert.ok(rows.every((r) => r.length === 20));
  const post = rows[0].indexOf("Sign_Post");
  const punched = rows.filter((r) => r[post] === "Punched Telespar").length / 2000;
  assert.ok(punched > 0.55 && punched < 0.71, `Punched Telespar share ${punched}`);
  const file = await Deno.makeTempFile({ suffix: ".csv" });
  try {
    await generateToFile(file, 1234, 5, learned);
    const got = tinyCsv(await Deno.readTextFile(file));
    assert.equal(got.length, 1235);
    assert.equal(got[1234][rows[0].indexOf("OBJECTID")], "1234");
  } finally {
    await Deno.remove(file);
  }
});
