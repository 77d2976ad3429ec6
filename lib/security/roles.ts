/**
 * Roles and the permissions they grant. `reader` may read everything,
 * `operator` may also write data (KV, files, jobs), `admin` may do anything,
 * including cluster administration and creating tokens.
 *
 * @module
 */
import { ElasticoreError } from "../errors.ts";

/** Every role, least to most privileged. */
export const ROLES = ["reader", "operator", "admin"] as const;
/** A token's role. */
export type Role = typeof ROLES[number];

/** Every action an API call can require. */
export const ACTIONS = [
  "kv:read",
  "kv:write",
  "fs:read",
  "fs:write",
  "job:read",
  "job:write",
  "logs:read",
  "cluster:read",
  "cluster:admin",
  "token:create",
] as const;
/** An action an API call requires, `<resource>:<verb>`. */
export type Action = typeof ACTIONS[number];

const READS: readonly Action[] = ACTIONS.filter((a) => a.endsWith(":read"));

/** The role table: which actions each role may perform. */
export const ROLE_PERMISSIONS: Readonly<Record<Role, ReadonlySet<Action>>> = {
  reader: new Set(READS),
  operator: new Set<Action>([...READS, "fs:write", "job:write", "kv:write"]),
  admin: new Set(ACTIONS),
};

/** Whether `value` names a role. */
export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

/** Whether `value` names an action. */
export function isAction(value: unknown): value is Action {
  return typeof value === "string" && (ACTIONS as readonly string[]).includes(value);
}

/** Whether `role` may perform `action`. Unknown roles or actions are never allowed. */
export function authorize(role: string, action: string): boolean {
  return isRole(role) && isAction(action) && ROLE_PERMISSIONS[role].has(action);
}

/** Throws a 403 `ElasticoreError` (`forbidden`) unless `role` may perform `action`. */
export function requirePermission(role: string, action: string): void {
  if (!authorize(role, action)) {
    throw new ElasticoreError(
      "forbidden",
      `role "${role}" may not perform "${action}"`,
      { status: 403, hint: "use a token with a role that grants it" },
    );
  }
}

/** Parses a role name given by a user, with an error listing the valid ones. */
export function parseRole(value: string): Role {
  if (isRole(value)) return value;
  throw new ElasticoreError(
    "bad_role",
    `unknown role "${value}"`,
    { hint: `use one of ${ROLES.join(", ")}` },
  );
}
