/**
 * Headless Chromium driven over the DevTools protocol (CDP) through Deno's
 * built-in WebSocket, for the dashboard browser tests. Uses Debian's
 * `/usr/bin/chromium`; never downloads a browser. (`playwright-core` cannot
 * be imported with the project's permission set: its WSL probe reads under
 * /proc at import time, which needs --allow-all.)
 *
 * ```ts
 * const browser = await launch(["--ignore-certificate-errors"]);
 * try {
 *   const page = await Page.open(browser.cdp);
 *   await page.send("Page.navigate", { url });
 *   await page.waitFor(`document.readyState === "complete"`, "the page");
 * } finally {
 *   await close(browser);
 * }
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";

/** Path of the Chromium binary. */
export const CHROMIUM = "/usr/bin/chromium";

/** A JSON object as CDP sends it. */
export type Json = Record<string, unknown>;

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves like `p`, or rejects after `ms` naming `what`; never leaves a timer behind. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A DevTools protocol connection: commands with replies, and every event received. */
export class Cdp {
  /** Events received so far. */
  readonly events: Array<{ method: string; params: Json }> = [];
  /** Resolves when the socket closed. */
  readonly closed: Promise<void>;
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, { resolve: (v: Json) => void; reject: (e: Error) => void }>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    this.closed = new Promise((resolve) => ws.addEventListener("close", () => resolve()));
    ws.addEventListener("message", (ev) => {
      const msg = JSON.parse(String(ev.data)) as Json;
      const id = typeof msg.id === "number" ? msg.id : undefined;
      if (id === undefined) {
        this.events.push({ method: String(msg.method), params: (msg.params ?? {}) as Json });
        return;
      }
      const p = this.#pending.get(id);
      this.#pending.delete(id);
      const err = msg.error as { message?: string } | undefined;
      if (err) p?.reject(new Error(`DevTools: ${err.message ?? JSON.stringify(err)}`));
      else p?.resolve((msg.result ?? {}) as Json);
    });
    ws.addEventListener("close", () => {
      for (const p of this.#pending.values()) p.reject(new Error("DevTools connection closed"));
      this.#pending.clear();
    });
  }

  /** Connects to a DevTools WebSocket URL. */
  static async connect(url: string): Promise<Cdp> {
    const ws = new WebSocket(url);
    const cdp = new Cdp(ws);
    await within(
      new Promise<void>((resolve, reject) => {
        ws.addEventListener("open", () => resolve());
        ws.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)));
      }),
      10_000,
      "DevTools WebSocket open",
    );
    return cdp;
  }

  /** Whether the socket is open. */
  get open(): boolean {
    return this.#ws.readyState === WebSocket.OPEN;
  }

  /** Sends a command (to a target session when given); resolves with its result. */
  send(method: string, params: Json = {}, sessionId?: string): Promise<Json> {
    const id = this.#next++;
    const reply = new Promise<Json>((resolve, reject) =>
      this.#pending.set(id, { resolve, reject })
    );
    this.#ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return within(reply, 15_000, method);
  }

  /** Closes the socket. */
  close(): void {
    if (this.#ws.readyState <= WebSocket.OPEN) this.#ws.close();
  }
}

/** A running Chromium. */
export interface Browser {
  /** Its DevTools connection. */
  cdp: Cdp;
  /** The process. */
  child: Deno.ChildProcess;
  /** Its temporary profile directory. */
  dir: string;
  /** Its stderr, once it exited. */
  stderr: Promise<string>;
}

function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  return new Response(stream).text();
}

