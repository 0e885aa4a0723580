import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import type { Server as TlsServer } from 'node:tls';
import { silentLogger, type Logger } from '../log.js';
import { withFileLock } from '../state/file-lock.js';
import { certificateAuthorityProblem, createCertificateAuthority } from './certificate-authority.js';
import { describeCertificate, type CertificateInfo, type KeyAndCertificate } from './certificate-material.js';
import { ensurePrivateDir, privateFileMode, readTextIfExists, writeFileAtomic } from './key-files.js';
import { formatSubtree, isPermitted, readPermittedSubtrees, type PermittedSubtree } from './name-constraints.js';
import { issueServerCertificate, serverLifetimeDays, serverRenewalReason } from './server-certificate.js';
import { formatSubjectName, hostnameSubjectName, serverSubjectNames, type SubjectName } from './subject-names.js';
import { serverCipherSuites } from './tls-policy.js';
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
  /**
   * What the CA may sign for (`DNS:localhost`, `IP:127.0.0.0/8`, ...), from its name constraints; undefined for a CA
   * an older Berth made without them (it signs for anything: `berth ca rotate` replaces it).
   */
  readonly caPermits?: readonly string[];
  /** Configured names the CA cannot sign for: left out of the server certificate until `berth ca rotate`. */
  readonly namesOutsideCa: readonly string[];
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
  /** Forward-secret AEAD suites only (tls-policy.ts). */
  readonly ciphers: string;
}

export interface CertificateManager {
  /**
   * Makes sure a usable CA and server certificate are on disk (creating or renewing what is needed), returns
   * them, and hands a renewed certificate to every watched server. Calls are serialised.
   */
  ensure(): Promise<CertificateSet>;
  /**
   * Replaces the extra names, then `ensure()`s: the certificate is re-issued if the name set changed. A name the CA
   * cannot sign for is left out, with a warning that says to run `berth ca rotate`.
   */
  setNames(names: readonly string[]): Promise<CertificateSet>;
  /**
   * Replaces the CA with a new one for the current names (so with name constraints that cover them) and issues a
   * server certificate from it. Every client that trusted the old ca.crt must trust the new one.
   */
  rotateCa(): Promise<CertificateSet>;
  /** The options for the certificate from the last `ensure()`. Throws if `ensure()` has not completed yet. */
  secureContextOptions(): ServerContextOptions;
  /**
   * Checks every `intervalMs` (default one hour), and as soon as another process (`berth ca rotate`) changes the
   * files, and gives the server the new context after a renewal, so running servers never present an expired
   * certificate. New connections get the new certificate; open ones keep theirs. Stops by itself when the server
   * closes; returns a function that stops it earlier.
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
  await writeFileAtomic(certPath, pair.certPem, privateFileMode);
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
  // Each warning once per change, not at every watch tick.
  let warnedUnconstrained = false;
  let warnedOutside = '';

  /** The subtrees of a CA, and of the configured names those it can sign for. */
  function coverage(ca: KeyAndCertificate): { subtrees?: PermittedSubtree[]; issuable: SubjectName[]; outside: SubjectName[] } {
    const subtrees = readPermittedSubtrees(ca.certPem);
    if (subtrees === undefined) return { issuable: names, outside: [] };
    return { subtrees, issuable: names.filter((name) => isPermitted(subtrees, name)), outside: names.filter((name) => !isPermitted(subtrees, name)) };
  }

  function warnAbout(ca: KeyAndCertificate): void {
    const { subtrees, outside } = coverage(ca);
    if (subtrees === undefined && !warnedUnconstrained) {
      warnedUnconstrained = true;
      logger.warn(
        { path: paths.caCert },
        'the local CA has no name constraints (an older Berth made it): whoever gets ca.key could issue certificates for any site that trusts it. Run "berth ca rotate" for one limited to Berth\'s own names, then trust the new ca.crt ("berth trust" shows how)',
      );
    }
    const outsideText = outside.map(formatSubjectName).join(', ');
    if (outsideText !== warnedOutside) {
      warnedOutside = outsideText;
      if (outside.length > 0) {
        logger.warn(
          { names: outside.map(formatSubjectName), caPermits: subtrees?.map(formatSubtree) },
          'TLS names outside what the local CA may sign for are left out of the server certificate: run "berth ca rotate" to make a CA that covers them (clients must then trust the new ca.crt)',
        );
      }
    }
  }

