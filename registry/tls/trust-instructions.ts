import { TlsError } from './errors.js';

/**
 * Step-by-step instructions for trusting Berth's CA. Berth only prints them: changing a trust store needs
 * administrator rights, and a registry that ran `sudo` on its own would be a worse problem than the one solved.
 */
export interface TrustInstructionsOptions {
  /** Absolute path of Berth's ca.crt. */
  readonly caPath: string;
  /** What clients dial, e.g. `localhost:5000`: container tools look the CA up in a directory of that name. */
  readonly hostPort: string;
}

export type TrustTarget = 'docker' | 'containerd' | 'containers' | 'debian' | 'fedora' | 'macos' | 'windows' | 'other';

/** One client or trust store: commands to run in order, and notes that are not commands. */
export interface TrustSection {
  readonly target: TrustTarget;
  readonly title: string;
  readonly commands: readonly string[];
  readonly notes: readonly string[];
}

// Host names, IPv4, bracketed IPv6, each with an optional port. Anything else could smuggle shell syntax
// into commands the user copies into a root shell.
const hostPortPattern = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

function checkHostPort(hostPort: string): void {
  if (!hostPortPattern.test(hostPort)) {
    throw new TlsError('BERTH_TLS_NAME_INVALID', `"${hostPort}" is not a host:port (for example localhost:5000)`);
  }
}

/** Quotes a path for POSIX shells only when it needs it, so the common case stays easy to read. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./~-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Docker reads /etc/docker/certs.d/<host:port>/ca.crt at every pull: no daemon restart needed. */
export function dockerSection({ caPath, hostPort }: TrustInstructionsOptions): TrustSection {
  const dir = `/etc/docker/certs.d/${hostPort}`;
  return {
    target: 'docker',
    title: 'Docker Engine (Linux)',
    commands: [`sudo mkdir -p ${dir}`, `sudo cp ${shellQuote(caPath)} ${dir}/ca.crt`],
    notes: [
      `Docker Desktop (macOS, Windows): copy it to ~/.docker/certs.d/${hostPort}/ca.crt instead and restart Docker Desktop.`,
    ],
  };
}

/** containerd (and nerdctl, k3s, Kubernetes nodes) take per-registry settings from a hosts.toml. */
export function containerdSection({ caPath, hostPort }: TrustInstructionsOptions): TrustSection {
  const dir = `/etc/containerd/certs.d/${hostPort}`;
  const hostsToml = [
    `server = "https://${hostPort}"`,
    '',
    `[host."https://${hostPort}"]`,
    '  capabilities = ["pull", "resolve", "push"]',
    `  ca = "${dir}/ca.crt"`,
  ];
  return {
    target: 'containerd',
    title: 'containerd (nerdctl, Kubernetes nodes)',
    commands: [
      `sudo mkdir -p ${dir}`,
      `sudo cp ${shellQuote(caPath)} ${dir}/ca.crt`,
      `sudo tee ${dir}/hosts.toml >/dev/null <<'EOF'\n${hostsToml.join('\n')}\nEOF`,
    ],
    notes: [
      'containerd reads /etc/containerd/certs.d only when its CRI config points there (nerdctl does by default). ' +
        'In /etc/containerd/config.toml set config_path = "/etc/containerd/certs.d" under ' +
        '[plugins."io.containerd.grpc.v1.cri".registry] (containerd 1.x) or ' +
        '[plugins."io.containerd.cri.v1.images".registry] (containerd 2.x), then: sudo systemctl restart containerd',
    ],
  };
}

/** Podman, Buildah, Skopeo and CRI-O share containers-certs.d(5). */
export function containersSection({ caPath, hostPort }: TrustInstructionsOptions): TrustSection {
  const dir = `/etc/containers/certs.d/${hostPort}`;
  return {
    target: 'containers',
    title: 'Podman, Buildah, Skopeo, CRI-O',
    commands: [`sudo mkdir -p ${dir}`, `sudo cp ${shellQuote(caPath)} ${dir}/ca.crt`],
    notes: [
      `Rootless, without sudo: mkdir -p ~/.config/containers/certs.d/${hostPort} && ` +
        `cp ${shellQuote(caPath)} ~/.config/containers/certs.d/${hostPort}/ca.crt`,
      `For one command: skopeo --cert-dir <dir holding ca.crt> or podman --cert-dir <dir> (a directory, not the file).`,
    ],
  };
}

export function debianSection({ caPath }: TrustInstructionsOptions): TrustSection {
  return {
    target: 'debian',
    title: 'System trust store: Debian, Ubuntu',
    // update-ca-certificates only picks up files whose name ends in .crt.
    commands: [`sudo cp ${shellQuote(caPath)} /usr/local/share/ca-certificates/berth.crt`, 'sudo update-ca-certificates'],
    notes: [],
  };
}

export function fedoraSection({ caPath }: TrustInstructionsOptions): TrustSection {
  return {
    target: 'fedora',
    title: 'System trust store: Fedora, RHEL, CentOS',
    commands: [`sudo cp ${shellQuote(caPath)} /etc/pki/ca-trust/source/anchors/berth.crt`, 'sudo update-ca-trust'],
    notes: [],
  };
}

export function macosSection({ caPath }: TrustInstructionsOptions): TrustSection {
  return {
    target: 'macos',
    title: 'System trust store: macOS',
    commands: [`sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${shellQuote(caPath)}`],
    notes: ['Docker Desktop and most macOS apps use this keychain.'],
  };
}

export function windowsSection({ caPath }: TrustInstructionsOptions): TrustSection {
  // Windows paths cannot contain double quotes, so double-quoting is always safe here.
  return {
    target: 'windows',
    title: 'System trust store: Windows (in an administrator prompt)',
    commands: [`certutil -addstore -f Root "${caPath}"`],
    notes: [
      `Or in PowerShell: Import-Certificate -FilePath "${caPath}" -CertStoreLocation Cert:\\LocalMachine\\Root`,
      'Docker Desktop on Windows uses this store.',
    ],
  };
}

export function otherToolsSection({ caPath, hostPort }: TrustInstructionsOptions): TrustSection {
  return {
    target: 'other',
    title: 'Without changing any trust store',
    commands: [`curl --cacert ${shellQuote(caPath)} https://${hostPort}/v2/`],
    notes: [`Node.js tools: NODE_EXTRA_CA_CERTS=${shellQuote(caPath)}`],
  };
}

/** Every section, in the order they are printed. */
export function trustSections(options: TrustInstructionsOptions): TrustSection[] {
  checkHostPort(options.hostPort);
  return [
    dockerSection(options),
    containerdSection(options),
    containersSection(options),
    debianSection(options),
    fedoraSection(options),
    macosSection(options),
    windowsSection(options),
    otherToolsSection(options),
  ];
}

function formatSection(section: TrustSection): string {
  const indent = (text: string): string => text.split('\n').map((line) => `    ${line}`).join('\n');
  const lines = [section.title, ...section.commands.map(indent), ...section.notes.map((note) => `  Note: ${note}`)];
  return lines.join('\n');
}

/** Plain text for the CLI and the GUI: what to run so clients trust `https://<hostPort>`. */
export function trustInstructions(options: TrustInstructionsOptions): string {
  const header = [
    `Berth's local CA certificate: ${options.caPath}`,
    `Registry address: https://${options.hostPort}`,
    'Berth never changes trust settings itself. Run the commands for the clients you use (they need administrator rights).',
  ].join('\n');
  return [header, ...trustSections(options).map(formatSection)].join('\n\n') + '\n';
}
