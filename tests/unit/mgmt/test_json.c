/* mgmt/json: the management API's JSON. A request is read member by member; everything RFC
 * 8259 does not allow is refused with a reason, each rule by its own input; the limits hold;
 * the writer escapes what it must, says when it ran out of room, and what it writes parses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mgmt/json.h"

#define TOKS 64
#define DEPTH 16

static struct json_tok toks[TOKS];

static int parse(const char *s)
{
	return json_parse(s, strlen(s), toks, TOKS, DEPTH, NULL);
}

struct bad {
	const char *in;
	size_t len; /* 0: strlen(in) */
	const char *why;
};

/* Each input is refused, -EINVAL, for the reason given. */
static void assert_malformed(const struct bad *cases, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		struct json_err err = {0};
		size_t len = cases[k].len ? cases[k].len : strlen(cases[k].in);
		int rc = json_parse(cases[k].in, len, toks, TOKS, DEPTH, &err);
		if (rc != -EINVAL || !err.why || strcmp(err.why, cases[k].why) || err.at > len)
			fail_msg("input '%s': got %d (%s at %u), want -EINVAL (%s)", cases[k].in,
				 rc, err.why ? err.why : "-", err.at, cases[k].why);
	}
}

#define MALFORMED(...)                                                                             \
	do {                                                                                       \
		const struct bad c[] = {__VA_ARGS__};                                              \
		assert_malformed(c, sizeof(c) / sizeof(c[0]));                                     \
	} while (0)

/* Each input parses. */
static void assert_valid(const char *const *in, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		struct json_err err = {0};
		int rc = json_parse(in[k], strlen(in[k]), toks, TOKS, DEPTH, &err);
		if (rc <= 0)
			fail_msg("input '%s': got %d (%s at %u)", in[k], rc,
				 err.why ? err.why : "-", err.at);
	}
}

#define VALID(...)                                                                                 \
	do {                                                                                       \
		const char *const v[] = {__VA_ARGS__};                                             \
		assert_valid(v, sizeof(v) / sizeof(v[0]));                                         \
	} while (0)

static void test_a_request_is_read_member_by_member(void **state)
{
	const char *s = "{\"execute\":\"vm-list\",\"arguments\":{},\"id\":7}\r\n";
	char cmd[16];
	uint64_t id = 0;

	(void)state;
	assert_int_equal(parse(s), 7);
	assert_int_equal(toks[0].type, JSON_OBJECT);
	assert_int_equal(toks[0].size, 3);
	assert_int_equal(json_str(s, toks, json_obj_get(s, toks, 0, "execute"), cmd, sizeof(cmd)),
			 7);
	assert_string_equal(cmd, "vm-list");
	int args = json_obj_get(s, toks, 0, "arguments");
	assert_int_equal(toks[args].type, JSON_OBJECT);
	assert_int_equal(toks[args].size, 0);
	assert_int_equal(json_u64(s, toks, json_obj_get(s, toks, 0, "id"), &id), 0);
	assert_int_equal(id, 7);
}

static void test_a_missing_member_is_minus_one_and_chains_to_einval(void **state)
{
	const char *s = "{\"id\":\"7\",\"arguments\":{}}";
	char out[8];
	uint64_t id;
	bool b;

	(void)state;
	assert_int_equal(parse(s), 5);
	assert_int_equal(json_obj_get(s, toks, 0, "execute"), -1);
	assert_int_equal(json_obj_get(s, toks, 0, "i"), -1);
	assert_int_equal(json_obj_get(s, toks, 0, "idx"), -1);
	assert_int_equal(json_str(s, toks, json_obj_get(s, toks, 0, "execute"), out, sizeof(out)),
			 -EINVAL);
	assert_int_equal(json_u64(s, toks, json_obj_get(s, toks, 0, "id"), &id), -EINVAL);
	assert_int_equal(json_bool(toks, json_obj_get(s, toks, 0, "id"), &b), -EINVAL);
	/* Not an object: nothing to look up in. */
	assert_int_equal(json_obj_get(s, toks, 1, "id"), -1);
	assert_int_equal(json_obj_get(s, toks, json_obj_get(s, toks, 0, "x"), "id"), -1);
}