  /** A CA with its name constraints, written to disk. Under the lock. */
  async function newCa(now: Date): Promise<KeyAndCertificate> {
    const created = await createCertificateAuthority({ hostname, names, now });
    await writeKeyAndCertificate(paths.caKey, paths.caCert, created);
    const info = describeCertificate(created.certPem, 'ca.crt');
    const permits = readPermittedSubtrees(created.certPem)?.map(formatSubtree);
    logger.info({ path: paths.caCert, serialNumber: info.serialNumber, fingerprint256: info.fingerprint256, notAfter: info.notAfter, permits }, 'created the local CA');
    return created;
  }

  /** Under the lock. */
  async function ensureCa(now: Date): Promise<KeyAndCertificate> {
    const found = await readKeyAndCertificate(paths.caKey, paths.caCert);
    const ca = complete(found);
    const problem = ca === undefined ? 'missing' : certificateAuthorityProblem(ca, now, serverLifetimeMs);
    if (ca !== undefined && problem === undefined) return ca;
    if (found.keyPem !== undefined || found.certPem !== undefined) {
      logger.warn({ problem: problem === 'missing' ? 'ca.key or ca.crt is missing' : problem, path: paths.caCert },
        'replacing the local CA: clients that trusted the old ca.crt must trust the new one');
    }
    return newCa(now);
  }

  /** Under the lock (or only reading, with `readOnly`: undefined when something would have to be written). */
  async function ensureServer(ca: KeyAndCertificate, now: Date, readOnly = false): Promise<KeyAndCertificate | undefined> {
    const server = complete(await readKeyAndCertificate(paths.serverKey, paths.serverCert));
    const issuable = coverage(ca).issuable;
    const reason = serverRenewalReason({ server, caCertPem: ca.certPem, names: issuable, now });
    if (server !== undefined && reason === undefined) return server;
    if (readOnly) return undefined;
    const issued = await issueServerCertificate({ ca, names: issuable, now });
    await writeKeyAndCertificate(paths.serverKey, paths.serverCert, issued);
    const info = describeCertificate(issued.certPem, 'server.crt');
    logger.info(
      { reason, names: issuable.map(formatSubjectName), serialNumber: info.serialNumber, notAfter: info.notAfter },
      'issued the server certificate',
    );
    return issued;
  }

  /** The files as they are, when nothing needs writing: the common case, and every watch tick. No lock. */
  async function usableAsIs(now: Date): Promise<{ ca: KeyAndCertificate; server: KeyAndCertificate } | undefined> {
    const ca = complete(await readKeyAndCertificate(paths.caKey, paths.caCert));
    if (ca === undefined || certificateAuthorityProblem(ca, now, serverLifetimeMs) !== undefined) return undefined;
    const server = await ensureServer(ca, now, true);
    return server === undefined ? undefined : { ca, server };
  }

  function contextOptions(set: CertificateSet): ServerContextOptions {
    return { key: set.serverKeyPem, cert: set.server.pem, minVersion: 'TLSv1.2', ciphers: serverCipherSuites };
  }

  function apply(server: TlsServer, set: CertificateSet): void {
    try {
      server.setSecureContext(contextOptions(set));
    } catch (error) {
      logger.error({ err: error }, 'could not hand the renewed certificate to a running server');
    }
  }

