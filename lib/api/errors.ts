/**
 * The HTTP API's error shape: `{"error":{"code","message"}}` with the status
 * of the {@link ElasticoreError}, or 500 `internal` for anything unexpected.
 *
 * @module
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ElasticoreError } from "../errors.ts";

/** The JSON body of every API error. */
export interface ApiErrorBody {
  /** The error. */
  error: {
    /** Stable machine-readable code. */
    code: string;
    /** Human-readable explanation. */
    message: string;
  };
}

/** Renders `err` as an API error response. */
export function errorResponse(c: Context, err: unknown): Response {
  if (err instanceof ElasticoreError) {
    const body: ApiErrorBody = { error: { code: err.code, message: err.message } };
    return c.json(body, err.status as ContentfulStatusCode);
  }
  const message = err instanceof Error ? err.message : String(err);
  const body: ApiErrorBody = { error: { code: "internal", message } };
  return c.json(body, 500);
}

/** A 404 for an unknown route. */
export function notFound(c: Context): Response {
  return errorResponse(
    c,
    new ElasticoreError("not_found", `no route for ${c.req.method} ${c.req.path}`, {
      status: 404,
    }),
  );
}
