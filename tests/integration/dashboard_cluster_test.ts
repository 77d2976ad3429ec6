/**
 * The dashboard against a REAL cluster (one master, two workers, separate
 * processes, TLS with the cluster CA): headless Chromium signs in with the
 * admin token, shows a row for every member, and the chart of a running live
 * job (fed through `POST /v1/streams/{name}`) updates. Chromium runs with
 * `--ignore-certificate-errors` because the API's certificate comes from the
 * cluster CA (test only).
 *
 * Set ELASTICORE_SCREENSHOT=1 to rewrite docs/dashboard.png from this cluster.
 */
import assert from "node:assert/strict";
import { DevCluster } from "../../lib/cli/dev_cluster.ts";
import type { Browser } from "playwright-core";
import { launch, openTab, sleep } from "./browser_driver.ts";

type Json = Record<string, unknown>;

Deno.test({
  name: "dashboard on a real cluster: sign in, every member row, a running job's chart updates",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Node processes inherit the environment, and ELASTICORE_* variables are configuration.
    const screenshot = Deno.env.get("ELASTICORE_SCREENSHOT") === "1";
    Deno.env.delete("ELASTICORE_SCREENSHOT");
    const dir = await Deno.makeTempDir({ prefix: "ec-dash-" });
    const c = new DevCluster({
      masters: 1,
      workers: 2,
      dir,
      // Below the ephemeral range (32768+), where outgoing connections could hold a port.
      portBase: 17500 + Math.floor(Math.random() * 20) * 100,
      transport: "tcp",
      set: ["dfs.replication=2"],
    });
    await c.init();
    const http = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(c.caFile)] });
    const token = await c.token();
    const api = c.nodes[0].api;
    const call = async (method: string, path: string, body?: string): Promise<Json> => {
      const res = await fetch(api + path, {
        method,
        body,
        client: http,
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(20_000),
      }).catch((e) => {
        throw new Error(`${method} ${path}: ${e}`);
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return /^application\/json/.test(res.headers.get("content-type") ?? "")
        ? JSON.parse(text)
        : {};
    };
    let feeding = true;
    let feeder: Promise<void> = Promise.resolve();
    let browser: Browser | undefined;
    try {
      await c.start();
      await c.waitForLeader(60_000);
      const deadline = Date.now() + 60_000;
      for (;;) {
        // Right after start a node may still be learning its peers' addresses; a slow or
        // failed answer is retried until the deadline (CI once saw the first call time out).
        const m = await call("GET", "/v1/cluster")
          .then((r) => r.members as { id: string; state: string }[])
          .catch((e) => {
            assert.ok(Date.now() < deadline, String(e));
            return [];
          });
        if (m.filter((x) => x.state === "alive").length === 3) break;
        assert.ok(Date.now() < deadline, `not every member is alive: ${JSON.stringify(m)}`);
        await sleep(250);
      }
      // A live job that never ends: the test feeds it a varying amount every 200 ms.
      const spec = {
        name: "live-count",
        source: { kind: "stream", name: "dash" },
        stages: [{ op: "keyBy", column: "key" }, { op: "count", as: "n", parallelism: 2 }],
        sink: { kind: "dfs", path: "/out/dash.ndjson" },
        checkpoint: { intervalMs: 500 },
      };
      const job = String((await call("POST", "/v1/jobs", JSON.stringify(spec))).id);
      feeder = (async () => {
        for (let i = 0; feeding; i++) {
          let body = "";
          const n = 200 + 150 * ((i * 7) % 5);
          for (let v = 0; v < n; v++) body += `{"key":"k${v % 10}","v":${v}}\n`;
          await call("POST", "/v1/streams/dash", body).catch(() => {});
          await sleep(200);
        }
      })();

      browser = await launch(["--ignore-certificate-errors"]);
      const page = await openTab(browser, Date.now() + 120_000);
      await page.page.goto(`${api}/?interval=500`, { timeout: 15_000 });
      await page.waitFor(
        `document.readyState === "complete" && !!document.querySelector("#token")`,
        "the login form",
        15_000,
      );
      await page.fill("#token", token);
      await page.click("#login-submit");
      await page.waitFor(`!document.querySelector("#app").hidden`, "the dashboard", 15_000);

      const rows = await page.waitFor<string[]>(
        `(() => {
          const ids = [...document.querySelectorAll("#members tbody tr[data-id]")]
            .map((r) => r.dataset.id);
          return ids.length === 3 && ids;
        })()`,
        "three member rows",
        15_000,
      );
      assert.deepEqual(rows.sort(), ["m1", "w1", "w2"]);
      assert.equal(
        await page.eval(`document.querySelector('#raft [data-field="leader"]').textContent`),
        "m1",
      );

      const chartD = `document.querySelector('svg.chart[data-job="${job}"] path.line')` +
        `?.getAttribute("d") ?? ""`;
      const d1 = await page.waitFor<string>(chartD, "the job's first chart points", 30_000);
      const d2 = await page.waitFor<string>(
        `(() => { const d = ${chartD}; return d !== ${JSON.stringify(d1)} && d; })()`,
        "a chart update",
        20_000,
      );
      assert.notEqual(d2, d1);
      const running = await page.eval<string>(
        `document.querySelector('#jobs tr[data-id="${job}"]')?.textContent ?? ""`,
      );
      assert.match(running, /live-count/);
      assert.match(running, /running/);

      if (screenshot) {
        await page.waitFor(`(${chartD}).split("L").length > 25`, "a longer chart", 40_000);
        await page.screenshot(new URL("../../docs/dashboard.png", import.meta.url));
      }

      // No script errors, no CSP violations.
      assert.deepEqual(page.problems, []);
      await call("DELETE", `/v1/jobs/${job}`);
    } catch (e) {
      for (const n of c.nodes) {
        let out = await Deno.readTextFile(`${dir}/${n.id}.out`).catch(() => "");
        out += await Deno.readTextFile(`${dir}/data/${n.id}/logs/node.jsonl`).catch(() => "");
        if (out.trim()) console.log(`--- ${n.id}.out\n${out.split("\n").slice(-12).join("\n")}`);
      }
      throw e;
    } finally {
      feeding = false;
      await feeder.catch(() => {});
      await browser?.close();
      http.close();
      await c.stop(2_000);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
