import { isIP } from 'node:net';
import { TlsError } from './errors.js';

/** One subjectAltName entry of the server certificate. Values are canonical (lower-case DNS, compressed IPv6). */
export type SubjectName = { readonly type: 'dns'; readonly value: string } | { readonly type: 'ip'; readonly value: string };

/** The names every server certificate carries: what a client on this machine dials. */
const loopbackNames: readonly SubjectName[] = [
  { type: 'dns', value: 'localhost' },
  { type: 'ip', value: '127.0.0.1' },
  { type: 'ip', value: '::1' },
];

const dnsLabel = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Canonical text of an IP address: IPv6 compressed and lower-case (`0:0::1` and `::1` are the same name). */
function canonicalIp(address: string): string {
  if (isIP(address) === 4) return address;
  // The WHATWG URL parser serialises IPv6 hosts in RFC 5952 form: the cheapest exact canonicaliser at hand.
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

function isDnsName(name: string): boolean {
  if (name.length > 253) return false;
  const labels = name.split('.');
  // A wildcard is allowed as the whole left-most label only (RFC 6125 §6.4.3), never alone (`*`).
  const rest = labels[0] === '*' && labels.length > 1 ? labels.slice(1) : labels;
  return rest.every((label) => dnsLabel.test(label));
}

/**
 * Reads one configured name: an IP address (v4, v6, or v6 in brackets) or a DNS name. Throws
 * BERTH_TLS_NAME_INVALID for anything else, so a typo in the settings is reported instead of silently dropped.
 */
export function parseSubjectName(input: string): SubjectName {
  const trimmed = input.trim();
  const unbracketed = trimmed.startsWith('[') && trimmed.endsWith(']') ? trimmed.slice(1, -1) : trimmed;
  if (isIP(unbracketed) !== 0) return { type: 'ip', value: canonicalIp(unbracketed) };
  const dns = trimmed.toLowerCase().replace(/\.$/, '');
  if (isDnsName(dns)) return { type: 'dns', value: dns };
  const message = `"${input}" is neither a DNS name nor an IP address: it cannot go in a certificate`;
  throw new TlsError('BERTH_TLS_NAME_INVALID', message);
}

/**
 * The machine's host name as a certificate name, or undefined when it is not a valid DNS name (some systems
 * allow underscores or spaces): the certificate is still useful for the other names.
 */
export function hostnameSubjectName(hostname: string): SubjectName | undefined {
  try {
    const name = parseSubjectName(hostname);
    return name.type === 'dns' ? name : undefined;
  } catch {
    return undefined;
  }
}

/** `DNS:localhost`, `IP:::1`: the spelling used in logs and by `openssl x509 -ext subjectAltName`. */
export function formatSubjectName(name: SubjectName): string {
  return `${name.type === 'dns' ? 'DNS' : 'IP'}:${name.value}`;
}

/** Loopback names, then the host name, then the extra names, without duplicates, in that order. */
export function serverSubjectNames(hostname: string | undefined, extraNames: readonly string[]): SubjectName[] {
  const host = hostname === undefined ? undefined : hostnameSubjectName(hostname);
  const all = [...loopbackNames, ...(host ? [host] : []), ...extraNames.map(parseSubjectName)];
  const seen = new Set<string>();
  return all.filter((name) => {
    const key = formatSubjectName(name);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** True when both lists hold the same names, in any order. */
export function sameSubjectNames(a: readonly SubjectName[], b: readonly SubjectName[]): boolean {
  const left = new Set(a.map(formatSubjectName));
  const right = new Set(b.map(formatSubjectName));
  return left.size === right.size && [...left].every((name) => right.has(name));
}
