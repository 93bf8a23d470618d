/* tlspsk-proxy: Tern's migration TLS (docs/migration-stream.md, "TLS") for
 * test peers that speak the stream in the clear. Python's ssl module has
 * no TLS-PSK, so tests/integration/migpeer.py hands this program one end
 * of a socketpair as fd 0 and keeps the other: bytes written there leave
 * encrypted, bytes that arrive decrypted come back.
 *
 *   tlspsk-proxy connect HOST PORT KEY   TLS client to a Tern destination
 *   tlspsk-proxy accept PORT KEY         TLS server for one Tern source;
 *                                        prints "listening" on stderr first
 *
 * Same settings as net/mig_tls.c: TLS 1.2, ECDHE-PSK-CHACHA20-POLY1305,
 * PSK = HMAC-SHA256(KEY, "tern-migrate-v1 tls psk"), identity
 * "tern-migrate-v1". A half-close on either side is passed on as a TCP
 * half-close (no close_notify), as a plain socket would. Exit status 0
 * when both directions ended, 2 on a TLS error (printed on stderr). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

static const char label[] = "tern-migrate-v1 tls psk";
static const char identity[] = "tern-migrate-v1";
static const int suites[] = {MBEDTLS_TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256, 0};

static int die(const char *what, int ret)
{
	char buf[160];
	mbedtls_strerror(ret, buf, sizeof(buf));
	fprintf(stderr, "tlspsk-proxy: %s: %s (-0x%04x)\n", what, buf, (unsigned)-ret);
	exit(2);
}

static void write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			exit(1); /* the local side went away */
		p += k;
		n -= (size_t)k;
	}
}

int main(int argc, char **argv)
{
	int server = argc == 4 && !strcmp(argv[1], "accept");
	if (!server && !(argc == 5 && !strcmp(argv[1], "connect"))) {
		fprintf(stderr, "usage: tlspsk-proxy connect HOST PORT KEY | accept PORT KEY\n");
		return 64;
	}
	const char *key = argv[argc - 1];
	unsigned char psk[32];
	mbedtls_net_context listen_fd, fd;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;
	int ret;

	mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), (const unsigned char *)key,
			strlen(key), (const unsigned char *)label, strlen(label), psk);
	mbedtls_net_init(&listen_fd);
	mbedtls_net_init(&fd);
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_ssl_config_init(&conf);
	mbedtls_ssl_init(&ssl);
	if ((ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0)))
		die("seeding", ret);
	if ((ret = mbedtls_ssl_config_defaults(
		     &conf, server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
		     MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT)))
		die("config", ret);
	mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
	mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3,
				     MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(&conf, suites);
	mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_NONE);
	if ((ret = mbedtls_ssl_conf_psk(&conf, psk, sizeof(psk), (const unsigned char *)identity,
					strlen(identity))))
		die("psk", ret);
	if ((ret = mbedtls_ssl_setup(&ssl, &conf)))
		die("setup", ret);

	if (server) {
		if ((ret = mbedtls_net_bind(&listen_fd, NULL, argv[2], MBEDTLS_NET_PROTO_TCP)))
			die("listen", ret);
		fprintf(stderr, "listening\n");
		if ((ret = mbedtls_net_accept(&listen_fd, &fd, NULL, 0, NULL)))
			die("accept", ret);
	} else if ((ret = mbedtls_net_connect(&fd, argv[2], argv[3], MBEDTLS_NET_PROTO_TCP))) {
		die("connect", ret);
	}
	mbedtls_ssl_set_bio(&ssl, &fd, mbedtls_net_send, mbedtls_net_recv, NULL);
	while ((ret = mbedtls_ssl_handshake(&ssl)))
		if (ret != MBEDTLS_ERR_SSL_WANT_READ && ret != MBEDTLS_ERR_SSL_WANT_WRITE)
			die("TLS handshake", ret);

	int local_open = 1, remote_open = 1;
	unsigned char buf[16384];
	while (local_open || remote_open) {
		struct pollfd p[2] = {{0, local_open ? POLLIN : 0, 0},
				      {fd.fd, remote_open ? POLLIN : 0, 0}};
		if (!(remote_open && mbedtls_ssl_get_bytes_avail(&ssl)) && poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (local_open && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = read(0, buf, sizeof(buf));
			if (n <= 0) {
				local_open = 0;
				shutdown(fd.fd, SHUT_WR);
			}
			for (ssize_t off = 0; n > 0 && off < n;) {
				ret = mbedtls_ssl_write(&ssl, buf + off, (size_t)(n - off));
				if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
					continue;
				if (ret < 0)
					die("TLS write", ret);
				off += ret;
			}
		}
		if (remote_open && ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) ||
				    mbedtls_ssl_get_bytes_avail(&ssl))) {
			ret = mbedtls_ssl_read(&ssl, buf, sizeof(buf));
			if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
				continue;
			if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ||
			    ret == MBEDTLS_ERR_NET_CONN_RESET || ret == MBEDTLS_ERR_SSL_CONN_EOF) {
				remote_open = 0;
				shutdown(0, SHUT_WR);
				continue;
			}
			if (ret < 0)
				die("TLS read", ret);
			write_all(0, buf, (size_t)ret);
		}
	}
	mbedtls_ssl_free(&ssl);
	mbedtls_net_free(&fd);
	mbedtls_net_free(&listen_fd);
	return 0;
}
