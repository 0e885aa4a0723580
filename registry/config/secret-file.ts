import { readFileSync, statSync } from 'node:fs';

/**
 * Reads a secret the operator keeps in a file named by an environment variable (a database password, an SSE-C
 * key), so it never stands on a command line. The file must be owner-only, like an ssh key: one that others can
 * read is refused, not silently used. Errors name the variable and say how to fix it; `fail` makes them the
 * caller's own error type (an option error the CLI answers with exit 2).
 */
export function readOwnerOnlySecretFile(variable: string, path: string, fail: (message: string) => Error): Buffer {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (error) {
    throw fail(`${variable}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  if ((mode & 0o077) !== 0) {
    throw fail(`${variable}: ${path} is readable by others (mode ${(mode & 0o777).toString(8)}): chmod 600 ${path}`);
  }
  const content = readFileSync(path);
  if (content.length === 0) throw fail(`${variable}: ${path} is empty`);
  return content;
}
