import type { X509Certificate } from 'node:crypto';

/**
 * The two certificate extensions Berth reads back, straight from the DER of a certificate (`X509Certificate.raw`):
 * subjectAltName and nameConstraints. Node's X509Certificate has the rest (validity, serial, fingerprint, signature
 * checks) but not name constraints, and its subjectAltName is text meant for people. Reading these two here keeps
 * node-forge (12 MiB of heap once loaded) off the start path: it is loaded only to issue a certificate.
 *
 * Only DER's definite-length form is accepted, every length is checked against its parent, and any surprise
 * throws: callers treat an unreadable certificate as one to replace.
 */

interface Element {
  /** The identifier octet: class, constructed bit and tag number (all tags here are below 31). */
  readonly tag: number;
  readonly content: Buffer;
}

const tagSequence = 0x30;
const tagOid = 0x06;
const tagBoolean = 0x01;
const tagOctetString = 0x04;
/** [3] EXPLICIT, constructed: the extensions of a v3 TBSCertificate. */
const tagExtensions = 0xa3;

/** The elements one after another in `input`. */
function elements(input: Buffer): Element[] {
  const out: Element[] = [];
  let offset = 0;
  while (offset < input.length) {
    const tag = input[offset] ?? 0;
    if ((tag & 0x1f) === 0x1f) throw new Error('DER: multi-byte tags are not used in certificates');
    let length = input[offset + 1];
    if (length === undefined) throw new Error('DER: truncated length');
    offset += 2;
    if (length & 0x80) {
      const octets = length & 0x7f;
      if (octets === 0 || octets > 4) throw new Error('DER: unsupported length form');
      length = 0;
      for (let i = 0; i < octets; i += 1) length = length * 256 + (input[offset + i] ?? Number.NaN);
      offset += octets;
    }
    if (!Number.isFinite(length) || offset + length > input.length) throw new Error('DER: an element runs past its parent');
    out.push({ tag, content: input.subarray(offset, offset + length) });
    offset += length;
  }
  return out;
}

function only(input: Buffer, tag: number): Element {
  const [first, ...rest] = elements(input);
  if (first?.tag !== tag || rest.length > 0) throw new Error(`DER: expected one element with tag ${tag}`);
  return first;
}

/** Dotted text of an OBJECT IDENTIFIER's content octets. */
function oidText(content: Buffer): string {
  const arcs: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
  }
  return arcs.join('.');
}

/** The value (the OCTET STRING's content) of the extension `oid`, or undefined when the certificate has none. */
function extensionValue(certificate: X509Certificate, oid: string): Buffer | undefined {
  const [tbs] = elements(only(certificate.raw, tagSequence).content);
  if (tbs?.tag !== tagSequence) throw new Error('DER: no TBSCertificate');
  const extensions = elements(tbs.content).find((element) => element.tag === tagExtensions);
  if (!extensions) return undefined;
  for (const extension of elements(only(extensions.content, tagSequence).content)) {
    const parts = elements(extension.content);
    const [id] = parts;
    if (id?.tag !== tagOid || oidText(id.content) !== oid) continue;
    const value = parts.find((part, index) => index > 0 && part.tag !== tagBoolean);
    if (value?.tag !== tagOctetString) throw new Error(`DER: extension ${oid} has no value`);
    return value.content;
  }
  return undefined;
}

/** The canonical text (subject-names.ts) of 4 or 16 address bytes. */
export function addressText(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  if (bytes.length !== 16) throw new Error(`DER: an IP address of ${bytes.length} bytes`);
  const groups = Array.from({ length: 8 }, (_, index) => (((bytes[2 * index] ?? 0) << 8) | (bytes[2 * index + 1] ?? 0)).toString(16));
  // The WHATWG URL parser writes IPv6 in RFC 5952 form, as subject-names.ts does.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** A GeneralName of the two kinds Berth writes (RFC 5280 §4.2.1.6): [2] dNSName, [7] iPAddress; others undefined. */
export type GeneralName = { readonly type: 'dns'; readonly value: string } | { readonly type: 'ip'; readonly bytes: Buffer };

function generalName(element: Element): GeneralName | undefined {
  if (element.tag === 0x82) return { type: 'dns', value: element.content.toString('latin1') };
  if (element.tag === 0x87) return { type: 'ip', bytes: element.content };
  return undefined;
}

/** The subjectAltName entries (2.5.29.17), in order; kinds Berth never writes are left out. */
export function subjectAltNamesOf(certificate: X509Certificate): GeneralName[] {
  const value = extensionValue(certificate, '2.5.29.17');
  if (!value) return [];
  return elements(only(value, tagSequence).content).flatMap((element) => generalName(element) ?? []);
}

/**
 * The permitted subtrees of the nameConstraints extension (2.5.29.30), each a GeneralName (an iPAddress holds the
 * address followed by its mask), or undefined when the certificate has no name constraints.
 */
export function permittedSubtreesOf(certificate: X509Certificate): GeneralName[] | undefined {
  const value = extensionValue(certificate, '2.5.29.30');
  if (!value) return undefined;
  // NameConstraints ::= SEQUENCE { permittedSubtrees [0] IMPLICIT GeneralSubtrees OPTIONAL, excludedSubtrees [1] ... }
  const permitted = elements(only(value, tagSequence).content).find((element) => element.tag === 0xa0);
  if (!permitted) return [];
  // GeneralSubtree ::= SEQUENCE { base GeneralName, minimum [0] DEFAULT 0, maximum [1] OPTIONAL }
  return elements(permitted.content).flatMap((subtree) => {
    if (subtree.tag !== tagSequence) throw new Error('DER: a permitted subtree is not a SEQUENCE');
    const [base] = elements(subtree.content);
    return base ? (generalName(base) ?? []) : [];
  });
}
