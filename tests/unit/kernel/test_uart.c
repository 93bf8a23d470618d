/* kernel/vdev/uart: what a guest's COM1 output looks like on the operator's
 * console (the filter that keeps escape sequences and control characters
 * from erasing the [NAME] prefix or forging Tern's lines), and the device
 * state a migration carries (a hostile blob changes nothing). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kernel/vdev/uart.h"

static char out[4096];
static size_t out_len;

void vuart_emit(const char *s, unsigned n)
{
	assert_true(out_len + n < sizeof(out));
	memcpy(out + out_len, s, n);
	out_len += n;
	out[out_len] = 0;
}

void vuart_line_start(void) {}

static struct vdev_uart u;

static int setup(void **state)
{
	(void)state;
	vuart_init(&u, "evil");
	out_len = 0;
	out[0] = 0;
	return 0;
}

static void print(struct vdev_uart *v, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		vuart_out(v, VUART_BASE, (uint8_t)s[i]);
}

#define PRINT(s) print(&u, s, sizeof(s) - 1)

static void test_printable_text_newline_and_tab_pass_unchanged(void **state)
{
	(void)state;
	PRINT("hello\tworld ~!@#$%^&*()_+{}|:\"<>?\\\r\n");
	assert_string_equal(out, "[evil] hello\tworld ~!@#$%^&*()_+{}|:\"<>?\\\n");
}

static void test_escape_sequences_are_shown_escaped_not_sent(void **state)
{
	(void)state;
	/* erase the line, go back to column 0, then pretend to be Tern */
	PRINT("\x1b[2K\r\x1b[1Gerror: vm: web stopped: triple fault\n");
	assert_string_equal(out, "[evil] \\x1b[2K\\x1b[1Gerror: vm: web stopped: triple fault\n");
	for (size_t i = 0; i < out_len; i++)
		assert_true(out[i] == '\n' || (out[i] >= 0x20 && out[i] < 0x7F));
}

static void test_every_non_printable_byte_is_escaped(void **state)
{
	char e[VUART_ESC_MAX + 1];

	(void)state;
	for (unsigned c = 0; c < 256; c++) {
		unsigned n = vuart_escape((uint8_t)c, false, e);
		e[n] = 0;
		if (c == '\r')
			assert_int_equal(n, 0);
		else if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7F))
			assert_true(n == 1 && (uint8_t)e[0] == c);
		else {
			char want[8];
			snprintf(want, sizeof(want), "\\x%02x", c);
			assert_string_equal(e, want);
		}
	}
	/* attached, CR passes (the guest's own session); the rest as above */
	assert_int_equal(vuart_escape('\r', true, e), 1);
	assert_int_equal(vuart_escape(0x1b, true, e), 4);
	assert_int_equal(vuart_escape(0x08, true, e), 4);
}

static void test_attached_console_output_is_filtered_too(void **state)
{
	(void)state;
	u.attached = true;
	PRINT("a\x1b]0;title\x07\r\n");
	assert_string_equal(out, "a\\x1b]0;title\\x07\r\n");
}

static void test_a_long_escaped_line_splits_without_cutting_an_escape(void **state)
{
	char big[300];

	(void)state;
	memset(big, 0x1b, sizeof(big));
	print(&u, big, sizeof(big));
	vuart_flush(&u);
	/* every console line is whole escapes after its prefix */
	for (char *l = out; *l; l = strchr(l, '\n') + 1) {
		assert_memory_equal(l, "[evil] ", 7);
		size_t n = strchr(l, '\n') - l - 7;
		assert_true(n <= VUART_LINE_MAX && n % 4 == 0);
	}
	assert_int_equal(u.tx_bytes, sizeof(big));
}

/* ---- migration ---------------------------------------------------------------- */

static void test_state_round_trips(void **state)
{
	uint8_t b[VUART_STATE_LEN];
	struct vdev_uart v;

	(void)state;
	vuart_out(&u, VUART_BASE + 1, 0x05); /* IER */
	vuart_out(&u, VUART_BASE + 7, 0x42); /* SCR */
	vuart_rx_push(&u, 'x');
	vuart_rx_push(&u, 'y');
	assert_int_equal(vuart_save(&u, b, sizeof(b) - 1), -ENOSPC);
	assert_int_equal(vuart_save(&u, b, sizeof(b)), VUART_STATE_LEN);
	vuart_init(&v, "copy");
	assert_int_equal(vuart_restore(&v, b, sizeof(b), NULL), 0);
	assert_int_equal(vuart_in(&v, VUART_BASE + 1), 0x05);
	assert_int_equal(vuart_in(&v, VUART_BASE + 7), 0x42);
	assert_int_equal(vuart_in(&v, VUART_BASE), 'x');
	assert_int_equal(vuart_in(&v, VUART_BASE), 'y');
}

/* A hostile blob: each is refused with -EINVAL and the UART is exactly as
 * it was. */
static void test_hostile_blobs_are_refused_and_change_nothing(void **state)
{
	uint8_t good[VUART_STATE_LEN], bad[VUART_STATE_LEN];
	struct vdev_uart before;

	(void)state;
	vuart_out(&u, VUART_BASE + 7, 0x99);
	vuart_rx_push(&u, 'q');
	assert_int_equal(vuart_save(&u, good, sizeof(good)), VUART_STATE_LEN);
	memcpy(&before, &u, sizeof(u));
	static const struct {
		unsigned off;
		uint8_t val;
	} cases[] = {
		{0, 0xF0}, /* IER bits a write masks off */
		{2, 0x80}, /* MCR bits likewise */
		{7, 1},	   /* pad */
		{8, 0x01}, /* rx_len 257 */
		{9, 0xFF}, /* rx_len 0xFF01 */
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, good, sizeof(bad));
		bad[cases[i].off] = cases[i].val;
		if (cases[i].off == 8)
			bad[9] = 1;
		assert_int_equal(vuart_restore(&u, bad, sizeof(bad), NULL), -EINVAL);
		assert_memory_equal(&u, &before, sizeof(u));
	}
	assert_int_equal(vuart_restore(&u, good, sizeof(good) - 1, NULL), -EINVAL);
	assert_int_equal(vuart_restore(&u, good, 0, NULL), -EINVAL);
	assert_memory_equal(&u, &before, sizeof(u));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, setup)
		T(test_printable_text_newline_and_tab_pass_unchanged),
		T(test_escape_sequences_are_shown_escaped_not_sent),
		T(test_every_non_printable_byte_is_escaped),
		T(test_attached_console_output_is_filtered_too),
		T(test_a_long_escaped_line_splits_without_cutting_an_escape),
		T(test_state_round_trips),
		T(test_hostile_blobs_are_refused_and_change_nothing),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
