import { join } from 'node:path';

/**
 * Where the TLS material lives inside the data directory:
 * ```
 * <dataDir>/tls/          mode 0700
 *   ca.key                0600  the local CA's private key (PKCS#8 PEM)
 *   ca.crt                0644  the local CA certificate: what users add to their trust stores
 *   server.key            0600  the server's private key
 *   server.crt            0644  the server certificate, signed by ca.key
 *   .lock.d/                    held while a process (the server, `berth ca rotate`) writes the files above
 * ```
 */
export interface TlsPaths {
  readonly dir: string;
  readonly caKey: string;
  readonly caCert: string;
  readonly serverKey: string;
  readonly serverCert: string;
  readonly lock: string;
}

export function tlsPaths(dataDir: string): TlsPaths {
  const dir = join(dataDir, 'tls');
  return {
    dir,
    caKey: join(dir, 'ca.key'),
    caCert: join(dir, 'ca.crt'),
    serverKey: join(dir, 'server.key'),
    serverCert: join(dir, 'server.crt'),
    lock: join(dir, '.lock'),
  };
}
