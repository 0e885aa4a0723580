import { X509Certificate, createPrivateKey } from 'node:crypto';
import { clockSkewMs } from './certificate-authority.js';
import { loadForge } from './forge.js';
import { describeCertificate, generateRsaKeyPem, randomSerialNumber, type KeyAndCertificate } from './certificate-material.js';
import { sameSubjectNames, type SubjectName } from './subject-names.js';

/**
 * 90 days, like ACME certificates: well under the 397 days browsers and Apple platforms accept, and short
 * enough that a leaked key stops mattering soon. Renewal is automatic, so a short life costs nothing.
 */
export const serverLifetimeDays = 90;
const dayMs = 24 * 60 * 60 * 1000;

export interface IssueServerCertificateOptions {
  readonly ca: KeyAndCertificate;
  readonly names: readonly SubjectName[];
  readonly now: Date;
  readonly lifetimeDays?: number;
}

function altName(name: SubjectName): { type: number; value?: string; ip?: string } {
  // GeneralName tags (RFC 5280 §4.2.1.6): 2 = dNSName, 7 = iPAddress.
  return name.type === 'dns' ? { type: 2, value: name.value } : { type: 7, ip: name.value };
}

/** A new key and a certificate for it, signed by the CA, valid for exactly `names` and for TLS servers only. */
export async function issueServerCertificate(options: IssueServerCertificateOptions): Promise<KeyAndCertificate> {
  const forge = await loadForge();
  const caKey = forge.pki.privateKeyFromPem(options.ca.keyPem);
  const caCert = forge.pki.certificateFromPem(options.ca.certPem);
  const keyPem = await generateRsaKeyPem();
  const key = forge.pki.privateKeyFromPem(keyPem);

  const certificate = forge.pki.createCertificate();
  certificate.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  certificate.serialNumber = randomSerialNumber();
  certificate.validity.notBefore = new Date(options.now.getTime() - clockSkewMs);
  const wanted = options.now.getTime() + (options.lifetimeDays ?? serverLifetimeDays) * dayMs;
  // Never outlive the issuer: clients reject a chain whose leaf is valid longer than its CA anyway.
  certificate.validity.notAfter = new Date(Math.min(wanted, caCert.validity.notAfter.getTime()));
  // Clients match the subjectAltName, not the commonName; the CN is only what certificate viewers show.
  const commonName = options.names.find((name) => name.type === 'dns')?.value ?? 'localhost';
  certificate.setSubject([{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'Berth' }]);
  certificate.setIssuer(caCert.subject.attributes);
  certificate.setExtensions([
    { name: 'basicConstraints', critical: true, cA: false },
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: options.names.map(altName) },
    { name: 'subjectKeyIdentifier' },
    // forge's `keyIdentifier: true` would use this certificate's own key: name the CA's key explicitly.
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  certificate.sign(caKey, forge.md.sha256.create());
  return { keyPem, certPem: forge.pki.certificateToPem(certificate) };
}

/** Why the server certificate on disk must be replaced; `undefined` means it is fine as it is. */
export type RenewalReason =
  | 'missing'
  | 'unreadable'
  | 'key-mismatch'
  | 'not-signed-by-ca'
  | 'not-yet-valid'
  | 'expiring'
  | 'names-changed';

export interface RenewalCheck {
  /** The server key and certificate read from disk, or undefined when either file is missing. */
  readonly server: KeyAndCertificate | undefined;
  readonly caCertPem: string;
  readonly names: readonly SubjectName[];
  readonly now: Date;
}

/**
 * Renewal policy: re-issue when less than a third of the certificate's lifetime remains (so a machine that is
 * off for weeks still comes back with a valid certificate), when the configured names changed, or when the
 * files are broken, belong to each other no more (a kill between writing server.key and server.crt), or were
 * signed by a CA other than the current one.
 */
export function serverRenewalReason(check: RenewalCheck): RenewalReason | undefined {
  if (check.server === undefined) return 'missing';
  let certificate: X509Certificate;
  let info;
  try {
    certificate = new X509Certificate(check.server.certPem);
    info = describeCertificate(check.server.certPem, 'server.crt');
  } catch {
    return 'unreadable';
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(check.server.keyPem))) return 'key-mismatch';
  } catch {
    return 'unreadable';
  }
  const ca = new X509Certificate(check.caCertPem);
  if (!certificate.checkIssued(ca) || !certificate.verify(ca.publicKey)) return 'not-signed-by-ca';
  const now = check.now.getTime();
  const notBefore = info.notBefore.getTime();
  const notAfter = info.notAfter.getTime();
  if (now < notBefore) return 'not-yet-valid';
  if (notAfter - now < (notAfter - notBefore) / 3) return 'expiring';
  if (!sameSubjectNames(info.subjectNames, check.names)) return 'names-changed';
  return undefined;
}
