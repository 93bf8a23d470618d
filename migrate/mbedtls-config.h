/* mbedTLS as the Tern kernel builds it (mk/migrate.mk): the HMAC of
 * migrate/auth.c, the random generator of kernel/random.c and the TLS 1.2
 * layer under the migration connection (net/mig_tls.c through lwIP's
 * altcp_tls_mbedtls). No filesystem, threads, sockets or clock: the kernel
 * has none of them in the form mbedTLS expects. docs/migration.md says what
 * this protects and how. */
#ifndef TERN_MIGRATE_MBEDTLS_CONFIG_H
#define TERN_MIGRATE_MBEDTLS_CONFIG_H

/* --- platform: newlib's calloc/free, no time, no file or socket I/O ------ */
#define MBEDTLS_HAVE_ASM
/* Entropy comes only from kernel/random.c (RDSEED, RDRAND or TSC jitter):
 * mbedtls_hardware_poll() is Tern's. */
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_ENTROPY_HARDWARE_ALT

/* --- hashes, MAC, random generator --------------------------------------- */
#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA512_C /* the entropy pool's hash */
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C

/* --- cipher: ChaCha20-Poly1305, the AEAD of net/mig_tls.c ---------------- */
#define MBEDTLS_CIPHER_C
#define MBEDTLS_AES_C /* CTR_DRBG's block cipher */
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C
/* Tern's ChaCha20 and Poly1305 (crypto/, tuned for QEMU's TCG) in place
 * of mbedTLS's portable ones, which took half of a migration's time there;
 * their headers are found through -Icrypto/alt (mk/migrate.mk).
 * chachapoly.c stays mbedTLS's. */
#define MBEDTLS_CHACHA20_ALT
#define MBEDTLS_POLY1305_ALT

/* --- key exchange: ECDHE-PSK (forward secrecy, keyed by the migration key) */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_KEY_EXCHANGE_ECDHE_PSK_ENABLED

/* --- TLS 1.2 only, client and server ------------------------------------- */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_ENCRYPT_THEN_MAC
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
/* Send every alert, so a peer that fails a record check tells the other
 * side why instead of just closing. */
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES
/* 16 KiB records both ways: the largest TLS allows, so the per-record
 * overhead stays small during bulk transfer. Two such buffers per
 * connection (about 34 KiB), freed when it closes. */
#define MBEDTLS_SSL_IN_CONTENT_LEN 16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 16384

/* Certificates: the management API's listener (net/mgmt_tls.c) makes a
 * self-signed ECDSA P-256 certificate each time it starts and serves
 * ECDHE-ECDSA-CHACHA20-POLY1305 with it (Python's ssl, what ternctl uses,
 * has no PSK suites). The migration stays on its PSK suite (net/mig_tls.c
 * names it). */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_CREATE_C
#define MBEDTLS_X509_CRT_WRITE_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PK_WRITE_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_OID_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED

#include "mbedtls/check_config.h"

#endif
