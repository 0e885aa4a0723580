import type { IncomingMessage } from 'node:http';

/** What a registry request needs from its caller, derived from route and method. */
export type Action = 'pull' | 'push' | 'delete';

export interface AccessNeed {
  repository: string;
  actions: Action[];
}

/** The authenticated party of a request and what it may do. */
export interface Caller {
  /** Token name, `anonymous`, or `admin`. Never a secret. */
  readonly name: string;
  can(repository: string, action: Action): boolean;
}

/**
 * Authenticates a request and checks every need; throws RegistryError UNAUTHORIZED (with its
 * WWW-Authenticate challenge), DENIED or TOOMANYREQUESTS. Listing endpoints pass no needs and
 * filter their answer with `caller.can`. The auth module provides the real gate.
 */
export interface AccessGate {
  authorize(req: IncomingMessage, needs: readonly AccessNeed[]): Promise<Caller> | Caller;
}

/** `--auth none`: everyone may do everything. For development and tests on loopback. */
export const openGate: AccessGate = {
  authorize: () => openCaller,
};

const openCaller: Caller = { name: 'anonymous', can: () => true };
