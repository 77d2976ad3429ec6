import assert from "node:assert/strict";
import { CsvRecordReader } from "../../lib/stream/csv.ts";
import { ProjectedCsvReader } from "../../lib/stream/csv_projected.ts";
import { Prng } from "../../lib/sim/prng.ts";
import type { StreamRecord } from "../../lib/stream/record.ts";
import { LocalDirFs } from "../../lib/stream/runtime/fs.ts";
import { openFileSplit } from "../../lib/stream/runtime/source_reader.ts";

/** What the full reader gives, cut down to `keep` (in header order). */
function reference(columns: string[], keep: string[], text: Uint8Array | string): StreamRecord[] {
  const r = new CsvRecordReader({ columns });
  const all = [...r.push(text), ...r.finish()];
  const cols = r.columns!.filter((c) => keep.includes(c));
  return all.map((rec) => Object.fromEntries(cols.map((c) => [c, rec[c]])));
}

function projected(
  columns: string[],
  keep: string[],
  text: Uint8Array,
  cuts: number[],
): { recs: StreamRecord[]; reader: ProjectedCsvReader } {
  const reader = new ProjectedCsvReader({ columns, keep });
  const recs: StreamRecord[] = [];
  let prev = 0;
  for (const c of [...cuts, text.length]) {
    recs.push(...reader.push(text.subarray(prev, c)));
    prev = c;
  }
  recs.push(...reader.finish());
  return { recs, reader };
}

Deno.test("csv projected: keeps the asked columns of the fixture's kind of rows", () => {
  const cols = ["X", "Size_", "Sign_Post", "Category", "Notes"];
  const text = new TextEncoder().encode(
    '1,"16"" X 42""",Punched Telespar,Streetname,a\r\n' +
      '2,"",Mast Arm,"Reg, ""x""",b\n\n' +
      "3,x\n" +
      '4,y,z,w,"tail\nwith break"\n' +
      "5,p,Punched Telespar,Last",
  );
  const { recs, reader } = projected(cols, ["Category", "Sign_Post", "Nope"], text, []);
  assert.deepEqual(recs, [
    { Sign_Post: "Punched Telespar", Category: "Streetname" },
    { Sign_Post: "Mast Arm", Category: 'Reg, "x"' },
    { Sign_Post: "", Category: "" },
    { Sign_Post: "z", Category: "w" },
    { Sign_Post: "Punched Telespar", Category: "Last" },
  ]);
  assert.deepEqual(reader.columns, ["Sign_Post", "Category"]);
  assert.equal(reader.stats.rows, 5);
  assert.equal(reader.stats.blankLines, 1);
  assert.deepEqual(recs, reference(cols, ["Category", "Sign_Post"], text));
});

Deno.test("csv projected: same records as the full reader on random inputs and random chunking", () => {
  const rng = new Prng(20261121);
  const atoms = ["a", "bc", ",", ",", ",", '"', '""', "\n", "\r\n", "\r", " ", "é", "😀", "x,y"];
  const cols = ["c0", "c1", "c2", "c3", "c4", "c1"];
  const enc = new TextEncoder();
  for (let round = 0; round < 600; round++) {
    let s = "";
    const len = rng.between(0, 60);
    for (let k = 0; k < len; k++) s += atoms[rng.between(0, atoms.length - 1)];
    const text = enc.encode(s);
    const keepSets = [["c0"], ["c2"], ["c1", "c3"], ["c4", "c1_2"], ["c0", "c2", "c4"], ["zz"]];
    const keep = keepSets[round % keepSets.length];
    const want = reference(cols, keep, text);
    const cuts: number[] = [];
    const nCuts = rng.between(0, 4);
    for (let k = 0; k < nCuts; k++) cuts.push(rng.between(0, text.length));
    cuts.sort((a, b) => a - b);
    const { recs, reader } = projected(cols, keep, text, cuts);
    assert.deepEqual(recs, want, `input ${JSON.stringify(s)} keep ${keep} cuts ${cuts}`);
    const full = new CsvRecordReader({ columns: cols });
    full.push(text);
    full.finish();
    assert.equal(reader.stats.rows, full.stats.rows, `rows of ${JSON.stringify(s)}`);
    assert.equal(reader.stats.blankLines, full.stats.blankLines, `blanks of ${JSON.stringify(s)}`);
    assert.equal(reader.stats.unterminatedQuote, full.stats.unterminatedQuote);
  }
});

Deno.test("csv projected: a record split over many chunks and a byte order mark", () => {
  const cols = ["a", "b"];
  const text = new TextEncoder().encode('\ufeff"x\n' + "y".repeat(5000) + '",2\n3,4\n');
  const cuts = Array.from({ length: 50 }, (_, i) => i * 100 + 1);
  const { recs } = projected(cols, ["a", "b"], text, cuts);
  assert.deepEqual(recs, reference(cols, ["a", "b"], text));
  assert.equal(recs.length, 2);
  assert.equal(recs[0].a, "x\n" + "y".repeat(5000));
  assert.throws(() => new ProjectedCsvReader({ columns: cols, keep: [], delimiter: '"' }));
});

Deno.test("csv projected: file splits give every record once, resuming at any offset", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ec-csvproj-" });
  try {
    const fs = new LocalDirFs(dir);
    let text = "id,a,b,c\n";
    for (let i = 0; i < 12_000; i++) {
      // Quoted line breaks everywhere (some chunk ends inside quotes); non-ASCII text
      // only near the end (chunks before it take the fast path, chunks after it not).
      const b = i % 2 === 0 ? `"multi\nline ${i}"` : i > 11_000 ? `"é ${i}"` : `b${i % 7}`;
      text += `${i},"q""${i}",${b},${"x".repeat(i % 50)}\n`;
    }
    await fs.write("/in.csv", new TextEncoder().encode(text));
    const source = { kind: "csv", path: "/in.csv", header: true, delimiter: "," } as const;
    const want = reference(["id", "a", "b", "c"], ["id", "b"], text.slice(9));
    for (const n of [1, 3]) {
      const got: StreamRecord[] = [];
      for (let i = 0; i < n; i++) {
        const split = await openFileSplit(fs, source, i, n, undefined, ["b", "id"]);
        let first = true;
        while (!split.done) {
          got.push(...(await split.next()) ?? []);
          if (first && !split.done) {
            // Resume a fresh reader at the reported offset: nothing lost or repeated.
            first = false;
            const again = await openFileSplit(fs, source, i, n, split.offset, ["b", "id"]);
            const rest: StreamRecord[] = [];
            while (!again.done) rest.push(...(await again.next()) ?? []);
            const mine: StreamRecord[] = [];
            while (!split.done) mine.push(...(await split.next()) ?? []);
            assert.deepEqual(rest, mine);
            got.push(...mine);
          }
        }
      }
      assert.equal(got.length, 12_000);
      assert.deepEqual(got, want, `${n} splits`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