static void test_tokens_are_in_document_order_with_their_offsets(void **state)
{
	const char *s = " {\"a\\n\": [1, \"x\"]} ";

	(void)state;
	assert_int_equal(parse(s), 5);
	assert_int_equal(toks[0].start, 1); /* '{' */
	assert_int_equal(toks[0].end, 18);  /* after '}' */
	assert_int_equal(toks[1].type, JSON_STRING);
	assert_int_equal(toks[1].start, 3); /* inside the quotes, still escaped */
	assert_int_equal(toks[1].end, 6);
	assert_int_equal(toks[1].size, 2); /* "a\n" unescaped */
	assert_int_equal(toks[2].type, JSON_ARRAY);
	assert_int_equal(toks[2].size, 2);
	assert_int_equal(toks[3].type, JSON_NUMBER);
	assert_int_equal(toks[3].start, 10);
	assert_int_equal(toks[3].end, 11);
	assert_int_equal(toks[4].start, 14);
	assert_int_equal(toks[4].end, 15);
	assert_int_equal(toks[0].next, 5);
	assert_int_equal(toks[1].next, 2);
	assert_int_equal(toks[2].next, 5);
	assert_int_equal(toks[3].next, 4);
	assert_int_equal(toks[4].next, 5);
}

static void test_next_skips_a_nested_value(void **state)
{
	const char *s = "{\"a\":[1,[2,[]],{\"b\":null,\"c\":{}}],\"d\":true,\"e\":[]}";
	bool d = false;

	(void)state;
	assert_int_equal(parse(s), 16);
	assert_int_equal(toks[0].size, 3);
	assert_int_equal(toks[2].type, JSON_ARRAY);
	assert_int_equal(toks[2].size, 3);
	assert_int_equal(toks[2].next, 12); /* the key "d" */
	assert_int_equal(toks[4].size, 2);
	assert_int_equal(toks[4].next, 7);
	assert_int_equal(toks[7].type, JSON_OBJECT);
	assert_int_equal(toks[7].size, 2);
	assert_int_equal(toks[7].next, 12);
	assert_int_equal(json_obj_get(s, toks, 0, "d"), 13);
	assert_int_equal(json_bool(toks, 13, &d), 0);
	assert_true(d);
	assert_int_equal(json_obj_get(s, toks, 0, "e"), 15);
	assert_int_equal(json_obj_get(s, toks, 0, "b"), -1); /* a member of a member */
	assert_int_equal(json_obj_get(s, toks, 7, "c"), 11);
	assert_int_equal(toks[0].next, 16);
}

static void test_what_rfc_8259_allows_parses(void **state)
{
	(void)state;
	VALID("0", "-0", "7", "-12", "0.5", "-0.0", "1e5", "1E+5", "1e-05", "12.50E3", "true",
	      "false", "null", "\"\"", "[]", "{}", " \t\r\n[ \t\r\n1 \t\r\n, 2 ]\n",
	      "{ \"a\" : 1 , \"b\" : [ ] }", "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"",
	      "\"\\u0041\\u00e9\\u20AC\\uD83D\\uDE00\\u0000\"", "\"\x7f\"",
	      "\"\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf\"",
	      "\"\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf\"", "{\"a\":{\"a\":1},\"b\":{\"a\":2}}",
	      "{\"a\":1,\"A\":2,\"a \":3,\"\\u00e9\":4,\"\xc3\xa8\":5}");
}

static void test_other_whitespace_is_malformed(void **state)
{
	(void)state;
	MALFORMED({"\v1", 0, "expected a value"}, {"\f1", 0, "expected a value"},
		  {"[1,\xc2\xa0 2]", 0, "expected a value"}, {"1\v", 0, "trailing characters"});
}

