/* The command registry: tokenizing, dispatch and error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "kernel/console/cmd.h"
#include "tests/unit/kernel/stubs.h"

static int seen_argc;
static char seen_args[CMD_MAX_ARGS][64];

static int run_echo(int argc, char **argv)
{
	seen_argc = argc;
	for (int i = 0; i < argc; i++)
		snprintf(seen_args[i], sizeof(seen_args[i]), "%s", argv[i]);
	return argc > 3 ? CMD_USAGE : 0;
}

static const struct cmd echo_cmd = {"echo", "repeat words", "echo [A] [B]\necho --help", run_echo};
static const struct cmd alpha_cmd = {"alpha", "first", "alpha", run_echo};

static int setup_group(void **state)
{
	(void)state;
	assert_int_equal(cmd_register(&echo_cmd), 0);
	assert_int_equal(cmd_register(&alpha_cmd), 0);
	return 0;
}

static void test_tokenize_splits_on_blanks_and_groups_quotes(void **state)
{
	(void)state;
	char line[] = "  vm create  web1 args=\"a b  c\" \t mem=64 ";
	char *argv[8];
	assert_int_equal(cmd_tokenize(line, argv, 8), 5);
	assert_string_equal(argv[0], "vm");
	assert_string_equal(argv[2], "web1");
	assert_string_equal(argv[3], "args=a b  c");
	assert_string_equal(argv[4], "mem=64");
}

static void test_tokenize_rejects_unterminated_quote_and_too_many_words(void **state)
{
	(void)state;
	char q[] = "echo \"open";
	char many[] = "a b c d e";
	char *argv[4];
	assert_int_equal(cmd_tokenize(q, argv, 4), -EINVAL);
	assert_int_equal(cmd_tokenize(many, argv, 4), -E2BIG);
}

static void test_execute_dispatches_with_arguments(void **state)
{
	(void)state;
	char line[] = "echo one \"two words\"";
	captured_reset();
	assert_int_equal(cmd_execute(line), 0);
	assert_int_equal(seen_argc, 3);
	assert_string_equal(seen_args[2], "two words");
	assert_int_equal(captured_len, 0);
}

static void test_unknown_command_says_so(void **state)
{
	(void)state;
	char line[] = "nosuch x";
	captured_reset();
	assert_int_equal(cmd_execute(line), -ENOENT);
	assert_string_equal(captured, "error: unknown command 'nosuch' (type 'help' for the list)\n");
}

static void test_bad_arguments_print_every_usage_line(void **state)
{
	(void)state;
	char line[] = "echo 1 2 3 4";
	captured_reset();
	assert_int_equal(cmd_execute(line), CMD_USAGE);
	assert_string_equal(captured, "error: echo: bad arguments\n"
				      "usage: echo [A] [B]\n"
				      "       echo --help\n");
}

static void test_empty_line_does_nothing(void **state)
{
	(void)state;
	char line[] = "   \t ";
	captured_reset();
	assert_int_equal(cmd_execute(line), 0);
	assert_int_equal(captured_len, 0);
}

static void collect(const struct cmd *c, void *ctx)
{
	strcat(ctx, c->name);
	strcat(ctx, ",");
}

static void test_registry_is_sorted_and_refuses_duplicates(void **state)
{
	(void)state;
	char names[64] = "";
	assert_int_equal(cmd_register(&echo_cmd), -EEXIST);
	cmd_for_each(collect, names);
	assert_string_equal(names, "alpha,echo,");
}

static void test_parse_u64(void **state)
{
	(void)state;
	unsigned long long v;
	assert_int_equal(cmd_parse_u64("42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(cmd_parse_u64("0x10", &v), 0);
	assert_int_equal(v, 16);
	assert_int_equal(cmd_parse_u64("12abc", &v), -EINVAL);
	assert_int_equal(cmd_parse_u64("-1", &v), -EINVAL);
	assert_int_equal(cmd_parse_u64("", &v), -EINVAL);
	assert_int_equal(cmd_parse_u64("99999999999999999999999", &v), -EINVAL);
}

static void test_parse_size_takes_binary_suffixes_and_a_default_unit(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(cmd_parse_size("65536", 0, &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(cmd_parse_size("64k", 0, &v), 0);
	assert_int_equal(v, 64 << 10);
	assert_int_equal(cmd_parse_size("64M", 0, &v), 0);
	assert_int_equal(v, 64 << 20);
	assert_int_equal(cmd_parse_size("2", 30, &v), 0); /* a count of GiB */
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(cmd_parse_size("512M", 30, &v), 0);
	assert_int_equal(v, 512ull << 20);
	assert_int_equal(cmd_parse_size("0x10G", 0, &v), 0);
	assert_int_equal(v, 16ull << 30);
	assert_int_equal(cmd_parse_size("17179869184G", 0, &v), -EINVAL); /* 2^64 bytes */
	assert_int_equal(cmd_parse_size("17179869183G", 0, &v), 0);
	assert_int_equal(cmd_parse_size("M", 0, &v), -EINVAL);
	assert_int_equal(cmd_parse_size("64T", 0, &v), -EINVAL);
	assert_int_equal(cmd_parse_size("", 0, &v), -EINVAL);
	assert_int_equal(cmd_parse_size("-1K", 0, &v), -EINVAL);
}

static void test_parse_hex_wants_exactly_two_digits_a_byte(void **state)
{
	(void)state;
	uint8_t b[3];
	assert_int_equal(cmd_parse_hex("00aBff", b, 3), 0);
	assert_int_equal(b[0], 0x00);
	assert_int_equal(b[1], 0xab);
	assert_int_equal(b[2], 0xff);
	assert_int_equal(cmd_parse_hex("00aBf", b, 3), -EINVAL);
	assert_int_equal(cmd_parse_hex("00aBfff", b, 3), -EINVAL);
	assert_int_equal(cmd_parse_hex("00aBfg", b, 3), -EINVAL);
}

static void test_parse_on_off(void **state)
{
	(void)state;
	bool on = false;
	assert_int_equal(cmd_parse_on_off("on", &on), 0);
	assert_true(on);
	assert_int_equal(cmd_parse_on_off("off", &on), 0);
	assert_false(on);
	on = true;
	assert_int_equal(cmd_parse_on_off("On", &on), -EINVAL);
	assert_int_equal(cmd_parse_on_off("", &on), -EINVAL);
	assert_int_equal(cmd_parse_on_off(NULL, &on), -EINVAL);
	assert_true(on); /* untouched when refused */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokenize_splits_on_blanks_and_groups_quotes),
		cmocka_unit_test(test_tokenize_rejects_unterminated_quote_and_too_many_words),
		cmocka_unit_test(test_execute_dispatches_with_arguments),
		cmocka_unit_test(test_unknown_command_says_so),
		cmocka_unit_test(test_bad_arguments_print_every_usage_line),
		cmocka_unit_test(test_empty_line_does_nothing),
		cmocka_unit_test(test_registry_is_sorted_and_refuses_duplicates),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_parse_on_off),
		cmocka_unit_test(test_parse_size_takes_binary_suffixes_and_a_default_unit),
		cmocka_unit_test(test_parse_hex_wants_exactly_two_digits_a_byte),
	};
	return cmocka_run_group_tests_name("console commands", tests, setup_group, NULL);
}
