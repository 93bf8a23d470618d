/* See json.h. The input is a line from an untrusted client: every read is bounded by len, the
 * parser is a loop over an explicit stack (no recursion a client could deepen), and what it
 * accepts is exactly RFC 8259 plus the limits, so the accessors can trust the tokens. */
#include "mgmt/json.h"

#include <errno.h>
#include <string.h>

struct parser {
	const char *s;
	uint32_t len, pos;
	struct json_tok *toks;
	unsigned ntok, max_toks;
	struct json_err *err;
};

static int fail(struct parser *p, int rc, const char *why, uint32_t at)
{
	p->err->why = why;
	p->err->at = at;
	return rc;
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int hex_val(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The four hex digits at s[i..len) as a number, -1 if they are not four hex digits. */
static int32_t hex4(const char *s, uint32_t i, uint32_t len)
{
	int32_t v = 0;

	if (i > len || len - i < 4)
		return -1;
	for (unsigned k = 0; k < 4; k++) {
		int h = hex_val((uint8_t)s[i + k]);
		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/* Length of the well-formed UTF-8 sequence at s[0..n), 0 if it is not one. RFC 3629 section 4:
 * the narrowed second-byte ranges after E0, ED, F0 and F4 are what rule out overlong forms,
 * surrogates and code points above U+10FFFF. */
static unsigned utf8_seq(const uint8_t *s, size_t n)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	unsigned len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		lo = c == 0xe0 ? 0xa0 : lo;
		hi = c == 0xed ? 0x9f : hi;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		lo = c == 0xf0 ? 0x90 : lo;
		hi = c == 0xf4 ? 0x8f : hi;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (unsigned k = 2; k < len; k++)
		if (s[k] < 0x80 || s[k] > 0xbf)
			return 0;
	return len;
}

static unsigned utf8_put(uint32_t cp, uint8_t u[4])
{
	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		u[0] = (uint8_t)(0xc0 | cp >> 6);
		u[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		u[0] = (uint8_t)(0xe0 | cp >> 12);
		u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	u[0] = (uint8_t)(0xf0 | cp >> 18);
	u[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
	u[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
	u[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

static int new_tok(struct parser *p, enum json_type type, uint32_t start)
{
	if (p->ntok == p->max_toks)
		return fail(p, -E2BIG, "too many values", start);
	p->toks[p->ntok] =
		(struct json_tok){.type = type, .start = start, .end = start, .next = p->ntok + 1};
	return (int)p->ntok++;
}

/* p->pos is at the opening quote. Checks escapes and UTF-8 and counts the unescaped length,
 * so that decoding later (str_next) needs no checks. */
static int parse_string(struct parser *p)
{
	const char *s = p->s;
	uint32_t i = p->pos + 1, size = 0;

	while (i < p->len) {
		uint8_t c = (uint8_t)s[i];
		if (c == '"') {
			int t = new_tok(p, JSON_STRING, p->pos + 1);
			if (t < 0)
				return t;
			p->toks[t].end = i;
			p->toks[t].size = size;
			p->pos = i + 1;
			return t;
		}
		if (c < 0x20)
			return fail(p, -EINVAL, "control character in string", i);
		if (c >= 0x80) {
			unsigned n = utf8_seq((const uint8_t *)s + i, p->len - i);
			if (!n)
				return fail(p, -EINVAL, "invalid UTF-8", i);
			i += n;
			size += n;
			continue;
		}
		if (c != '\\') {
			i++;
			size++;
			continue;
		}
		if (i + 1 == p->len)
			break;
		switch (s[i + 1]) {
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			i += 2;
			size++;
			continue;
		case 'u':
			break;
		default:
			return fail(p, -EINVAL, "invalid escape", i);
		}
		int32_t cp = hex4(s, i + 2, p->len);
		if (cp < 0)
			return fail(p, -EINVAL, "invalid \\u escape", i);
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return fail(p, -EINVAL, "lone surrogate", i);
		if (cp >= 0xd800 && cp <= 0xdbff) {
			/* RFC 8259 section 7: outside the BMP only as a high-low pair. */
			int32_t lo = -1;
			if (i + 8 <= p->len && s[i + 6] == '\\' && s[i + 7] == 'u')
				lo = hex4(s, i + 8, p->len);
			if (lo < 0xdc00 || lo > 0xdfff)
				return fail(p, -EINVAL, "lone surrogate", i);
			i += 12;
			size += 4;
			continue;
		}
		i += 6;
		size += cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
	}
	return fail(p, -EINVAL, "unterminated string", p->pos);
}

/* The next character of a string json_parse accepted, from s[*i], as UTF-8 in u. */
static unsigned str_next(const char *s, uint32_t *i, uint8_t u[4])
{
	uint8_t c = (uint8_t)s[*i];

	if (c != '\\') {
		u[0] = c;
		*i += 1;
		return 1;
	}
	c = (uint8_t)s[*i + 1];
	*i += 2;
	switch (c) {
	case 'b':
		c = '\b';
		break;
	case 'f':
		c = '\f';
		break;
	case 'n':
		c = '\n';
		break;
	case 'r':
		c = '\r';
		break;
	case 't':
		c = '\t';
		break;
	case 'u': {
		uint32_t cp = (uint32_t)hex4(s, *i, *i + 4);
		*i += 4;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			uint32_t lo = (uint32_t)hex4(s, *i + 2, *i + 6);
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			*i += 6;
		}
		return utf8_put(cp, u);
	}
	}
	u[0] = c; /* '"', '\\', '/' */
	return 1;
}

/* Whether string token t unescapes to exactly key[0..n). */
static bool str_equals(const char *s, const struct json_tok *t, const char *key, size_t n)
{
	uint8_t u[4];

	if (t->size != n)
		return false;
	if (t->end - t->start == n) /* no escapes: every escape is longer than what it stands for */
		return !memcmp(s + t->start, key, n);
	for (uint32_t i = t->start; i < t->end;) {
		unsigned k = str_next(s, &i, u);
		if (memcmp(u, key, k))
			return false;
		key += k;
	}
	return true;
}

/* Whether two string tokens unescape to the same bytes ("a" and "\u0061" are one key). */
static bool str_same(const char *s, const struct json_tok *a, const struct json_tok *b)
{
	uint8_t ua[4], ub[4];
	unsigned na = 0, nb = 0, ka = 0, kb = 0;
	uint32_t i = a->start, j = b->start;

	if (a->size != b->size)
		return false;
	if (a->end - a->start == a->size && b->end - b->start == b->size)
		return !memcmp(s + a->start, s + b->start, a->size);
	for (;;) {
		if (ka == na) {
			if (i == a->end)
				return j == b->end && kb == nb;
			na = str_next(s, &i, ua);
			ka = 0;
		}
		if (kb == nb) {
			if (j == b->end)
				return false;
			nb = str_next(s, &j, ub);
			kb = 0;
		}
		if (ua[ka++] != ub[kb++])
			return false;
	}
}

static int check_key(struct parser *p, int obj, int key)
{
	const struct json_tok *t = p->toks;

	for (int k = obj + 1; k < key; k = (int)t[k + 1].next)
		if (str_same(p->s, &t[k], &t[key]))
			return fail(p, -EINVAL, "duplicate key", t[key].start - 1);
	return 0;
}

static int parse_number(struct parser *p)
{
	const char *s = p->s;
	uint32_t i = p->pos, len = p->len;

	if (s[i] == '-')
		i++;
	if (i == len || !is_digit(s[i]))
		return fail(p, -EINVAL, "'-' without digits", p->pos);
	if (s[i] == '0') {
		if (++i < len && is_digit(s[i]))
			return fail(p, -EINVAL, "leading zero", p->pos);
	}
	while (i < len && is_digit(s[i]))
		i++;
	if (i < len && s[i] == '.') {
		if (++i == len || !is_digit(s[i]))
			return fail(p, -EINVAL, "fraction without digits", i);
		while (i < len && is_digit(s[i]))
			i++;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		if (++i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i == len || !is_digit(s[i]))
			return fail(p, -EINVAL, "exponent without digits", i);
		while (i < len && is_digit(s[i]))
			i++;
	}
	int t = new_tok(p, JSON_NUMBER, p->pos);
	if (t < 0)
		return t;
	p->toks[t].end = p->pos = i;
	return t;
}

static int parse_literal(struct parser *p, const char *word, enum json_type type)
{
	uint32_t n = (uint32_t)strlen(word);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n))
		return fail(p, -EINVAL, "invalid literal", p->pos);
	int t = new_tok(p, type, p->pos);
	if (t < 0)
		return t;
	p->toks[t].end = p->pos += n;
	return t;
}

static int parse_scalar(struct parser *p, int c)
{
	switch (c) {
	case '"':
		return parse_string(p);
	case 't':
		return parse_literal(p, "true", JSON_TRUE);
	case 'f':
		return parse_literal(p, "false", JSON_FALSE);
	case 'n':
		return parse_literal(p, "null", JSON_NULL);
	}
	if (c == '-' || is_digit(c))
		return parse_number(p);
	return fail(p, -EINVAL, c < 0 ? "unexpected end" : "expected a value", p->pos);
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len) {
		char c = p->s[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			return;
		p->pos++;
	}
}

int json_parse(const char *s, size_t len, struct json_tok *toks, unsigned max_toks,
	       unsigned max_depth, struct json_err *err)
{
	/* What comes next: a value, a key, the first thing in a container just opened (which may
	 * be its end), or what follows a value (',', the end of its container, the end of all). */
	enum { VALUE, KEY, FIRST, AFTER } want = VALUE;
	struct json_err ignored;
	struct parser p = {.s = s, .toks = toks, .max_toks = max_toks, .err = err ? err : &ignored};
	uint32_t open[JSON_DEPTH_LIMIT]; /* token indices of the containers not yet closed */
	unsigned depth = 0;
	int64_t comma = -1; /* where the ',' just passed is, for "trailing comma" */

	if (max_depth > JSON_DEPTH_LIMIT || max_toks > INT32_MAX)
		return fail(&p, -EINVAL, "limits beyond the parser's", 0);
	if (len >= UINT32_MAX)
		return fail(&p, -E2BIG, "input too long", 0);
	p.len = (uint32_t)len;
	const char *nul = memchr(s, 0, len);
	if (nul)
		return fail(&p, -EINVAL, "NUL byte", (uint32_t)(nul - s));
	skip_ws(&p);
	if (p.pos == p.len)
		return fail(&p, -EINVAL, "empty input", p.pos);

	for (;;) {
		skip_ws(&p);
		int c = p.pos < p.len ? (uint8_t)s[p.pos] : -1;
		struct json_tok *top = depth ? &toks[open[depth - 1]] : NULL;
		bool in_obj = top && top->type == JSON_OBJECT;
		int t;

		if (want == AFTER && !top) {
			if (c >= 0)
				return fail(&p, -EINVAL, "trailing characters", p.pos);
			return (int)p.ntok;
		}
		if (want == AFTER && c == ',') {
			comma = p.pos++;
			want = in_obj ? KEY : VALUE;
			continue;
		}
		if ((want == AFTER || want == FIRST) && c == (in_obj ? '}' : ']')) {
			top->end = ++p.pos;
			top->next = p.ntok;
			depth--;
			want = AFTER;
			continue;
		}
		if (want == AFTER && c < 0)
			return fail(&p, -EINVAL, "unexpected end", p.pos);
		if (want == AFTER)
			return fail(&p, -EINVAL,
				    in_obj ? "expected ',' or '}'" : "expected ',' or ']'", p.pos);
		if (comma >= 0 && (c == '}' || c == ']'))
			return fail(&p, -EINVAL, "trailing comma", (uint32_t)comma);
		comma = -1;
		if (want == FIRST)
			want = in_obj ? KEY : VALUE;

		if (want == KEY) {
			if (c != '"')
				return fail(&p, -EINVAL,
					    c < 0 ? "unexpected end" : "expected a key", p.pos);
			t = parse_string(&p);
			if (t < 0)
				return t;
			int rc = check_key(&p, (int)open[depth - 1], t);
			if (rc)
				return rc;
			top->size++;
			skip_ws(&p);
			if (p.pos == p.len || s[p.pos] != ':')
				return fail(&p, -EINVAL, "expected ':'", p.pos);
			p.pos++;
			want = VALUE;
			continue;
		}

		/* want == VALUE */
		if (top && !in_obj)
			top->size++;
		if (c == '{' || c == '[') {
			if (depth == max_depth)
				return fail(&p, -E2BIG, "nested too deeply", p.pos);
			t = new_tok(&p, c == '{' ? JSON_OBJECT : JSON_ARRAY, p.pos);
			if (t < 0)
				return t;
			open[depth++] = (uint32_t)t;
			p.pos++;
			want = FIRST;
			continue;
		}
		t = parse_scalar(&p, c);
		if (t < 0)
			return t;
		want = AFTER;
	}
}

int json_obj_get(const char *s, const struct json_tok *toks, int obj, const char *key)
{
	size_t n = strlen(key);

	if (obj < 0 || toks[obj].type != JSON_OBJECT)
		return -1;
	int k = obj + 1;
	for (uint32_t m = 0; m < toks[obj].size; m++) {
		if (str_equals(s, &toks[k], key, n))
			return k + 1;
		k = (int)toks[k + 1].next;
	}
	return -1;
}

int json_str(const char *s, const struct json_tok *toks, int i, char *out, size_t cap)
{
	uint8_t u[4];
	size_t n = 0;

	if (cap)
		out[0] = 0;
	if (i < 0 || toks[i].type != JSON_STRING)
		return -EINVAL;
	if (toks[i].size >= cap || toks[i].size > INT32_MAX)
		return -E2BIG;
	for (uint32_t j = toks[i].start; j < toks[i].end;) {
		unsigned k = str_next(s, &j, u);
		if (u[0] == 0) { /* a C string cannot hold it; a name with a NUL is an attack */
			out[0] = 0;
			return -EINVAL;
		}
		memcpy(out + n, u, k);
		n += k;
	}
	out[n] = 0;
	return (int)n;
}

/* The magnitude of integer token t, and whether it has a '-'. */
static int int_parts(const char *s, const struct json_tok *toks, int i, uint64_t *mag, bool *neg)
{
	if (i < 0 || toks[i].type != JSON_NUMBER)
		return -EINVAL;
	uint32_t j = toks[i].start, end = toks[i].end;
	*neg = s[j] == '-';
	j += *neg;
	*mag = 0;
	for (; j < end; j++) {
		if (!is_digit(s[j]))
			return -EINVAL; /* a fraction or an exponent */
		unsigned d = (unsigned)(s[j] - '0');
		if (*mag > (UINT64_MAX - d) / 10) {
			/* Too big, unless what follows makes it no integer at all. */
			while (++j < end)
				if (!is_digit(s[j]))
					return -EINVAL;
			return -ERANGE;
		}
		*mag = *mag * 10 + d;
	}
	return 0;
}

int json_u64(const char *s, const struct json_tok *toks, int i, uint64_t *out)
{
	uint64_t mag;
	bool neg;
	int rc = int_parts(s, toks, i, &mag, &neg);

	if (rc)
		return rc;
	if (neg && mag)
		return -ERANGE;
	*out = mag;
	return 0;
}

int json_i64(const char *s, const struct json_tok *toks, int i, int64_t *out)
{
	uint64_t mag;
	bool neg;
	int rc = int_parts(s, toks, i, &mag, &neg);

	if (rc)
		return rc;
	if (mag > (uint64_t)INT64_MAX + neg)
		return -ERANGE;
	*out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	return 0;
}

int json_bool(const struct json_tok *toks, int i, bool *out)
{
	if (i < 0 || (toks[i].type != JSON_TRUE && toks[i].type != JSON_FALSE))
		return -EINVAL;
	*out = toks[i].type == JSON_TRUE;
	return 0;
}

/* --- writer --- */

void jo_init(struct json_out *o, char *buf, size_t cap)
{
	*o = (struct json_out){.buf = buf, .cap = cap, .overflow = cap == 0};
	if (cap)
		buf[0] = 0;
}

static void put(struct json_out *o, const char *p, size_t n)
{
	if (o->overflow)
		return;
	if (n >= o->cap - o->len) { /* room for the NUL too */
		o->overflow = true;
		return;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	o->buf[o->len] = 0;
}

static void separate(struct json_out *o)
{
	if (o->comma)
		put(o, ",", 1);
	o->comma = false;
}

static void put_quoted(struct json_out *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *u = (const uint8_t *)s;
	size_t n = strlen(s), run = 0, i = 0;

	put(o, "\"", 1);
	while (i < n) {
		uint8_t c = u[i];
		unsigned k = 0;
		if (c != '"' && c != '\\' && c >= 0x20)
			k = utf8_seq(u + i, n - i);
		if (k) {
			i += k;
			continue;
		}
		put(o, s + run, i - run);
		if (c == '"')
			put(o, "\\\"", 2);
		else if (c == '\\')
			put(o, "\\\\", 2);
		else if (c < 0x20)
			put(o, (const char[]){'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]}, 6);
		else
			put(o, "\\ufffd", 6); /* not UTF-8: the client decodes the line as UTF-8 */
		run = ++i;
	}
	put(o, s + run, i - run);
	put(o, "\"", 1);
}

void jo_obj_begin(struct json_out *o)
{
	separate(o);
	put(o, "{", 1);
}

void jo_obj_end(struct json_out *o)
{
	put(o, "}", 1);
	o->comma = true;
}

void jo_arr_begin(struct json_out *o)
{
	separate(o);
	put(o, "[", 1);
}

void jo_arr_end(struct json_out *o)
{
	put(o, "]", 1);
	o->comma = true;
}

void jo_key(struct json_out *o, const char *key)
{
	separate(o);
	put_quoted(o, key);
	put(o, ":", 1);
}

void jo_str(struct json_out *o, const char *s)
{
	separate(o);
	put_quoted(o, s);
	o->comma = true;
}

static void put_int(struct json_out *o, uint64_t mag, bool neg)
{
	char d[21];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + mag % 10);
		mag /= 10;
	} while (mag);
	if (neg)
		d[--i] = '-';
	separate(o);
	put(o, d + i, sizeof(d) - i);
	o->comma = true;
}

void jo_u64(struct json_out *o, uint64_t v)
{
	put_int(o, v, false);
}

void jo_i64(struct json_out *o, int64_t v)
{
	put_int(o, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0);
}

void jo_raw(struct json_out *o, const char *json)
{
	separate(o);
	put(o, json, strlen(json));
	o->comma = true;
}

void jo_nl(struct json_out *o)
{
	put(o, "\n", 1);
	o->comma = false;
}
