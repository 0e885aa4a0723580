/** `HOST:PORT` as the settings API speaks it, split for the form. IPv6 hosts are bracketed: `[::1]:5000`. */
export interface ListenParts {
  host: string;
  port: number;
}

export function parseListen(value: string | null): ListenParts | null {
  if (!value) return null;
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value.trim());
  if (!match) return null;
  return { host: match[1] ?? '', port: Number(match[2]) };
}

export function formatListen(parts: ListenParts): string {
  const host = parts.host.includes(':') && !parts.host.startsWith('[') ? `[${parts.host}]` : parts.host;
  return `${host}:${parts.port}`;
}

export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || /^127\./.test(bare);
}
