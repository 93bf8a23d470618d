/* Tern's one random generator (random.c): mbedTLS's CTR_DRBG seeded from
 * the CPU (RDSEED, RDRAND, or TSC jitter). Every consumer uses it: the
 * migration challenge nonces, TLS, `migrate key --generate`, lwIP's
 * sequence numbers and ports, guest MAC addresses. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* 0, or a negative errno if the generator could not be seeded. The first
 * call seeds it and logs which source it used. */
int random_bytes(void *buf, size_t len);
/* mbedTLS's f_rng shape, for mbedtls_ssl_conf_rng(). */
int random_mbedtls(void *ctx, unsigned char *buf, size_t len);
/* The CPU source the generator was seeded from ("RDSEED", ...). */
const char *random_source(void);
