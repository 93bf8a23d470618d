/* mbedtls/poly1305.h's functions over crypto/poly1305.c, for the kernel's
 * mbedTLS (MBEDTLS_POLY1305_ALT): what library/poly1305.c would provide,
 * with its contract (updates of any length, a partial block kept for the
 * next; nothing fails once the arguments are valid). */
#include "mbedtls/poly1305.h"

void mbedtls_poly1305_init(mbedtls_poly1305_context *ctx)
{
	tern_poly1305_wipe(ctx);
}

void mbedtls_poly1305_free(mbedtls_poly1305_context *ctx)
{
	if (ctx)
		tern_poly1305_wipe(ctx);
}

int mbedtls_poly1305_starts(mbedtls_poly1305_context *ctx, const unsigned char key[32])
{
	tern_poly1305_starts(ctx, key);
	return 0;
}

int mbedtls_poly1305_update(mbedtls_poly1305_context *ctx, const unsigned char *input, size_t ilen)
{
	tern_poly1305_update(ctx, input, ilen);
	return 0;
}

int mbedtls_poly1305_finish(mbedtls_poly1305_context *ctx, unsigned char mac[16])
{
	tern_poly1305_finish(ctx, mac);
	return 0;
}

int mbedtls_poly1305_mac(const unsigned char key[32], const unsigned char *input, size_t ilen,
			 unsigned char mac[16])
{
	struct tern_poly1305 p;

	tern_poly1305_starts(&p, key);
	tern_poly1305_update(&p, input, ilen);
	tern_poly1305_finish(&p, mac);
	tern_poly1305_wipe(&p);
	return 0;
}
