/**
 * What a settings change needs from the running desktop app. Listener addresses can only change by restarting
 * the server (in-process, in-flight requests finish first); extra TLS names re-issue the server certificate
 * in place; other keys are read by their features at use time and need nothing.
 */

export interface SettingsPlan {
  restartServer: boolean;
  reissueCertificate: boolean;
}

const restartKeys = new Set(['listen', 'tlsListen']);

export function settingsPlan(changedKeys: readonly string[]): SettingsPlan {
  const restartServer = changedKeys.some((key) => restartKeys.has(key));
  // A restart builds a new certificate manager from the new names anyway.
  return { restartServer, reissueCertificate: !restartServer && changedKeys.includes('tlsNames') };
}

/** `settings.tlsNames`, hand-edited: only strings count. */
export function tlsNamesOf(settings: Record<string, unknown>): string[] {
  const names = settings.tlsNames;
  return Array.isArray(names) ? names.filter((name): name is string => typeof name === 'string') : [];
}
