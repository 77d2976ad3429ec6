import assert from "node:assert/strict";
import { join } from "node:path";
import { ElasticoreError } from "../../lib/errors.ts";
import { caseCounterparts } from "../../lib/logs/casefold.ts";
import { compilePattern, type GrepRequest } from "../../lib/logs/pattern.ts";
import { scanBytes } from "../../lib/logs/scanner.ts";

const LINES = [
  "abc",
  "ABC",
  "a.c",
  "a+c",
  "aXc",
  "foo bar",
  "foobar",
  "word_1 w2",
  "tab\there",
  "  leading space",
  "trailing space  ",
  "x{2}",
  "xx",
  "xxx",
  "[bracket]",
  "back\\slash",
  "caret^here",
  "dollar$sign",
  "(paren)",
  "pipe|line",
  "ſtraße STRASSE straẞe",
  "ıi İI",
  "µ Μ μ",
  "ǅ ǆ Ǆ",
  "çà é É",
  "123-456 0x1F",
  "naïve café",
  "日本語テキスト",
  "emoji 🚀 here",
  "",
  "GET PUT GETPUT",
  "Kelvin K k",
  "cr line\r",
  "ª",
  "ᾈ",
  "ⅰ",
  "Ⅰ",
  "ʰ",
  "٣",
  "²",
  "_",
  "\u00a0",
  "\u3000",
];
const text = LINES.join("\n") + "\n";
const bytes = new TextEncoder().encode(text);

const dir = await Deno.makeTempDir({ prefix: "elasticore-pattern-test-" });
const file = join(dir, "lines.txt");
await Deno.writeFile(file, bytes);

