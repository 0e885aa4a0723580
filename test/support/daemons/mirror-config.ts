/**
 * Reads what `berth mirror-config` prints into the files a user would paste it into, without rewriting any
 * of it: the daemon.json object from the Docker section, one hosts.toml per `# /etc/containerd/certs.d/HOST/
 * hosts.toml` header in the containerd section (each file is the text up to the next header, comments
 * included), and the podman section whole as registries.conf. The daemon tests configure dockerd, containerd
 * and podman from these and nothing else, so they prove the printed snippets work pasted as they are.
 */

export interface PrintedMirrorConfig {
  /** The JSON object of the Docker section (`{"registry-mirrors": [...]}`). */
  readonly dockerDaemonJson: Record<string, unknown>;
  /** containerd hosts.toml files by registry host (`docker.io` → file text). */
  readonly containerdHosts: ReadonlyMap<string, string>;
  /** The podman section, a complete registries.conf. */
  readonly registriesConf: string;
}

const hostsHeader = /^# \/etc\/containerd\/certs\.d\/([^/\s]+)\/hosts\.toml\b/;

/** The lines under `## TITLE` up to the next `## ` heading. */
function section(output: string, title: string): string[] {
  const lines = output.split('\n');
  const start = lines.findIndex((line) => line.trim() === `## ${title}`);
  if (start === -1) throw new Error(`berth mirror-config printed no "## ${title}" section:\n${output}`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((line) => line.startsWith('## '));
  return end === -1 ? rest : rest.slice(0, end);
}

function dockerJson(lines: readonly string[], output: string): Record<string, unknown> {
  const first = lines.findIndex((line) => line.startsWith('{'));
  const last = lines.findLastIndex((line) => line.startsWith('}'));
  if (first === -1 || last < first) throw new Error(`no daemon.json object in the Docker section:\n${output}`);
  const parsed: unknown = JSON.parse(lines.slice(first, last + 1).join('\n'));
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('the Docker section is not a JSON object');
  return parsed as Record<string, unknown>;
}

function containerdFiles(lines: readonly string[]): Map<string, string> {
  const files = new Map<string, string>();
  let host: string | undefined;
  let body: string[] = [];
  const flush = (): void => {
    if (host !== undefined) files.set(host, `${body.join('\n').trim()}\n`);
  };
  for (const line of lines) {
    const header = hostsHeader.exec(line);
    if (header) {
      flush();
      host = header[1] as string;
      body = [line];
    } else if (host !== undefined) {
      body.push(line);
    }
  }
  flush();
  return files;
}

export function parseMirrorConfig(output: string): PrintedMirrorConfig {
  return {
    dockerDaemonJson: dockerJson(section(output, 'Docker'), output),
    containerdHosts: containerdFiles(section(output, 'containerd')),
    registriesConf: `${section(output, 'podman').join('\n').trim()}\n`,
  };
}
