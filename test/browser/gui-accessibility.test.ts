import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { assertAccessible, runAxe } from './accessibility.js';
import { navLink, screenshot, waitFor, withFailureScreenshot } from './browser-session.js';
import { guiTools, signedInPage, startFilledBerth } from './gui-fixture.js';
import { chooseTheme, colorScheme, goTo, guiViews, openView } from './gui-views.js';
import { tabThrough, tableFit } from './layout-probes.js';

/**
 * Every page of the GUI as someone who does not use a mouse, a wide window or a light theme meets it: axe-core on
 * every page in both themes and at 800x600, the navigation drawer under 1000 px, tables that keep their actions in
 * view, the theme toggle, and a whole, readable focus ring on every control. One filled Berth (default token
 * auth) for all of it; each step says what it proves. With BERTH_SCREENSHOTS=1 it writes the narrow screenshots.
 */

const narrow = { width: 800, height: 600 };
const wide = { width: 1280, height: 800 };

/** The computed text colour of the first element matching `selector`, as [r, g, b]. */
async function colorOf(page: Page, selector: string): Promise<[number, number, number]> {
  const value = await page.locator(selector).first().evaluate((element) => (globalThis as unknown as { getComputedStyle(node: unknown): { color: string } }).getComputedStyle(element).color);
  const match = /rgba?\((\d+)[ ,]+(\d+)[ ,]+(\d+)/.exec(value);
  assert.ok(match, `a computed rgb colour, got ${value}`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

test('the GUI is accessible on every page, in both themes, wide and narrow', { skip: toolSkipReason(...guiTools), timeout: 300_000 }, async (t) => {
  requireTools(...guiTools);
  const filled = await startFilledBerth(t);
  const { berth, repository, tags, ruleName } = filled;
  const tag = tags[0] ?? '1.0';
  const { page } = await signedInPage(t, berth);
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const views = guiViews(repository, tag);
  const step = (name: string, fn: () => Promise<void>) => t.test(name, () => withFailureScreenshot(page, name, fn));

  await step('axe finds no serious or critical violation on any page or dialog, light and dark, 1280x800 and 800x600', async () => {
    const summaries: string[] = [];
    for (const theme of ['Light', 'Dark'] as const) {
      for (const size of [wide, narrow]) {
        await page.setViewportSize(size);
        await page.goto(`${berth.url}/ui/`);
        await chooseTheme(page, theme);
        for (const view of views) {
          // Every view in the default size and theme; the main pages in all four combinations.
          if (!view.main && (theme !== 'Light' || size !== wide)) continue;
          await openView(page, berth.url, view);
          assert.equal(await colorScheme(page), theme.toLowerCase(), `${view.name} is drawn in the ${theme} theme`);
          summaries.push(await assertAccessible(page, `${view.name} (${theme.toLowerCase()}, ${size.width}x${size.height})`));
        }
      }
    }
    for (const summary of summaries) t.diagnostic(`axe: ${summary}`);
  });

  await step('axe’s colour-contrast rule measured the dimmed text, and it passes in both themes', async () => {
    // A contrast check that found nothing to measure would pass vacuously: make sure it looked at the dimmed texts
    // that were below AA (page subtitles, card labels, the "Live" label in the header).
    await page.setViewportSize(wide);
    for (const theme of ['Light', 'Dark'] as const) {
      await page.goto(`${berth.url}/ui/`);
      await chooseTheme(page, theme);
      await openView(page, berth.url, views[0]!);
      const violations = await runAxe(page);
      assert.deepEqual(violations.filter((violation) => violation.id === 'color-contrast'), [], `no contrast violation (${theme})`);
      const measured = (await page.evaluate(`(async () => {
        const result = await window.axe.run(document, { runOnly: ['color-contrast'], resultTypes: ['passes'] });
        return result.passes.flatMap((rule) => rule.nodes.map((node) => node.target.join(' ')));
      })()`)) as string[];
      assert.ok(measured.length >= 20, `axe measured the page's texts (${measured.length} passed nodes, ${theme})`);
      const live = page.getByRole('status', { name: 'Live updates on' }).getByText('Live', { exact: true });
      assert.ok(await live.isVisible(), 'the "Live" label is on screen');
    }
  });

  await step('under 1000 px the sidebar becomes a drawer that opens from a named menu button', async () => {
    await page.setViewportSize({ width: 1000, height: 700 });
    await page.goto(`${berth.url}/ui/`);
    await page.getByRole('navigation', { name: 'Main navigation' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Open navigation' }).count(), 0, 'no menu button beside a sidebar');

    await page.setViewportSize({ width: 999, height: 700 });
    const menu = page.getByRole('button', { name: 'Open navigation' });
    await menu.waitFor();
    await page.getByRole('navigation', { name: 'Main navigation' }).waitFor({ state: 'detached' });
    assert.equal(await menu.getAttribute('aria-expanded'), 'false');
    const heading = page.getByRole('heading', { name: 'Overview', level: 1 });
    const headingBox = await heading.boundingBox();
    assert.ok(headingBox && headingBox.x < 60, `the page uses the width the sidebar had (heading at x=${headingBox?.x})`);

    await menu.click();
    const drawer = page.getByRole('dialog').filter({ has: page.getByRole('navigation', { name: 'Main navigation' }) });
    await drawer.waitFor();
    assert.equal(await menu.getAttribute('aria-expanded'), 'true');
    await assertAccessible(page, 'Navigation drawer (light, 999x700)');
    await navLink(page, 'Mirror').click();
    await page.getByRole('heading', { name: 'Mirror', level: 1 }).waitFor();
    await drawer.waitFor({ state: 'detached' });
    await waitFor('focus to go back to the menu button', async () => (await page.evaluate('document.activeElement?.getAttribute("aria-label")')) === 'Open navigation', 5_000);

    // Esc closes it too, and growing the window past 1000 px brings the sidebar back.
    await menu.click();
    await drawer.waitFor();
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'detached' });
    await page.setViewportSize(wide);
    await page.getByRole('navigation', { name: 'Main navigation' }).waitFor();
    await menu.waitFor({ state: 'detached' });
  });

  await step('at 800x600 every table keeps its actions and outcome columns in view, with no sideways scrolling', async () => {
    await page.setViewportSize(narrow);
    await page.goto(`${berth.url}/ui/`);
    await chooseTheme(page, 'Light');
    for (const view of views.filter((entry) => entry.main && entry.tables !== false && !entry.name.startsWith('Tag drawer'))) {
      await openView(page, berth.url, view);
      const fit = await tableFit(page);
      assert.equal(fit.pageScrollsSideways, false, `${view.name}: the page does not scroll sideways`);
      assert.ok(fit.tables.length > 0, `${view.name}: has a table`);
      for (const table of fit.tables) {
        assert.equal(table.hiddenPixels, 0, `${view.name}: table ${table.table} fits (${table.hiddenPixels} px would scroll)`);
        assert.ok(table.lastColumnVisible, `${view.name}: the last column of ${table.table} (${table.lastColumn}) is in view`);
      }
    }
    // The controls themselves, not only their column: each row's actions can be seen and used.
    const inView = async (name: string, locator: ReturnType<Page['getByRole']>) => {
      const box = await locator.boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= narrow.width, `${name} is inside the 800 px window (${JSON.stringify(box)})`);
    };
    await openView(page, berth.url, views.find((view) => view.name.startsWith('Repository'))!);
    await inView(`Delete tag ${tag}`, page.getByRole('button', { name: `Delete tag ${tag}` }));
    await inView('Copy pull command', page.getByRole('button', { name: `Copy pull command for ${tag}` }));
    await page.goto(`${berth.url}/ui/mirror`);
    const rules = page.getByRole('table', { name: 'Sync rules' });
    await inView('Run now', rules.getByRole('button', { name: `Run now ${ruleName}` }));
    await inView('Edit', rules.getByRole('button', { name: `Edit ${ruleName}` }));
    await inView('Delete rule', rules.getByRole('button', { name: `Delete ${ruleName}` }));
    await page.goto(`${berth.url}/ui/tokens`);
    await inView('Revoke', page.getByRole('button', { name: 'Revoke ci' }));
    await page.goto(`${berth.url}/ui/audit`);
    await inView('Outcome', page.getByRole('table', { name: 'Audit events' }).locator('tbody tr').first().locator('td').last());
    await screenshot(page, 'audit-narrow');
    await page.goto(`${berth.url}/ui/`);
    await page.getByRole('table', { name: 'Recent activity' }).waitFor();
    await screenshot(page, 'overview-narrow');
    await page.goto(`${berth.url}/ui/mirror`);
    await page.getByRole('table', { name: 'Job history' }).waitFor();
    await page.getByRole('table', { name: 'Sync rules' }).scrollIntoViewIfNeeded();
    await screenshot(page, 'mirror-narrow');
    await page.goto(`${berth.url}/ui/`);
    await page.getByRole('button', { name: 'Open navigation' }).click();
    await page.getByRole('dialog').getByRole('navigation', { name: 'Main navigation' }).waitFor();
    await screenshot(page, 'navigation-narrow');
    await page.keyboard.press('Escape');
  });

  await step('the theme toggle switches at once, is remembered across a reload, and System follows the OS', async () => {
    await page.setViewportSize(wide);
    await page.emulateMedia({ colorScheme: 'light' });
    await page.goto(`${berth.url}/ui/images/${repository}`);
    const toggle = page.getByRole('radiogroup', { name: 'Theme' });
    await chooseTheme(page, 'Dark');
    assert.equal(await colorScheme(page), 'dark', 'Dark applies without a reload while the OS says light');
    await page.reload();
    await page.getByRole('table', { name: `Tags of ${repository}` }).waitFor();
    assert.equal(await colorScheme(page), 'dark', 'still dark after a reload');
    assert.equal(await toggle.getByRole('radio', { name: 'Dark' }).isChecked(), true, 'the toggle shows the remembered choice');

    // In the dark theme a Delete control is still red (it turned near-white before), and readable (axe above).
    const [red, green, blue] = await colorOf(page, `button[aria-label="Delete tag ${tag}"]`);
    assert.ok(red > green + 80 && red > blue + 80, `Delete tag is red in the dark theme: rgb(${red}, ${green}, ${blue})`);
    await page.goto(`${berth.url}/ui/mirror`);
    const [r2, g2, b2] = await colorOf(page, `article[aria-label="Upstream local"] button[aria-label="Delete local"]`);
    assert.ok(r2 > g2 + 80 && r2 > b2 + 80, `Delete upstream is red in the dark theme: rgb(${r2}, ${g2}, ${b2})`);
    await screenshot(page, 'mirror-dark');

    await chooseTheme(page, 'Light');
    assert.equal(await colorScheme(page), 'light');
    await chooseTheme(page, 'System');
    assert.equal(await colorScheme(page), 'light', 'System: the OS says light');
    await page.emulateMedia({ colorScheme: 'dark' });
    await waitFor('the GUI to follow the OS switching to dark', async () => (await colorScheme(page)) === 'dark', 5_000);
    await page.reload();
    await page.getByRole('heading', { name: 'Mirror', level: 1 }).waitFor();
    assert.equal(await colorScheme(page), 'dark', 'System is remembered too: after a reload it still follows the OS');
    assert.equal(await toggle.getByRole('radio', { name: 'System' }).isChecked(), true);
    await page.emulateMedia({ colorScheme: 'light' });
    await chooseTheme(page, 'Light');
  });

  await step('every control on every page shows a whole focus ring that reads on its background, in both themes', async () => {
    const seen: string[] = [];
    for (const [theme, size] of [['Light', wide], ['Dark', wide], ['Light', narrow]] as const) {
      await page.setViewportSize(size);
      await page.goto(`${berth.url}/ui/`);
      await chooseTheme(page, theme);
      for (const view of views.filter((entry) => entry.main)) {
        await openView(page, berth.url, view);
        const stops = await tabThrough(page);
        const label = `${view.name} (${theme.toLowerCase()}, ${size.width}x${size.height})`;
        assert.ok(stops.length >= 3, `${label}: Tab reached the page's controls (${stops.length} stops)`);
        const problems = stops.filter((stop) => stop.problem).map((stop) => `${stop.element}: ${stop.problem}`);
        assert.deepEqual(problems, [], `${label}: every focus stop draws a visible ring`);
        seen.push(`${label}: ${stops.length} focus stops`);
      }
    }
    // The navigation links (whose ring the sidebar's scroller used to clip) were among the stops.
    await page.setViewportSize(wide);
    await page.goto(`${berth.url}/ui/settings`);
    const stops = await tabThrough(page);
    for (const name of ['Overview', 'Images', 'Access tokens', 'Mirror', 'Settings', 'Audit', 'Trash']) {
      assert.ok(stops.some((stop) => stop.element.startsWith('a ') && stop.element.includes(`"${name}`)), `the ${name} link took focus: ${stops.map((stop) => stop.element).join(', ')}`);
    }
    // And inside the narrow layout's drawer.
    // The skip link, focused last, sits over the menu button while it has focus (as it should): move focus off it.
    await page.evaluate('document.activeElement?.blur()');
    await page.setViewportSize(narrow);
    await goTo(page, 'Audit');
    await page.getByRole('heading', { name: 'Audit', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Open navigation' }).click();
    const drawer = page.getByRole('dialog').filter({ has: page.getByRole('navigation', { name: 'Main navigation' }) });
    await drawer.waitFor();
    const drawerStops = await tabThrough(page, 20);
    assert.ok(drawerStops.length >= 7, `Tab stays in the drawer and reaches its links (${drawerStops.map((stop) => stop.element).join(', ')})`);
    assert.deepEqual(drawerStops.filter((stop) => stop.problem).map((stop) => `${stop.element}: ${stop.problem}`), [], 'the drawer’s focus rings are whole');
    await page.keyboard.press('Escape');
    for (const line of seen) t.diagnostic(line);
  });

  assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
});
