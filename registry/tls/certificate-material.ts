import { X509Certificate, generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { addressText, subjectAltNamesOf } from './certificate-der.js';
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
export function parseCertificate(pem: string, label: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new TlsError('BERTH_TLS_FILE_INVALID', `${label} is not a readable PEM certificate`, { cause: error });
  }
}

/**
 * The validity period. Node 20's X509Certificate gives it as OpenSSL's text ("Nov 27 12:00:00 2026 GMT", to the
 * second), which Date reads.
 */
export function certificateDates(certificate: X509Certificate): { notBefore: Date; notAfter: Date } {
  const notBefore = new Date(certificate.validFrom);
  const notAfter = new Date(certificate.validTo);
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) throw new Error(`unreadable validity: ${certificate.validFrom} - ${certificate.validTo}`);
  return { notBefore, notAfter };
}

function subjectNamesOf(certificate: X509Certificate): SubjectName[] {
  return subjectAltNamesOf(certificate).map((name) => {
    const text = name.type === 'ip' ? addressText(name.bytes) : name.value;
    try {
      return parseSubjectName(text);
    } catch {
      // A name Berth could not have written: it only makes the SAN set differ, which triggers a re-issue.
      return { type: 'dns', value: `invalid:${text}` };
    }
  });
}

export function describeCertificate(pem: string, label = 'certificate'): CertificateInfo {
  const parsed = parseCertificate(pem, label);
  let dates;
  let subjectNames;
  try {
    dates = certificateDates(parsed);
    subjectNames = subjectNamesOf(parsed);
  } catch (error) {
    throw new TlsError('BERTH_TLS_FILE_INVALID', `${label} is not a readable PEM certificate`, { cause: error });
  }
  return { pem, serialNumber: parsed.serialNumber, fingerprint256: parsed.fingerprint256, ...dates, subjectNames };
}
