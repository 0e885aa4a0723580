/**
 * The cipher suites Berth's HTTPS listener offers: TLS 1.3 (every suite of which is forward secret and AEAD), and
 * for TLS 1.2 only ECDHE key exchange with AES-GCM or ChaCha20-Poly1305. Node's default list also accepts TLS 1.2
 * suites without forward secrecy (AES128-SHA, AES256-SHA256: a stolen server key decrypts recorded traffic) and with
 * CBC (padding-oracle history). Every client Berth serves (Go's crypto/tls in docker, containerd, skopeo and podman;
 * curl; browsers) has spoken ECDHE-GCM for a decade. The ECDSA names are there for a server key of that type.
 * TLS 1.0 and 1.1 are refused by the context's `minVersion`.
 */
export const tls13CipherSuites: readonly string[] = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

export const tls12CipherSuites: readonly string[] = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];

/** Node's `ciphers` option: TLS 1.3 names (`TLS_*`) go to OpenSSL's ciphersuites, the rest to its cipher list. */
export const serverCipherSuites = [...tls13CipherSuites, ...tls12CipherSuites].join(':');
