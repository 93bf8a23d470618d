/* hostile: a guest that attacks its host, for the tests that prove it
 * cannot hurt the host or other guests (issue 9). One attack per boot,
 * chosen by mode= on the command line; each prints what it did and what it
 * got back, then `hostile: done`, and halts. Modes and output: README.md. */
#include "common/boot.h"
#include "common/cmdline.h"
#include "common/cpu.h"
#include "common/idt.h"
#include "common/tsc.h"
#include "common/uart.h"
#include "netecho/netecho.h"

#define PCI_ADDR 0xCF8
#define PCI_DATA 0xCFC
#define PCI_CAP_PTR 0x34
#define PCI_CAP_ID_VNDR 0x09
#define VIRTIO_PCI_CAP_PCI_CFG 5
#define VNET_DEV 1 /* 00:01.0 under Tern */
#define GP_VECTOR 13

const char guest_name[] = "hostile";

static struct {
	struct strv mode;
	uint64_t seconds, count;
	uint8_t host_mac[6], victim_mac[6];
	bool have_host_mac, have_victim_mac;
} opt = {.seconds = 10, .count = 2000};

static uint64_t tsc_khz;

#define TSC_ASSUMED_KHZ 2000000 /* when CPUID does not say (Tern has no PIT) */

static void put_strv(struct strv s)
{
	for (size_t i = 0; i < s.len; i++)
		uart_putc(s.p[i]);
}

static _Noreturn void finish(void)
{
	uart_printf("hostile: done\n");
	cpu_halt_forever();
}

/* ---- options ------------------------------------------------------------ */

