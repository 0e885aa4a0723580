/**
 * A child process's output, the last `maxChars` of it kept. Chunks are joined and cut back only once they hold twice
 * that: cutting an 8 MiB string on every chunk, as `log = log.slice(...)` does, cost the benchmark's own process most
 * of a core while the server under test logged a line per request, and that core was the one wrk and the server
 * needed.
 */
export interface BoundedLog {
  append(text: string): void;
  /** The kept output. */
  text(): string;
}

export function createBoundedLog(maxChars: number): BoundedLog {
  let chunks: string[] = [];
  let chars = 0;
  const collapse = (): string => {
    const kept = chunks.join('').slice(-maxChars);
    chunks = [kept];
    chars = kept.length;
    return kept;
  };
  return {
    append(text) {
      chunks.push(text);
      chars += text.length;
      if (chars > 2 * maxChars) collapse();
    },
    text: collapse,
  };
}
