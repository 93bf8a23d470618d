/* mbedtls/chacha20.h includes this when MBEDTLS_CHACHA20_ALT is set
 * (migrate/mbedtls-config.h): its context is crypto/chacha20.c's. */
#ifndef TERN_CRYPTO_CHACHA20_ALT_H
#define TERN_CRYPTO_CHACHA20_ALT_H
#include "crypto/chacha20.h"

typedef struct tern_chacha20 mbedtls_chacha20_context;

#endif
