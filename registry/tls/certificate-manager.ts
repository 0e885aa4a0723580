import { hostname as osHostname } from 'node:os';
import type { Server as TlsServer } from 'node:tls';
import { silentLogger, type Logger } from '../log.js';
import { certificateAuthorityProblem, createCertificateAuthority } from './certificate-authority.js';
import { describeCertificate, type CertificateInfo, type KeyAndCertificate } from './certificate-material.js';
import { ensurePrivateDir, privateFileMode, publicFileMode, readTextIfExists, writeFileAtomic } from './key-files.js';
import { issueServerCertificate, serverLifetimeDays, serverRenewalReason } from './server-certificate.js';
import { formatSubjectName, hostnameSubjectName, serverSubjectNames, type SubjectName } from './subject-names.js';
import { tlsPaths, type TlsPaths } from './tls-paths.js';

export interface CertificateManagerOptions {
  readonly dataDir: string;
  /** Extra DNS names or IP addresses for the server certificate, besides localhost, 127.0.0.1, ::1 and the host name. */
  readonly names?: readonly string[];
  readonly logger?: Logger;
  /** The clock. Tests move it to simulate months passing; default `() => new Date()`. */
  readonly now?: () => Date;
  /** The machine's host name; default `os.hostname()`. */
  readonly hostname?: string;
}

/** The TLS material in use, as read from (or just written to) `<dataDir>/tls/`. */
export interface CertificateSet {
  readonly paths: TlsPaths;
  readonly ca: CertificateInfo;
  readonly server: CertificateInfo;
  readonly serverKeyPem: string;
}

/**
 * Options for `https.createServer`, `tls.createSecureContext` or `server.setSecureContext`. No `ca`: on a
 * server that option only selects which client certificates to accept, and clients already hold the root.
 */
export interface ServerContextOptions {
  readonly key: string;
  readonly cert: string;
  /** TLS 1.0 and 1.1 are deprecated (RFC 8996): refuse them explicitly, whatever Node's default becomes. */
  readonly minVersion: 'TLSv1.2';
}

export interface CertificateManager {
  /**
   * Makes sure a usable CA and server certificate are on disk (creating or renewing what is needed), returns
   * them, and hands a renewed certificate to every watched server. Calls are serialised.
   */
  ensure(): Promise<CertificateSet>;
  /** Replaces the extra names, then `ensure()`s: the certificate is re-issued if the name set changed. */
  setNames(names: readonly string[]): Promise<CertificateSet>;
  /** The options for the certificate from the last `ensure()`. Throws if `ensure()` has not completed yet. */
  secureContextOptions(): ServerContextOptions;
  /**
   * Checks every `intervalMs` (default one hour) and gives the server the new context after a renewal, so
   * running servers never present an expired certificate. New connections get the new certificate; open ones
   * keep theirs. Stops by itself when the server closes; returns a function that stops it earlier.
   */
  watch(server: TlsServer, intervalMs?: number): () => void;
  /** Stops every watch timer and waits for a running `ensure()`. */
  close(): Promise<void>;
}

const hourMs = 60 * 60 * 1000;
const serverLifetimeMs = serverLifetimeDays * 24 * hourMs;

async function readKeyAndCertificate(keyPath: string, certPath: string): Promise<Partial<KeyAndCertificate>> {
  const [keyPem, certPem] = await Promise.all([readTextIfExists(keyPath), readTextIfExists(certPath)]);
  return { keyPem, certPem };
}

function complete(pair: Partial<KeyAndCertificate>): KeyAndCertificate | undefined {
  return pair.keyPem !== undefined && pair.certPem !== undefined ? { keyPem: pair.keyPem, certPem: pair.certPem } : undefined;
}

/** Key first, certificate second: a kill in between leaves a key/certificate mismatch, which the next start repairs. */
async function writeKeyAndCertificate(keyPath: string, certPath: string, pair: KeyAndCertificate): Promise<void> {
  await writeFileAtomic(keyPath, pair.keyPem, privateFileMode);
  await writeFileAtomic(certPath, pair.certPem, publicFileMode);
}

