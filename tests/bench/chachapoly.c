/* `make bench-crypto`: what a TLS record costs the migration's sender and
 * receiver, through the calls mbedTLS's record layer makes (one
 * encrypt_and_tag or auth_decrypt of a 16 KiB record with TLS 1.2's 13-byte
 * AAD), and the two primitives alone. Built twice (mk/crypto.mk): over
 * mbedTLS's portable ChaCha20 and Poly1305, and over crypto/'s. Each row
 * runs for about a second; the digest of the ciphertext and tags must be
 * the same for both builds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mbedtls/chacha20.h"
#include "mbedtls/chachapoly.h"
#include "mbedtls/poly1305.h"

#define RECORD 16384
#define SECONDS 1.0

#ifdef MBEDTLS_CHACHA20_ALT
#define IMPL "tern"
#else
#define IMPL "mbedtls"
#endif

static uint8_t plain[RECORD], cipher[RECORD], tags[16];
static uint8_t key[32], nonce[12], aad[13];
static mbedtls_chachapoly_context ctx;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void encrypt(void)
{
	nonce[11]++;
	if (mbedtls_chachapoly_encrypt_and_tag(&ctx, RECORD, nonce, aad, sizeof(aad), plain, cipher,
					       tags) != 0)
		fprintf(stderr, "encrypt_and_tag failed\n");
}

static void decrypt(void)
{
	/* The record and tag of the last encrypt(), so it authenticates. */
	if (mbedtls_chachapoly_auth_decrypt(&ctx, RECORD, nonce, aad, sizeof(aad), tags, cipher,
					    plain) != 0)
		fprintf(stderr, "auth_decrypt failed\n");
}

static void chacha20(void)
{
	nonce[11]++;
	mbedtls_chacha20_crypt(key, nonce, 1, RECORD, plain, cipher);
}

static void poly1305(void)
{
	mbedtls_poly1305_mac(key, cipher, RECORD, tags);
}

static void row(const char *name, void (*fn)(void))
{
	double start = now(), t;
	long n = 0;

	do {
		fn();
		n++;
	} while ((t = now() - start) < SECONDS);
	printf("%-8s %-28s %6ld x 16 KiB  %8.1f Mbit/s\n", IMPL, name, n,
	       (double)n * RECORD * 8 / t / 1e6);
}

/* FNV-1a over the outputs of a fixed sequence of records. */
static uint64_t digest(void)
{
	uint64_t h = 0xcbf29ce484222325ull;

	memset(nonce, 0, sizeof(nonce));
	for (int r = 0; r < 4; r++) {
		encrypt();
		for (size_t i = 0; i < RECORD; i++)
			h = (h ^ cipher[i]) * 0x100000001b3ull;
		for (size_t i = 0; i < 16; i++)
			h = (h ^ tags[i]) * 0x100000001b3ull;
	}
	return h;
}

int main(int argc, char **argv)
{
	for (size_t i = 0; i < RECORD; i++)
		plain[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0x80 + i);
	for (size_t i = 0; i < sizeof(aad); i++)
		aad[i] = (uint8_t)i;
	mbedtls_chachapoly_init(&ctx);
	mbedtls_chachapoly_setkey(&ctx, key);

	/* `bench-X N`: N records and nothing else, for counting instructions
	 * and memory accesses (valgrind --tool=lackey), which an emulator's
	 * softmmu pays for more dearly than qemu-x86_64 does. */
	if (argc > 1) {
		for (long n = atol(argv[1]); n > 0; n--)
			encrypt();
		return 0;
	}
	printf("%-8s digest %016llx\n", IMPL, (unsigned long long)digest());
	row("chachapoly encrypt_and_tag", encrypt);
	row("chachapoly auth_decrypt", decrypt);
	row("chacha20 alone", chacha20);
	row("poly1305 alone", poly1305);
	mbedtls_chachapoly_free(&ctx);
	return 0;
}
