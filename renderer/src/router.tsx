import { useEffect, useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';

/**
 * A tiny history router: the GUI has six pages and one detail view, so a dependency is not worth it.
 * Every page is a real URL under `/ui/` (the server falls back to index.html), links are real `<a href>`.
 */
export const uiBase = '/ui';

export type PageId = 'overview' | 'images' | 'tokens' | 'mirror' | 'settings' | 'audit' | 'trash';

export interface Route {
  page: PageId | 'not-found';
  /** Path segments after the page, e.g. `['team', 'app']` for `/ui/images/team/app`. */
  rest: string[];
  query: URLSearchParams;
}

const pages: readonly PageId[] = ['overview', 'images', 'tokens', 'mirror', 'settings', 'audit', 'trash'];

export function parseLocation(pathname: string, search: string): Route {
  const inside = pathname.startsWith(uiBase) ? pathname.slice(uiBase.length) : pathname;
  const parts = inside.split('/').filter(Boolean).map((part) => decodeURIComponent(part));
  const first = parts[0] ?? 'overview';
  const page = (pages as readonly string[]).includes(first) ? (first as PageId) : 'not-found';
  return { page, rest: parts.slice(1), query: new URLSearchParams(search) };
}

export function hrefFor(page: PageId, rest: string[] = [], query?: Record<string, string>): string {
  const path = [page, ...rest].map((part) => encodeURIComponent(part).replace(/%2F/g, '/')).join('/');
  const search = query ? new URLSearchParams(query).toString() : '';
  return `${uiBase}/${path}${search ? `?${search}` : ''}`;
}

const listeners = new Set<() => void>();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  window.addEventListener('popstate', listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener('popstate', listener);
  };
}

function snapshot(): string {
  return window.location.pathname + window.location.search;
}

export function navigate(href: string, options: { replace?: boolean } = {}): void {
  if (href === snapshot()) return;
  if (options.replace) window.history.replaceState(null, '', href);
  else window.history.pushState(null, '', href);
  for (const listener of listeners) listener();
}

export function useRoute(): Route {
  const location = useSyncExternalStore(subscribe, snapshot);
  const queryAt = location.indexOf('?');
  return queryAt === -1 ? parseLocation(location, '') : parseLocation(location.slice(0, queryAt), location.slice(queryAt));
}

/** Sets the document title per page, so browser history and screen readers say where you are. */
export function useDocumentTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · Berth` : 'Berth';
  }, [title]);
}

/** An `<a>` that navigates client-side on a plain left click and behaves normally otherwise (new tab etc.). */
export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const handle = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={handle} {...rest} />;
}