export function createCertificateManager(options: CertificateManagerOptions): CertificateManager {
  const logger = options.logger ?? silentLogger();
  const clock = options.now ?? (() => new Date());
  const hostname = options.hostname ?? osHostname();
  const paths = tlsPaths(options.dataDir);
  // Parsed now, so a bad name in the settings fails at startup rather than at the first renewal.
  let names: SubjectName[] = serverSubjectNames(hostname, options.names ?? []);
  if (hostnameSubjectName(hostname) === undefined) {
    logger.warn({ hostname }, 'the host name is not a valid DNS name: the server certificate will not include it');
  }

  let current: CertificateSet | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  const watched = new Map<TlsServer, () => void>();
  let closed = false;

  async function ensureCa(now: Date): Promise<KeyAndCertificate> {
    const found = await readKeyAndCertificate(paths.caKey, paths.caCert);
    const ca = complete(found);
    const problem = ca === undefined ? 'missing' : certificateAuthorityProblem(ca, now, serverLifetimeMs);
    if (ca !== undefined && problem === undefined) return ca;
    if (found.keyPem !== undefined || found.certPem !== undefined) {
      logger.warn({ problem: problem === 'missing' ? 'ca.key or ca.crt is missing' : problem, path: paths.caCert },
        'replacing the local CA: clients that trusted the old ca.crt must trust the new one');
    }
    const created = await createCertificateAuthority({ hostname, now });
    await writeKeyAndCertificate(paths.caKey, paths.caCert, created);
    const info = describeCertificate(created.certPem, 'ca.crt');
    logger.info({ path: paths.caCert, serialNumber: info.serialNumber, notAfter: info.notAfter }, 'created the local CA');
    return created;
  }

  async function ensureServer(ca: KeyAndCertificate, now: Date): Promise<KeyAndCertificate> {
    const server = complete(await readKeyAndCertificate(paths.serverKey, paths.serverCert));
    const reason = serverRenewalReason({ server, caCertPem: ca.certPem, names, now });
    if (server !== undefined && reason === undefined) return server;
    const issued = await issueServerCertificate({ ca, names, now });
    await writeKeyAndCertificate(paths.serverKey, paths.serverCert, issued);
    const info = describeCertificate(issued.certPem, 'server.crt');
    logger.info(
      { reason, names: names.map(formatSubjectName), serialNumber: info.serialNumber, notAfter: info.notAfter },
      'issued the server certificate',
    );
    return issued;
  }

  function contextOptions(set: CertificateSet): ServerContextOptions {
    return { key: set.serverKeyPem, cert: set.server.pem, minVersion: 'TLSv1.2' };
  }

  function apply(server: TlsServer, set: CertificateSet): void {
    try {
      server.setSecureContext(contextOptions(set));
    } catch (error) {
      logger.error({ err: error }, 'could not hand the renewed certificate to a running server');
    }
  }

  async function ensureNow(): Promise<CertificateSet> {
    const now = clock();
    await ensurePrivateDir(paths.dir);
    const ca = await ensureCa(now);
    const server = await ensureServer(ca, now);
    const set: CertificateSet = {
      paths,
      ca: describeCertificate(ca.certPem, 'ca.crt'),
      server: describeCertificate(server.certPem, 'server.crt'),
      serverKeyPem: server.keyPem,
    };
    const changed = current === undefined || current.server.fingerprint256 !== set.server.fingerprint256;
    current = set;
    // Also picks up a certificate another Berth process (e.g. the CLI) renewed on disk.
    if (changed) for (const server of watched.keys()) apply(server, set);
    return set;
  }

  function ensure(): Promise<CertificateSet> {
    const run = queue.then(ensureNow, ensureNow);
    queue = run.catch(() => undefined);
    return run;
  }

  function watch(server: TlsServer, intervalMs = hourMs): () => void {
    if (closed) throw new Error('the certificate manager is closed');
    watched.get(server)?.();
    const timer = setInterval(() => {
      ensure().catch((error: unknown) => {
        logger.error({ err: error }, 'certificate renewal check failed; the current certificate stays in use');
      });
    }, intervalMs);
    // A renewal check must never be what keeps the process alive.
    timer.unref();
    const stop = (): void => {
      clearInterval(timer);
      server.off('close', stop);
      if (watched.get(server) === stop) watched.delete(server);
    };
    server.once('close', stop);
    watched.set(server, stop);
    if (current !== undefined) apply(server, current);
    return stop;
  }

  return {
    ensure,
    async setNames(extraNames) {
      names = serverSubjectNames(hostname, extraNames);
      return ensure();
    },
    secureContextOptions() {
      if (current === undefined) throw new Error('call ensure() before secureContextOptions()');
      return contextOptions(current);
    },
    watch,
    async close() {
      closed = true;
      for (const stop of [...watched.values()]) stop();
      await queue;
    },
  };
}
