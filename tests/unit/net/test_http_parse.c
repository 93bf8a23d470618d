/* net/http_parse: the URLs `image fetch` accepts and the response heads it
 * believes. A server is hostile: a head is never trusted past its bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/http_parse.h"

static uint32_t ip32(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	const uint8_t v[4] = {a, b, c, d};
	uint32_t ip;

	memcpy(&ip, v, 4);
	return ip;
}

static void test_url_gives_address_port_and_path(void **state)
{
	struct http_url u;
	const char *why = NULL;

	(void)state;
	assert_int_equal(http_parse_url("http://10.99.0.100:8000/boot/vmlinuz?v=1#frag", &u, &why),
			 0);
	assert_int_equal(u.ip, ip32(10, 99, 0, 100));
	assert_int_equal(u.port, 8000);
	assert_string_equal(u.path, "/boot/vmlinuz?v=1");
	assert_int_equal(http_parse_url("HTTP://192.168.1.2", &u, &why), 0);
	assert_int_equal(u.port, 80);
	assert_string_equal(u.path, "/");
	assert_int_equal(http_parse_url("http://192.168.1.2?x", &u, &why), 0);
	assert_string_equal(u.path, "/?x");
}

static void test_bad_urls_are_refused_with_a_reason(void **state)
{
	static const struct {
		const char *url, *why;
	} bad[] = {
		{"https://10.0.0.1/x", "https:// is not supported"},
		{"ftp://10.0.0.1/x", "not an http:// URL"},
		{"10.0.0.1/x", "not an http:// URL"},
		{"http:///x", "the URL has no host"},
		{"http://:80/x", "the URL has no host"},
		{"http://example.org/x", "the host is not a dotted IPv4 address"},
		{"http://10.0.0/x", "the host is not a dotted IPv4 address"},
		{"http://10.0.0.256/x", "the host is not a dotted IPv4 address"},
		{"http://[::1]/x", "IPv6"},
		{"http://user:pw@10.0.0.1/x", "user names and passwords"},
		{"http://10.0.0.1:/x", "empty port"},
		{"http://10.0.0.1:0/x", "the port is not"},
		{"http://10.0.0.1:65536/x", "the port is not"},
		{"http://10.0.0.1:000080/x", "the port is not"},
		{"http://10.0.0.1:8a/x", "the port is not"},
		{"http://10.0.0.1:-1/x", "the port is not"},
		{"http://10.0.0.1/a b", "spaces or control"},
		{"http://10.0.0.1/a\r\nHost: evil", "spaces or control"},
		{"http://10.0.0.1/\x80", "spaces or control"},
	};
	struct http_url u;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;
		assert_int_equal(http_parse_url(bad[i].url, &u, &why), -EINVAL);
		assert_non_null(why);
		if (!strstr(why, bad[i].why))
			fail_msg("%s: got '%s', want '%s'", bad[i].url, why, bad[i].why);
	}
}

static void test_long_path_is_refused(void **state)
{
	char url[400] = "http://10.0.0.1/";
	struct http_url u;
	const char *why = NULL;

	(void)state;
	memset(url + strlen(url), 'a', 250);
	assert_int_equal(http_parse_url(url, &u, &why), -EINVAL);
	assert_string_equal(why, "the path is too long");
}

static int head(const char *s, struct http_head *h, const char **why)
{
	/* The parser gets exactly the head's bytes, in a buffer of its own
	 * size, so ASan sees any read past them. */
	size_t n = strlen(s);
	char *copy = malloc(n);
	memcpy(copy, s, n);
	int rc = http_parse_head(copy, n, h, why);
	free(copy);
	return rc;
}

static void test_head_gives_status_reason_and_length(void **state)
{
	struct http_head h;
	const char *why = NULL;

	(void)state;
	assert_int_equal(
		head("HTTP/1.0 200 OK\r\nServer: x\r\ncontent-length:  12345 \r\n\r\n", &h, &why),
		0);
	assert_int_equal(h.status, 200);
	assert_string_equal(h.reason, "OK");
	assert_true(h.has_length);
	assert_int_equal(h.length, 12345);
	assert_false(h.chunked);
	assert_int_equal(head("HTTP/1.1 404 File not found\r\n\r\n", &h, &why), 0);
	assert_int_equal(h.status, 404);
	assert_string_equal(h.reason, "File not found");
	assert_false(h.has_length);
	assert_int_equal(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &h, &why),
			 0);
	assert_true(h.chunked);
	/* Same value twice is allowed (RFC 9110 8.6). */
	assert_int_equal(
		head("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n", &h, &why),
		0);
	assert_int_equal(h.length, 7);
	/* Large values are kept exactly, for the size checks to refuse. */
	assert_int_equal(head("HTTP/1.1 200 OK\r\nContent-Length: 4294967297\r\n\r\n", &h, &why),
			 0);
	assert_int_equal(h.length, 4294967297ull);
}

static void test_bad_heads_are_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"\r\n\r\n",
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 200OK\r\n\r\n",
		"ICY 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	};
	struct http_head h;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;
		if (head(bad[i], &h, &why) != -EPROTO)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(why);
	}
}

static void test_reason_is_printable_and_bounded(void **state)
{
	char s[300] = "HTTP/1.1 500 ";
	struct http_head h;
	const char *why = NULL;

	(void)state;
	memset(s + strlen(s), 'x', 200);
	s[14] = '\x1b';
	strcat(s, "\r\n\r\n");
	assert_int_equal(head(s, &h, &why), 0);
	assert_int_equal(strlen(h.reason), HTTP_REASON_MAX);
	assert_int_equal(h.reason[1], '?');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_gives_address_port_and_path),
		cmocka_unit_test(test_bad_urls_are_refused_with_a_reason),
		cmocka_unit_test(test_long_path_is_refused),
		cmocka_unit_test(test_head_gives_status_reason_and_length),
		cmocka_unit_test(test_bad_heads_are_refused),
		cmocka_unit_test(test_reason_is_printable_and_bounded),
	};

	return cmocka_run_group_tests_name("http_parse", tests, NULL, NULL);
}