static void test_trailing_comma_is_malformed(void **state)
{
	(void)state;
	MALFORMED({"[1,]", 0, "trailing comma"}, {"{\"a\":1,}", 0, "trailing comma"},
		  {"[1 , ]", 0, "trailing comma"}, {"{\"a\":[1,],\"b\":2}", 0, "trailing comma"});
}

static void test_misplaced_punctuation_is_malformed(void **state)
{
	(void)state;
	MALFORMED({"[,1]", 0, "expected a value"}, {"[1,,2]", 0, "expected a value"},
		  {"[1 2]", 0, "expected ',' or ']'"},
		  {"{\"a\":1 \"b\":2}", 0, "expected ',' or '}'"},
		  {"[1}", 0, "expected ',' or ']'"}, {"{\"a\":1]", 0, "expected ',' or '}'"},
		  {"{]", 0, "expected a key"}, {"{1:2}", 0, "expected a key"},
		  {"{'a':1}", 0, "expected a key"}, {"{\"a\" 1}", 0, "expected ':'"},
		  {"{\"a\"}", 0, "expected ':'"}, {"{\"a\":}", 0, "expected a value"},
		  {"]", 0, "expected a value"}, {"[1", 0, "unexpected end"},
		  {"{\"a\":1", 0, "unexpected end"}, {"{", 0, "unexpected end"},
		  {"[", 0, "unexpected end"}, {"{\"a\":", 0, "unexpected end"});
}

static void test_bad_numbers_are_malformed(void **state)
{
	(void)state;
	MALFORMED({"01", 0, "leading zero"}, {"-01", 0, "leading zero"},
		  {"[00]", 0, "leading zero"}, {"-", 0, "'-' without digits"},
		  {"-a", 0, "'-' without digits"}, {"[-]", 0, "'-' without digits"},
		  {"1.", 0, "fraction without digits"}, {"1.e5", 0, "fraction without digits"},
		  {"1e", 0, "exponent without digits"}, {"1e+", 0, "exponent without digits"},
		  {"1E-x", 0, "exponent without digits"}, {"+1", 0, "expected a value"},
		  {".5", 0, "expected a value"}, {"0x10", 0, "trailing characters"},
		  {"1.5.2", 0, "trailing characters"}, {"Infinity", 0, "expected a value"},
		  {"NaN", 0, "expected a value"}, {"- 1", 0, "'-' without digits"});
}

static void test_literals_must_be_exact(void **state)
{
	(void)state;
	MALFORMED({"tru", 0, "invalid literal"}, {"True", 0, "expected a value"},
		  {"nul", 0, "invalid literal"}, {"fals", 0, "invalid literal"},
		  {"nulll", 0, "trailing characters"}, {"[truex]", 0, "expected ',' or ']'"},
		  {"undefined", 0, "expected a value"});
}

static void test_control_characters_in_strings_are_malformed(void **state)
{
	(void)state;
	MALFORMED({"\"a\nb\"", 0, "control character in string"},
		  {"\"\t\"", 0, "control character in string"},
		  {"\"\x01\"", 0, "control character in string"},
		  {"\"\x1f\"", 0, "control character in string"});
}

static void test_invalid_escapes_are_malformed(void **state)
{
	(void)state;
	MALFORMED({"\"\\a\"", 0, "invalid escape"}, {"\"\\x41\"", 0, "invalid escape"},
		  {"\"\\'\"", 0, "invalid escape"}, {"\"\\U0041\"", 0, "invalid escape"},
		  {"\"\\u41\"", 0, "invalid \\u escape"}, {"\"\\u004g\"", 0, "invalid \\u escape"},
		  {"\"\\u", 0, "invalid \\u escape"}, {"\"\\", 0, "unterminated string"},
		  {"\"abc", 0, "unterminated string"}, {"{\"a", 0, "unterminated string"});
}

