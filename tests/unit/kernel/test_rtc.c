/* kernel/vdev/rtc: the guest's CMOS clock. The date it shows in BCD and
 * binary, 12- and 24-hour form, the century byte, UIP, a guest setting its
 * own time (an offset, nothing else moves), NVRAM, bytes a hostile guest
 * writes, and the migration blob (a hostile one changes nothing). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kernel/vdev/rtc.h"

#define S 1000000000ull
/* 2026-12-04 19:54:43 UTC, a Friday */
#define NOW (1796414083ull * S)

static struct vdev_rtc r;

static uint8_t rd(uint8_t reg, uint64_t now)
{
	vrtc_out(&r, VRTC_INDEX_PORT, reg, now);
	return vrtc_in(&r, VRTC_DATA_PORT, now);
}

static void wr(uint8_t reg, uint8_t val, uint64_t now)
{
	vrtc_out(&r, VRTC_INDEX_PORT, reg, now);
	vrtc_out(&r, VRTC_DATA_PORT, val, now);
}

static int setup(void **state)
{
	(void)state;
	vrtc_init(&r);
	return 0;
}

static void test_epoch_round_trip(void **state)
{
	(void)state;
	struct rtc_time t;
	rtc_from_epoch(1796414083, &t);
	assert_int_equal(t.year, 2026);
	assert_int_equal(t.mon, 12);
	assert_int_equal(t.mday, 4);
	assert_int_equal(t.hour, 19);
	assert_int_equal(t.min, 54);
	assert_int_equal(t.sec, 43);
	assert_int_equal(t.wday, 5);
	assert_int_equal(rtc_to_epoch(&t), 1796414083);
	rtc_from_epoch(951782400, &t); /* 2000-02-29, a leap day of a /400 year */
	assert_int_equal(t.year, 2000);
	assert_int_equal(t.mon, 2);
	assert_int_equal(t.mday, 29);
	/* Every day across 1900-2200 goes there and back. */
	for (int64_t s = -2208988800; s < 7258118400; s += 86400 - 7) {
		rtc_from_epoch(s, &t);
		assert_int_equal(rtc_to_epoch(&t), s);
	}
	/* A month of 13 is January of the next year, as mktime does. */
	struct rtc_time m13 = {.year = 2025, .mon = 13, .mday = 1};
	struct rtc_time jan = {.year = 2026, .mon = 1, .mday = 1};
	assert_int_equal(rtc_to_epoch(&m13), rtc_to_epoch(&jan));
}

static void test_bcd_24h(void **state)
{
	(void)state;
	assert_int_equal(rd(RTC_REG_B, NOW), RTC_B_24H);
	assert_int_equal(rd(RTC_SEC, NOW), 0x43);
	assert_int_equal(rd(RTC_MIN, NOW), 0x54);
	assert_int_equal(rd(RTC_HOUR, NOW), 0x19);
	assert_int_equal(rd(RTC_WDAY, NOW), 6); /* Friday, 1 = Sunday */
	assert_int_equal(rd(RTC_MDAY, NOW), 0x04);
	assert_int_equal(rd(RTC_MON, NOW), 0x12);
	assert_int_equal(rd(RTC_YEAR, NOW), 0x26);
	assert_int_equal(rd(RTC_CENTURY, NOW), 0x20);
	assert_int_equal(rd(RTC_REG_D, NOW), RTC_D_VRT);
	assert_int_equal(rd(RTC_REG_C, NOW), 0);
	/* Time goes on with Tern's clock. */
	assert_int_equal(rd(RTC_SEC, NOW + 10 * S), 0x53);
	assert_int_equal(rd(RTC_MIN, NOW + 17 * S), 0x55);
}

static void test_binary_12h(void **state)
{
	(void)state;
	wr(RTC_REG_B, RTC_B_DM, NOW); /* binary, 12-hour */
	assert_int_equal(rd(RTC_SEC, NOW), 43);
	assert_int_equal(rd(RTC_MON, NOW), 12);
	assert_int_equal(rd(RTC_YEAR, NOW), 26);
	assert_int_equal(rd(RTC_CENTURY, NOW), 20);
	assert_int_equal(rd(RTC_HOUR, NOW), 0x80 | 7); /* 7 PM */
	/* 00:30 is 12 AM, 12:30 is 12 PM */
	uint64_t midnight = (1796414083ull - 19 * 3600 - 54 * 60 - 43 + 30 * 60) * S;
	assert_int_equal(rd(RTC_HOUR, midnight), 12);
	assert_int_equal(rd(RTC_HOUR, midnight + 12 * 3600 * S), 0x80 | 12);
	wr(RTC_REG_B, 0, NOW); /* BCD, 12-hour */
	assert_int_equal(rd(RTC_HOUR, NOW), 0x80 | 0x07);
	assert_int_equal(rd(RTC_HOUR, midnight + 11 * 3600 * S), 0x11);
}

