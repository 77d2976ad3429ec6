import assert from "node:assert/strict";
import {
  CsvParser,
  CsvRecordReader,
  formatCsv,
  formatCsvRow,
  parseCsvRecords,
  parseCsvRows,
} from "../../lib/stream/csv.ts";
import { LineSplitter, LinesReader, NdjsonReader } from "../../lib/stream/sources.ts";

function parseSplit(text: string, cuts: number[]): string[][] {
  const p = new CsvParser();
  const rows: string[][] = [];
  let prev = 0;
  for (const c of [...cuts, text.length]) {
    rows.push(...p.push(text.slice(prev, c)));
    prev = c;
  }
  rows.push(...p.finish());
  return rows;
}

Deno.test("csv: quoted fields, escaped quotes, delimiters and newlines inside quotes", () => {
  const text = 'a,b,c\n1,"x, y","say ""hi"""\n2,"line1\nline2",\n';
  assert.deepEqual(parseCsvRows(text), [
    ["a", "b", "c"],
    ["1", "x, y", 'say "hi"'],
    ["2", "line1\nline2", ""],
  ]);
});

Deno.test("csv: CRLF endings, no final newline, blank lines, empty fields", () => {
  assert.deepEqual(parseCsvRows("a,b\r\n\r\n1,\r\n,2"), [["a", "b"], ["1", ""], ["", "2"]]);
  assert.deepEqual(parseCsvRows('"q"\r\n"r"'), [["q"], ["r"]]);
  assert.deepEqual(parseCsvRows(',\n""\n'), [["", ""], [""]]);
  assert.deepEqual(parseCsvRows("a\rb,c\n"), [["a\rb", "c"]]);
});

Deno.test("csv: lenient on malformed input and counts the repairs", () => {
  const p = new CsvParser();
  const rows = [...p.push('"ab"cd,e\n16" X 42",f\n"open'), ...p.finish()];
  assert.deepEqual(rows, [["abcd", "e"], ['16" X 42"', "f"], ["open"]]);
  assert.equal(p.stats.textAfterQuote, 1);
  assert.equal(p.stats.unterminatedQuote, 1);
});

Deno.test("csv: every single split point and every pair of split points give the same rows", () => {
  const text = 'h1,h2,h3\r\n"a,""b""\r\nc",d,e\r\n"",x,"y"\r\nlast,"é€😀",z';
  const want = parseCsvRows(text);
  assert.equal(want.length, 4);
  assert.deepEqual(want[1], ['a,"b"\r\nc', "d", "e"]);
  for (let i = 0; i <= text.length; i++) {
    assert.deepEqual(parseSplit(text, [i]), want, `split at ${i}`);
    for (let j = i; j <= text.length; j += 3) {
      assert.deepEqual(parseSplit(text, [i, j]), want, `split at ${i},${j}`);
    }
  }
});

Deno.test("csv: byte chunks split inside multi-byte characters; BOM skipped", () => {
  const text = '\uFEFFname,v\n"é€😀",1\n';
  const bytes = new TextEncoder().encode(text);
  for (let i = 0; i <= bytes.length; i++) {
    const p = new CsvParser();
    const rows = [...p.push(bytes.subarray(0, i)), ...p.push(bytes.subarray(i)), ...p.finish()];
    assert.deepEqual(rows, [["name", "v"], ["é€😀", "1"]], `byte split at ${i}`);
  }
});

Deno.test("csv: records with header; short rows padded, duplicate names made unique", () => {
  const r = new CsvRecordReader();
  const recs = [...r.push("a,b,a,\n1,2,3,4\n5\n"), ...r.finish()];
  assert.deepEqual(r.columns, ["a", "b", "a_2", "column3"]);
  assert.deepEqual(recs[0], { a: "1", b: "2", a_2: "3", column3: "4" });
  assert.deepEqual(recs[1], { a: "5", b: "", a_2: "", column3: "" });
  assert.equal(r.stats.wrongWidth, 1);
  const given = parseCsvRecords("1;2\n", { columns: ["x", "y"], delimiter: ";" });
  assert.deepEqual(given, [{ x: "1", y: "2" }]);
  const proto = parseCsvRecords("__proto__,b\n1,2\n");
  assert.equal(proto[0]["__proto__"], "1");
  assert.equal(Object.getPrototypeOf(proto[0]), Object.prototype);
  assert.throws(() => new CsvParser({ delimiter: '"' }), RangeError);
});

Deno.test("csv: writer round trip", () => {
  const rows = [["plain", 'q"uote', "com,ma"], ["multi\r\nline", "", " sp "], [""]];
  const text = rows.map((r) => formatCsvRow(r, { crlf: true })).join("");
  assert.deepEqual(parseCsvRows(text), rows);
  const recs = [{ id: "1", t: "a,b" }, { id: "2", t: 'x"y' }];
  assert.deepEqual(parseCsvRecords(formatCsv(recs)), recs);
});

Deno.test("csv: the real traffic-signs file parses to 1000 rows of 20 columns", async () => {
  const data = await Deno.readFile(
    new URL("../../../shared/data/TrafficSigns_1000.csv", import.meta.url),
  );
  const r = new CsvRecordReader();
  const recs = [...r.push(data), ...r.finish()];
  assert.equal(recs.length, 1000);
  assert.equal(r.columns?.length, 20);
  assert.equal(r.stats.wrongWidth, 0);
  assert.equal(recs[0].Size_, '16" X 42"');
  assert.equal(recs[999].OBJECTID, "1000");
});

Deno.test("lines and ndjson sources across chunk splits", () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push("a\r"), []);
  assert.deepEqual(s.push("\nb\nc"), ["a", "b"]);
  assert.deepEqual(s.finish(), ["c"]);
  const lr = new LinesReader();
  assert.deepEqual([...lr.push("x\n\ny"), ...lr.finish()], [{ line: "x" }, { line: "" }, {
    line: "y",
  }]);
  const nd = new NdjsonReader();
  const recs = [
    ...nd.push('{"a":1,"b":"x","c":true,"d":null,"e":{"f":[1]}}\n{bad\n[1]\n\n{"a"'),
    ...nd.push(":2}"),
    ...nd.finish(),
  ];
  assert.deepEqual(recs, [{ a: 1, b: "x", c: "true", d: "", e: '{"f":[1]}' }, { a: 2 }]);
  assert.equal(nd.rejected, 2);
});
