/**
 * `deno task bench [NAME...]`: runs the benchmarks in `scripts/bench/`, each
 * of which measures ElastiCore and a baseline in the same run and prints the
 * ratio (ours / baseline). Without a name, runs them all in turn.
 *
 * @module
 */

const dir = new URL("./bench/", import.meta.url);

async function available(): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".ts") && !e.name.startsWith("_")) {
      names.push(e.name.slice(0, -3));
    }
  }
  return names.sort();
}

const names = await available();
const [first, ...rest] = Deno.args;
const wanted = first && !first.startsWith("-") ? [first] : names;
const args = first && !first.startsWith("-") ? rest : Deno.args;
for (const name of wanted) {
  if (!names.includes(name)) {
    console.error(`error[bench_unknown]: no benchmark "${name}" (available: ${names.join(", ")})`);
    Deno.exit(2);
  }
}
for (const name of wanted) {
  console.log(`== bench ${name} (${new Date().toISOString()})`);
  const mod = await import(new URL(`${name}.ts`, dir).href);
  await mod.default(args);
}
