/**
 * The two reference applications, as built-in specs and as user-operator
 * specs whose modules live in `lib/stream/apps/` (to be uploaded to the DFS).
 *
 * - app1 (stateless): rows whose `Sign_Type` contains X → `OBJECTID, Sign_Type`.
 * - app2 (stateful): rows whose `Sign_Post` equals X → running count per `Category`.
 *
 * @module
 */
import { type JobSpec, validateJobSpec } from "./spec.ts";
import type { UserModule } from "./operators/user.ts";
import * as app1Filter from "./apps/app1_filter.ts";
import * as app1Select from "./apps/app1_select.ts";
import * as app2Filter from "./apps/app2_filter.ts";
import * as app2Count from "./apps/app2_count.ts";

/** Where the demo data and outputs live and how wide each stage runs. */
export interface AppOptions {
  /** DFS path of the CSV input (default `/data/TrafficSigns_1000.csv`). */
  input?: string;
  /** DFS path of the output, or `api` for results kept by the API (default `api`). */
  output?: string;
  /** Parallelism of every stage (default 2). */
  parallelism?: number;
  /** DFS folder holding the app modules (default `/apps`). */
  modulesDir?: string;
}

/** Default X of app1. */
export const APP1_DEFAULT_PATTERN = "No Outlet";
/** Default X of app2. */
export const APP2_DEFAULT_SIGN_POST = "Punched Telespar";
/** The user-operator module files under `lib/stream/apps/`. */
export const APP_MODULE_FILES = [
  "app1_filter.ts",
  "app1_select.ts",
  "app2_filter.ts",
  "app2_count.ts",
] as const;

function frame(name: string, o: AppOptions, stages: unknown[]): JobSpec {
  const output = o.output ?? "api";
  return validateJobSpec({
    name,
    source: { kind: "csv", path: o.input ?? "/data/TrafficSigns_1000.csv" },
    stages,
    sink: output === "api" ? { kind: "api" } : { kind: "dfs", path: output, format: "csv" },
  });
}

/** app1 with built-in operators. */
export function app1Spec(pattern = APP1_DEFAULT_PATTERN, o: AppOptions = {}): JobSpec {
  const p = o.parallelism ?? 2;
  return frame("app1", o, [
    { op: "filter", column: "Sign_Type", contains: pattern, parallelism: p },
    { op: "select", columns: ["OBJECTID", "Sign_Type"], parallelism: p },
  ]);
}

/** app2 with built-in operators. */
export function app2Spec(signPost = APP2_DEFAULT_SIGN_POST, o: AppOptions = {}): JobSpec {
  const p = o.parallelism ?? 2;
  return frame("app2", o, [
    { op: "filter", column: "Sign_Post", equals: signPost, parallelism: p },
    { op: "keyBy", column: "Category" },
    { op: "count", parallelism: p },
  ]);
}

/** app1 with the user-operator modules. */
export function app1UserSpec(pattern = APP1_DEFAULT_PATTERN, o: AppOptions = {}): JobSpec {
  const p = o.parallelism ?? 2;
  const dir = o.modulesDir ?? "/apps";
  return frame("app1-user", o, [
    { op: "user", module: `${dir}/app1_filter.ts`, args: { pattern }, parallelism: p },
    { op: "user", module: `${dir}/app1_select.ts`, parallelism: p },
  ]);
}

/** app2 with the user-operator modules. */
export function app2UserSpec(signPost = APP2_DEFAULT_SIGN_POST, o: AppOptions = {}): JobSpec {
  const p = o.parallelism ?? 2;
  const dir = o.modulesDir ?? "/apps";
  return frame("app2-user", o, [
    { op: "user", module: `${dir}/app2_filter.ts`, args: { value: signPost }, parallelism: p },
    { op: "keyBy", column: "Category" },
    { op: "user", module: `${dir}/app2_count.ts`, stateful: true, parallelism: p },
  ]);
}

/** The app modules loaded in this process, keyed by their DFS path under `modulesDir`. */
export function appUserModules(modulesDir = "/apps"): Record<string, UserModule> {
  return {
    [`${modulesDir}/app1_filter.ts`]: app1Filter,
    [`${modulesDir}/app1_select.ts`]: app1Select,
    [`${modulesDir}/app2_filter.ts`]: app2Filter,
    [`${modulesDir}/app2_count.ts`]: app2Count as UserModule,
  };
}

/** URL of an app module's source file, to read and upload to the DFS. */
export function appModuleUrl(file: typeof APP_MODULE_FILES[number]): URL {
  return new URL(`./apps/${file}`, import.meta.url);
}
