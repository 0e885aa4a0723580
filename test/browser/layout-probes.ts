import type { Page } from 'playwright-core';
import { settle } from './browser-session.js';

/**
 * Measurements taken inside the page for what axe does not check: that keyboard focus is drawn, whole and readable,
 * and that tables fit the window. The scripts are strings because this project compiles without the DOM library.
 */

export interface FocusStop {
  /** Tag, id and name of the focused element, for messages. */
  readonly element: string;
  /** Why its focus is not properly visible; absent when it is. */
  readonly problem?: string;
}

/**
 * The focused element's ring: an outline of at least 2 px (or a box-shadow) on it, or, for a visually hidden input
 * (switch, chip, segmented control), on the element drawn after it. The ring must not be clipped by any scrolling or
 * clipping ancestor, must be inside the window and not under the fixed header, and must contrast 3:1 with what is
 * behind it (WCAG 1.4.11 and 2.4.7).
 */
const focusStopScript = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const describe = (node) => {
    const name = (node.getAttribute('aria-label') || node.textContent || node.getAttribute('placeholder') || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
    return node.tagName.toLowerCase() + (node.getAttribute('role') ? '[role=' + node.getAttribute('role') + ']' : '') + ' "' + name + '"';
  };
  const parse = (color) => {
    const m = /rgba?\\(([^)]+)\\)/.exec(color);
    if (!m) return undefined;
    const [r, g, b, a = '1'] = m[1].split(/[ ,/]+/).filter(Boolean);
    return { r: +r, g: +g, b: +b, a: +a };
  };
  const luminance = ({ r, g, b }) => {
    const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const ringOf = (node) => {
    const style = getComputedStyle(node);
    const width = parseFloat(style.outlineWidth) || 0;
    if (style.outlineStyle !== 'none' && style.outlineStyle !== 'hidden' && width >= 2) {
      return { node, reach: Math.max(0, width + (parseFloat(style.outlineOffset) || 0)), color: style.outlineColor };
    }
    if (style.boxShadow && style.boxShadow !== 'none') return { node, reach: 0, color: undefined };
    return undefined;
  };
  // Where the ring may be drawn: on the element; for a visually hidden input (switch, chip, segmented control) on
  // the element after it or its label; for a field inside a box (tags input) on an enclosing element.
  const candidates = [el, el.nextElementSibling, ...(el.labels ? [...el.labels] : []), el.parentElement, el.parentElement?.parentElement].filter(Boolean);
  const drawn = (node) => {
    const box = node.getBoundingClientRect();
    return box.width >= 1 && box.height >= 1 && getComputedStyle(node).opacity !== '0';
  };
  let ring;
  for (const candidate of candidates) {
    ring = drawn(candidate) ? ringOf(candidate) : undefined;
    if (ring) break;
  }
  const element = describe(el);
  if (!ring) return { element, problem: 'no visible focus ring: neither outline (2px or more) nor box-shadow on a drawn element' };
  const box = ring.node.getBoundingClientRect();
  const rect = { left: box.left - ring.reach, top: box.top - ring.reach, right: box.right + ring.reach, bottom: box.bottom + ring.reach };
  // Ancestors clip, except the body (its overflow belongs to the window, checked below) and those above a fixed
  // element without a transform (a fixed drawer escapes the page's scroll lock on <body>).
  let fixed = getComputedStyle(ring.node).position === 'fixed';
  for (let parent = ring.node.parentElement; parent && parent !== document.body && parent !== document.documentElement; parent = parent.parentElement) {
    const style = getComputedStyle(parent);
    if (fixed && style.transform === 'none' && style.filter === 'none' && style.contain === 'none') continue;
    fixed = style.position === 'fixed';
    if (style.overflowX === 'visible' && style.overflowY === 'visible') continue;
    const outer = parent.getBoundingClientRect();
    const left = outer.left + parent.clientLeft;
    const top = outer.top + parent.clientTop;
    const right = left + parent.clientWidth;
    const bottom = top + parent.clientHeight;
    if (rect.left < left - 0.5 || rect.top < top - 0.5 || rect.right > right + 0.5 || rect.bottom > bottom + 0.5) {
      return { element, problem: 'the ring is clipped by ' + describe(parent) + ' (overflow ' + style.overflowX + '/' + style.overflowY + ')' };
    }
  }
  if (rect.top < -0.5 || rect.left < -0.5 || rect.bottom > innerHeight + 0.5 || rect.right > innerWidth + 0.5) {
    return { element, problem: 'the ring is outside the window: ' + JSON.stringify(rect) };
  }
  // Nothing on top of it: the fixed header, a sticky bar or an overlay would hide where focus is (WCAG 2.4.11).
  const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  if (!hit || !(ring.node.contains(hit) || el.contains(hit) || hit.contains(ring.node))) {
    return { element, problem: 'the focused element is covered by ' + (hit ? describe(hit) : 'nothing drawn') };
  }
  const header = document.querySelector('.mantine-AppShell-header');
  if (header && el.closest('main') && rect.top < header.getBoundingClientRect().bottom - 0.5) {
    return { element, problem: 'the ring is partly under the fixed header' };
  }
  if (ring.color) {
    const fg = parse(ring.color);
    let bg;
    for (let node = ring.node.parentElement; node; node = node.parentElement) {
      const color = parse(getComputedStyle(node).backgroundColor);
      if (color && color.a > 0.5) { bg = color; break; }
    }
    if (fg && bg) {
      const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
      const ratio = (hi + 0.05) / (lo + 0.05);
      if (ratio < 3) return { element, problem: 'the ring contrasts only ' + ratio.toFixed(2) + ':1 with the background rgb(' + [bg.r, bg.g, bg.b].join(', ') + ')' };
    }
  }
  return { element };
})()`;

export async function focusStop(page: Page): Promise<FocusStop | null> {
  return (await page.evaluate(focusStopScript)) as FocusStop | null;
}

/**
 * Presses Tab from the start of the page (or, with a dialog open, from where focus is inside it) until focus comes
 * back round or `maxStops`, checking each stop's ring. Returns every stop, so a test can also assert what focus reached.
 */
export async function tabThrough(page: Page, maxStops = 120): Promise<FocusStop[]> {
  await settle(page);
  await page.evaluate(`(() => {
    if (document.querySelector('[role=dialog]')) return;
    document.activeElement && document.activeElement.blur();
    window.scrollTo(0, 0);
  })()`);
  const stops: FocusStop[] = [];
  const seen = new Set<string>();
  for (let index = 0; index < maxStops; index += 1) {
    await page.keyboard.press('Tab');
    const key = (await page.evaluate(`(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return '';
      if (!el.dataset.berthTabStop) el.dataset.berthTabStop = String(Math.random());
      return el.dataset.berthTabStop;
    })()`)) as string;
    if (key === '') continue;
    if (seen.has(key)) break;
    seen.add(key);
    const stop = await focusStop(page);
    if (stop) stops.push(stop);
  }
  return stops;
}

export interface TableFit {
  readonly table: string;
  /** How far the table's frame scrolls sideways (0: everything fits). */
  readonly hiddenPixels: number;
  /** The last visible header cell ("Actions", "Outcome"...; the first row's last cell without a header) and whether it ends inside the window. */
  readonly lastColumn: string;
  readonly lastColumnVisible: boolean;
}

/** Every table on the page, and whether the page itself scrolls sideways. */
export async function tableFit(page: Page): Promise<{ pageScrollsSideways: boolean; tables: TableFit[] }> {
  return (await page.evaluate(`(() => {
    const tables = [...document.querySelectorAll('table')].filter((table) => table.offsetParent !== null).map((table) => {
      let frame = table.parentElement;
      while (frame && getComputedStyle(frame).overflowX === 'visible') frame = frame.parentElement;
      // The header row, or the first row for a table without one (the overview's recent activity).
      const headerRow = table.querySelector('thead tr') || table.querySelector('tbody tr');
      const headers = headerRow ? [...headerRow.children].filter((cell) => getComputedStyle(cell).display !== 'none') : [];
      const last = headers[headers.length - 1];
      const box = last ? last.getBoundingClientRect() : undefined;
      const frameBox = frame ? frame.getBoundingClientRect() : undefined;
      return {
        table: table.getAttribute('aria-label') || '(unnamed table)',
        hiddenPixels: frame && frame !== document.body ? Math.max(0, frame.scrollWidth - frame.clientWidth) : 0,
        lastColumn: last ? (last.textContent || '').trim() || '(actions)' : '(no header)',
        lastColumnVisible: Boolean(box && box.width > 0 && box.right <= innerWidth + 0.5 && (!frameBox || box.right <= frameBox.right + 0.5)),
      };
    });
    return { pageScrollsSideways: document.documentElement.scrollWidth > innerWidth + 0.5, tables };
  })()`)) as { pageScrollsSideways: boolean; tables: TableFit[] };
}
