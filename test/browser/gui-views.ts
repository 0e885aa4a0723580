import type { Page } from 'playwright-core';
import { navLink, settle, waitFor } from './browser-session.js';

/**
 * The GUI's pages and views as the accessibility and layout tests visit them: where each is, and what to wait for
 * before measuring (the data, not just the heading). Used with the filled Berth of gui-fixture.ts.
 */

export interface GuiView {
  readonly name: string;
  readonly path: string;
  /** Waits until the view shows its data; may also open what the view is (a dialog). */
  readonly ready: (page: Page) => Promise<void>;
  /** Counted among the main pages (checked in every theme and size, not only the default one). */
  readonly main: boolean;
  /** false: the view may show no table (a job that nothing failed in), so the table-fit check skips it. */
  readonly tables?: false;
}

export function guiViews(repository: string, tag: string): GuiView[] {
  const table = (name: string) => async (page: Page) => {
    await page.getByRole('table', { name }).locator('tbody tr').first().waitFor();
  };
  return [
    { name: 'Overview', path: '/ui/', ready: table('Recent activity'), main: true },
    { name: 'Images', path: '/ui/images', ready: table('Repositories'), main: true },
    { name: `Repository ${repository}`, path: `/ui/images/${repository}`, ready: table(`Tags of ${repository}`), main: true },
    {
      name: `Tag drawer ${repository}:${tag}`,
      path: `/ui/images/${repository}?tag=${encodeURIComponent(tag)}`,
      ready: async (page) => {
        await page.getByRole('dialog', { name: `${repository}:${tag}` }).getByRole('table', { name: 'Layers' }).waitFor();
      },
      main: true,
    },
    {
      name: `Untagged manifests of ${repository}`,
      path: `/ui/images/${repository}?view=untagged`,
      ready: async (page) => {
        await page.getByRole('tab', { name: /^Untagged \(\d+\)$/ }).waitFor();
      },
      main: false,
    },
    { name: 'Access tokens', path: '/ui/tokens', ready: table('Access tokens'), main: true },
    {
      name: 'Create token dialog',
      path: '/ui/tokens',
      ready: async (page) => {
        await page.getByRole('table', { name: 'Access tokens' }).waitFor();
        await page.getByRole('button', { name: 'Create token' }).first().click();
        await page.getByRole('dialog', { name: 'Create access token' }).getByLabel('Token name').waitFor();
      },
      main: false,
    },
    { name: 'Mirror', path: '/ui/mirror', ready: table('Job history'), main: true },
    {
      name: 'Sync job',
      path: '/ui/mirror',
      ready: async (page) => {
        // The job page has no fixed URL (its id is made by the run): open it as a person does, from the history.
        await page.getByRole('table', { name: 'Job history' }).locator('tbody tr a').first().click();
        await page.getByRole('region', { name: /^Copied/ }).getByRole('listitem').first().waitFor();
      },
      main: true,
      tables: false,
    },
    { name: 'Settings', path: '/ui/settings', ready: table('Namespaces'), main: true },
    { name: 'Audit', path: '/ui/audit', ready: table('Audit events'), main: true },
    {
      name: 'Trash',
      path: '/ui/trash',
      // The filled Berth deleted nothing: its trash shows the empty state (the table is gui-trash.test.ts's).
      ready: async (page) => {
        await page.getByRole('heading', { name: 'The trash is empty' }).waitFor();
      },
      main: false,
      tables: false,
    },
  ];
}

/** Opens a view by its URL (a full load, as a bookmark or a reload would) and waits for its data. */
export async function openView(page: Page, baseUrl: string, view: GuiView): Promise<void> {
  await page.goto(`${baseUrl}${view.path}`);
  await view.ready(page);
  await settle(page);
}

/** The shell's breakpoint (sidebarQuery in renderer/src/components/app-layout.tsx): from this width on, a sidebar. */
const sidebarMinWidth = 1000;

/** On a narrow window, opens the navigation drawer from the header's menu button; on a wide one the sidebar is there. */
export async function openNavigation(page: Page): Promise<void> {
  const menu = page.getByRole('button', { name: 'Open navigation' });
  const width = page.viewportSize()?.width;
  if (width === undefined) {
    // A window of its own size: the shell renders one or the other once the app has loaded; wait for it, then decide.
    await page.getByRole('navigation', { name: 'Main navigation' }).or(menu).first().waitFor();
    if (!(await menu.isVisible())) return;
  } else if (width >= sidebarMinWidth) {
    // Decided by the width the test set, not by what is on screen: just after a resize the old layout is there for
    // a moment, and a menu button seen then is gone by the time it is clicked.
    await page.getByRole('navigation', { name: 'Main navigation' }).first().waitFor();
    return;
  }
  await menu.click();
  await page.getByRole('dialog').getByRole('navigation', { name: 'Main navigation' }).waitFor();
}

/** Clicks a page in the navigation, opening the drawer first on a narrow window. */
export async function goTo(page: Page, name: string): Promise<void> {
  await openNavigation(page);
  await navLink(page, name).click();
}

/** Picks Light, Dark or System in the navigation's theme control (the drawer's on a narrow window). */
export async function chooseTheme(page: Page, choice: 'Light' | 'Dark' | 'System'): Promise<void> {
  await openNavigation(page);
  // The radio inputs are visually hidden under their labels (Mantine's segmented control): click the label, as a person does.
  const group = page.getByRole('radiogroup', { name: 'Theme' });
  await group.locator('label').filter({ hasText: new RegExp(`^${choice}$`) }).click();
  await waitFor(`the ${choice} theme to be chosen`, () => group.getByRole('radio', { name: choice }).isChecked(), 5_000);
  const drawer = page.getByRole('dialog').filter({ has: page.getByRole('navigation', { name: 'Main navigation' }) });
  if (await drawer.isVisible()) {
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'detached' });
  }
}

export async function colorScheme(page: Page): Promise<string | null> {
  return page.locator('html').getAttribute('data-mantine-color-scheme');
}
