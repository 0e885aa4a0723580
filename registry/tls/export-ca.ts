import { X509Certificate } from 'node:crypto';
import { TlsError } from './errors.js';
import { readTextIfExists } from './key-files.js';
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
