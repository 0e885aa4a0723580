import { inCi, requireTools, toolSkipReason, type ToolRequirement, type ToolSpec } from '../tools.js';

/**
 * What the daemon tests need: the binaries (with the Debian package that provides them, as in tools.ts) and
 * root, because dockerd, containerd and podman's root mode mount file systems and write device nodes.
 * Outside CI a missing piece skips the test with the reason; in CI it fails it.
 */

export const dockerd: ToolRequirement = { name: 'dockerd', debianPackage: 'docker.io' };
export const dockerCli: ToolRequirement = { name: 'docker', debianPackage: 'docker.io' };
export const containerd: ToolRequirement = { name: 'containerd', debianPackage: 'containerd' };
export const ctr: ToolRequirement = { name: 'ctr', debianPackage: 'containerd' };
/** dockerd and containerd need a runtime on PATH to start, even though the tests only pull. */
export const runc: ToolRequirement = { name: 'runc', debianPackage: 'runc' };
export const umount: ToolRequirement = { name: 'umount', debianPackage: 'mount' };

const notRoot = 'needs root: the daemons mount file systems (run as root, e.g. sudo bash .ci/run)';

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** node:test's `skip` option for a daemon test: a reason outside CI when a tool or root is missing. */
export function daemonSkipReason(...tools: ToolSpec[]): string | undefined {
  if (inCi()) return undefined;
  return toolSkipReason(...tools, umount) ?? (isRoot() ? undefined : notRoot);
}

/** Fails the test (in CI, where nothing is skipped) when a tool or root is missing. */
export function requireDaemonTools(...tools: ToolSpec[]): void {
  requireTools(...tools, umount);
  if (!isRoot()) throw new Error(`${notRoot}${inCi() ? ' (CI is set: this fails instead of skipping)' : ''}`);
}
