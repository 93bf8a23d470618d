/* The management API's TLS server settings (docs/mgmt-api.md): a fresh
 * self-signed ECDSA P-256 certificate, TLS 1.2 with
 * ECDHE-ECDSA-CHACHA20-POLY1305 only. */
#pragma once
#include <stdint.h>

struct altcp_tls_config;

/* Makes the key pair, the certificate and the server configuration; 0 or
 * a negative errno. Replaces the previous ones (connections made with
 * them keep theirs). */
int mgmt_tls_make(void);
/* NULL before mgmt_tls_make. */
struct altcp_tls_config *mgmt_tls_server(void);
/* SHA-256 of the certificate's DER bytes: what both sides' proofs name. */
const uint8_t *mgmt_tls_cert_hash(void);