static void parse(const char *cmdline)
{
	const char *pos = cmdline;
	struct cmdline_word w;

	while (cmdline_next(&pos, &w)) {
		if (!w.has_value)
			continue;
		if (strv_is(w.key, "mode"))
			opt.mode = w.value;
		else if (strv_is(w.key, "seconds") && !strv_to_u64(w.value, &opt.seconds))
			;
		else if (strv_is(w.key, "count") && !strv_to_u64(w.value, &opt.count))
			;
		else if (strv_is(w.key, "hostmac") && strv_to_mac(w.value, opt.host_mac))
			opt.have_host_mac = true;
		else if (strv_is(w.key, "victim") && strv_to_mac(w.value, opt.victim_mac))
			opt.have_victim_mac = true;
		else {
			uart_printf("hostile: bad option ");
			put_strv(w.key);
			uart_printf("\n");
			finish();
		}
	}
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t rand64(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static bool time_left(uint64_t start)
{
	return rdtsc() - start < opt.seconds * tsc_khz * 1000;
}

/* ---- PCI configuration --------------------------------------------------- */

static uint32_t cfg_read(unsigned dev, unsigned off)
{
	outl(PCI_ADDR, 0x80000000u | dev << 11 | (off & 0xFC));
	return inl(PCI_DATA);
}

static void cfg_write(unsigned dev, unsigned off, uint32_t v)
{
	outl(PCI_ADDR, 0x80000000u | dev << 11 | (off & 0xFC));
	outl(PCI_DATA, v);
}

/* The VIRTIO_PCI_CAP_PCI_CFG capability (virtio 1.1 4.1.4.8), by its list. */
static unsigned find_pci_cfg_cap(void)
{
	unsigned off = cfg_read(VNET_DEV, PCI_CAP_PTR) & 0xFC;

	for (int n = 0; off && n < 48; n++) {
		uint32_t head = cfg_read(VNET_DEV, off);
		if ((head & 0xFF) == PCI_CAP_ID_VNDR &&
		    ((head >> 24) & 0xFF) == VIRTIO_PCI_CAP_PCI_CFG)
			return off;
		off = (head >> 8) & 0xFC;
	}
	return 0;
}

/* Issue 9 item 1: cap.offset 0xFFFFFFFC with cap.length 4 wrapped the
 * host's 32-bit bounds check; the read then came from 4 GiB past a buffer
 * (a host page fault). The right answer is a refused window: 0. */
static void pciwrap(void)
{
	static const uint32_t attack[][2] = {{0xFFFFFFFC, 4}, {0xFFFFFFFE, 2}, {0xFFFFFFFF, 1}};
	unsigned cap = find_pci_cfg_cap();

	if (!cap) {
		uart_printf("hostile: pciwrap: no PCI_CFG capability\n");
		finish();
	}
	uart_printf("hostile: pciwrap: PCI_CFG capability at %#x\n", cap);
	for (unsigned i = 0; i < 3; i++) {
		cfg_write(VNET_DEV, cap + 4, 0); /* bar 0 */
		cfg_write(VNET_DEV, cap + 8, attack[i][0]);
		cfg_write(VNET_DEV, cap + 12, attack[i][1]);
		uint32_t v = cfg_read(VNET_DEV, cap + 16);
		cfg_write(VNET_DEV, cap + 16, 0xFFFFFFFF);
		uart_printf("hostile: pciwrap offset=%#x length=%u read=%#x\n", attack[i][0],
			    attack[i][1], v);
	}
	finish();
}

/* ---- random port I/O ---------------------------------------------------------- */

/* Every port, every size, in and out, random values, for opt.seconds. */
static void portfuzz(void)
{
	uint64_t start = rdtsc(), ops = 0;

	uart_printf("hostile: portfuzz for %lu s\n", opt.seconds);
	while (time_left(start)) {
		uint64_t r = rand64();
		uint16_t port = (uint16_t)r;
		uint32_t val = (uint32_t)(r >> 32);
		/* The power and panic ports end the guest by design (modes
		 * reset, poweroff, panic test them): fuzzing them would only
		 * cut the fuzzing short. */
		if (port == 0xCF9 || (port & ~3) == 0x504 || (port & ~3) == 0x600 || (port & ~3) == 0x64)
			continue;
		switch ((r >> 16) % 6) {
		case 0:
			outb(port, (uint8_t)val);
			break;
		case 1:
			outw(port & ~1, (uint16_t)val);
			break;
		case 2:
			outl(port & ~3, val);
			break;
		case 3:
			(void)inb(port);
			break;
		case 4:
			(void)inw(port & ~1);
			break;
		default:
			(void)inl(port & ~3);
			break;
		}
		ops++;
	}
	/* put the UART back the way boot left it, so the report is legible */
	uart_init();
	uart_printf("\nhostile: portfuzz %lu port accesses\n", ops);
	finish();
}

/* ---- clock and power (issue 10) --------------------------------------------- */

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define CMOS_MARK 0x40 /* an NVRAM byte: survives a reboot, as on a PC */
#define CMOS_MARK_VALUE 0xA5

static uint8_t cmos(uint8_t reg)
{
	outb(CMOS_INDEX, reg);
	return inb(CMOS_DATA);
}

static unsigned from_bcd(uint8_t v, bool binary)
{
	return binary ? v : (v >> 4) * 10 + (v & 0xF);
}

/* The date as Linux's rtc_cmos reads it: wait out UIP, read, decode per
 * register B. */
static void rtcdate(void)
{
	while (cmos(0x0A) & 0x80)
		cpu_relax();
	uint8_t sec = cmos(0), min = cmos(2), hour = cmos(4), mday = cmos(7), mon = cmos(8),
		year = cmos(9), cent = cmos(0x32), b = cmos(0x0B);
	bool bin = b & 0x04;
	unsigned h = from_bcd(hour & 0x7F, bin);
	if (!(b & 0x02))
		h = h % 12 + (hour & 0x80 ? 12 : 0);
	uart_printf("hostile: rtc %02u%02u-%02u-%02u %02u:%02u:%02u UTC regb=0x%02x regd=0x%02x\n",
		    from_bcd(cent, bin), from_bcd(year, bin), from_bcd(mon, bin), from_bcd(mday, bin), h,
		    from_bcd(min, bin), from_bcd(sec, bin), b, cmos(0x0D));
	finish();
}

/* One write to a power port. For a reset, once: an NVRAM mark set before
 * it tells the second boot, which says so and ends (mode resetloop resets
 * on every boot). */
static void power_write(uint16_t port, uint8_t val, bool once)
{
	if (once && cmos(CMOS_MARK) == CMOS_MARK_VALUE) {
		uart_printf("hostile: booted again after the reset\n");
		outb(CMOS_INDEX, CMOS_MARK);
		outb(CMOS_DATA, 0);
		finish();
	}
	if (once) {
		outb(CMOS_INDEX, CMOS_MARK);
		outb(CMOS_DATA, CMOS_MARK_VALUE);
	}
	if (port == 0x64)
		while (inb(0x64) & 0x02) /* input buffer full: wait, as Linux's kb_wait() */
			cpu_relax();
	if (port == 0x505)
		uart_printf("hostile: pvpanic events 0x%x\n", inb(0x505));
	uart_printf("hostile: writing 0x%x to port 0x%x\n", val, port);
	outb(port, val);
	uart_printf("hostile: still running after the write\n");
	finish();
}

/* ---- MSRs ------------------------------------------------------------------- */

static volatile uint64_t gp_taken;

/* rdmsr is 0F 32: a #GP there is the answer we expect; go on after it. */
static bool take_gp(struct idt_frame *f)
{
	const uint8_t *ip = (const uint8_t *)f->rip;

	if (f->vector != GP_VECTOR || ip[0] != 0x0F || ip[1] != 0x32)
		return false;
	f->rip += 2;
	gp_taken++;
	return true;
}

/* Issue 9 item 6: reads of distinct MSRs Tern refuses, in a loop. Each must
 * be a #GP the guest survives; the host must log a few and count the rest. */
static void msrflood(void)
{
	uint64_t reads = 0;

	idt_set_handler(take_gp);
	for (uint64_t i = 0; i < opt.count; i++) {
		uint32_t msr = 0x40001000u + (uint32_t)i; /* no CPU's, no hypervisor's */
		uint32_t lo, hi;
		__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
		(void)lo, (void)hi;
		reads++;
		/* after the flood, a pause, then one more: the host's rate limit
		 * lets it through and reports what it held back */
		if (i + 1 == opt.count - 1)
			tsc_delay_ms(tsc_khz, 2500);
	}
	idt_set_handler(NULL);
	uart_printf("hostile: msrflood reads=%lu gp=%lu\n", reads, gp_taken);
	finish();
}

/* ---- escape sequences ------------------------------------------------------- */

/* Issue 9 item 7: erase the [hostile] prefix and print a line that looks like
 * Tern's own; clear the screen; set the title; ring the bell. */
static void escapes(void)
{
	static const char forged[] =
		"\x1b[2K\r\x1b[1Gerror: vm: honest stopped: forged by hostile\n"
		"\x1b[2J\x1b[H\x1b]0;owned\x07\x08\x08\x08\x7f bell\x07 end\n";

	for (const char *p = forged; *p; p++)
		uart_putc(*p);
	uart_printf("hostile: escapes sent\n");
	finish();
}

/* ---- frames through virtio-net ---------------------------------------------- */

static struct ne_virtio dev;
static uint64_t rx_for_host, rx_frames;

static void count_rx(const uint8_t *frame, size_t len)
{
	rx_frames++;
	if (len >= 6 && opt.have_host_mac && !memcmp(frame, opt.host_mac, 6))
		rx_for_host++;
}

/* A gratuitous ARP from src: the frame a switch learns an address from. */
static size_t garp(uint8_t *f, const uint8_t *src)
{
	memset(f, 0, 60);
	memset(f, 0xFF, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08, f[13] = 0x06;
	f[15] = 1, f[16] = 0x08, f[18] = 6, f[19] = 4, f[21] = 1;
	memcpy(f + 22, src, 6);
	f[28] = 10, f[29] = 99, f[30] = 0, f[31] = 66;
	f[38] = 10, f[39] = 99, f[40] = 0, f[41] = 66;
	return 60;
}

static void net_up(void)
{
	char err[96];

	if (!ne_virtio_up(&dev, err, sizeof(err))) {
		uart_printf("hostile: %s", err);
		finish();
	}
}

static void send(const uint8_t *f, size_t len)
{
	while (!ne_virtio_tx(&dev, f, len))
		ne_virtio_rx(&dev, count_rx);
}

/* Issue 9 item 5: as the host's MAC and as a neighbour's, over and over,
 * while counting frames addressed to the host that reach this guest. */
static void macspoof(void)
{
	uint8_t f[64];
	uint64_t start = rdtsc(), sent = 0, last = start;

	if (!opt.have_host_mac) {
		uart_printf("hostile: macspoof needs hostmac=\n");
		finish();
	}
	net_up();
	uart_printf("hostile: macspoof for %lu s\n", opt.seconds);
	while (time_left(start)) {
		send(f, garp(f, opt.host_mac));
		sent++;
		if (opt.have_victim_mac) {
			send(f, garp(f, opt.victim_mac));
			sent++;
		}
		for (int i = 0; i < 64; i++)
			ne_virtio_rx(&dev, count_rx);
		if (rdtsc() - last > tsc_khz * 1000) {
			last = rdtsc();
			uart_printf("hostile: macspoof sent=%lu rx=%lu rx_for_host=%lu\n", sent,
				    rx_frames, rx_for_host);
		}
	}
	uart_printf("hostile: macspoof sent=%lu rx=%lu rx_for_host=%lu\n", sent, rx_frames,
		    rx_for_host);
	finish();
}

/* Many source MACs: a learning switch would fill its table with them. */
static void macflood(void)
{
	uint8_t f[64], mac[6] = {0x06, 0, 0, 0, 0, 0};

	net_up();
	for (uint64_t i = 0; i < opt.count; i++) {
		uint64_t r = rand64();
		memcpy(mac + 1, &r, 5);
		send(f, garp(f, mac));
		ne_virtio_rx(&dev, count_rx);
	}
	uart_printf("hostile: macflood sent=%lu\n", opt.count);
	finish();
}

void guest_main(const struct boot_info *boot)
{
	const char *src = "";

	parse(boot->cmdline);
	tsc_khz = tsc_khz_from_cpuid(&src);
	if (!tsc_khz)
		tsc_khz = TSC_ASSUMED_KHZ;
	rng ^= rdtsc();
	uart_printf("hostile: mode=");
	put_strv(opt.mode);
	uart_printf("\n");
	if (strv_is(opt.mode, "pciwrap"))
		pciwrap();
	else if (strv_is(opt.mode, "portfuzz"))
		portfuzz();
	else if (strv_is(opt.mode, "msrflood"))
		msrflood();
	else if (strv_is(opt.mode, "escapes"))
		escapes();
	else if (strv_is(opt.mode, "macspoof"))
		macspoof();
	else if (strv_is(opt.mode, "macflood"))
		macflood();
	else if (strv_is(opt.mode, "rtc"))
		rtcdate();
	else if (strv_is(opt.mode, "reset"))
		power_write(0xCF9, 0x06, true);
	else if (strv_is(opt.mode, "resetloop"))
		power_write(0xCF9, 0x06, false);
	else if (strv_is(opt.mode, "kbdreset"))
		power_write(0x64, 0xFE, true);
	else if (strv_is(opt.mode, "poweroff"))
		power_write(0x600, 0x34, false);
	else if (strv_is(opt.mode, "panic"))
		power_write(0x505, 0x01, false);
	uart_printf("hostile: modes: pciwrap portfuzz macspoof macflood msrflood escapes rtc reset "
		    "resetloop kbdreset poweroff panic\n");
	finish();
}
