import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/**
 * Where an upstream may send Berth (issue 8's SSRF row): a redirect or a token realm may point only at addresses
 * the upstream itself could have reached Berth's neighbours through. Each address is in one class; anything that
 * is not `public` is allowed only when the upstream's own address is of that same class (a registry on this
 * machine may redirect to this machine, a registry in the office network to the office network), so a public
 * registry can never make Berth fetch from loopback, the cloud metadata address or the LAN.
 */
export type AddressClass = 'loopback' | 'link-local' | 'private' | 'unspecified' | 'public';

const ranges: ReadonlyArray<[AddressClass, string, number, 'ipv4' | 'ipv6']> = [
  ['loopback', '127.0.0.0', 8, 'ipv4'],
  ['loopback', '::1', 128, 'ipv6'],
  ['unspecified', '0.0.0.0', 8, 'ipv4'],
  ['unspecified', '::', 128, 'ipv6'],
  ['link-local', '169.254.0.0', 16, 'ipv4'],
  ['link-local', 'fe80::', 10, 'ipv6'],
  ['private', '10.0.0.0', 8, 'ipv4'],
  ['private', '172.16.0.0', 12, 'ipv4'],
  ['private', '192.168.0.0', 16, 'ipv4'],
  ['private', '100.64.0.0', 10, 'ipv4'],
  ['private', 'fc00::', 7, 'ipv6'],
];

const lists = new Map<AddressClass, BlockList>();
for (const [kind, network, prefix, family] of ranges) {
  let list = lists.get(kind);
  if (!list) lists.set(kind, (list = new BlockList()));
  list.addSubnet(network, prefix, family);
}

export function addressClass(address: string): AddressClass {
  let ip = address.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) ip = mapped[1] as string;
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  for (const [kind, list] of lists) if (list.check(ip, family)) return kind;
  return 'public';
}

/** Thrown (as a request's error) for a host whose address the policy refuses; nothing was sent to it. */
export class AddressRefusedError extends Error {
  readonly code = 'BERTH_UPSTREAM_ADDRESS_REFUSED';

  constructor(host: string, address: string, kind: AddressClass) {
    super(`refused to connect to ${host} (${address}): a ${kind} address, which the upstream itself is not`);
    this.name = 'AddressRefusedError';
  }
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

export interface AddressPolicy {
  /** Throws AddressRefusedError when a URL's host is an IP literal the policy refuses. */
  checkLiteral(hostname: string): void;
  /** A `lookup` for http.request that resolves like dns.lookup and refuses what the policy refuses. */
  lookup(hostname: string, options: object, callback: LookupCallback): void;
}

/** The policy for one upstream, whose own host is `ownHost`: its own addresses are always allowed, and set the classes. */
export function createAddressPolicy(ownHost: string): AddressPolicy {
  const own = ownHost.replace(/^\[|\]$/g, '').toLowerCase();
  const ownClasses = new Set<AddressClass>();
  if (isIP(own)) ownClasses.add(addressClass(own));
  if (own === 'localhost' || own.endsWith('.localhost')) ownClasses.add('loopback');

  const verdict = (hostname: string, address: string): AddressRefusedError | undefined => {
    const kind = addressClass(address);
    if (hostname.replace(/^\[|\]$/g, '').toLowerCase() === own) {
      ownClasses.add(kind);
      return undefined;
    }
    return kind === 'public' || ownClasses.has(kind) ? undefined : new AddressRefusedError(hostname, address, kind);
  };

  return {
    checkLiteral(hostname) {
      const bare = hostname.replace(/^\[|\]$/g, '');
      if (!isIP(bare)) return;
      const refused = verdict(hostname, bare);
      if (refused) throw refused;
    },

    lookup(hostname, options, callback) {
      dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
        if (error) {
          callback(error, []);
          return;
        }
        const refused = addresses.map((entry) => verdict(hostname, entry.address)).find((result) => result !== undefined);
        if (refused) {
          callback(refused, []);
          return;
        }
        if ((options as { all?: boolean }).all) callback(null, addresses);
        else callback(null, addresses[0]?.address ?? '', addresses[0]?.family);
      });
    },
  };
}
