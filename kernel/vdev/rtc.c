/* The guest's MC146818 CMOS clock (rtc.h). The time is never stored: each
 * read computes it from Tern's wall clock and the guest's offset, so a
 * paused or migrated guest still reads the right date, and there is no
 * update cycle to run. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "kernel/vdev/rtc.h"
#include "migrate/le.h"

#define NS_PER_S 1000000000ull
/* The data sheet's update cycle: UIP rises 244 us before the registers
 * change, so a guest that waits for UIP to fall reads a stable second. */
#define UIP_NS 244000ull

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}

/* Days from 1970-01-01 to y-m-d (m 1-12) in the proleptic Gregorian
 * calendar: count in 400-year eras starting 1 March, so February, the odd
 * month, ends each counted year. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;				      /* 0-399 */
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* 0-365 */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;	      /* 0-146096 */
	return era * 146097 + doe - 719468;
}

int64_t rtc_to_epoch(const struct rtc_time *t)
{
	int64_t m0 = (int64_t)t->mon - 1;
	int64_t y = t->year + floor_div(m0, 12);
	int m = (int)floor_mod(m0, 12) + 1;
	int64_t days = days_from_civil(y, m, 1) + t->mday - 1;
	return days * 86400 + (int64_t)t->hour * 3600 + (int64_t)t->min * 60 + t->sec;
}

void rtc_from_epoch(int64_t s, struct rtc_time *t)
{
	int64_t days = floor_div(s, 86400), rem = floor_mod(s, 86400);
	t->hour = (int)(rem / 3600);
	t->min = (int)(rem / 60 % 60);
	t->sec = (int)(rem % 60);
	t->wday = (int)floor_mod(days + 4, 7); /* 1970-01-01 was a Thursday */
	int64_t z = days + 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	t->mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	t->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
	t->year = yoe + era * 400 + (t->mon <= 2);
}

void vrtc_init(struct vdev_rtc *r)
{
	memset(r, 0, sizeof(*r));
	r->ram[RTC_REG_A] = 0x26;      /* 32.768 kHz time base, 1024 Hz rate: the power-on value */
	r->ram[RTC_REG_B] = RTC_B_24H; /* BCD, 24-hour, as PC firmware leaves it */
}

bool vrtc_handles(uint16_t port)
{
	return port == VRTC_INDEX_PORT || port == VRTC_DATA_PORT;
}

static void guest_time(const struct vdev_rtc *r, uint64_t now_ns, struct rtc_time *t)
{
	if (r->ram[RTC_REG_B] & RTC_B_SET)
		*t = r->set; /* updates are stopped while the guest sets the clock */
	else
		rtc_from_epoch((int64_t)(now_ns / NS_PER_S) + r->offset_s, t);
}

static uint8_t encode(const struct vdev_rtc *r, int v)
{
	if (r->ram[RTC_REG_B] & RTC_B_DM)
		return (uint8_t)v;
	return (uint8_t)((v / 10) << 4 | v % 10);
}

/* A guest may write any byte: a BCD digit above 9 just counts as its value. */
static int decode(const struct vdev_rtc *r, uint8_t v)
{
	if (r->ram[RTC_REG_B] & RTC_B_DM)
		return v;
	return (v >> 4) * 10 + (v & 0xF);
}

static uint8_t encode_hour(const struct vdev_rtc *r, int h)
{
	if (r->ram[RTC_REG_B] & RTC_B_24H)
		return encode(r, h);
	int h12 = h % 12 ? h % 12 : 12;
	return encode(r, h12) | (h >= 12 ? 0x80 : 0);
}

static int decode_hour(const struct vdev_rtc *r, uint8_t v)
{
	if (r->ram[RTC_REG_B] & RTC_B_24H)
		return decode(r, v);
	return decode(r, v & 0x7F) % 12 + (v & 0x80 ? 12 : 0);
}

static uint8_t read_reg(const struct vdev_rtc *r, uint8_t idx, uint64_t now_ns)
{
	struct rtc_time t = {0};

	switch (idx) {
	case RTC_SEC:
	case RTC_MIN:
	case RTC_HOUR:
	case RTC_WDAY:
	case RTC_MDAY:
	case RTC_MON:
	case RTC_YEAR:
	case RTC_CENTURY:
		guest_time(r, now_ns, &t);
		break;
	}
	switch (idx) {
	case RTC_SEC:
		return encode(r, t.sec);
	case RTC_MIN:
		return encode(r, t.min);
	case RTC_HOUR:
		return encode_hour(r, t.hour);
	case RTC_WDAY:
		return encode(r, t.wday + 1); /* 1 = Sunday */
	case RTC_MDAY:
		return encode(r, t.mday);
	case RTC_MON:
		return encode(r, t.mon);
	case RTC_YEAR:
		return encode(r, (int)floor_mod(t.year, 100));
	case RTC_CENTURY:
		return encode(r, (int)floor_mod(floor_div(t.year, 100), 100));
	case RTC_REG_A: {
		bool uip =
			!(r->ram[RTC_REG_B] & RTC_B_SET) && now_ns % NS_PER_S >= NS_PER_S - UIP_NS;
		return (r->ram[RTC_REG_A] & 0x7F) | (uip ? RTC_A_UIP : 0);
	}
	case RTC_REG_C:
		return 0; /* no interrupt flags: no interrupts */
	case RTC_REG_D:
		return RTC_D_VRT;
	default:
		return r->ram[idx];
	}
}

