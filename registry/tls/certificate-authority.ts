import { createPrivateKey } from 'node:crypto';
import forge from 'node-forge';
import { generateRsaKeyPem, parseCertificate, randomSerialNumber, type KeyAndCertificate } from './certificate-material.js';
import { nameConstraintsExtension, permittedSubtreesFor } from './name-constraints.js';
import type { SubjectName } from './subject-names.js';

/** Ten years: users add the CA to their trust stores once, so it should outlive the machine. */
export const caLifetimeDays = 3650;
const dayMs = 24 * 60 * 60 * 1000;
/** Certificates start an hour in the past so a client whose clock is slightly behind still accepts them. */
export const clockSkewMs = 60 * 60 * 1000;

/** RFC 5280's upper bound for a commonName. */
const maxCommonNameLength = 64;

export function caCommonName(hostname: string): string {
  const name = `Berth Local CA (${hostname})`;
  return name.length <= maxCommonNameLength ? name : `Berth Local CA (${hostname.slice(0, maxCommonNameLength - 19)}…)`;
}

export interface CreateCertificateAuthorityOptions {
  readonly hostname: string;
  /** The names its server certificates will carry: the CA may sign for these (and what lies below them) only. */
  readonly names: readonly SubjectName[];
  readonly now: Date;
  readonly lifetimeDays?: number;
}

/**
 * A new self-signed root that can sign server certificates and nothing below them (pathlen 0): if its key leaked,
 * it could still not mint intermediate CAs, nor certificates for other names (name constraints, see
 * name-constraints.ts), nor for anything but TLS servers (extKeyUsage serverAuth, which verifiers that chain key
 * usages, such as Go, Windows and OpenSSL's purpose checks, hold the certificates below it to).
 */
export async function createCertificateAuthority(options: CreateCertificateAuthorityOptions): Promise<KeyAndCertificate> {
  const keyPem = await generateRsaKeyPem();
  const privateKey = forge.pki.privateKeyFromPem(keyPem);
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = forge.pki.setRsaPublicKey(privateKey.n, privateKey.e);
  certificate.serialNumber = randomSerialNumber();
  certificate.validity.notBefore = new Date(options.now.getTime() - clockSkewMs);
  certificate.validity.notAfter = new Date(options.now.getTime() + (options.lifetimeDays ?? caLifetimeDays) * dayMs);
  const subject = [
    { name: 'commonName', value: caCommonName(options.hostname) },
    { name: 'organizationName', value: 'Berth' },
  ];
  certificate.setSubject(subject);
  certificate.setIssuer(subject);
  certificate.setExtensions([
    { name: 'basicConstraints', critical: true, cA: true, pathLenConstraint: 0 },
    { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true },
    { name: 'extKeyUsage', serverAuth: true },
    nameConstraintsExtension(permittedSubtreesFor(options.names)),
    { name: 'subjectKeyIdentifier' },
    // Self-signed: the authority key is the certificate's own key.
    { name: 'authorityKeyIdentifier', keyIdentifier: true },
  ]);
  certificate.sign(privateKey, forge.md.sha256.create());
  return { keyPem, certPem: forge.pki.certificateToPem(certificate) };
}

/**
 * Why the CA read from disk cannot sign server certificates, or undefined when it can. `minRemainingMs` is
 * the lifetime a new server certificate needs: a CA that expires sooner would cap every certificate it signs.
 */
export function certificateAuthorityProblem(ca: KeyAndCertificate, now: Date, minRemainingMs: number): string | undefined {
  let parsed;
  try {
    parsed = parseCertificate(ca.certPem, 'ca.crt');
  } catch {
    return 'ca.crt is not a readable certificate';
  }
  if (!parsed.node.ca) return 'ca.crt is not a CA certificate';
  try {
    if (!parsed.node.checkPrivateKey(createPrivateKey(ca.keyPem))) return 'ca.key does not belong to ca.crt';
  } catch {
    return 'ca.key is not a readable private key';
  }
  if (parsed.forge.validity.notAfter.getTime() - now.getTime() < minRemainingMs) return 'the CA expires too soon';
  return undefined;
}