static void test_invalid_utf8_is_malformed(void **state)
{
	(void)state;
	MALFORMED({"\"\x80\"", 0, "invalid UTF-8"},	    /* a continuation byte alone */
		  {"\"\xc0\xaf\"", 0, "invalid UTF-8"},	    /* overlong '/' */
		  {"\"\xc1\xbf\"", 0, "invalid UTF-8"},	    /* overlong */
		  {"\"\xe0\x80\xaf\"", 0, "invalid UTF-8"}, /* overlong, 3 bytes */
		  {"\"\xe0\x9f\xbf\"", 0, "invalid UTF-8"},
		  {"\"\xf0\x80\x80\xaf\"", 0, "invalid UTF-8"}, /* overlong, 4 bytes */
		  {"\"\xf0\x8f\xbf\xbf\"", 0, "invalid UTF-8"},
		  {"\"\xed\xa0\x80\"", 0, "invalid UTF-8"},	/* U+D800 encoded */
		  {"\"\xed\xbf\xbf\"", 0, "invalid UTF-8"},	/* U+DFFF encoded */
		  {"\"\xf4\x90\x80\x80\"", 0, "invalid UTF-8"}, /* U+110000 */
		  {"\"\xf5\x80\x80\x80\"", 0, "invalid UTF-8"}, {"\"\xff\"", 0, "invalid UTF-8"},
		  {"\"\xc3\"", 0, "invalid UTF-8"}, /* truncated */
		  {"\"\xe2\x82\"", 0, "invalid UTF-8"}, {"\"\xf0\x9f\x98\"", 0, "invalid UTF-8"},
		  {"\"\xc3", 0, "invalid UTF-8"},	 /* truncated by the end of input */
		  {"\"\xe2\x82x\"", 0, "invalid UTF-8"}, /* not a continuation */
		  {"\xc3\xa9", 0, "expected a value"});	 /* outside a string */
}

static void test_lone_or_mismatched_surrogates_are_malformed(void **state)
{
	(void)state;
	MALFORMED({"\"\\ud800\"", 0, "lone surrogate"}, {"\"\\udbff x\"", 0, "lone surrogate"},
		  {"\"\\udc00\"", 0, "lone surrogate"}, {"\"\\ude00\\ud83d\"", 0, "lone surrogate"},
		  {"\"\\ud83d\\ud83d\"", 0, "lone surrogate"}, /* high, high */
		  {"\"\\ud83d\\u0041\"", 0, "lone surrogate"}, /* high, not a surrogate */
		  {"\"\\ud83d\\n\"", 0, "lone surrogate"},
		  {"\"\\ud83d\\ude0\"", 0, "lone surrogate"}, {"\"\\ud83d", 0, "lone surrogate"});
}

static void test_duplicate_key_is_malformed(void **state)
{
	struct json_err err;

	(void)state;
	MALFORMED({"{\"a\":1,\"a\":2}", 0, "duplicate key"},
		  {"{\"a\":1,\"b\":[{\"a\":1}],\"a\":{}}", 0, "duplicate key"},
		  {"{\"x\":{\"a\":1,\"a\":1}}", 0, "duplicate key"},
		  {"{\"a\":1,\"\\u0061\":2}", 0, "duplicate key"}, /* the same once unescaped */
		  {"{\"\\u00e9\":1,\"\xc3\xa9\":2}", 0, "duplicate key"}, /* U+00E9 twice */
		  {"{\"\\/\":1,\"/\":2}", 0, "duplicate key"},
		  {"{\"\":1,\"\":2}", 0, "duplicate key"});
	assert_int_equal(json_parse("{\"a\":1, \"a\":2}", 14, toks, TOKS, DEPTH, &err), -EINVAL);
	assert_int_equal(err.at, 8); /* the second key's quote */
}

