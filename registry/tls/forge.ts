import type Forge from 'node-forge';

export type { Forge };

/**
 * node-forge, loaded on first use. Only issuing a certificate needs it (it costs about 12 MiB of memory once
 * loaded); reading and checking certificates uses node:crypto and certificate-der.ts, so a Berth whose certificates
 * are in order never loads it.
 */
export async function loadForge(): Promise<typeof Forge> {
  return (await import('node-forge')).default;
}
