/* mbedTLS as the Tern kernel builds it for migrate/auth.c: SHA-256 and
 * HMAC through the md layer, nothing else. No filesystem, threads,
 * sockets, clock or entropy source: the kernel has none of them in the
 * form mbedTLS expects, and the challenge nonces come from the host ops. */
#ifndef TERN_MIGRATE_MBEDTLS_CONFIG_H
#define TERN_MIGRATE_MBEDTLS_CONFIG_H

#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C

#include "mbedtls/check_config.h"

#endif
