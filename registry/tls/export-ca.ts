import { X509Certificate } from 'node:crypto';
import { TlsError } from './errors.js';
import { readTextIfExists } from './key-files.js';
import { namesOutside, readPermittedSubtrees } from './name-constraints.js';
import { parseSubjectName } from './subject-names.js';
import { tlsPaths } from './tls-paths.js';

/**
 * The local CA certificate (PEM), for users to add to their trust stores. Reads the file only: it never
 * creates a CA, so exporting from a fresh data directory tells the user to start Berth first.
 */
export async function exportCaCertificate(dataDir: string): Promise<string> {
  const path = tlsPaths(dataDir).caCert;
  const pem = await readTextIfExists(path);
  if (pem === undefined) {
    const message = `Berth has not created its local CA yet (no ${path}): start Berth once, then export again`;
    throw new TlsError('BERTH_TLS_CA_MISSING', message);
  }
  try {
    new X509Certificate(pem);
  } catch (error) {
    const message = `${path} is not a readable certificate: restart Berth to re-create it`;
    throw new TlsError('BERTH_TLS_FILE_INVALID', message, { cause: error });
  }
  return pem;
}

/**
 * Of `extraNames` (configured TLS names), those the CA on disk may not sign for, as `DNS:x` / `IP:x`. None when
 * there is no CA yet (the first start makes one that covers them) or when it has no name constraints.
 */
export async function namesOutsideCa(dataDir: string, extraNames: readonly string[]): Promise<string[]> {
  const pem = await readTextIfExists(tlsPaths(dataDir).caCert);
  if (pem === undefined) return [];
  let subtrees;
  try {
    subtrees = readPermittedSubtrees(pem);
  } catch {
    return []; // an unreadable CA is replaced at the next start, with constraints for the names then configured
  }
  return namesOutside(subtrees, extraNames.map(parseSubjectName));
}
