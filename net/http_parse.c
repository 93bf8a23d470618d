/* URL and response-head parsing for `image fetch` (see http_parse.h). */
#include <errno.h>
#include <string.h>

#include "net/addr.h"
#include "net/http_parse.h"

static bool prefix_nocase(const char *s, const char *p)
{
	for (; *p; s++, p++) {
		char c = *s;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != *p)
			return false;
	}
	return true;
}

int http_parse_url(const char *s, struct http_url *u, const char **why)
{
	char host[64];
	const char *p, *end;
	size_t n;

	memset(u, 0, sizeof(*u));
	if (prefix_nocase(s, "https://"))
		return *why = "https:// is not supported: Tern fetches images over plain HTTP only "
			      "(no TLS here); check them with sha256=",
		       -EINVAL;
	if (!prefix_nocase(s, "http://"))
		return *why = "not an http:// URL (http://HOST[:PORT]/PATH)", -EINVAL;
	s += 7;
	end = s + strcspn(s, "/?#");
	if (memchr(s, '@', (size_t)(end - s)))
		return *why = "user names and passwords in URLs are not supported", -EINVAL;
	if (*s == '[')
		return *why = "IPv6 addresses are not supported", -EINVAL;
	p = memchr(s, ':', (size_t)(end - s));
	n = (size_t)((p ? p : end) - s);
	if (!n)
		return *why = "the URL has no host", -EINVAL;
	if (n >= sizeof(host))
		return *why = "the host is too long", -EINVAL;
	memcpy(host, s, n);
	host[n] = 0;
	if (addr_parse_ipv4(host, &u->ip))
		return *why = "the host is not a dotted IPv4 address (Tern has no DNS resolver: "
			      "give the server's address, e.g. http://10.0.0.5:8000/vmlinuz)",
		       -EINVAL;
	u->port = 80;
	if (p) {
		unsigned long v = 0;
		const char *q = p + 1;
		if (q == end)
			return *why = "empty port after ':'", -EINVAL;
		for (; q < end; q++) {
			if (*q < '0' || *q > '9' || q - p > 5)
				return *why = "the port is not a number from 1 to 65535", -EINVAL;
			v = v * 10 + (unsigned long)(*q - '0');
		}
		if (!v || v > 65535)
			return *why = "the port is not a number from 1 to 65535", -EINVAL;
		u->port = (uint16_t)v;
	}
	/* The request target: the path and query, without the fragment
	 * (RFC 3986 3.5: never sent). Anything but visible ASCII would break
	 * the request line, so it is refused rather than encoded. */
	n = strcspn(end, "#");
	if (n > HTTP_PATH_MAX)
		return *why = "the path is too long", -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (end[i] <= 0x20 || end[i] >= 0x7f)
			return *why = "the path has spaces or control characters", -EINVAL;
	if (n && end[0] == '/') {
		memcpy(u->path, end, n);
		u->path[n] = 0;
	} else {
		if (n + 1 > HTTP_PATH_MAX)
			return *why = "the path is too long", -EINVAL;
		u->path[0] = '/';
		memcpy(u->path + 1, end, n);
		u->path[n + 1] = 0;
	}
	return 0;
}

/* One header line [s, e) without its CRLF. */
static int head_field(const char *s, const char *e, struct http_head *h, const char **why)
{
	const char *v;

	if (prefix_nocase(s, "content-length:") && e - s >= 15) {
		uint64_t len = 0;
		int digits = 0;
		for (v = s + 15; v < e && (*v == ' ' || *v == '\t'); v++)
			;
		for (; v < e && *v >= '0' && *v <= '9'; v++, digits++) {
			if (len > (UINT64_MAX - 9) / 10)
				return *why = "the server's Content-Length is not a number",
				       -EPROTO;
			len = len * 10 + (uint64_t)(*v - '0');
		}
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		if (!digits || v != e)
			return *why = "the server's Content-Length is not a number", -EPROTO;
		if (h->has_length && h->length != len)
			return *why = "the server sent two different Content-Length headers",
			       -EPROTO;
		h->has_length = true;
		h->length = len;
	} else if (prefix_nocase(s, "transfer-encoding:") && e - s >= 18) {
		for (v = s + 18; v < e && (*v == ' ' || *v == '\t'); v++)
			;
		if (!(e - v == 8 && prefix_nocase(v, "identity")))
			h->chunked = true;
	}
	return 0;
}

int http_parse_head(const char *head, size_t len, struct http_head *h, const char **why)
{
	const char *s = head, *end = head + len, *e;
	unsigned status = 0;

	memset(h, 0, sizeof(*h));
	/* "HTTP/1.x SSS reason" (RFC 9112 4). */
	e = memchr(s, '\r', len);
	if (!e || e - s < 12 || memcmp(s, "HTTP/1.", 7) || s[8] != ' ')
		return *why = "the server's answer is not an HTTP/1.x response", -EPROTO;
	for (int i = 9; i < 12; i++) {
		if (s[i] < '0' || s[i] > '9')
			return *why = "the server's answer is not an HTTP/1.x response", -EPROTO;
		status = status * 10 + (unsigned)(s[i] - '0');
	}
	if (status < 100 || (e - s > 12 && s[12] != ' '))
		return *why = "the server's answer is not an HTTP/1.x response", -EPROTO;
	h->status = status;
	size_t r = 0;
	for (const char *c = s + 13; c < e && r < HTTP_REASON_MAX; c++)
		h->reason[r++] = *c >= 0x20 && *c < 0x7f ? *c : '?';
	h->reason[r] = 0;
	/* Each field line ends in CRLF; an empty one ends the head. */
	for (s = e; end - s >= 2 && s[0] == '\r' && s[1] == '\n'; s = e) {
		s += 2;
		for (e = s; e < end && *e != '\r'; e++)
			;
		if (e == s || e == end)
			break;
		int rc = head_field(s, e, h, why);
		if (rc)
			return rc;
	}
	return 0;
}