/** Starts headless Chromium with `extraArgs` (e.g. `--ignore-certificate-errors`, tests only). */
export async function launch(extraArgs: string[] = []): Promise<Browser> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `${CHROMIUM} not found: this test needs Debian's Chromium. Install it with ` +
        "`apt-get install chromium` (CI installs it); it does not download a browser.",
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "elasticore-chromium-" });
  const child = new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
      "--password-store=basic",
      `--user-data-dir=${dir}`,
      ...extraArgs,
      "--remote-debugging-port=0",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = readAll(child.stderr);
  const browser = { child, dir, stderr } as Omit<Browser, "cdp">;
  try {
    const portFile = `${dir}/DevToolsActivePort`;
    let exited = false;
    child.status.then(() => exited = true);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const text = await Deno.readTextFile(portFile).catch(() => "");
      const [port, path] = text.split("\n");
      if (port && path) {
        return { ...browser, cdp: await Cdp.connect(`ws://127.0.0.1:${port}${path}`) };
      }
      if (exited) throw new Error(`chromium exited early:\n${await stderr}`);
      if (Date.now() > deadline) throw new Error("chromium wrote no DevToolsActivePort in 15 s");
      await sleep(50);
    }
  } catch (err) {
    await close({ ...browser, cdp: undefined });
    throw err;
  }
}

/** Closes the browser politely, then by force; waits for the process and cleans up. */
export async function close(b: Omit<Browser, "cdp"> & { cdp?: Cdp }): Promise<void> {
  if (b.cdp?.open) await within(b.cdp.send("Browser.close"), 3000, "Browser.close").catch(() => {});
  try {
    await within(b.child.status, 5000, "chromium exit");
  } catch {
    b.child.kill("SIGKILL");
    await b.child.status;
  }
  if (b.cdp) {
    b.cdp.close();
    await within(b.cdp.closed, 3000, "DevTools socket close").catch(() => {});
  }
  await within(b.stderr, 3000, "chromium stderr").catch(() => "");
  await Deno.remove(b.dir, { recursive: true }).catch(() => {});
}

/** One page (tab) of the browser. */
export class Page {
  /** Wraps an attached target session. */
  constructor(readonly cdp: Cdp, readonly session: string) {}

  /** Opens a new 1280×900 tab with the Page, Runtime and Log domains enabled. */
  static async open(cdp: Cdp): Promise<Page> {
    const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new Page(cdp, String(sessionId));
    for (const domain of ["Page", "Runtime", "Log"]) await page.send(`${domain}.enable`);
    await page.send("Emulation.setDeviceMetricsOverride", {
      width: 1280,
      height: 900,
      deviceScaleFactor: 1,
      mobile: false,
    });
    return page;
  }

  /** Sends a command to this tab. */
  send(method: string, params: Json = {}): Promise<Json> {
    return this.cdp.send(method, params, this.session);
  }

  /** Evaluates `expression` in the page (promises awaited); returns its value. */
  async eval<T>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    if (r.exceptionDetails) throw new Error(`page threw: ${JSON.stringify(r.exceptionDetails)}`);
    return (r.result as { value: T }).value;
  }

  /** Polls `expression` until it is truthy; returns its value. */
  async waitFor<T>(expression: string, what: string, ms = 8000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await this.eval<T>(expression);
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await sleep(50);
    }
  }

  /** A real mouse click in the middle of the element. */
  async click(selector: string): Promise<void> {
    const box = await this.eval<{ x: number; y: number } | null>(`(() => {
      const r = document.querySelector(${JSON.stringify(selector)})?.getBoundingClientRect();
      return r ? { x: r.x + r.width / 2, y: r.y + r.height / 2 } : null;
    })()`);
    assert.ok(box, `no element ${selector} to click`);
    for (const type of ["mousePressed", "mouseReleased"]) {
      await this.send("Input.dispatchMouseEvent", { type, ...box, button: "left", clickCount: 1 });
    }
  }

  /** Focuses an input, clears it and types `text`. */
  async type(selector: string, text: string): Promise<void> {
    await this.eval(`(() => {
      const el = document.querySelector(${JSON.stringify(selector)});
      el.focus(); el.value = "";
    })()`);
    await this.send("Input.insertText", { text });
  }
}