static void test_nul_byte_anywhere_is_malformed(void **state)
{
	(void)state;
	MALFORMED({"\0", 1, "NUL byte"}, {"1\0", 2, "NUL byte"}, {"\"a\0b\"", 5, "NUL byte"},
		  {"{\"a\":1}\0", 8, "NUL byte"}, {" \0 1", 4, "NUL byte"});
}

static void test_empty_input_is_malformed(void **state)
{
	(void)state;
	MALFORMED({"", 0, "empty input"}, {" \r\n\t", 0, "empty input"});
}

static void test_anything_after_the_value_is_malformed(void **state)
{
	(void)state;
	MALFORMED({"{} {}", 0, "trailing characters"}, {"1 2", 0, "trailing characters"},
		  {"{\"a\":1}}", 0, "trailing characters"}, {"[]]", 0, "trailing characters"},
		  {"{}\n{}", 0, "trailing characters"}, {"\"a\"\"b\"", 0, "trailing characters"},
		  {"{},", 0, "trailing characters"});
}

static void nest(char *buf, int depth, char open)
{
	char close = open == '[' ? ']' : '}';
	int n = 0;

	for (int i = 0; i < depth; i++) {
		buf[n++] = open;
		if (open == '{' && i < depth - 1) {
			memcpy(buf + n, "\"k\":", 4);
			n += 4;
		}
	}
	for (int i = 0; i < depth; i++)
		buf[n++] = close;
	buf[n] = 0;
}

static void test_nesting_beyond_max_depth_is_too_big(void **state)
{
	char buf[256];
	struct json_err err;

	(void)state;
	nest(buf, 16, '[');
	assert_int_equal(parse(buf), 16);
	nest(buf, 17, '[');
	assert_int_equal(json_parse(buf, strlen(buf), toks, TOKS, DEPTH, &err), -E2BIG);
	assert_string_equal(err.why, "nested too deeply");
	assert_int_equal(err.at, 16);
	nest(buf, 16, '{');
	assert_int_equal(parse(buf), 31);
	nest(buf, 17, '{');
	assert_int_equal(parse(buf), -E2BIG);
	/* A scalar inside the deepest container is not one more level. */
	assert_int_equal(parse("[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]"), 17);
	assert_int_equal(json_parse("[1]", 3, toks, TOKS, 0, NULL), -E2BIG);
	assert_int_equal(json_parse("1", 1, toks, TOKS, 0, NULL), 1);
	/* Deeper than the parser's own stack: refused, whatever the input. */
	assert_int_equal(json_parse("1", 1, toks, TOKS, JSON_DEPTH_LIMIT + 1, &err), -EINVAL);
	assert_int_equal(json_parse("1", 1, toks, TOKS, JSON_DEPTH_LIMIT, NULL), 1);
}

static void test_more_tokens_than_max_toks_is_too_big(void **state)
{
	const char *s = "{\"a\":[1,2,3],\"b\":\"x\"}";
	struct json_err err;

	(void)state;
	assert_int_equal(json_parse(s, strlen(s), toks, 8, DEPTH, NULL), 8);
	assert_int_equal(json_parse(s, strlen(s), toks, 7, DEPTH, &err), -E2BIG);
	assert_string_equal(err.why, "too many values");
	assert_int_equal(err.at, 18); /* the last string's first byte */
	assert_int_equal(json_parse("[]", 2, toks, 0, DEPTH, NULL), -E2BIG);
}

