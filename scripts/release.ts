/**
 * `deno task compile [--target T ...]`: builds the `elasticore` binary for
 * every release target (or the given ones) into `dist/`, with exactly the
 * permissions and unstable flags of `deno.json` (`-P` loads the permission
 * set; `unstable` is read from the config by `deno compile`).
 *
 * @module
 */
import { VERSION } from "../lib/version.ts";

/** Every target a release ships. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** The `deno compile` arguments for one target. */
export function compileArgs(target: string): string[] {
  const exe = target.includes("windows") ? ".exe" : "";
  return [
    "compile",
    "-P",
    "--target",
    target,
    "--include",
    "lib/stream/apps",
    "--output",
    `dist/elasticore-${VERSION}-${target}${exe}`,
    "main.ts",
  ];
}

if (import.meta.main) {
  const picked: string[] = [];
  for (let i = 0; i < Deno.args.length; i++) {
    if (Deno.args[i] === "--target") picked.push(Deno.args[++i]);
  }
  for (const t of picked) {
    if (!(TARGETS as readonly string[]).includes(t)) {
      console.error(`error[release_target]: unknown target "${t}" (one of ${TARGETS.join(", ")})`);
      Deno.exit(2);
    }
  }
  const targets = picked.length ? picked : [...TARGETS];
  await Deno.mkdir("dist", { recursive: true });
  for (const target of targets) {
    const args = compileArgs(target);
    console.log(`deno ${args.join(" ")}`);
    const { code } = await new Deno.Command(Deno.execPath(), {
      args,
      stdout: "inherit",
      stderr: "inherit",
    })
      .output();
    if (code !== 0) {
      console.error(`error[release_failed]: deno compile for ${target} exited with ${code}`);
      Deno.exit(code);
    }
  }
}
