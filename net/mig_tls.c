/* The migration connection's TLS settings, on top of lwIP's altcp_tls
 * over mbedTLS:
 * - TLS 1.2 only, key exchange ECDHE-PSK (RFC 5489): the ephemeral ECDH
 *   (X25519, else P-256) gives forward secrecy, the PSK authenticates both
 *   ends at once (a wrong key fails the Finished check);
 * - AEAD record protection: ChaCha20-Poly1305 (RFC 7905), the only AEAD
 *   mbedTLS 2.28 offers with ECDHE-PSK (it has no RFC 8442 AES-GCM
 *   suite), and the cheaper one where AES-NI is missing (QEMU's qemu64
 *   model exposes none: table-driven AES and GHASH cost more);
 * - PSK = HMAC-SHA256(migration key, "tern-migrate-v1 tls psk"), identity
 *   "tern-migrate-v1": the key itself never appears on the wire, and the
 *   PSK differs from the HELLO/AUTH challenge's use of the key.
 * docs/migration.md states what this protects. */
#include "net/mig_tls.h"

#include <errno.h>
#include <string.h>

#include "lwip/altcp_tls.h"
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>

#include "kernel/random.h"

/* net/patches/altcp_tls_mbedtls-fixes.patch */
void *altcp_tls_config_mbedtls(struct altcp_tls_config *conf);

static const char psk_label[] = "tern-migrate-v1 tls psk";
static const char psk_identity[] = "tern-migrate-v1";

static struct altcp_tls_config *client, *server;
static uint8_t psk[32];
static bool have_psk;
static const int suites[] = {MBEDTLS_TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256, 0};
static const mbedtls_ecp_group_id curves[] = {MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1,
					      MBEDTLS_ECP_DP_NONE};

void tern_tls_settings(struct altcp_tls_config *c, const int *suites)
{
	mbedtls_ssl_config *conf = altcp_tls_config_mbedtls(c);

	mbedtls_ssl_conf_rng(conf, random_mbedtls, NULL);
	mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
				     MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
				     MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_curves(conf, curves);
	mbedtls_ssl_conf_ciphersuites(conf, suites);
	/* No renegotiation (off at build time too), and no certificate from
	 * the peer: the key proves who it is (the PSK; the management API's
	 * proofs). */
	mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_NONE);
}

static int configure(struct altcp_tls_config *c)
{
	mbedtls_ssl_config *conf = altcp_tls_config_mbedtls(c);

	tern_tls_settings(c, suites);
	if (have_psk &&
	    mbedtls_ssl_conf_psk(conf, psk, sizeof(psk), (const unsigned char *)psk_identity,
				 sizeof(psk_identity) - 1))
		return -ENOMEM;
	return 0;
}

static struct altcp_tls_config *get(struct altcp_tls_config **slot, bool is_server)
{
	if (!have_psk)
		return NULL;
	if (!*slot) {
		*slot = is_server ? altcp_tls_create_config_server(0)
				  : altcp_tls_create_config_client(NULL, 0);
		if (*slot && configure(*slot)) {
			altcp_tls_free_config(*slot);
			*slot = NULL;
		}
	}
	return *slot;
}

struct altcp_tls_config *mig_tls_client(void)
{
	return get(&client, false);
}

struct altcp_tls_config *mig_tls_server(void)
{
	return get(&server, true);
}

int mig_tls_set_key(const uint8_t *key, size_t len)
{
	const mbedtls_md_info_t *sha256 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

	if (mbedtls_md_hmac(sha256, key, len, (const unsigned char *)psk_label,
			    sizeof(psk_label) - 1, psk))
		return -EIO;
	have_psk = true;
	/* Configurations already made take the new PSK; connections already
	 * past their handshake keep the keys they derived. */
	for (int i = 0; i < 2; i++) {
		struct altcp_tls_config *c = i ? server : client;
		if (c && configure(c))
			return -ENOMEM;
	}
	return 0;
}

const char *mig_tls_cipher_name(void)
{
	return "TLS 1.2 ECDHE-PSK-CHACHA20-POLY1305";
}

const char *mig_tls_why(int e, bool handshake_done, int *err)
{
	*err = -EPROTO;
	if (!handshake_done) {
		switch (e) {
		case MBEDTLS_ERR_SSL_INVALID_MAC:
		case MBEDTLS_ERR_SSL_BAD_HS_FINISHED:
		case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
		case MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY:
			*err = -EACCES;
			return "TLS handshake failed: the peer does not have our migration key";
		case MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN:
		case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
			return "TLS handshake failed: no cipher suite in common";
		case MBEDTLS_ERR_SSL_ALLOC_FAILED:
			*err = -ENOMEM;
			return "TLS handshake failed: out of memory";
		default:
			return "TLS handshake failed: the peer does not speak Tern's TLS";
		}
	}
	switch (e) {
	case MBEDTLS_ERR_SSL_INVALID_MAC:
		*err = -EBADMSG;
		return "a TLS record failed its integrity check: the data was altered on the way";
	case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
		return "the peer ended the TLS connection (a record failed its check there)";
	case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
		*err = -ECONNRESET;
		return "the peer closed the TLS connection";
	default:
		return "TLS record layer error";
	}
}