  function publish(ca: KeyAndCertificate, server: KeyAndCertificate): CertificateSet {
    warnAbout(ca);
    const { subtrees, outside } = coverage(ca);
    const set: CertificateSet = {
      paths,
      ca: describeCertificate(ca.certPem, 'ca.crt'),
      server: describeCertificate(server.certPem, 'server.crt'),
      serverKeyPem: server.keyPem,
      ...(subtrees ? { caPermits: subtrees.map(formatSubtree) } : {}),
      namesOutsideCa: outside.map(formatSubjectName),
    };
    const changed = current === undefined || current.server.fingerprint256 !== set.server.fingerprint256;
    current = set;
    // Also picks up a certificate another Berth process (e.g. the CLI) renewed on disk.
    if (changed) for (const watchedServer of watched.keys()) apply(watchedServer, set);
    return set;
  }

  async function ensureNow(): Promise<CertificateSet> {
    const now = clock();
    await ensurePrivateDir(paths.dir);
    const ready = await usableAsIs(now);
    if (ready) return publish(ready.ca, ready.server);
    // Something must be written. Under the lock, and looked at again: another process may be half-way through
    // replacing the files (a new ca.key beside the old ca.crt looks like a broken CA for a moment).
    const repaired = await withFileLock(paths.lock, async () => {
      const ca = await ensureCa(now);
      return { ca, server: (await ensureServer(ca, now)) as KeyAndCertificate };
    });
    return publish(repaired.ca, repaired.server);
  }

  async function rotateNow(): Promise<CertificateSet> {
    const now = clock();
    await ensurePrivateDir(paths.dir);
    const rotated = await withFileLock(paths.lock, async () => {
      const ca = await newCa(now);
      return { ca, server: (await ensureServer(ca, now)) as KeyAndCertificate };
    });
    warnedUnconstrained = false;
    return publish(rotated.ca, rotated.server);
  }

  function serialised(step: () => Promise<CertificateSet>): Promise<CertificateSet> {
    const run = queue.then(step, step);
    queue = run.catch(() => undefined);
    return run;
  }

  const ensure = (): Promise<CertificateSet> => serialised(ensureNow);

  const check = (): void => {
    ensure().catch((error: unknown) => {
      logger.error({ err: error }, 'certificate renewal check failed; the current certificate stays in use');
    });
  };

  // While servers are watched, a change in the tls directory (another process, e.g. `berth ca rotate`, wrote new
  // files) is looked at within a moment; the timer covers renewals and platforms where watching fails.
  let directoryWatcher: FSWatcher | undefined;
  let settle: NodeJS.Timeout | undefined;
  function watchDirectory(): void {
    if (directoryWatcher) return;
    try {
      directoryWatcher = fsWatch(paths.dir, { persistent: false }, () => {
        clearTimeout(settle);
        // Two files are written per pair: look once they are both in place.
        settle = setTimeout(check, 250);
        settle.unref();
      });
      directoryWatcher.on('error', () => unwatchDirectory());
    } catch (error) {
      logger.debug({ err: error }, 'cannot watch the tls directory: changes by other processes are seen at the next check');
    }
  }
  function unwatchDirectory(): void {
    clearTimeout(settle);
    directoryWatcher?.close();
    directoryWatcher = undefined;
  }

  function watch(server: TlsServer, intervalMs = hourMs): () => void {
    if (closed) throw new Error('the certificate manager is closed');
    watched.get(server)?.();
    const timer = setInterval(check, intervalMs);
    // A renewal check must never be what keeps the process alive.
    timer.unref();
    const stop = (): void => {
      clearInterval(timer);
      server.off('close', stop);
      if (watched.get(server) === stop) watched.delete(server);
      if (watched.size === 0) unwatchDirectory();
    };
    server.once('close', stop);
    watched.set(server, stop);
    watchDirectory();
    if (current !== undefined) apply(server, current);
    return stop;
  }

  return {
    ensure,
    async setNames(extraNames) {
      names = serverSubjectNames(hostname, extraNames);
      return ensure();
    },
    rotateCa: () => serialised(rotateNow),
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
