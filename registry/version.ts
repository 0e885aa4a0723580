import { readFileSync } from 'node:fs';

/** Berth's version, from package.json (two levels up from dist/registry/). */
export const berthVersion: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
