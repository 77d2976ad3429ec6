/**
 * The dashboard script served at `/ui/app.js`: the parts of `client_core.ts`
 * and `client_views.ts` wrapped in one strict-mode IIFE that starts once the
 * page is parsed (the script tag is `defer`).
 *
 * @module
 */
import { CLIENT_HELPERS, CLIENT_SESSION } from "./client_core.ts";
import { CLIENT_CHARTS, CLIENT_PANELS } from "./client_views.ts";

/** The whole dashboard script. */
export const DASHBOARD_JS = [
  "// ElastiCore dashboard: polls the node's API with the signed-in token.",
  '"use strict";',
  "(() => {",
  CLIENT_HELPERS,
  CLIENT_CHARTS,
  CLIENT_PANELS,
  CLIENT_SESSION,
  "start();",
  "})();",
  "",
].join("\n");
