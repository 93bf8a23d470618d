/* Strict JSON (RFC 8259) for the management API (docs/mgmt-api.md): a parser into the caller's
 * token array and a writer into the caller's buffer. No allocation, no floating point, no
 * recursion, so the same file builds freestanding into the kernel and hosted for
 * tests/unit/mgmt/ and tests/fuzz/fuzz_json.c. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The parser's stack of open containers is this deep; max_depth may not exceed it. */
#define JSON_DEPTH_LIMIT 64

enum json_type {
	JSON_OBJECT = 1,
	JSON_ARRAY,
	JSON_STRING,
	JSON_NUMBER,
	JSON_TRUE,
	JSON_FALSE,
	JSON_NULL
};

struct json_tok {
	enum json_type type;
	/* Byte offsets in the input. A string's are inside its quotes (raw, still escaped); any
	 * other value's cover it whole (a container's from '{' to just after '}'). */
	uint32_t start, end;
	/* object: members; array: elements; string: its length in bytes once unescaped (so
	 * json_str needs size + 1 bytes); others 0 */
	uint32_t size;
	uint32_t next; /* the token after this value and everything inside it: skips it */
};

/* Why json_parse refused, for the error line: "<why> at byte <at>". */
struct json_err {
	const char *why; /* static text, e.g. "trailing comma", "duplicate key" */
	uint32_t at;	 /* byte offset in the input where it was seen */
};

/*
 * Parses exactly one JSON value from s[0..len): whitespace around it, nothing else. Tokens come
 * in document order; an object member is its key (a JSON_STRING) followed by its value.
 * Returns the token count; -EINVAL for malformed input, -E2BIG for more than max_toks tokens or
 * containers nested deeper than max_depth (the top-level container is depth 1), with *err
 * filled in (err may be NULL). -EINVAL too, err->why saying so, for max_depth above
 * JSON_DEPTH_LIMIT. Time is linear in len, except duplicate keys: each key is compared with
 * the keys before it in its object, so it grows with max_toks squared (a hostile 64 KiB line of
 * escaped keys: about 2 ms on a host at 512 tokens, 140 ms at 4096).
 */
int json_parse(const char *s, size_t len, struct json_tok *toks, unsigned max_toks,
	       unsigned max_depth, struct json_err *err);

/*
 * Accessors of a parsed document: s is the input, toks what json_parse filled. A negative index
 * is accepted and refused (-1, -EINVAL), so lookups chain:
 *	json_u64(s, t, json_obj_get(s, t, 0, "id"), &id)
 * is -EINVAL both when "id" is missing and when it is not an integer.
 */
/* Index of the value of member `key` (compared unescaped) of the object at toks[obj], or -1. */
int json_obj_get(const char *s, const struct json_tok *toks, int obj, const char *key);
/* The string at toks[i], unescaped into out and NUL-terminated (\uXXXX, surrogate pairs
 * included, as UTF-8). Returns its length; -EINVAL if toks[i] is not a string or holds
 * \u0000, -E2BIG if it needs more than cap bytes (toks[i].size + 1). */
int json_str(const char *s, const struct json_tok *toks, int i, char *out, size_t cap);
/* An integer: no fraction, no exponent ("1.0" and "1e3" are -EINVAL). -EINVAL if toks[i] is
 * not one, -ERANGE if it does not fit ("-0" is 0; any other negative is -ERANGE for u64). */
int json_u64(const char *s, const struct json_tok *toks, int i, uint64_t *out);
int json_i64(const char *s, const struct json_tok *toks, int i, int64_t *out);
/* -EINVAL unless toks[i] is true or false. */
int json_bool(const struct json_tok *toks, int i, bool *out);

/*
 * Writer: appends to a fixed buffer, always NUL-terminated. Once something does not fit,
 * overflow stays set and nothing more is written: the text is then incomplete, send none of it.
 *
 * Separators are the writer's business. Every value (jo_str, jo_u64, jo_i64, jo_raw, a whole
 * object or array) is preceded by ',' when a value came before it at the same level; jo_key
 * writes ',' the same way, then the key and ':'. One flag does it (`comma`: a value was just
 * completed), as '{', '[' and ':' clear it and every value's end sets it. So:
 *	jo_obj_begin(o);
 *	jo_key(o, "return"); jo_arr_begin(o); jo_u64(o, 1); jo_str(o, "a"); jo_arr_end(o);
 *	jo_key(o, "id"); jo_u64(o, 7);
 *	jo_obj_end(o);
 *	jo_nl(o);
 * writes {"return":[1,"a"],"id":7} and a newline. Nesting is the caller's to get right (a
 * key inside an array is not caught); the unit tests parse the writer's output back.
 */
struct json_out {
	char *buf;
	size_t cap, len; /* len excludes the NUL */
	bool overflow;
	bool comma; /* the next value or key at this level needs a ',' before it */
};

void jo_init(struct json_out *o, char *buf, size_t cap);
void jo_obj_begin(struct json_out *o);
void jo_obj_end(struct json_out *o);
void jo_arr_begin(struct json_out *o);
void jo_arr_end(struct json_out *o);
void jo_key(struct json_out *o, const char *key); /* escaped as jo_str */
/* Quoted; '"', '\\' and control characters escaped (\uXXXX). UTF-8 is copied as it is; a byte
 * that is not part of valid UTF-8 becomes \ufffd, so the output always parses. */
void jo_str(struct json_out *o, const char *s);
void jo_u64(struct json_out *o, uint64_t v);
void jo_i64(struct json_out *o, int64_t v);
/* A value already in JSON, written as it is ("null", "true", "0.0129", an object from
 * elsewhere); the separator before it as for any value. */
void jo_raw(struct json_out *o, const char *json);
/* Ends the line ('\n'); what follows starts a new document (no separator). */
void jo_nl(struct json_out *o);
