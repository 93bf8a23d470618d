/* The guest's CMOS real-time clock: an MC146818 at ports 0x70 (index) and
 * 0x71 (data), as on every PC. It shows UTC from Tern's wall clock plus the
 * guest's own offset (a guest that sets the time moves only its own clock).
 * Registers A-D and the date and time follow the data sheet; the other
 * bytes of the 128 are NVRAM, read as written. There are no alarm, update
 * or periodic interrupts: Tern's guests have no interrupt line for IRQ 8
 * (docs/guests.md, "Clock, reboot and poweroff"). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VRTC_INDEX_PORT 0x70
#define VRTC_DATA_PORT 0x71

/* Register numbers (MC146818A data sheet, "Address map"). */
#define RTC_SEC 0x00
#define RTC_MIN 0x02
#define RTC_HOUR 0x04
#define RTC_WDAY 0x06
#define RTC_MDAY 0x07
#define RTC_MON 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0A
#define RTC_REG_B 0x0B
#define RTC_REG_C 0x0C
#define RTC_REG_D 0x0D
#define RTC_CENTURY 0x32 /* the FADT's CENTURY field names it (ACPI 6.x 5.2.9) */

#define RTC_A_UIP 0x80
#define RTC_B_SET 0x80 /* updates stopped while the clock is being set */
#define RTC_B_DM 0x04  /* 1: binary, 0: BCD */
#define RTC_B_24H 0x02 /* 1: 24-hour, 0: 12-hour with bit 7 = PM */
#define RTC_D_VRT 0x80 /* valid RAM and time */

/* A broken-down UTC time, as the registers hold it (binary values). */
struct rtc_time {
	int64_t year; /* e.g. 2026 */
	int mon;      /* 1-12 */
	int mday;     /* 1-31 */
	int hour, min, sec;
	int wday; /* 0 = Sunday */
};

struct vdev_rtc {
	uint8_t index;	     /* what port 0x70 selected (bit 7, NMI mask, dropped) */
	uint8_t ram[128];    /* registers A, B and the NVRAM; time bytes unused */
	int64_t offset_s;    /* guest time minus Tern's UTC, in seconds */
	struct rtc_time set; /* the time being written while B.SET is on */
};

void vrtc_init(struct vdev_rtc *r);
bool vrtc_handles(uint16_t port);
/* now_ns: Tern's wall clock, nanoseconds since 1970-01-01 00:00 UTC. */
uint8_t vrtc_in(struct vdev_rtc *r, uint16_t port, uint64_t now_ns);
void vrtc_out(struct vdev_rtc *r, uint16_t port, uint8_t val, uint64_t now_ns);

/* Migration: u32 version (1), u8 index, 3 bytes 0, the 128 bytes of
 * registers and NVRAM, i64 offset_s (the guest's own clock setting), then
 * the time being set while B.SET is on: i64 year, u8 mon, mday, hour, min,
 * sec, wday, 2 bytes 0; little-endian. The destination's clock is its own
 * Tern's UTC plus offset_s, so a guest keeps the time it set. save: the
 * length or -ENOSPC; restore: 0, or -EINVAL and *why (an index past 127,
 * padding, an offset or a year beyond a million years), nothing changed. */
#define VRTC_STATE_LEN 160
int vrtc_save(const struct vdev_rtc *r, void *buf, size_t cap);
int vrtc_restore(struct vdev_rtc *r, const void *buf, size_t len, const char **why);

/* Calendar arithmetic, proleptic Gregorian (also used by the host RTC
 * driver): seconds since the epoch <-> broken-down time. Any field values
 * are accepted (normalised, as mktime does for a month of 13). */
int64_t rtc_to_epoch(const struct rtc_time *t);
void rtc_from_epoch(int64_t s, struct rtc_time *t);