static void test_unicode_escapes_decode_to_utf8(void **state)
{
	const char *s = "[\"\\u0041\\u00e9\\u20ac\\ud83d\\ude00\\uDBFF\\uDFFF\", \"h\xc3\xa9\"]";
	char out[32];

	(void)state;
	assert_int_equal(parse(s), 3);
	assert_int_equal(toks[1].size, 1 + 2 + 3 + 4 + 4);
	assert_int_equal(json_str(s, toks, 1, out, sizeof(out)), 14);
	assert_string_equal(out, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
	assert_int_equal(json_str(s, toks, 2, out, sizeof(out)), 3);
	assert_string_equal(out, "h\xc3\xa9");
}

static void test_short_escapes_decode(void **state)
{
	const char *s = "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"";
	char out[16];

	(void)state;
	assert_int_equal(parse(s), 1);
	assert_int_equal(json_str(s, toks, 0, out, sizeof(out)), 8);
	assert_string_equal(out, "\"\\/\b\f\n\r\t");
}

static void test_a_string_is_unescaped_only_into_room_for_it(void **state)
{
	const char *s = "\"caf\\u00e9\"";
	char out[8];

	(void)state;
	assert_int_equal(parse(s), 1);
	assert_int_equal(toks[0].size, 5);
	assert_int_equal(json_str(s, toks, 0, out, 5), -E2BIG); /* no room for the NUL */
	assert_string_equal(out, "");
	assert_int_equal(json_str(s, toks, 0, out, 6), 5);
	assert_string_equal(out, "caf\xc3\xa9");
}

static void test_a_string_with_nul_is_refused_by_json_str(void **state)
{
	const char *s = "[\"ab\\u0000cd\", 1]";
	char out[16];

	(void)state;
	assert_int_equal(parse(s), 3); /* valid JSON */
	assert_int_equal(json_str(s, toks, 1, out, sizeof(out)), -EINVAL);
	assert_string_equal(out, "");
	assert_int_equal(json_str(s, toks, 2, out, sizeof(out)), -EINVAL); /* not a string */
}

static void test_integers_in_range_are_read_and_others_refused(void **state)
{
	const char *s = "[18446744073709551615, 18446744073709551616, -1, -0, 1.0, 1e3, \"5\", "
			"9223372036854775807, -9223372036854775808, -9223372036854775809, "
			"99999999999999999999.5, 0]";
	uint64_t u;
	int64_t i;

	(void)state;
	assert_int_equal(parse(s), 13);
	assert_int_equal(json_u64(s, toks, 1, &u), 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(json_u64(s, toks, 2, &u), -ERANGE);
	assert_int_equal(json_u64(s, toks, 3, &u), -ERANGE);
	assert_int_equal(json_i64(s, toks, 3, &i), 0);
	assert_true(i == -1);
	assert_int_equal(json_u64(s, toks, 4, &u), 0);
	assert_true(u == 0);
	assert_int_equal(json_u64(s, toks, 5, &u), -EINVAL);
	assert_int_equal(json_u64(s, toks, 6, &u), -EINVAL);
	assert_int_equal(json_u64(s, toks, 7, &u), -EINVAL);
	assert_int_equal(json_i64(s, toks, 8, &i), 0);
	assert_true(i == INT64_MAX);
	assert_int_equal(json_i64(s, toks, 9, &i), 0);
	assert_true(i == INT64_MIN);
	assert_int_equal(json_i64(s, toks, 10, &i), -ERANGE);
	assert_int_equal(json_u64(s, toks, 11, &u), -EINVAL); /* a fraction, however big */
	assert_int_equal(json_i64(s, toks, 12, &i), 0);
	assert_true(i == 0);
}

static void test_bools_are_read_and_others_refused(void **state)
{
	const char *s = "[true, false, null, 1]";
	bool b;

	(void)state;
	assert_int_equal(parse(s), 5);
	assert_int_equal(json_bool(toks, 1, &b), 0);
	assert_true(b);
	assert_int_equal(json_bool(toks, 2, &b), 0);
	assert_false(b);
	assert_int_equal(json_bool(toks, 3, &b), -EINVAL);
	assert_int_equal(json_bool(toks, 4, &b), -EINVAL);
	assert_int_equal(toks[3].type, JSON_NULL);
}

static void test_writer_separates_members_and_elements(void **state)
{
	char buf[128];
	struct json_out o;

	(void)state;
	jo_init(&o, buf, sizeof(buf));
	jo_obj_begin(&o);
	jo_key(&o, "return");
	jo_arr_begin(&o);
	jo_u64(&o, 1);
	jo_i64(&o, -2);
	jo_str(&o, "x");
	jo_obj_begin(&o);
	jo_obj_end(&o);
	jo_arr_begin(&o);
	jo_arr_end(&o);
	jo_raw(&o, "null");
	jo_arr_end(&o);
	jo_key(&o, "id");
	jo_u64(&o, 7);
	jo_key(&o, "ok");
	jo_raw(&o, "true");
	jo_obj_end(&o);
	jo_nl(&o);
	jo_obj_begin(&o); /* the next line starts afresh */
	jo_obj_end(&o);
	assert_false(o.overflow);
	assert_string_equal(buf, "{\"return\":[1,-2,\"x\",{},[],null],\"id\":7,\"ok\":true}\n{}");
	assert_int_equal(o.len, strlen(buf));
}

static void test_writer_prints_integers_exactly(void **state)
{
	char buf[128];
	struct json_out o;

	(void)state;
	jo_init(&o, buf, sizeof(buf));
	jo_arr_begin(&o);
	jo_u64(&o, 0);
	jo_u64(&o, UINT64_MAX);
	jo_i64(&o, INT64_MIN);
	jo_i64(&o, INT64_MAX);
	jo_i64(&o, 0);
	jo_arr_end(&o);
	assert_string_equal(buf, "[0,18446744073709551615,-9223372036854775808,"
				 "9223372036854775807,0]");
}

static void test_writer_escapes_quotes_backslashes_and_control_characters(void **state)
{
	char buf[128];
	struct json_out o;

	(void)state;
	jo_init(&o, buf, sizeof(buf));
	jo_obj_begin(&o);
	jo_key(&o, "a\"b");
	jo_str(&o, "q\"b\\s\x01 n\n t\t \x1f \x7f h\xc3\xa9 \xf0\x9f\x98\x80");
	jo_obj_end(&o);
	assert_false(o.overflow);
	assert_string_equal(buf, "{\"a\\\"b\":\"q\\\"b\\\\s\\u0001 n\\u000a t\\u0009 \\u001f \x7f "
				 "h\xc3\xa9 \xf0\x9f\x98\x80\"}");
}

static void test_writer_replaces_bytes_that_are_not_utf8(void **state)
{
	char buf[128];
	struct json_out o;

	(void)state;
	jo_init(&o, buf, sizeof(buf));
	jo_str(&o, "a\xe9"
		   "b\xed\xa0\x80\xc3");
	assert_string_equal(buf, "\"a\\ufffdb\\ufffd\\ufffd\\ufffd\\ufffd\"");
}

static void test_writer_overflow_is_remembered_and_stops_writing(void **state)
{
	char buf[8];
	struct json_out o;

	(void)state;
	jo_init(&o, buf, sizeof(buf));
	jo_arr_begin(&o);
	jo_u64(&o, 123456); /* "[123456" is 7 bytes: with the NUL, exactly full */
	assert_false(o.overflow);
	assert_int_equal(o.len, 7);
	jo_arr_end(&o);
	assert_true(o.overflow);
	assert_string_equal(buf, "[123456");
	jo_nl(&o); /* fits no better now: nothing more is written */
	assert_true(o.overflow);
	assert_int_equal(o.len, 7);
	assert_string_equal(buf, "[123456");

	jo_init(&o, buf, 0);
	assert_true(o.overflow);
	jo_init(&o, buf, 1);
	jo_str(&o, "");
	assert_true(o.overflow);
	assert_string_equal(buf, "");
}

static void test_what_the_writer_writes_parses_back(void **state)
{
	static const char *const strs[] = {
		"",
		"plain",
		"q\"b\\s/",
		"\x01\x02\x1f\x7f",
		"\b\f\n\r\t",
		"h\xc3\xa9 \xe2\x82\xac",
		"\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf",
	};
	const size_t n = sizeof(strs) / sizeof(strs[0]);
	char buf[512], out[64];
	struct json_out o;
	int64_t i64;
	uint64_t u64;

	(void)state;
	jo_init(&o, buf, sizeof(buf));
	jo_obj_begin(&o);
	for (size_t k = 0; k < n; k++) {
		char key[8] = {'k', (char)('0' + k), 0};
		jo_key(&o, key);
		jo_str(&o, strs[k]);
	}
	jo_key(&o, "\n\"key\"");
	jo_arr_begin(&o);
	jo_i64(&o, INT64_MIN);
	jo_u64(&o, UINT64_MAX);
	jo_arr_end(&o);
	jo_obj_end(&o);
	jo_nl(&o);
	assert_false(o.overflow);

	assert_int_equal(parse(buf), 2 * (int)n + 5);
	for (size_t k = 0; k < n; k++) {
		char key[8] = {'k', (char)('0' + k), 0};
		assert_int_equal(
			json_str(buf, toks, json_obj_get(buf, toks, 0, key), out, sizeof(out)),
			(int)strlen(strs[k]));
		assert_string_equal(out, strs[k]);
	}
	int arr = json_obj_get(buf, toks, 0, "\n\"key\"");
	assert_int_equal(toks[arr].size, 2);
	assert_int_equal(json_i64(buf, toks, arr + 1, &i64), 0);
	assert_true(i64 == INT64_MIN);
	assert_int_equal(json_u64(buf, toks, arr + 2, &u64), 0);
	assert_true(u64 == UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_request_is_read_member_by_member),
		cmocka_unit_test(test_a_missing_member_is_minus_one_and_chains_to_einval),
		cmocka_unit_test(test_tokens_are_in_document_order_with_their_offsets),
		cmocka_unit_test(test_next_skips_a_nested_value),
		cmocka_unit_test(test_what_rfc_8259_allows_parses),
		cmocka_unit_test(test_other_whitespace_is_malformed),
		cmocka_unit_test(test_trailing_comma_is_malformed),
		cmocka_unit_test(test_misplaced_punctuation_is_malformed),
		cmocka_unit_test(test_bad_numbers_are_malformed),
		cmocka_unit_test(test_literals_must_be_exact),
		cmocka_unit_test(test_control_characters_in_strings_are_malformed),
		cmocka_unit_test(test_invalid_escapes_are_malformed),
		cmocka_unit_test(test_invalid_utf8_is_malformed),
		cmocka_unit_test(test_lone_or_mismatched_surrogates_are_malformed),
		cmocka_unit_test(test_duplicate_key_is_malformed),
		cmocka_unit_test(test_nul_byte_anywhere_is_malformed),
		cmocka_unit_test(test_empty_input_is_malformed),
		cmocka_unit_test(test_anything_after_the_value_is_malformed),
		cmocka_unit_test(test_nesting_beyond_max_depth_is_too_big),
		cmocka_unit_test(test_more_tokens_than_max_toks_is_too_big),
		cmocka_unit_test(test_unicode_escapes_decode_to_utf8),
		cmocka_unit_test(test_short_escapes_decode),
		cmocka_unit_test(test_a_string_is_unescaped_only_into_room_for_it),
		cmocka_unit_test(test_a_string_with_nul_is_refused_by_json_str),
		cmocka_unit_test(test_integers_in_range_are_read_and_others_refused),
		cmocka_unit_test(test_bools_are_read_and_others_refused),
		cmocka_unit_test(test_writer_separates_members_and_elements),
		cmocka_unit_test(test_writer_prints_integers_exactly),
		cmocka_unit_test(test_writer_escapes_quotes_backslashes_and_control_characters),
		cmocka_unit_test(test_writer_replaces_bytes_that_are_not_utf8),
		cmocka_unit_test(test_writer_overflow_is_remembered_and_stops_writing),
		cmocka_unit_test(test_what_the_writer_writes_parses_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
