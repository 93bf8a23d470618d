/* mbedtls/chacha20.h's functions over crypto/chacha20.c, for the kernel's
 * mbedTLS (MBEDTLS_CHACHA20_ALT): what library/chacha20.c would provide,
 * with its contract (an update continues the keystream where the last one
 * stopped; nothing fails once the arguments are valid). */
#include "mbedtls/chacha20.h"

void mbedtls_chacha20_init(mbedtls_chacha20_context *ctx)
{
	tern_chacha20_wipe(ctx);
	ctx->used = TERN_CHACHA20_BLOCK;
}

void mbedtls_chacha20_free(mbedtls_chacha20_context *ctx)
{
	if (ctx)
		tern_chacha20_wipe(ctx);
}

int mbedtls_chacha20_setkey(mbedtls_chacha20_context *ctx, const unsigned char key[32])
{
	tern_chacha20_setkey(ctx, key);
	return 0;
}

int mbedtls_chacha20_starts(mbedtls_chacha20_context *ctx, const unsigned char nonce[12],
			    uint32_t counter)
{
	tern_chacha20_starts(ctx, nonce, counter);
	return 0;
}

int mbedtls_chacha20_update(mbedtls_chacha20_context *ctx, size_t size, const unsigned char *input,
			    unsigned char *output)
{
	tern_chacha20_update(ctx, size, input, output);
	return 0;
}

int mbedtls_chacha20_crypt(const unsigned char key[32], const unsigned char nonce[12],
			   uint32_t counter, size_t size, const unsigned char *input,
			   unsigned char *output)
{
	struct tern_chacha20 c;

	tern_chacha20_setkey(&c, key);
	tern_chacha20_starts(&c, nonce, counter);
	tern_chacha20_update(&c, size, input, output);
	tern_chacha20_wipe(&c);
	return 0;
}
