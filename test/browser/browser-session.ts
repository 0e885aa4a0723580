import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { createTempDir, removeDir, type AfterHook } from '../support/temp-dir.js';

/**
 * Debian's Chromium driven by playwright-core, for GUI tests against a real `berth serve`. playwright-core
 * ships no browser and no `expect`: the browser is the system one, and `waitFor` below is the polling
 * assertion the tests use instead of fixed sleeps.
 */

export const chromiumPath = '/usr/lib/chromium/chromium';

/** README screenshots are written only when asked for, so a CI run never dirties the tree. */
export const screenshotsWanted = process.env.BERTH_SCREENSHOTS === '1';

/** `docs/screenshots/` at the repository root (this file runs from dist/test/browser/). */
export const screenshotDir = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url));

export interface BrowserOptions {
  readonly colorScheme?: 'light' | 'dark';
}

/**
 * A fresh Chromium profile (its own temp dir), 1280x800, closed and removed after the test. The flags keep
 * Chromium off the network (no component updates, sync or QUIC probes) and working as root in a container.
 */
export async function launchBrowser(t: AfterHook, options: BrowserOptions = {}): Promise<BrowserContext> {
  const profile = await createTempDir('berth-chromium-');
  let context: BrowserContext | undefined;
  // One hook, in this order: the profile dir must outlive the browser using it.
  t.after(async () => {
    await context?.close().catch(() => undefined);
    await removeDir(profile);
  });
  context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1280, height: 800 },
    colorScheme: options.colorScheme ?? 'light',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context.setDefaultTimeout(20_000);
  context.setDefaultNavigationTimeout(20_000);
  return context;
}

/** The persistent context opens with one blank page; use it rather than a second window. */
export async function firstPage(context: BrowserContext): Promise<Page> {
  return context.pages()[0] ?? (await context.newPage());
}

/**
 * Polls `condition` until it returns a truthy value (returned) or `timeoutMs` passes (throws with `what`
 * and the last error or value seen). The web-first assertion for things a locator cannot wait for.
 */
export async function waitFor<T>(what: string, condition: () => Promise<T> | T, timeoutMs = 15_000, intervalMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (error) {
      last = error instanceof Error ? error.message : error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Waits until the locator's text content matches. */
export async function waitForText(locator: Locator, pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  return waitFor(`text ${pattern} in ${String(locator)}`, async () => {
    const text = (await locator.textContent({ timeout: 1000 })) ?? '';
    return pattern.test(text) ? text : '';
  }, timeoutMs);
}

/** Saves a viewport screenshot as docs/screenshots/NAME.png when BERTH_SCREENSHOTS=1; otherwise does nothing. */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (!screenshotsWanted) return;
  await mkdir(screenshotDir, { recursive: true });
  // Let transitions (drawers, modals, progress bars) settle, and drop the blinking caret from the picture.
  await page.waitForTimeout(400);
  await page.screenshot({ path: `${screenshotDir}${name}.png`, caret: 'hide', animations: 'disabled' });
}

/**
 * Waits until no CSS transition or animation has run for six frames in a row (dialogs fade, drawers slide in, and
 * Mantine starts a transition a frame or two after the change), so what is measured next is what stays on screen.
 * At most 5 s.
 */
export async function settle(page: Page): Promise<void> {
  await page.evaluate(`new Promise((resolve) => {
    const deadline = performance.now() + 5000;
    let calm = 0;
    const tick = () => {
      calm = document.getAnimations().some((animation) => animation.playState === 'running') ? 0 : calm + 1;
      if (calm >= 6 || performance.now() > deadline) resolve(undefined);
      else requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  })`);
}

/** The left navigation's link to a page (names match by substring, so scope to the navigation). */
export function navLink(page: Page, name: string): Locator {
  return page.getByRole('navigation').getByRole('link', { name, exact: true });
}

/**
 * Runs `fn`; when it throws, saves a screenshot of `page` under os.tmpdir() and names it in the error, so a
 * failing CI run says what the browser showed at that moment.
 */
export async function withFailureScreenshot(page: Page, name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    const file = join(tmpdir(), `berth-gui-failure-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}-${Date.now()}.png`);
    const saved = await page.screenshot({ path: file }).then(() => true, () => false);
    if (saved && error instanceof Error) error.message += `\n(screenshot of the page: ${file})`;
    throw error;
  }
}