static void test_uip(void **state)
{
	(void)state;
	assert_false(rd(RTC_REG_A, NOW) & RTC_A_UIP);
	assert_false(rd(RTC_REG_A, NOW + S / 2) & RTC_A_UIP);
	assert_true(rd(RTC_REG_A, NOW + S - 100000) & RTC_A_UIP);
	assert_int_equal(rd(RTC_REG_A, NOW) & 0x7F, 0x26);
	wr(RTC_REG_A, 0xFF, NOW); /* UIP cannot be written */
	assert_int_equal(rd(RTC_REG_A, NOW), 0x7F);
	/* While SET is on there is no update: no UIP, the clock holds. */
	wr(RTC_REG_B, RTC_B_SET | RTC_B_24H, NOW);
	assert_false(rd(RTC_REG_A, NOW + S - 100000) & RTC_A_UIP);
	assert_int_equal(rd(RTC_SEC, NOW + 5 * S), 0x43);
}

/* Linux's mc146818_set_time: SET, the fields, SET off. */
static void test_set_time_is_an_offset(void **state)
{
	(void)state;
	struct vdev_rtc other;
	vrtc_init(&other);

	wr(RTC_REG_B, RTC_B_SET | RTC_B_24H, NOW);
	wr(RTC_YEAR, 0x99, NOW);
	wr(RTC_CENTURY, 0x19, NOW);
	wr(RTC_MON, 0x12, NOW);
	wr(RTC_MDAY, 0x31, NOW);
	wr(RTC_HOUR, 0x23, NOW);
	wr(RTC_MIN, 0x59, NOW);
	wr(RTC_SEC, 0x50, NOW);
	assert_int_equal(rd(RTC_YEAR, NOW + 3 * S), 0x99); /* held while SET */
	wr(RTC_REG_B, RTC_B_24H, NOW);
	/* 10 s later it is the new millennium, for this guest only. */
	assert_int_equal(rd(RTC_SEC, NOW + 10 * S), 0x00);
	assert_int_equal(rd(RTC_MIN, NOW + 10 * S), 0x00);
	assert_int_equal(rd(RTC_HOUR, NOW + 10 * S), 0x00);
	assert_int_equal(rd(RTC_MDAY, NOW + 10 * S), 0x01);
	assert_int_equal(rd(RTC_MON, NOW + 10 * S), 0x01);
	assert_int_equal(rd(RTC_YEAR, NOW + 10 * S), 0x00);
	assert_int_equal(rd(RTC_CENTURY, NOW + 10 * S), 0x20);
	vrtc_out(&other, VRTC_INDEX_PORT, RTC_YEAR, NOW);
	assert_int_equal(vrtc_in(&other, VRTC_DATA_PORT, NOW), 0x26);

	/* One field written without SET moves the clock at once. */
	vrtc_init(&r);
	wr(RTC_MIN, 0x00, NOW);
	assert_int_equal(rd(RTC_MIN, NOW), 0x00);
	assert_int_equal(rd(RTC_HOUR, NOW), 0x19);
	assert_int_equal(r.offset_s, -54 * 60);
	/* A binary 12-hour write of 1 AM. */
	vrtc_init(&r);
	wr(RTC_REG_B, RTC_B_DM, NOW);
	wr(RTC_HOUR, 1, NOW);
	assert_int_equal(rd(RTC_HOUR, NOW), 1);
	wr(RTC_REG_B, RTC_B_DM | RTC_B_24H, NOW);
	assert_int_equal(rd(RTC_HOUR, NOW), 1);
}

static void test_nvram(void **state)
{
	(void)state;
	for (unsigned i = 0x0E; i < 128; i++)
		if (i != RTC_CENTURY)
			wr((uint8_t)i, (uint8_t)(i * 7), NOW);
	for (unsigned i = 0x0E; i < 128; i++)
		if (i != RTC_CENTURY)
			assert_int_equal(rd((uint8_t)i, NOW), (uint8_t)(i * 7));
	/* Bit 7 of the index is the NMI mask, not part of the index. */
	vrtc_out(&r, VRTC_INDEX_PORT, 0x80 | 0x20, NOW);
	assert_int_equal(vrtc_in(&r, VRTC_DATA_PORT, NOW), (uint8_t)(0x20 * 7));
	assert_int_equal(vrtc_in(&r, VRTC_INDEX_PORT, NOW), 0xFF);
	/* Alarm bytes are plain storage; C and D are read-only. */
	wr(1, 0x33, NOW);
	assert_int_equal(rd(1, NOW), 0x33);
	wr(RTC_REG_D, 0, NOW);
	assert_int_equal(rd(RTC_REG_D, NOW), RTC_D_VRT);
	wr(RTC_REG_C, 0xFF, NOW);
	assert_int_equal(rd(RTC_REG_C, NOW), 0);
}

