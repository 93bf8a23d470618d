/* HMAC-SHA256 proofs for the HELLO/AUTH exchange, through mbedTLS's md
 * layer: no cryptographic code of our own. */
#include "migrate/auth.h"

#include <errno.h>
#include <string.h>

#include <mbedtls/constant_time.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

/* Distinct labels keep a proof from being reflected to the side that
 * asked for it. */
static const char label_src[] = "tern-migrate-v1 source";
static const char label_dst[] = "tern-migrate-v1 destination";

int mig_auth_proof(enum mig_auth_role role, const uint8_t *key, size_t key_len,
		   const uint8_t nonce_src[MIG_NONCE_LEN], const uint8_t nonce_dst[MIG_NONCE_LEN],
		   uint8_t proof[MIG_PROOF_LEN])
{
	const mbedtls_md_info_t *sha256 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	const char *label = role == MIG_AUTH_SOURCE ? label_src : label_dst;
	mbedtls_md_context_t md;
	int ret;

	if (!sha256)
		return -ENOSYS;
	if (!key_len || key_len > MIG_AUTH_KEY_MAX)
		return -EINVAL;
	mbedtls_md_init(&md);
	ret = mbedtls_md_setup(&md, sha256, 1);
	if (!ret)
		ret = mbedtls_md_hmac_starts(&md, key, key_len);
	if (!ret)
		ret = mbedtls_md_hmac_update(&md, (const unsigned char *)label, strlen(label));
	if (!ret)
		ret = mbedtls_md_hmac_update(&md, nonce_src, MIG_NONCE_LEN);
	if (!ret)
		ret = mbedtls_md_hmac_update(&md, nonce_dst, MIG_NONCE_LEN);
	if (!ret)
		ret = mbedtls_md_hmac_finish(&md, proof);
	mbedtls_md_free(&md);
	if (ret == MBEDTLS_ERR_MD_ALLOC_FAILED)
		return -ENOMEM;
	return ret ? -EIO : 0;
}

int mig_auth_verify(enum mig_auth_role role, const uint8_t *key, size_t key_len,
		    const uint8_t nonce_src[MIG_NONCE_LEN], const uint8_t nonce_dst[MIG_NONCE_LEN],
		    const uint8_t proof[MIG_PROOF_LEN])
{
	uint8_t want[MIG_PROOF_LEN];
	int ret = mig_auth_proof(role, key, key_len, nonce_src, nonce_dst, want);

	if (!ret && mbedtls_ct_memcmp(want, proof, MIG_PROOF_LEN))
		ret = -EACCES;
	mbedtls_platform_zeroize(want, sizeof(want));
	return ret;
}