/* Replaces one field of t with what the guest wrote. */
static bool set_field(const struct vdev_rtc *r, struct rtc_time *t, uint8_t idx, uint8_t val)
{
	switch (idx) {
	case RTC_SEC:
		t->sec = decode(r, val);
		return true;
	case RTC_MIN:
		t->min = decode(r, val);
		return true;
	case RTC_HOUR:
		t->hour = decode_hour(r, val);
		return true;
	case RTC_MDAY:
		t->mday = decode(r, val);
		return true;
	case RTC_MON:
		t->mon = decode(r, val);
		return true;
	case RTC_YEAR:
		t->year = floor_div(t->year, 100) * 100 + decode(r, val);
		return true;
	case RTC_CENTURY:
		t->year = (int64_t)decode(r, val) * 100 + floor_mod(t->year, 100);
		return true;
	default:
		return false;
	}
}

static void write_reg(struct vdev_rtc *r, uint8_t idx, uint8_t val, uint64_t now_ns)
{
	int64_t now_s = (int64_t)(now_ns / NS_PER_S);
	struct rtc_time t;

	switch (idx) {
	case RTC_REG_A:
		r->ram[idx] = val & 0x7F; /* UIP is read-only */
		return;
	case RTC_REG_B:
		if (!(r->ram[idx] & RTC_B_SET) && (val & RTC_B_SET))
			guest_time(r, now_ns, &r->set);
		else if ((r->ram[idx] & RTC_B_SET) && !(val & RTC_B_SET))
			r->offset_s = rtc_to_epoch(&r->set) - now_s;
		r->ram[idx] = val;
		return;
	case RTC_REG_C:
	case RTC_REG_D:
	case RTC_WDAY: /* computed from the date */
		return;
	}
	if (r->ram[RTC_REG_B] & RTC_B_SET) {
		if (set_field(r, &r->set, idx, val))
			return;
	} else {
		guest_time(r, now_ns, &t);
		if (set_field(r, &t, idx, val)) {
			r->offset_s = rtc_to_epoch(&t) - now_s;
			return;
		}
	}
	r->ram[idx] = val; /* NVRAM, and the alarm bytes nothing acts on */
}

uint8_t vrtc_in(struct vdev_rtc *r, uint16_t port, uint64_t now_ns)
{
	if (port == VRTC_INDEX_PORT)
		return 0xFF; /* the index register is write-only */
	return read_reg(r, r->index, now_ns);
}

void vrtc_out(struct vdev_rtc *r, uint16_t port, uint8_t val, uint64_t now_ns)
{
	if (port == VRTC_INDEX_PORT)
		r->index = val & 0x7F; /* bit 7 masks NMIs on a PC: there are none */
	else
		write_reg(r, r->index, val, now_ns);
}

/* ---- migration ----------------------------------------------------------- */

#define STATE_VERSION 1
/* Far beyond what a guest sets in practice, and small enough that no sum
 * or product in the calendar arithmetic overflows. */
#define RTC_MAX_YEAR 1000000ll
#define RTC_MAX_OFFSET_S (RTC_MAX_YEAR * 366 * 86400)

int vrtc_save(const struct vdev_rtc *r, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (cap < VRTC_STATE_LEN)
		return -ENOSPC;
	memset(p, 0, VRTC_STATE_LEN);
	le32_put(p, STATE_VERSION);
	p[4] = r->index;
	memcpy(p + 8, r->ram, sizeof(r->ram));
	le64_put(p + 136, (uint64_t)r->offset_s);
	le64_put(p + 144, (uint64_t)r->set.year);
	const int f[] = {r->set.mon, r->set.mday, r->set.hour, r->set.min, r->set.sec, r->set.wday};
	for (int i = 0; i < 6; i++)
		p[152 + i] = (uint8_t)f[i];
	return VRTC_STATE_LEN;
}

int vrtc_restore(struct vdev_rtc *r, const void *buf, size_t len, const char **why)
{
	const uint8_t *p = buf;
	const char *bad = NULL;

	if (len != VRTC_STATE_LEN)
		bad = "wrong blob length";
	else if (le32_get(p) != STATE_VERSION)
		bad = "unknown CMOS state version";
	else if (p[4] & 0x80)
		bad = "index past the 128 bytes";
	else if (p[5] | p[6] | p[7] | p[158] | p[159])
		bad = "non-zero padding";
	else if (llabs((long long)le64_get(p + 136)) > RTC_MAX_OFFSET_S)
		bad = "clock offset beyond a million years";
	else if ((int64_t)le64_get(p + 144) < 0 || (int64_t)le64_get(p + 144) > RTC_MAX_YEAR)
		bad = "year being set outside 0-1000000";
	if (bad) {
		if (why)
			*why = bad;
		return -EINVAL;
	}
	r->index = p[4];
	memcpy(r->ram, p + 8, sizeof(r->ram));
	r->offset_s = (int64_t)le64_get(p + 136);
	r->set.year = (int64_t)le64_get(p + 144);
	r->set.mon = p[152], r->set.mday = p[153], r->set.hour = p[154];
	r->set.min = p[155], r->set.sec = p[156], r->set.wday = p[157];
	return 0;
}
