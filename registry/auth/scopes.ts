import { isRepositoryName } from '../core/names.js';
import type { Action, Scope } from '../state/schema.js';
import { AuthError } from './errors.js';

export type { Action, Scope };

export const allActions: readonly Action[] = ['pull', 'push', 'delete'];

function isAction(value: string): value is Action {
  return (allActions as readonly string[]).includes(value);
}

/** `*`, `<name>/*` or an exact repository name (parseScope also wants a slash in an exact one). */
export function isScopePattern(pattern: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('/*')) return isRepositoryName(pattern.slice(0, -2));
  return isRepositoryName(pattern);
}

/**
 * Parses the CLI form of a scope: `team/*:pull,push`, `team/app:pull`, `*:pull`. `*` as the action list means
 * all actions. Actions are de-duplicated and kept in canonical order (pull, push, delete).
 */
export function parseScope(text: string): Scope {
  const trimmed = text.trim();
  const colon = trimmed.lastIndexOf(':');
  if (colon <= 0) {
    throw new AuthError('BERTH_SCOPE_INVALID', `invalid scope "${trimmed}": expected <pattern>:<actions>, e.g. team/*:pull,push`);
  }
  const pattern = trimmed.slice(0, colon);
  const actionText = trimmed.slice(colon + 1);
  if (!isScopePattern(pattern)) {
    throw new AuthError(
      'BERTH_SCOPE_INVALID',
      `invalid scope pattern "${pattern}": use * (everything), <namespace>/* (a namespace) or an exact repository name`,
    );
  }
  if (pattern !== '*' && !pattern.includes('/')) {
    // `team:pull` reads as "the namespace team" but would grant only a repository named exactly `team`: refused, since
    // `team/*` means the namespace and also covers a repository named `team` itself.
    throw new AuthError(
      'BERTH_SCOPE_INVALID',
      `scope "${trimmed}" is ambiguous: "${pattern}" without a slash is the single repository ${pattern}, not the namespace; ` +
        `did you mean ${pattern}/*:${actionText} (the namespace ${pattern} and everything in it, ${pattern} itself included)?`,
    );
  }
  const requested = actionText === '*' ? [...allActions] : actionText.split(',').map((part) => part.trim());
  const unknown = requested.filter((action) => !isAction(action));
  if (requested.length === 0 || unknown.length > 0) {
    const message = `invalid actions "${actionText}" in scope "${trimmed}": use pull, push, delete or *`;
    throw new AuthError('BERTH_SCOPE_INVALID', message);
  }
  return { pattern, actions: allActions.filter((action) => requested.includes(action)) };
}

export function formatScope(scope: Scope): string {
  return `${scope.pattern}:${scope.actions.join(',')}`;
}

/**
 * Does `pattern` cover `repository`? `<prefix>/*` covers the prefix itself and everything below it, so `team/*`
 * is the whole namespace `team` (namespaceOf('team') is 'team' too).
 */
export function patternMatches(pattern: string, repository: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('/*')) {
    const prefix = pattern.slice(0, -2);
    return repository === prefix || repository.startsWith(`${prefix}/`);
  }
  return pattern === repository;
}

/** The union of the actions every matching scope grants on `repository`. */
export function actionsForRepository(scopes: readonly Scope[], repository: string): Set<Action> {
  const granted = new Set<Action>();
  for (const scope of scopes) {
    if (!patternMatches(scope.pattern, repository)) continue;
    for (const action of scope.actions) granted.add(action);
  }
  return granted;
}

/** Listing every repository (`/v2/_catalog`) is for tokens whose scopes cover everything (`*` with pull). */
export function scopesAllowCatalog(scopes: readonly Scope[]): boolean {
  return scopes.some((scope) => scope.pattern === '*' && scope.actions.includes('pull'));
}
