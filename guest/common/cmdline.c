/* Parsing of the Multiboot command line and of the values in it. */
#include "cmdline.h"

bool cmdline_next(const char **pos, struct cmdline_word *w)
{
	const char *s = *pos;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return false;

	const char *start = s;

	while (*s && *s != ' ' && *s != '\t' && *s != '=')
		s++;
	w->key = (struct strv){start, (size_t)(s - start)};
	w->has_value = *s == '=';
	if (w->has_value) {
		start = ++s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
		w->value = (struct strv){start, (size_t)(s - start)};
	} else {
		while (*s && *s != ' ' && *s != '\t')
			s++;
		w->value = (struct strv){s, 0};
	}
	*pos = s;
	return true;
}

bool strv_is(struct strv s, const char *lit)
{
	size_t i = 0;

	for (; i < s.len; i++)
		if (lit[i] != s.p[i])
			return false;
	return lit[i] == '\0';
}

int strv_to_u64(struct strv s, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;
	size_t i = 0;

	if (s.len > 2 && s.p[0] == '0' && (s.p[1] == 'x' || s.p[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (i == s.len)
		return -1;
	for (; i < s.len; i++) {
		char c = s.p[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -1;
		if (v > (UINT64_MAX - d) / base)
			return -1;
		v = v * base + d;
	}
	*out = v;
	return 0;
}

int range_next(struct range_iter *it, uint64_t *first, uint64_t *last)
{
	struct strv r = it->rest;

	if (r.len == 0)
		return 0;

	size_t comma = 0, dash = 0;

	while (comma < r.len && r.p[comma] != ',')
		comma++;
	while (dash < comma && r.p[dash] != '-')
		dash++;
	it->rest = comma < r.len ? (struct strv){r.p + comma + 1, r.len - comma - 1}
				 : (struct strv){r.p + r.len, 0};
	if (comma < r.len && it->rest.len == 0)
		return -1; /* trailing comma */
	if (strv_to_u64((struct strv){r.p, dash}, first))
		return -1;
	if (dash == comma) {
		*last = *first;
		return 1;
	}
	if (strv_to_u64((struct strv){r.p + dash + 1, comma - dash - 1}, last) || *last < *first)
		return -1;
	return 1;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool strv_to_mac(struct strv s, uint8_t mac[6])
{
	if (s.len != 17)
		return false;
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(s.p[3 * i]), lo = hex_digit(s.p[3 * i + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s.p[3 * i + 2] != ':'))
			return false;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}
