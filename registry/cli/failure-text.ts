/**
 * A runtime failure as one sentence for a person. Berth's own errors already read that way; what the operating
 * system says (`EACCES: permission denied, open '/x/state.json'`) is reworded around the file it is about.
 */
const systemWords: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  ENOENT: 'no such file or directory',
  EEXIST: 'it exists already',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EISDIR: 'it is a directory',
  ENOSPC: 'the disk is full',
  EROFS: 'the file system is read-only',
  EMFILE: 'too many open files',
  EADDRINUSE: 'the address is in use by another program',
};

const verbs: Record<string, string> = {
  open: 'open',
  mkdir: 'create the directory',
  rename: 'move',
  unlink: 'delete',
  rmdir: 'delete the directory',
  stat: 'read',
  scandir: 'list',
  write: 'write',
  read: 'read',
  listen: 'listen on',
};

export function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const system = error as NodeJS.ErrnoException;
  const words = system.code ? systemWords[system.code] : undefined;
  if (words && system.syscall) {
    const { address, port } = error as { address?: string; port?: number };
    const target = system.path ?? (address !== undefined ? `${address}${port !== undefined ? `:${port}` : ''}` : '');
    return `cannot ${verbs[system.syscall] ?? system.syscall} ${target}: ${words}`.replace(/ {2}/g, ' ');
  }
  return error.message;
}
