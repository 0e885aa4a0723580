import { X509Certificate } from 'node:crypto';

/**
 * When only the HTTPS listener is up, the window talks to Berth over TLS with a certificate from Berth's own
 * CA, which the OS may not trust yet. The window accepts exactly Berth's current server certificate (compared
 * by SHA-256 fingerprint), for Berth's origin only: never "ignore certificate errors".
 */
export function isSameCertificate(presentedPem: string, expectedPem: string): boolean {
  try {
    return new X509Certificate(presentedPem).fingerprint256 === new X509Certificate(expectedPem).fingerprint256;
  } catch {
    return false;
  }
}
