/* The console line editor: editing keys, history, and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "kernel/console/line.h"

static char echo[65536];
static size_t echo_len;

static void out(void *ctx, const char *s, size_t n)
{
	(void)ctx;
	memcpy(echo + echo_len, s, n);
	echo_len += n;
	echo[echo_len] = 0;
}

static struct line_editor ed;

static int setup(void **state)
{
	(void)state;
	echo_len = 0;
	echo[0] = 0;
	line_init(&ed, out, NULL);
	return 0;
}

/* Feeds a string; returns the last event other than LINE_NONE. */
static enum line_event feed(const char *s, size_t n)
{
	enum line_event last = LINE_NONE;
	for (size_t i = 0; i < n; i++) {
		enum line_event e = line_feed(&ed, (unsigned char)s[i]);
		if (e != LINE_NONE)
			last = e;
	}
	return last;
}
#define FEED(s) feed(s, sizeof(s) - 1)

static void test_line_completes_on_cr_lf_and_crlf(void **state)
{
	(void)state;
	assert_int_equal(FEED("version\r"), LINE_DONE);
	assert_string_equal(ed.buf, "version");
	assert_int_equal(FEED("mem\n"), LINE_DONE);
	assert_string_equal(ed.buf, "mem");
	/* CR LF is one line end, not a line plus an empty line. */
	assert_int_equal(FEED("pci\r"), LINE_DONE);
	assert_int_equal(line_feed(&ed, '\n'), LINE_NONE);
}

static void test_backspace_and_delete_erase_one_character(void **state)
{
	(void)state;
	FEED("verx\x7fsiox\bn\r");
	assert_string_equal(ed.buf, "version");
	assert_non_null(strstr(echo, "\b \b"));
	/* Backspace on an empty line does nothing and echoes nothing. */
	setup(NULL);
	FEED("\x7f\x7f");
	assert_int_equal(echo_len, 0);
}

static void test_ctrl_u_clears_and_ctrl_c_aborts(void **state)
{
	(void)state;
	assert_int_equal(FEED("garbage\x15"), LINE_NONE);
	assert_int_equal(FEED("uptime\r"), LINE_DONE);
	assert_string_equal(ed.buf, "uptime");
	assert_int_equal(FEED("poweroff\x03"), LINE_ABORT);
	assert_non_null(strstr(echo, "^C\r\n"));
	assert_int_equal(FEED("\r"), LINE_DONE);
	assert_string_equal(ed.buf, "");
}

static void test_control_and_non_ascii_bytes_are_ignored(void **state)
{
	(void)state;
	FEED("v\x00" "e\x07r\tsi\x0co\x80n\xff\r");
	assert_string_equal(ed.buf, "version");
}

static void test_escape_sequences_do_not_leak_into_the_line(void **state)
{
	(void)state;
	FEED("ve\x1b[5~rs\x1b[1;5Cion\x1bOH\r");
	assert_string_equal(ed.buf, "version");
}

static void test_overlong_line_is_refused_whole(void **state)
{
	(void)state;
	char big[10000];
	memset(big, 'A', sizeof(big));
	assert_int_equal(feed(big, sizeof(big)), LINE_NONE);
	assert_int_equal(FEED("\r"), LINE_TOO_LONG);
	/* The editor is usable again at once. */
	assert_int_equal(FEED("version\r"), LINE_DONE);
	assert_string_equal(ed.buf, "version");
	/* Exactly LINE_MAX_LEN characters is still accepted. */
	memset(big, 'B', LINE_MAX_LEN);
	feed(big, LINE_MAX_LEN);
	assert_int_equal(FEED("\r"), LINE_DONE);
	assert_int_equal(strlen(ed.buf), LINE_MAX_LEN);
}

static void test_history_up_and_down(void **state)
{
	(void)state;
	FEED("one\r");
	FEED("two\r");
	FEED("two\r"); /* a repeat is stored once */
	assert_int_equal(FEED("\x1b[A\r"), LINE_DONE);
	assert_string_equal(ed.buf, "two");
	assert_int_equal(FEED("\x1b[A\x1b[A\r"), LINE_DONE);
	assert_string_equal(ed.buf, "one");
	/* Down past the newest entry returns to an empty line. */
	assert_int_equal(FEED("\x1b[A\x1b[B\r"), LINE_DONE);
	assert_string_equal(ed.buf, "");
	/* Up past the oldest stays on the oldest. */
	assert_int_equal(FEED("\x1b[A\x1b[A\x1b[A\x1b[A\x1b[A\r"), LINE_DONE);
	assert_string_equal(ed.buf, "one");
}

static void test_history_keeps_the_newest_entries(void **state)
{
	(void)state;
	char line[16];
	for (int i = 0; i < LINE_HISTORY + 5; i++) {
		int n = snprintf(line, sizeof(line), "cmd%d\r", i);
		feed(line, n);
	}
	for (int i = 0; i < LINE_HISTORY + 3; i++)
		FEED("\x1b[A");
	FEED("\r");
	snprintf(line, sizeof(line), "cmd%d", 5); /* oldest kept */
	assert_string_equal(ed.buf, line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_line_completes_on_cr_lf_and_crlf, setup),
		cmocka_unit_test_setup(test_backspace_and_delete_erase_one_character, setup),
		cmocka_unit_test_setup(test_ctrl_u_clears_and_ctrl_c_aborts, setup),
		cmocka_unit_test_setup(test_control_and_non_ascii_bytes_are_ignored, setup),
		cmocka_unit_test_setup(test_escape_sequences_do_not_leak_into_the_line, setup),
		cmocka_unit_test_setup(test_overlong_line_is_refused_whole, setup),
		cmocka_unit_test_setup(test_history_up_and_down, setup),
		cmocka_unit_test_setup(test_history_keeps_the_newest_entries, setup),
	};
	return cmocka_run_group_tests_name("console line editor", tests, NULL, NULL);
}
