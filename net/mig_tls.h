/* TLS 1.2 for the migration connection (mig_tls.c): ECDHE-PSK with an AEAD,
 * the PSK derived from the migration key. docs/migration-stream.md, "TLS". */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct altcp_tls_config;

/* Derives the PSK from the migration key and (re)keys both configurations. */
int mig_tls_set_key(const uint8_t *key, size_t len);
/* The configurations for outgoing (client) and incoming (server)
 * connections; NULL while no key is set or if mbedTLS ran out of memory. */
struct altcp_tls_config *mig_tls_client(void);
struct altcp_tls_config *mig_tls_server(void);
/* What every Tern TLS endpoint shares (the migration's, the management
 * API's): TLS 1.2 only, Tern's random generator, X25519 then P-256 for
 * ECDHE, no certificate asked of the peer, and only these cipher suites
 * (0-terminated, static). */
void tern_tls_settings(struct altcp_tls_config *c, const int *suites);
/* What the connection runs ("TLS 1.2 ECDHE-PSK-CHACHA20-POLY1305"). */
const char *mig_tls_cipher_name(void);
/* The operator's reading of the mbedTLS error that ended a connection;
 * *err gets the errno the transport reports. */
const char *mig_tls_why(int mbedtls_err, bool handshake_done, int *err);
