import { X509Certificate, generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { TlsError } from './errors.js';
import { parseSubjectName, type SubjectName } from './subject-names.js';

/** What callers (logs, the admin API, tests) need to know about a certificate, without parsing it again. */
export interface CertificateInfo {
  readonly pem: string;
  /** Hex, upper-case: the spelling of Node's `X509Certificate.serialNumber` and of TLS peer certificates. */
  readonly serialNumber: string;
  /** `AB:CD:...`: the spelling of `X509Certificate.fingerprint256` and `tls.PeerCertificate.fingerprint256`. */
  readonly fingerprint256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subjectNames: readonly SubjectName[];
}

/** A private key (PKCS#8 PEM) with the certificate for it. */
export interface KeyAndCertificate {
  readonly keyPem: string;
  readonly certPem: string;
}

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * A new RSA-2048 private key as PKCS#8 PEM. Node's native generator runs in the thread pool, so a renewal inside
 * a running server does not stall requests (forge's JavaScript generator takes seconds).
 */
export async function generateRsaKeyPem(): Promise<string> {
  const { privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return privateKey;
}

/**
 * A random 128-bit serial (CA/B Forum asks for at least 64 random bits). The top bit is cleared so the DER
 * INTEGER stays positive, and the next one set so the encoding never needs a leading zero byte.
 */
export function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString('hex');
}

/** Reads a PEM certificate; throws BERTH_TLS_FILE_INVALID when it is not one. */
export function parseCertificate(pem: string, label: string): { node: X509Certificate; forge: forge.pki.Certificate } {
  try {
    return { node: new X509Certificate(pem), forge: forge.pki.certificateFromPem(pem) };
  } catch (error) {
    throw new TlsError('BERTH_TLS_FILE_INVALID', `${label} is not a readable PEM certificate`, { cause: error });
  }
}

interface ForgeAltName {
  type: number;
  value?: string;
  ip?: string;
}

function subjectNamesOf(certificate: forge.pki.Certificate): SubjectName[] {
  const extension = certificate.getExtension('subjectAltName') as { altNames?: ForgeAltName[] } | undefined;
  const names: SubjectName[] = [];
  for (const altName of extension?.altNames ?? []) {
    // GeneralName tags: 2 = dNSName, 7 = iPAddress (RFC 5280 §4.2.1.6). Other kinds Berth never writes.
    const text = altName.type === 7 ? altName.ip : altName.type === 2 ? altName.value : undefined;
    if (text === undefined) continue;
    try {
      names.push(parseSubjectName(text));
    } catch {
      // A name Berth could not have written: it only makes the SAN set differ, which triggers a re-issue.
      names.push({ type: 'dns', value: `invalid:${text}` });
    }
  }
  return names;
}

export function describeCertificate(pem: string, label = 'certificate'): CertificateInfo {
  const parsed = parseCertificate(pem, label);
  return {
    pem,
    serialNumber: parsed.node.serialNumber,
    fingerprint256: parsed.node.fingerprint256,
    notBefore: parsed.forge.validity.notBefore,
    notAfter: parsed.forge.validity.notAfter,
    subjectNames: subjectNamesOf(parsed.forge),
  };
}
