/* libFuzzer target: mgmt/json.c fed hostile lines. The parser must never read outside the
 * input (ASan: the input is copied to a heap block of exactly its size), must answer only a
 * count, -EINVAL or -E2BIG, and its tokens must hold together: offsets inside the input, `next`
 * and `size` agreeing with what is inside each container, every string decoding to its `size`.
 * What it accepts must survive the writer: written out again (keys and strings through
 * json_str and jo_str, numbers and literals raw) and parsed, it gives the same tokens and the
 * same strings. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/json.h"

#define MAX_TOKS 4096
#define MAX_DEPTH 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct json_tok toks[MAX_TOKS], again[MAX_TOKS];

#define check(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

/* Checks the value at toks[i] and what is inside it; returns the index after it. */
static int walk(const char *s, size_t len, int i, int n, char *str)
{
	const struct json_tok *t = &toks[i];
	int j = i + 1;

	check(t->type >= JSON_OBJECT && t->type <= JSON_NULL);
	check(t->start <= t->end && t->end <= len);
	check((int)t->next > i && (int)t->next <= n);
	if (t->type == JSON_STRING) {
		int k = json_str(s, toks, i, str, t->size + 1);
		check(k == (int)t->size || k == -EINVAL);
		check(k < 0 || strlen(str) == t->size);
	}
	if (t->type != JSON_OBJECT && t->type != JSON_ARRAY) {
		check(t->next == (uint32_t)j);
		return j;
	}
	check(s[t->start] == (t->type == JSON_OBJECT ? '{' : '[') &&
	      s[t->end - 1] == (t->type == JSON_OBJECT ? '}' : ']'));
	for (uint32_t m = 0; m < t->size; m++) {
		if (t->type == JSON_OBJECT) {
			check(j < n && toks[j].type == JSON_STRING);
			j = walk(s, len, j, n, str);
		}
		check(j < n);
		j = walk(s, len, j, n, str);
	}
	check(t->next == (uint32_t)j);
	return j;
}

/* Writes toks[i] out again; false if it holds a string json_str refuses (\u0000). */
static bool rewrite(const char *s, int i, struct json_out *o, char *str, char *raw)
{
	const struct json_tok *t = &toks[i];
	int j = i + 1;

	switch (t->type) {
	case JSON_OBJECT:
	case JSON_ARRAY:
		if (t->type == JSON_OBJECT)
			jo_obj_begin(o);
		else
			jo_arr_begin(o);
		for (uint32_t m = 0; m < t->size; m++) {
			if (t->type == JSON_OBJECT) {
				if (json_str(s, toks, j, str, toks[j].size + 1) < 0)
					return false;
				jo_key(o, str);
				j++;
			}
			if (!rewrite(s, j, o, str, raw))
				return false;
			j = (int)toks[j].next;
		}
		if (t->type == JSON_OBJECT)
			jo_obj_end(o);
		else
			jo_arr_end(o);
		return true;
	case JSON_STRING:
		if (json_str(s, toks, i, str, t->size + 1) < 0)
			return false;
		jo_str(o, str);
		return true;
	default:
		memcpy(raw, s + t->start, t->end - t->start);
		raw[t->end - t->start] = 0;
		jo_raw(o, raw);
		return true;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size ? size : 1);
	struct json_err err = {0};

	if (!s)
		abort();
	memcpy(s, data, size);
	int n = json_parse(s, size, toks, MAX_TOKS, MAX_DEPTH, &err);
	check(n > 0 || n == -EINVAL || n == -E2BIG);
	check(n > 0 || (err.why && err.at <= size));
	if (n < 0)
		goto out;

	char *str = malloc(size + 1), *raw = malloc(size + 1);
	/* Escaping at most triples a string ("\n" is written \u000a) */
	size_t cap = 3 * size + 16;
	char *buf = malloc(cap);
	if (!str || !raw || !buf)
		abort();
	check(walk(s, size, 0, n, str) == n);

	struct json_out o;
	jo_init(&o, buf, cap);
	if (rewrite(s, 0, &o, str, raw)) {
		check(!o.overflow && strlen(buf) == o.len);
		char *str2 = malloc(o.len + 1);
		if (!str2)
			abort();
		check(json_parse(buf, o.len, again, MAX_TOKS, MAX_DEPTH, &err) == n);
		for (int i = 0; i < n; i++) {
			check(again[i].type == toks[i].type && again[i].size == toks[i].size &&
			      again[i].next == toks[i].next);
			if (toks[i].type == JSON_STRING) {
				json_str(s, toks, i, str, toks[i].size + 1);
				json_str(buf, again, i, str2, again[i].size + 1);
				check(!strcmp(str, str2));
			}
		}
		free(str2);
	}
	free(str);
	free(raw);
	free(buf);
out:
	free(s);
	return 0;
}
