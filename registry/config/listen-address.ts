/** `HOST:PORT` as given to --listen: `127.0.0.1:5000`, `[::1]:5000`, `localhost:0`. */
export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListenAddress(value: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new Error(`invalid listen address "${value}": expected HOST:PORT, e.g. 127.0.0.1:5000 or [::1]:5000`);
  return { host: (match[1] ?? match[2]) as string, port };
}

/** Loopback addresses (and `localhost`) never expose the registry to the network. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Whether a Berth configured with these settings listens on loopback only (the defaults do). An address that does
 * not parse counts as not loopback: when in doubt, assume the network can reach it.
 */
export function listensOnLoopbackOnly(settings: { listen?: unknown; tlsListen?: unknown }): boolean {
  return [settings.listen, settings.tlsListen].every((value) => {
    if (value === undefined || value === null || value === '') return true;
    try {
      return typeof value === 'string' && isLoopback(parseListenAddress(value).host);
    } catch {
      return false;
    }
  });
}
