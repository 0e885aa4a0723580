/**
 * `WWW-Authenticate` challenges (RFC 7235): `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",
 * scope="repository:library/redis:pull"` or `Basic realm="Registry Realm"`. Several challenges may share one
 * header, separated by commas like their parameters, so this is a small tokenizer rather than a split.
 */
export interface Challenge {
  /** Lower-cased: 'bearer', 'basic', ... */
  readonly scheme: string;
  /** Parameter names lower-cased; values unquoted. */
  readonly params: Readonly<Record<string, string>>;
}

const tokenChars = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

export function parseChallenges(header: string | readonly string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  if (typeof header !== 'string') return header.flatMap((value) => parseChallenges(value));
  const challenges: Array<{ scheme: string; params: Record<string, string> }> = [];
  let i = 0;
  const skipSpace = (): void => {
    while (i < header.length && /[\s,]/.test(header[i] as string)) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < header.length && tokenChars.test(header[i] as string)) i++;
    return header.slice(start, i);
  };
  const readQuoted = (): string => {
    let value = '';
    i++; // opening quote
    while (i < header.length && header[i] !== '"') {
      if (header[i] === '\\' && i + 1 < header.length) i++;
      value += header[i];
      i++;
    }
    i++; // closing quote
    return value;
  };
  while (i < header.length) {
    skipSpace();
    const word = readToken();
    if (word === '') {
      i++; // not a token character: skip it rather than loop forever
      continue;
    }
    let j = i;
    while (j < header.length && header[j] === ' ') j++;
    if (header[j] === '=' && challenges.length > 0) {
      // `name=value`: a parameter of the current challenge.
      i = j + 1;
      while (i < header.length && header[i] === ' ') i++;
      const value = header[i] === '"' ? readQuoted() : readToken();
      const current = challenges[challenges.length - 1];
      if (current) current.params[word.toLowerCase()] = value;
    } else {
      challenges.push({ scheme: word.toLowerCase(), params: {} });
    }
  }
  return challenges;
}
