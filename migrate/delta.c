/* The PAGE_DELTA encoding; docs/migration-stream.md is its definition. */
#include "migrate/delta.h"

#include <errno.h>
#include <string.h>

#define PAGE MIG_PAGE_SIZE
/* Equal bytes inside a literal cost one byte each; ending the literal
 * there costs at least a zrun and an lrun byte. From three on, ending it
 * is the shorter encoding. */
#define MIN_BREAK 3u

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v)); /* pages are aligned, literals are not */
	return v;
}

/* The first offset at or after i where the pages differ, PAGE if none. */
static size_t same_until(const uint8_t *a, const uint8_t *b, size_t i)
{
	while (i + 8 <= PAGE && load64(a + i) == load64(b + i))
		i += 8;
	while (i < PAGE && a[i] == b[i])
		i++;
	return i;
}

/* A length up to PAGE takes one or two bytes of ULEB128. */
static size_t uleb_len(size_t v)
{
	return v < 0x80 ? 1 : 2;
}

static size_t uleb_put(uint8_t *p, uint32_t v)
{
	if (v < 0x80) {
		p[0] = (uint8_t)v;
		return 1;
	}
	p[0] = (uint8_t)(v | 0x80);
	p[1] = (uint8_t)(v >> 7);
	return 2;
}

int mig_delta_encode(const uint8_t *old, const uint8_t *cur, uint8_t *out, size_t out_cap)
{
	size_t cap = out_cap < MIG_DELTA_MAX ? out_cap : MIG_DELTA_MAX;
	size_t n = 0, pos = 0;

	for (;;) {
		size_t start = same_until(old, cur, pos);
		if (start == PAGE)
			break; /* an unchanged tail is not encoded */
		/* The literal ends before the first MIN_BREAK equal bytes. */
		size_t end = start + 1, eq = 0;
		for (size_t i = end; i < PAGE && eq < MIN_BREAK; i++) {
			if (old[i] == cur[i]) {
				eq++;
			} else {
				eq = 0;
				end = i + 1;
			}
			if (end - start + n > cap)
				return -E2BIG; /* a page mostly rewritten: give up early */
		}
		size_t z = start - pos, l = end - start;
		if (n + uleb_len(z) + uleb_len(l) + l > cap)
			return -E2BIG;
		n += uleb_put(out + n, (uint32_t)z);
		n += uleb_put(out + n, (uint32_t)l);
		memcpy(out + n, cur + start, l);
		n += l;
		pos = end;
	}
	return (int)n;
}

/* One ULEB128 length of at most PAGE, in its shortest form. */
static int uleb_get(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
	if (*p == end)
		return -EBADMSG;
	uint32_t b0 = *(*p)++;
	if (!(b0 & 0x80)) {
		*v = b0;
		return 0;
	}
	if (*p == end)
		return -EBADMSG;
	uint32_t b1 = *(*p)++;
	/* A third byte, or a second that adds nothing, is refused: one
	 * number, one spelling. */
	if ((b1 & 0x80) || b1 == 0)
		return -EBADMSG;
	*v = (b0 & 0x7f) | b1 << 7;
	return *v > PAGE ? -EBADMSG : 0;
}

/* Walks the whole encoding; writes the literals only when page is set. */
static int walk(uint8_t *page, const uint8_t *enc, size_t len)
{
	const uint8_t *p, *end;
	uint32_t off = 0, z, l;

	if (len > MIG_DELTA_MAX)
		return -E2BIG;
	if (!len)
		return 0; /* the page is unchanged; enc may be NULL */
	p = enc;
	end = enc + len;
	while (p < end) {
		if (uleb_get(&p, end, &z) || uleb_get(&p, end, &l))
			return -EBADMSG;
		if (l == 0 || (z == 0 && off != 0))
			return -EBADMSG;
		/* Subtractions, so no sum can wrap; off <= PAGE holds. */
		if (z > PAGE - off || l > PAGE - off - z || l > (size_t)(end - p))
			return -EBADMSG;
		off += z;
		if (page)
			memcpy(page + off, p, l);
		p += l;
		off += l;
	}
	return 0;
}

int mig_delta_check(const uint8_t *enc, size_t len)
{
	return walk(NULL, enc, len);
}

int mig_delta_decode(uint8_t *page, const uint8_t *enc, size_t len)
{
	int ret = walk(NULL, enc, len);

	return ret ? ret : walk(page, enc, len);
}
