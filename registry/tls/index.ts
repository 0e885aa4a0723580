/** Berth's local certificate authority and server certificates: creation, renewal, export, trust help. */
export { createCertificateManager } from './certificate-manager.js';
export type {
  CertificateManager,
  CertificateManagerOptions,
  CertificateSet,
  ServerContextOptions,
} from './certificate-manager.js';
export type { CertificateInfo, KeyAndCertificate } from './certificate-material.js';
export { caLifetimeDays } from './certificate-authority.js';
export { serverLifetimeDays, type RenewalReason } from './server-certificate.js';
export { parseSubjectName, formatSubjectName, type SubjectName } from './subject-names.js';
export { exportCaCertificate, namesOutsideCa } from './export-ca.js';
export { formatSubtree, readPermittedSubtrees, type PermittedSubtree } from './name-constraints.js';
export { serverCipherSuites, tls12CipherSuites, tls13CipherSuites } from './tls-policy.js';
export { tlsPaths, type TlsPaths } from './tls-paths.js';
export { TlsError, isTlsError, tlsErrorCodes, type TlsErrorCode } from './errors.js';
export {
  trustInstructions,
  trustSections,
  type TrustInstructionsOptions,
  type TrustSection,
  type TrustTarget,
} from './trust-instructions.js';
