/* See metrics_text.h. A line that does not fit is left out whole and the
 * text marked truncated, so what is there always parses. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "kernel/metrics_text.h"

void mt_init(struct metrics_text *t, char *buf, size_t cap)
{
	t->buf = buf;
	t->cap = cap;
	t->len = 0;
	t->truncated = cap == 0;
	if (cap)
		buf[0] = 0;
}

/* A line being built: appended to t only when whole. */
struct line {
	char s[512];
	size_t n;
	bool over;
};

static void put(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct line *l, const char *fmt, ...)
{
	va_list ap;

	if (l->over)
		return;
	va_start(ap, fmt);
	int k = vsnprintf(l->s + l->n, sizeof(l->s) - l->n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(l->s) - l->n)
		l->over = true;
	else
		l->n += (size_t)k;
}

/* Backslash and newline escaped; with quote, the double quote too (label
 * values), without it not (HELP text). */
static void put_escaped(struct line *l, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			put(l, "\\\\");
		else if (*s == '\n')
			put(l, "\\n");
		else if (*s == '"' && quote)
			put(l, "\\\"");
		else
			put(l, "%c", *s);
	}
}

static void commit(struct metrics_text *t, struct line *l)
{
	put(l, "\n");
	if (l->over || t->truncated || t->len + l->n + 1 > t->cap) {
		t->truncated = true;
		return;
	}
	memcpy(t->buf + t->len, l->s, l->n);
	t->len += l->n;
	t->buf[t->len] = 0;
}

void mt_family(struct metrics_text *t, const char *name, const char *type, const char *help)
{
	struct line l = {.n = 0};

	put(&l, "# HELP %s ", name);
	put_escaped(&l, help, false);
	commit(t, &l);
	l.n = 0;
	put(&l, "# TYPE %s %s", name, type);
	commit(t, &l);
}

static void sample_head(struct line *l, const char *name, const char *const *labels)
{
	put(l, "%s", name);
	if (!labels || !labels[0])
		return;
	put(l, "{");
	for (unsigned i = 0; labels[i] && labels[i + 1]; i += 2) {
		put(l, "%s%s=\"", i ? "," : "", labels[i]);
		put_escaped(l, labels[i + 1], true);
		put(l, "\"");
	}
	put(l, "}");
}

void mt_sample(struct metrics_text *t, const char *name, const char *const *labels, uint64_t value)
{
	struct line l = {.n = 0};

	sample_head(&l, name, labels);
	put(&l, " %llu", (unsigned long long)value);
	commit(t, &l);
}

void mt_sample_micro(struct metrics_text *t, const char *name, const char *const *labels,
		     uint64_t millionths)
{
	struct line l = {.n = 0};

	sample_head(&l, name, labels);
	put(&l, " %llu.%06llu", (unsigned long long)(millionths / 1000000),
	    (unsigned long long)(millionths % 1000000));
	commit(t, &l);
}
