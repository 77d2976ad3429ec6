/**
 * Reading and writing key material: secrets are written owner-only (0600),
 * and a missing or unreadable file is an `ElasticoreError` naming the path.
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";

/** File mode of secret files (private keys, keyrings, tokens). */
export const SECRET_MODE = 0o600;

/** Writes `text` to `path` readable and writable by the owner only, even if it existed. */
export async function writeSecretFile(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text, { mode: SECRET_MODE });
  if (Deno.build.os !== "windows") await Deno.chmod(path, SECRET_MODE);
}

/** Writes a non-secret file (certificates, configuration), mode 0644. */
export async function writePublicFile(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text, { mode: 0o644 });
}

/** Reads a text file; `what` names it in the error ("token key file"). */
export async function readKeyMaterial(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ElasticoreError("file_not_found", `${what} ${path} does not exist`);
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new ElasticoreError("file_unreadable", `${what} ${path} is not readable`, {
        hint: "check the file's owner and mode",
      });
    }
    const msg = e instanceof Error ? e.message : String(e);
    throw new ElasticoreError("file_unreadable", `cannot read ${what} ${path}: ${msg}`);
  }
}