/* Any byte in any register, in both modes: no crash, no UB (the host
 * build runs with UBSan), the clock still reads digits. */
static void test_hostile_bytes(void **state)
{
	(void)state;
	for (unsigned b = 0; b < 4; b++) {
		vrtc_init(&r);
		for (unsigned reg = 0; reg < 0x0E; reg++)
			for (unsigned v = 0; v < 256; v += 3) {
				if (reg == RTC_REG_B)
					continue;
				wr(RTC_REG_B,
				   (uint8_t)(b & 1 ? RTC_B_DM : 0) | (b & 2 ? RTC_B_SET : 0), NOW);
				wr((uint8_t)reg, (uint8_t)v, NOW);
				wr(RTC_CENTURY, 0xFF, NOW);
				wr(RTC_REG_B, RTC_B_24H, NOW);
				for (unsigned q = 0; q < 10; q++) {
					uint8_t x = rd((uint8_t)q, NOW);
					if (q != 1 && q != 3 && q != 5)
						assert_true((x & 0xF) <= 9 && (x >> 4) <= 9);
				}
			}
	}
}

/* The migration blob: a guest's own clock setting, NVRAM and a time being
 * set all arrive; a blob no guest could make changes nothing. */
static void test_save_restore(void **state)
{
	(void)state;
	uint8_t blob[VRTC_STATE_LEN + 8], bad[VRTC_STATE_LEN];
	struct vdev_rtc b;
	const char *why = NULL;

	wr(RTC_MIN, 0x00, NOW); /* the guest moved its clock */
	wr(0x40, 0xA5, NOW);
	wr(RTC_REG_B, RTC_B_SET | RTC_B_24H, NOW);
	wr(RTC_YEAR, 0x30, NOW);
	vrtc_out(&r, VRTC_INDEX_PORT, 0x21, NOW);
	assert_int_equal(vrtc_save(&r, blob, VRTC_STATE_LEN - 1), -ENOSPC);
	assert_int_equal(vrtc_save(&r, blob, sizeof(blob)), VRTC_STATE_LEN);
	vrtc_init(&b);
	assert_int_equal(vrtc_restore(&b, blob, VRTC_STATE_LEN, &why), 0);
	assert_int_equal(b.offset_s, r.offset_s);
	assert_int_equal(b.index, 0x21);
	assert_memory_equal(b.ram, r.ram, sizeof(r.ram));
	assert_int_equal(b.set.year, r.set.year);
	assert_int_equal(b.set.min, r.set.min);
	assert_int_equal(b.set.mday, r.set.mday);

	const struct {
		unsigned off;
		uint8_t val;
		const char *why;
	} cases[] = {
		{0, 2, "unknown CMOS state version"},
		{4, 0x80, "index past the 128 bytes"},
		{5, 1, "non-zero padding"},
		{159, 1, "non-zero padding"},
		{143, 0x40, "clock offset beyond a million years"},
		{151, 0x80, "year being set outside 0-1000000"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, blob, sizeof(bad));
		bad[cases[i].off] = cases[i].val;
		vrtc_init(&b);
		struct vdev_rtc before = b;
		why = NULL;
		assert_int_equal(vrtc_restore(&b, bad, sizeof(bad), &why), -EINVAL);
		assert_string_equal(why, cases[i].why);
		assert_memory_equal(&b, &before, sizeof(b));
	}
	assert_int_equal(vrtc_restore(&b, blob, VRTC_STATE_LEN - 1, &why), -EINVAL);
	assert_string_equal(why, "wrong blob length");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_epoch_round_trip, setup),
		cmocka_unit_test_setup(test_save_restore, setup),
		cmocka_unit_test_setup(test_bcd_24h, setup),
		cmocka_unit_test_setup(test_binary_12h, setup),
		cmocka_unit_test_setup(test_uip, setup),
		cmocka_unit_test_setup(test_set_time_is_an_offset, setup),
		cmocka_unit_test_setup(test_nvram, setup),
		cmocka_unit_test_setup(test_hostile_bytes, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
