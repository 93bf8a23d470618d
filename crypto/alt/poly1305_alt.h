/* mbedtls/poly1305.h includes this when MBEDTLS_POLY1305_ALT is set
 * (migrate/mbedtls-config.h): its context is crypto/poly1305.c's. */
#ifndef TERN_CRYPTO_POLY1305_ALT_H
#define TERN_CRYPTO_POLY1305_ALT_H
#include "crypto/poly1305.h"

typedef struct tern_poly1305 mbedtls_poly1305_context;

#endif
