/**
 * Headless Chromium for the dashboard browser tests, driven by `playwright-core`
 * within the project's default permission set (`deno test -P`). Uses Debian's
 * `/usr/bin/chromium`; never downloads a browser.
 *
 * playwright-core's bundled `is-wsl` probes `/proc/sys/fs/binfmt_misc/WSLInterop`
 * at import time, and Deno allows reads under `/proc` only with `--allow-all`
 * (`NotCapable: Requires all access to ...`). `is-wsl` skips that probe when
 * `__IS_WSL_TEST__` is set; its result then only steers playwright's `open`
 * helper (launching a desktop browser), which these tests never use. So
 * {@linkcode launch} sets the variable around a dynamic import instead of the
 * tests asking for more permissions.
 *
 * ```ts
 * const browser = await launch();
 * try {
 *   const tab = await openTab(browser, Date.now() + 60_000);
 *   await tab.page.goto(url);
 *   await tab.waitFor(`document.readyState === "complete"`, "the page");
 * } finally {
 *   await browser.close();
 * }
 * ```
 *
 * @module
 */
import type { Browser, BrowserType, Page } from "playwright-core";

/** Path of the Chromium binary. */
export const CHROMIUM = "/usr/bin/chromium";

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Imports playwright-core's `chromium` without its `/proc` WSL probe (see the module doc). */
async function loadChromium(): Promise<BrowserType> {
  const previous = Deno.env.get("__IS_WSL_TEST__");
  Deno.env.set("__IS_WSL_TEST__", "1");
  try {
    return (await import("playwright-core")).chromium;
  } finally {
    if (previous === undefined) Deno.env.delete("__IS_WSL_TEST__");
    else Deno.env.set("__IS_WSL_TEST__", previous);
  }
}

/**
 * Starts headless Chromium with `extraArgs` (e.g. `--ignore-certificate-errors`, tests only);
 * says how to install it when it is missing.
 */
export async function launch(extraArgs: string[] = []): Promise<Browser> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `${CHROMIUM} not found: this test needs Debian's Chromium. Install it with ` +
        "`apt-get install chromium` (CI installs it); it does not download a browser.",
    );
  }
  const chromium = await loadChromium();
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 15_000,
    args: ["--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", ...extraArgs],
  });
}

/**
 * Opens a 1280×900 page that records script errors and CSP violations into
 * {@linkcode Tab.problems} from before its first navigation. Every wait of the
 * returned tab ends by `deadline` (a `Date.now()` value).
 */
export async function openTab(browser: Browser, deadline: number): Promise<Tab> {
  const page = await browser.newPage({
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 1,
  });
  const tab = new Tab(page, deadline);
  page.on("pageerror", (err) => tab.problems.push(`pageerror: ${err.message}`));
  const cdp = await page.context().newCDPSession(page);
  cdp.on("Log.entryAdded", ({ entry }) => {
    if (entry.source === "security" || entry.source === "javascript") {
      tab.problems.push(`${entry.source}: ${entry.text}`);
    }
  });
  await cdp.send("Log.enable");
  return tab;
}

/** A page plus a deadline: every wait is cut to the time left. */
export class Tab {
  /** Script errors and CSP violations seen so far (filled by {@linkcode openTab}). */
  readonly problems: string[] = [];

  /** Wraps `page`; waits end by `deadline` (a `Date.now()` value). */
  constructor(readonly page: Page, readonly deadline: number) {}

  /** Evaluates `expression` in the page (promises awaited); returns its value. */
  eval<T>(expression: string): Promise<T> {
    return this.page.evaluate<T>(expression);
  }

  /**
   * Polls `expression` until it is truthy (within `ms` and the deadline); returns its value.
   * Polled with `evaluate`, which runs over DevTools: `waitForFunction` with a string would
   * `eval` inside the page, which the dashboard's CSP rightly refuses.
   */
  async waitFor<T>(expression: string, what: string, ms = 8000): Promise<T> {
    const timeout = this.#left(ms);
    const until = Date.now() + timeout;
    for (;;) {
      const v = await this.eval<T>(expression);
      if (v) return v;
      if (Date.now() > until) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
      await sleep(50);
    }
  }

  /** A real mouse click in the middle of the element, once it is visible and enabled. */
  click(selector: string): Promise<void> {
    return this.page.click(selector, { timeout: this.#left(8000) });
  }

  /** Clears an input and types `text` into it. */
  fill(selector: string, text: string): Promise<void> {
    return this.page.fill(selector, text, { timeout: this.#left(8000) });
  }

  /** Writes a PNG of the whole page (1280 px wide, full height) to `file`. */
  async screenshot(file: URL): Promise<void> {
    const png = await this.page.screenshot({
      type: "png",
      fullPage: true,
      timeout: this.#left(15_000),
    });
    await Deno.writeFile(file, png);
  }

  #left(ms: number): number {
    return Math.max(1, Math.min(ms, this.deadline - Date.now()));
  }
}
