import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { addressText, permittedSubtreesOf } from './certificate-der.js';
import { formatSubjectName, type SubjectName } from './subject-names.js';

/**
 * X.509 name constraints (RFC 5280 §4.2.1.10) for Berth's local CA. `berth trust` puts that CA in system trust
 * stores; without constraints, whoever got hold of ca.key could issue a certificate for any site the machine then
 * believes. With them, verifiers (OpenSSL, Go, NSS, Apple, Windows) accept a certificate from this CA only for the
 * names Berth issues: localhost, the loopback addresses, the host name and the configured TLS names.
 *
 * The constraints are fixed when the CA is made, so a TLS name added later must fall inside them (a subdomain of a
 * configured name, an address in 127.0.0.0/8) or needs a new CA: `berth ca rotate`.
 */

/** A permitted subtree: a DNS name and everything below it, or an address range. */
export type PermittedSubtree = { readonly type: 'dns'; readonly value: string } | { readonly type: 'ip'; readonly address: string; readonly prefix: number };

const loopbackSubtrees: readonly PermittedSubtree[] = [
  { type: 'dns', value: 'localhost' },
  { type: 'ip', address: '127.0.0.0', prefix: 8 },
  { type: 'ip', address: '::1', prefix: 128 },
];

/** `DNS:localhost`, `IP:127.0.0.0/8`: the spelling of `openssl x509 -text` (which writes the mask instead). */
export function formatSubtree(subtree: PermittedSubtree): string {
  return subtree.type === 'dns' ? `DNS:${subtree.value}` : `IP:${subtree.address}/${subtree.prefix}`;
}

/** The 4 or 16 bytes of an IP address in the canonical text of subject-names.ts (no embedded IPv4 in IPv6). */
export function addressBytes(address: string): number[] {
  if (isIP(address) === 4) return address.split('.').map(Number);
  const [head = '', tail = ''] = address.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = address.includes('::') && tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups] : headGroups;
  return groups.flatMap((group) => {
    const value = Number.parseInt(group, 16);
    return [value >> 8, value & 0xff];
  });
}

function addressBits(address: string): boolean[] {
  return addressBytes(address).flatMap((byte) => Array.from({ length: 8 }, (_, bit) => ((byte >> (7 - bit)) & 1) === 1));
}

/** Whether a certificate name lies inside a subtree, by the matching rules verifiers apply. */
export function subtreePermits(subtree: PermittedSubtree, name: SubjectName): boolean {
  if (subtree.type === 'dns') {
    if (name.type !== 'dns') return false;
    const host = name.value.startsWith('*.') ? name.value.slice(2) : name.value;
    return host === subtree.value || host.endsWith(`.${subtree.value}`);
  }
  if (name.type !== 'ip' || isIP(name.value) !== isIP(subtree.address)) return false;
  const wanted = addressBits(subtree.address);
  const actual = addressBits(name.value);
  return wanted.slice(0, subtree.prefix).every((bit, index) => actual[index] === bit);
}

export function isPermitted(subtrees: readonly PermittedSubtree[], name: SubjectName): boolean {
  return subtrees.some((subtree) => subtreePermits(subtree, name));
}

/**
 * The subtrees for a CA that issues `names`: the loopback ones, then each name not already inside them (a DNS name
 * with everything below it, a wildcard as its parent, an IP address alone).
 */
export function permittedSubtreesFor(names: readonly SubjectName[]): PermittedSubtree[] {
  const subtrees = [...loopbackSubtrees];
  for (const name of names) {
    if (isPermitted(subtrees, name)) continue;
    if (name.type === 'dns') subtrees.push({ type: 'dns', value: name.value.startsWith('*.') ? name.value.slice(2) : name.value });
    else subtrees.push({ type: 'ip', address: name.value, prefix: isIP(name.value) === 4 ? 32 : 128 });
  }
  return subtrees;
}

/** The number of one bits of a subtree's mask. */
function prefixOf(mask: Uint8Array): number {
  let prefix = 0;
  for (const byte of mask) for (let bit = 7; bit >= 0; bit -= 1) if ((byte >> bit) & 1) prefix += 1;
  return prefix;
}

/**
 * The permitted subtrees of a CA certificate, or undefined when it has no name constraints (a CA made by a Berth
 * before they existed). Subtrees of kinds Berth never writes are left out.
 */
export function readPermittedSubtrees(caCertPem: string): PermittedSubtree[] | undefined {
  const bases = permittedSubtreesOf(new X509Certificate(caCertPem));
  if (bases === undefined) return undefined;
  const subtrees: PermittedSubtree[] = [];
  for (const base of bases) {
    if (base.type === 'dns') subtrees.push({ type: 'dns', value: base.value.toLowerCase() });
    // An iPAddress subtree is the address followed by its mask: 8 bytes for IPv4, 32 for IPv6.
    else if (base.bytes.length === 8 || base.bytes.length === 32) {
      const half = base.bytes.length / 2;
      subtrees.push({ type: 'ip', address: addressText(base.bytes.subarray(0, half)), prefix: prefixOf(base.bytes.subarray(half)) });
    }
  }
  return subtrees;
}

/** The names of `names` that a CA with these subtrees cannot sign for (none when it has no constraints). */
export function namesOutside(subtrees: readonly PermittedSubtree[] | undefined, names: readonly SubjectName[]): string[] {
  if (subtrees === undefined) return [];
  return names.filter((name) => !isPermitted(subtrees, name)).map(formatSubjectName);
}
