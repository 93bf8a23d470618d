/* The kernel's random generator: NIST SP 800-90A CTR_DRBG (AES-256) from
 * mbedTLS, seeded and reseeded through mbedTLS's entropy pool, whose only
 * source is mbedtls_hardware_poll() below: the best the CPU offers
 * (arch/x86/rng.c). The DRBG reseeds itself every
 * MBEDTLS_CTR_DRBG_RESEED_INTERVAL requests. */
#include "kernel/random.h"

#include <errno.h>
#include <stdbool.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>

#include "arch/x86/rng.h"
#include "kernel/log.h"

static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static int state; /* 0: not seeded yet, 1: ready, < 0: seeding failed */
static enum rng_source used;

/* MBEDTLS_ENTROPY_HARDWARE_ALT (migrate/mbedtls-config.h): mbedTLS's entropy
 * pool calls this. A source that runs dry falls back to the next one. */
int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen);
int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen)
{
	(void)data;
	for (enum rng_source s = rng_best_source(); s <= RNG_JITTER; s++) {
		if (rng_fill(s, output, len)) {
			*olen = len;
			return 0;
		}
	}
	*olen = 0;
	return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
}

static int seed(void)
{
	static const char personal[] = "tern kernel random";

	used = rng_best_source();
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	int ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
					(const unsigned char *)personal, sizeof(personal) - 1);
	if (ret) {
		log_err("random", "cannot seed the random generator (mbedTLS %d)", ret);
		return -EIO;
	}
	log_info("random", "CTR_DRBG (AES-256) seeded from %s%s", rng_source_name(used),
		 used == RNG_JITTER ? " (no RDSEED/RDRAND; weak under an emulator)" : "");
	return 1;
}

int random_bytes(void *buf, size_t len)
{
	if (!state)
		state = seed();
	if (state < 0)
		return state;
	/* mbedtls_ctr_drbg_random() serves at most MBEDTLS_CTR_DRBG_MAX_REQUEST
	 * bytes per call. */
	for (size_t off = 0; off < len;) {
		size_t k = len - off;
		if (k > MBEDTLS_CTR_DRBG_MAX_REQUEST)
			k = MBEDTLS_CTR_DRBG_MAX_REQUEST;
		if (mbedtls_ctr_drbg_random(&drbg, (unsigned char *)buf + off, k))
			return -EIO;
		off += k;
	}
	return 0;
}

int random_mbedtls(void *ctx, unsigned char *buf, size_t len)
{
	(void)ctx;
	return random_bytes(buf, len) ? MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED : 0;
}

const char *random_source(void)
{
	if (!state)
		state = seed();
	return rng_source_name(used);
}
