/* The host CMOS RTC, read once for Tern's wall clock (cmos_rtc.h). */
#include <stdbool.h>
#include "arch/x86/asm.h"
#include "drivers/cmos_rtc.h"
#include "kernel/log.h"
#include "kernel/time.h"
#include "kernel/vdev/rtc.h"

#define CMOS_NMI_OFF 0x80 /* keep NMIs masked while we select a register */

static bool have_clock;
static uint64_t epoch_ns; /* the wall clock at boot_ns */
static uint64_t boot_ns;

static uint8_t cmos_read(uint8_t reg)
{
	outb(0x70, CMOS_NMI_OFF | reg);
	return inb(0x71);
}

static int bcd(uint8_t v, bool binary)
{
	return binary ? v : (v >> 4) * 10 + (v & 0xF);
}

struct raw {
	uint8_t sec, min, hour, mday, mon, year, century;
};

static void read_raw(struct raw *r)
{
	/* UIP is set 244 us before an update: past it, the registers hold
	 * still long enough to read them all. Bounded: a missing RTC reads
	 * 0xFF forever. */
	for (uint64_t t0 = time_us();
	     (cmos_read(RTC_REG_A) & RTC_A_UIP) && time_us() - t0 < 1100000;)
		cpu_relax();
	r->sec = cmos_read(RTC_SEC);
	r->min = cmos_read(RTC_MIN);
	r->hour = cmos_read(RTC_HOUR);
	r->mday = cmos_read(RTC_MDAY);
	r->mon = cmos_read(RTC_MON);
	r->year = cmos_read(RTC_YEAR);
	r->century = cmos_read(RTC_CENTURY);
}

static void read_host_rtc(void)
{
	struct raw a, b;
	int tries = 0;

	read_raw(&a);
	do { /* the same twice: no update fell in between */
		b = a;
		read_raw(&a);
	} while (__builtin_memcmp(&a, &b, sizeof(a)) && ++tries < 5);
	uint8_t regb = cmos_read(RTC_REG_B);
	bool binary = regb & RTC_B_DM;
	struct rtc_time t = {0};
	t.sec = bcd(a.sec, binary);
	t.min = bcd(a.min, binary);
	if (regb & RTC_B_24H)
		t.hour = bcd(a.hour, binary);
	else
		t.hour = bcd(a.hour & 0x7F, binary) % 12 + (a.hour & 0x80 ? 12 : 0);
	t.mday = bcd(a.mday, binary);
	t.mon = bcd(a.mon, binary);
	int century = bcd(a.century, binary);
	if (century < 19 || century > 99)
		century = 20; /* no century byte at 0x32 on this machine */
	t.year = century * 100 + bcd(a.year, binary);
	boot_ns = time_ns();
	if (t.mon < 1 || t.mon > 12 || t.mday < 1 || t.mday > 31 || t.hour > 23 || t.min > 59 ||
	    t.sec > 59) {
		log_warn("clock",
			 "the host RTC reads nonsense (%02x-%02x-%02x %02x:%02x:%02x): "
			 "guests' clocks start at 1970-01-01",
			 a.year, a.mon, a.mday, a.hour, a.min, a.sec);
		epoch_ns = 0;
		return;
	}
	epoch_ns = (uint64_t)rtc_to_epoch(&t) * 1000000000ull;
	log_info("clock", "host RTC: %04ld-%02d-%02d %02d:%02d:%02d UTC", (long)t.year, t.mon,
		 t.mday, t.hour, t.min, t.sec);
}

uint64_t wallclock_ns(void)
{
	if (!have_clock) {
		read_host_rtc();
		have_clock = true;
	}
	return epoch_ns + (time_ns() - boot_ns);
}
