/* What `image fetch` reads from an operator and from an HTTP server: the
 * URL (RFC 3986 subset: http://HOST[:PORT]/PATH, HOST a dotted IPv4
 * address) and the response head (RFC 9112: status line, Content-Length).
 * Pure string work, host-tested (tests/unit/net/test_http_parse.c). Every
 * refusal sets *why to a reason for the operator's error line. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_PATH_MAX 200 /* the console line holds 255 characters */
#define HTTP_REASON_MAX 48

struct http_url {
	uint32_t ip; /* network byte order */
	uint16_t port;
	char path[HTTP_PATH_MAX + 1]; /* starts with '/'; the request target */
};

/* 0, or -EINVAL with *why: not http://, https:// (no TLS here), no host,
 * a host name (Tern has no DNS resolver), a bad port, user info, a path
 * with characters a request line cannot carry. */
int http_parse_url(const char *s, struct http_url *u, const char **why);

struct http_head {
	unsigned status;		  /* 100..999 */
	char reason[HTTP_REASON_MAX + 1]; /* printable ASCII, truncated */
	bool has_length;
	uint64_t length;
	bool chunked; /* Transfer-Encoding other than identity */
};

/* head: the bytes up to and including the blank line that ends it.
 * 0, or -EPROTO with *why: no status line, a Content-Length that is not
 * a number, or two that disagree (RFC 9110 8.6). */
int http_parse_head(const char *head, size_t len, struct http_head *h, const char **why);
