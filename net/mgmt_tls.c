/* See mgmt_tls.h. The certificate authenticates nothing by itself: the
 * client does not check it against a CA. Both sides prove they hold the
 * management key over its hash instead (kernel/mgmt_api.c), so a man in the
 * middle, who must show his own certificate, is found out. A new key pair
 * each time the listener starts costs a P-256 key generation and one
 * signature (well under a second under TCG) and leaves nothing to store. */
#include <errno.h>
#include <string.h>
#include "kernel/log.h"
#include "kernel/random.h"
#include "lwip/altcp_tls.h"
#include "net/mgmt_tls.h"
#include "net/mig_tls.h"
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#define DER_MAX 1024

static const int suites[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0};
static struct altcp_tls_config *server;
static uint8_t cert_hash[32];

/* DER of a new key and of its self-signed certificate, at the ends of
 * key_buf and crt_buf (mbedTLS writes backwards); their lengths. */
static int make_key_and_cert(uint8_t *key_buf, int *key_len, uint8_t *crt_buf, int *crt_len)
{
	mbedtls_pk_context key;
	mbedtls_x509write_cert crt;
	mbedtls_mpi serial;
	uint8_t sn[8];
	int ret;

	mbedtls_pk_init(&key);
	mbedtls_x509write_crt_init(&crt);
	mbedtls_mpi_init(&serial);
	if ((ret = mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) ||
	    (ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), random_mbedtls,
				       NULL)))
		goto out;
	/* A random positive serial: clients that cache certificates by
	 * issuer and serial never mix two of them up. */
	random_bytes(sn, sizeof(sn));
	sn[0] &= 0x7F;
	sn[0] |= 0x01;
	if ((ret = mbedtls_mpi_read_binary(&serial, sn, sizeof(sn))))
		goto out;
	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, &key);
	mbedtls_x509write_crt_set_issuer_key(&crt, &key);
	if ((ret = mbedtls_x509write_crt_set_subject_name(&crt, "CN=tern")) ||
	    (ret = mbedtls_x509write_crt_set_issuer_name(&crt, "CN=tern")) ||
	    (ret = mbedtls_x509write_crt_set_serial(&crt, &serial)) ||
	    /* Tern's clock may be unset; nobody checks the dates. */
	    (ret = mbedtls_x509write_crt_set_validity(&crt, "20250101000000", "20991231235959")))
		goto out;
	ret = mbedtls_x509write_crt_der(&crt, crt_buf, DER_MAX, random_mbedtls, NULL);
	if (ret < 0)
		goto out;
	*crt_len = ret;
	ret = mbedtls_pk_write_key_der(&key, key_buf, DER_MAX);
	if (ret < 0)
		goto out;
	*key_len = ret;
	ret = 0;
out:
	mbedtls_mpi_free(&serial);
	mbedtls_x509write_crt_free(&crt);
	mbedtls_pk_free(&key);
	return ret;
}

int mgmt_tls_make(void)
{
	static uint8_t key_buf[DER_MAX], crt_buf[DER_MAX];
	int key_len, crt_len;
	int ret = make_key_and_cert(key_buf, &key_len, crt_buf, &crt_len);

	if (ret) {
		log_err("mgmt", "making the TLS certificate failed (mbedTLS -0x%04x)", -ret);
		return -EIO;
	}
	const uint8_t *key = key_buf + DER_MAX - key_len, *crt = crt_buf + DER_MAX - crt_len;
	struct altcp_tls_config *c = altcp_tls_create_config_server_privkey_cert(
		key, (size_t)key_len, NULL, 0, crt, (size_t)crt_len);
	mbedtls_platform_zeroize(key_buf, sizeof(key_buf));
	if (!c)
		return -ENOMEM;
	tern_tls_settings(c, suites);
	mbedtls_sha256_ret(crt, (size_t)crt_len, cert_hash, 0);
	/* The old configuration stays allocated: connections made with it
	 * may still use it, and a restart of the listener is rare. */
	server = c;
	return 0;
}

struct altcp_tls_config *mgmt_tls_server(void)
{
	return server;
}

const uint8_t *mgmt_tls_cert_hash(void)
{
	return cert_hash;
}
