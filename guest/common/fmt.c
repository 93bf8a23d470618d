/* The printf engine behind uart_printf and fmt_snprintf. */
#include "fmt.h"

#include <stdbool.h>
#include <stdint.h>

struct fmt_spec {
	bool zero_pad, left, alt;
	unsigned width;
};

static void fmt_pad(fmt_sink sink, void *ctx, char c, unsigned n)
{
	while (n--)
		sink(ctx, c);
}

/* Emits prefix + digits (already reversed in buf) padded to the width. */
static void fmt_number(fmt_sink sink, void *ctx, const struct fmt_spec *spec, uint64_t v,
		       unsigned base, bool upper, bool negative)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char buf[24];
	unsigned n = 0;
	const char *prefix = negative ? "-" : (spec->alt && base == 16 && v) ? "0x" : "";
	unsigned plen = negative ? 1 : (prefix[0] ? 2 : 0);

	do {
		buf[n++] = digits[v % base];
		v /= base;
	} while (v);

	unsigned len = n + plen;
	unsigned pad = spec->width > len ? spec->width - len : 0;

	if (!spec->left && !spec->zero_pad)
		fmt_pad(sink, ctx, ' ', pad);
	for (const char *p = prefix; *p; p++)
		sink(ctx, *p);
	if (!spec->left && spec->zero_pad)
		fmt_pad(sink, ctx, '0', pad);
	while (n)
		sink(ctx, buf[--n]);
	if (spec->left)
		fmt_pad(sink, ctx, ' ', pad);
}

static void fmt_string(fmt_sink sink, void *ctx, const struct fmt_spec *spec, const char *s)
{
	unsigned len = 0;

	if (!s)
		s = "(null)";
	while (s[len])
		len++;
	unsigned pad = spec->width > len ? spec->width - len : 0;

	if (!spec->left)
		fmt_pad(sink, ctx, ' ', pad);
	while (*s)
		sink(ctx, *s++);
	if (spec->left)
		fmt_pad(sink, ctx, ' ', pad);
}

void fmt_vformat(fmt_sink sink, void *ctx, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			sink(ctx, *fmt);
			continue;
		}
		struct fmt_spec spec = {0};

		for (;; fmt++) {
			if (fmt[1] == '0')
				spec.zero_pad = true;
			else if (fmt[1] == '-')
				spec.left = true;
			else if (fmt[1] == '#')
				spec.alt = true;
			else
				break;
		}
		while (fmt[1] >= '0' && fmt[1] <= '9')
			spec.width = spec.width * 10 + (unsigned)(*++fmt - '0');

		unsigned longs = 0;

		while (fmt[1] == 'l' || fmt[1] == 'z') {
			longs += fmt[1] == 'z' ? 2 : 1;
			fmt++;
		}
		char conv = *++fmt;
		uint64_t u;
		int64_t s;

		switch (conv) {
		case 'd':
		case 'i':
			s = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
			fmt_number(sink, ctx, &spec, s < 0 ? -(uint64_t)s : (uint64_t)s, 10, false,
				   s < 0);
			break;
		case 'u':
		case 'x':
		case 'X':
			u = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			fmt_number(sink, ctx, &spec, u, conv == 'u' ? 10 : 16, conv == 'X', false);
			break;
		case 'p':
			spec.alt = true;
			fmt_number(sink, ctx, &spec, (uintptr_t)va_arg(ap, void *), 16, false,
				   false);
			break;
		case 's':
			fmt_string(sink, ctx, &spec, va_arg(ap, const char *));
			break;
		case 'c':
			sink(ctx, (char)va_arg(ap, int));
			break;
		case '%':
			sink(ctx, '%');
			break;
		case '\0':
			return;
		default:
			sink(ctx, '%');
			sink(ctx, conv);
			break;
		}
	}
}

struct fmt_buf {
	char *buf;
	size_t size, len;
};

static void fmt_buf_sink(void *ctx, char c)
{
	struct fmt_buf *b = ctx;

	if (b->len + 1 < b->size)
		b->buf[b->len] = c;
	b->len++;
}

size_t fmt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	struct fmt_buf b = {.buf = buf, .size = size};
	va_list ap;

	va_start(ap, fmt);
	fmt_vformat(fmt_buf_sink, &b, fmt, ap);
	va_end(ap);
	if (size)
		buf[b.len < size ? b.len : size - 1] = '\0';
	return b.len;
}
