import { createPrivateKey } from 'node:crypto';
import { certificateDates, generateRsaKeyPem, parseCertificate, randomSerialNumber, type KeyAndCertificate } from './certificate-material.js';
import { loadForge, type Forge } from './forge.js';
import { addressBytes, permittedSubtreesFor, type PermittedSubtree } from './name-constraints.js';
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

/** The mask of an IP subtree: `prefix` one bits, as bytes. */
function maskBytes(bits: number, prefix: number): string {
  let out = '';
  for (let byte = 0; byte < bits / 8; byte += 1) {
    const ones = Math.max(0, Math.min(8, prefix - byte * 8));
    out += String.fromCharCode((0xff << (8 - ones)) & 0xff);
  }
  return out;
}

/** The critical nameConstraints extension (name-constraints.ts), in node-forge's form, permitting `subtrees`. */
function nameConstraintsExtension(forge: typeof Forge, subtrees: readonly PermittedSubtree[]): { id: string; name: string; critical: true; value: Forge.asn1.Asn1 } {
  const { asn1 } = forge;
  const generalName = (subtree: PermittedSubtree): Forge.asn1.Asn1 => {
    // GeneralName tags (RFC 5280 §4.2.1.6), implicit: [2] dNSName IA5String, [7] iPAddress OCTET STRING of the
    // address followed by its mask.
    if (subtree.type === 'dns') return asn1.create(asn1.Class.CONTEXT_SPECIFIC, 2, false, subtree.value);
    const address = addressBytes(subtree.address);
    return asn1.create(asn1.Class.CONTEXT_SPECIFIC, 7, false, String.fromCharCode(...address) + maskBytes(address.length * 8, subtree.prefix));
  };
  const permitted = asn1.create(
    asn1.Class.CONTEXT_SPECIFIC,
    0,
    true,
    subtrees.map((subtree) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [generalName(subtree)])),
  );
  return { id: '2.5.29.30', name: 'nameConstraints', critical: true, value: asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [permitted]) };
}

/**
 * A new self-signed root that can sign server certificates and nothing below them (pathlen 0): if its key leaked,
 * it could still not mint intermediate CAs, nor certificates for other names (name constraints, see
 * name-constraints.ts), nor for anything but TLS servers (extKeyUsage serverAuth, which verifiers that chain key
 * usages, such as Go, Windows and OpenSSL's purpose checks, hold the certificates below it to).
 */
export async function createCertificateAuthority(options: CreateCertificateAuthorityOptions): Promise<KeyAndCertificate> {
  const forge = await loadForge();
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
    nameConstraintsExtension(forge, permittedSubtreesFor(options.names)),
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
  if (!parsed.ca) return 'ca.crt is not a CA certificate';
  try {
    if (!parsed.checkPrivateKey(createPrivateKey(ca.keyPem))) return 'ca.key does not belong to ca.crt';
  } catch {
    return 'ca.key is not a readable private key';
  }
  if (certificateDates(parsed).notAfter.getTime() - now.getTime() < minRemainingMs) return 'the CA expires too soon';
  return undefined;
}
