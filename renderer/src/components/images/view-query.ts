import { hrefFor, navigate, type Route } from '../../router.js';

/**
 * The repository page keeps its whole view in the URL (filter, order, page, the open tab and the open manifest), so a
 * reload, a bookmark or Back shows the same thing. These helpers change some parameters and keep the others.
 */
export type ViewParams = Partial<Record<'q' | 'sort' | 'after' | 'page' | 'view' | 'tag' | 'digest' | 'from', string | undefined>>;

export function viewHref(repository: string, route: Route, changes: ViewParams): string {
  const params: Record<string, string> = {};
  for (const [key, value] of route.query.entries()) params[key] = value;
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined || value === '') delete params[key];
    else params[key] = value;
  }
  return hrefFor('images', repository.split('/'), params);
}

export function setView(repository: string, route: Route, changes: ViewParams, options: { replace?: boolean } = {}): void {
  navigate(viewHref(repository, route, changes), options);
}
