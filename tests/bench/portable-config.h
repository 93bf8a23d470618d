/* migrate/mbedtls-config.h with mbedTLS's own ChaCha20 and Poly1305, as the
 * kernel had them before crypto/: the baseline of `make bench-crypto`. */
#include "migrate/mbedtls-config.h"
#undef MBEDTLS_CHACHA20_ALT
#undef MBEDTLS_POLY1305_ALT