async function grepLines(req: GrepRequest): Promise<string[]> {
  const out = await new Deno.Command("grep", {
    args: [
      req.regex ? "-E" : "-F",
      ...(req.ignoreCase ? ["-i"] : []),
      "-n",
      "-e",
      req.pattern,
      file,
    ],
    env: { LC_ALL: "C.UTF-8" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(
    out.code <= 1,
    `grep failed on ${req.pattern}: ${new TextDecoder().decode(out.stderr)}`,
  );
  const s = new TextDecoder().decode(out.stdout);
  return s === "" ? [] : s.replace(/\n$/, "").split("\n");
}

const ERE_CASES = [
  "a.c",
  "a\\.c",
  "a\\+c",
  "^a",
  "c$",
  "^$",
  "\\<bar",
  "bar\\>",
  "\\bfoo\\b",
  "\\Bbar",
  "\\w+_[0-9]",
  "\\W",
  "\\s{2}",
  "\\S+$",
  "x{2}",
  "x{2,}",
  "^x{1,2}$",
  "^x{,2}$",
  "x{",
  "a{1",
  "\\[bracket\\]",
  "[]a]",
  "[^a-z ]",
  "[a-]b",
  "[[:digit:]]+-[[:digit:]]+",
  "[[:alpha:]]+ [[:alpha:]]",
  "^[[:upper:]]",
  "[[:lower:]]{3}",
  "[[:punct:]]",
  "[[:space:]]",
  "[[:blank:]]h",
  "[[:alnum:]_]+ ",
  "0x[[:xdigit:]]{2}",
  "back\\\\slash",
  "caret\\^",
  "dollar\\$",
  "\\(paren\\)",
  "pipe\\|line",
  "ab|AB",
  "(GET|PUT)+$",
  "(a|b|c)",
  "straße",
  "ſ",
  "s",
  "i",
  "I",
  "µ",
  "ǅ",
  "é",
  "[é]",
  "[a-z]+",
  "[s-t]r",
  "naïve",
  "日本",
  "🚀",
  ".",
  "^.{5}$",
  "^.{3}$",
  "()",
  "a|",
  "line.$",
  "k",
  "[^[:alpha:]]",
  "^[[:upper:]]$",
  "^[[:lower:]]$",
  "^[[:alpha:]]$",
  "^[[:alnum:]]$",
  "^[[:punct:]]$",
  "^[[:graph:]]$",
  "^[[:print:]]$",
  "^[[:space:]]$",
  "^\\w$",
  "^\\W$",
];

Deno.test("logs pattern: ERE and fixed strings match exactly the lines GNU grep matches", async () => {
  let compared = 0;
  for (const pattern of ERE_CASES) {
    for (const regex of [true, false]) {
      for (const ignoreCase of [false, true]) {
        const req = { pattern, regex, ignoreCase };
        const ours = scanBytes(bytes, req).matches.map((m) => `${m.line}:${m.text}`);
        assert.deepEqual(ours, await grepLines(req), JSON.stringify(req));
        compared++;
      }
    }
  }
  assert.equal(compared, ERE_CASES.length * 4);
});

const REJECTED = [
  "(a+)+",
  "(a*)*",
  "(a|a)*",
  "(a|ab)+",
  "((a|ab))+",
  "(a|[ab])+",
  ".*.*",
  "a?a?",
  "\\w+\\w*",
  "[a-z]+[k-p]*",
  "a*b?a*",
  "(a)\\1",
  "(?:a)",
  "(?=a)",
  "(?<=a)b",
  "a**",
  "a+?",
  "*a",
  "+",
  "^*",
  "a{300}",
  "a{3,2}",
  "[z-a]",
  "[[=a=]]",
  "[[.a.]]",
  "[[:foo:]]",
  "(a",
  "a)",
  "[abc",
  "\\d",
  "\\",
  "a*b*c*d*e*",
  "(x+y)*",
  "{a",
  "{\\>",
  "a|{2}",
  "a".repeat(513),
  "a\nb",
  "\ud800",
];

Deno.test("logs pattern: hostile or unsupported expressions are rejected with a clear code", () => {
  for (const pattern of REJECTED) {
    assert.throws(
      () => compilePattern({ pattern, regex: true }),
      (e: unknown) =>
        e instanceof ElasticoreError && e.code === "logs_pattern_rejected" &&
        e.message.startsWith("pattern rejected: "),
      JSON.stringify(pattern),
    );
  }
  assert.throws(
    () => compilePattern({ pattern: "x".repeat(600) }),
    (e: unknown) => e instanceof ElasticoreError && e.code === "logs_pattern_rejected",
  );
  for (const bad of [null, 3, {}, { pattern: 1 }, { pattern: "a", regex: "yes" }]) {
    assert.throws(
      () => compilePattern(bad),
      (e: unknown) => e instanceof ElasticoreError && e.code === "logs_bad_request",
    );
  }
});

Deno.test("logs pattern: safe but similar expressions are accepted", () => {
  for (
    const pattern of [
      "(GET|PUT)+",
      "[0-9]+\\.[0-9]+",
      "\\s+\\w+",
      "a.*b.*c",
      "[a-z]+[0-9]+",
      "x{2}x*",
      "[[:upper:]]{2}[[:alpha:]]+",
      "(ab)*c",
      "a*b*c*d*",
    ]
  ) {
    const c = compilePattern({ pattern, regex: true });
    assert.equal(c.matcher.kind, "regex", pattern);
  }
  for (const pattern of ["a.*b.*c", "[a-z]+[0-9]+", "[[:upper:]]{2}[[:alpha:]]+"]) {
    const c = compilePattern({ pattern, regex: true, ignoreCase: true });
    assert.equal(c.matcher.kind, "regex", pattern);
  }
});

Deno.test("logs pattern: fixed strings are data; -i picks the byte path when it can", () => {
  const plain = compilePattern({ pattern: "$(rm -rf /); `x` [a-z]* \\1" });
  assert.equal(plain.matcher.kind, "bytes");
  const hay = new TextEncoder().encode("ok\n$(rm -rf /); `x` [a-z]* \\1\n");
  assert.deepEqual(scanBytes(hay, plain).matches.map((m) => m.line), [2]);
  const ascii = compilePattern({ pattern: "ERROR", ignoreCase: true });
  assert.ok(
    ascii.matcher.kind === "bytes" && ascii.matcher.fold && ascii.matcher.fallback === null,
  );
  const withS = compilePattern({ pattern: "Sum", ignoreCase: true });
  assert.ok(withS.matcher.kind === "bytes" && withS.matcher.fallback !== null);
  const umlaut = compilePattern({ pattern: "Größe", ignoreCase: true });
  assert.ok(umlaut.matcher.kind === "bytes" && umlaut.matcher.needles.length === 2);
  const many = compilePattern({ pattern: "ÄÖÜÉÈ", ignoreCase: true });
  assert.equal(many.matcher.kind, "regex");
  const empty = scanBytes(new TextEncoder().encode("a\n\nb"), { pattern: "" });
  assert.deepEqual(empty.matches.map((m) => m.line), [1, 2, 3]);
});

Deno.test("logs pattern: case counterparts follow GNU grep's folding", () => {
  const cp = (s: string) => s.codePointAt(0) as number;
  const set = (s: string) => new Set(caseCounterparts(cp(s)).map((c) => String.fromCodePoint(c)));
  assert.deepEqual(set("s"), new Set(["S", "ſ"]));
  assert.deepEqual(set("i"), new Set(["I", "ı"]));
  assert.deepEqual(set("k"), new Set(["K"]));
  assert.deepEqual(set("ß"), new Set());
  assert.deepEqual(set("ẞ"), new Set());
  assert.deepEqual(set("µ"), new Set(["Μ", "μ"]));
  assert.deepEqual(set("σ"), new Set(["Σ", "ς"]));
  assert.deepEqual(set("ǅ"), new Set(["Ǆ", "ǆ"]));
  assert.deepEqual(set("ᾳ"), new Set(["ᾼ"]));
  assert.deepEqual(set("İ"), new Set());
});

globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch {
    // already gone
  }
});
