/* netecho's entry: options, the device, the announcement, then the loop
 * that answers frames and, for any byte on its UART, prints the counters. */
#include "netecho.h"
#include "common/boot.h"
#include "common/cmdline.h"
#include "common/cpu.h"
#include "common/fmt.h"
#include "common/uart.h"

/* The loop polls the receive ring in memory; the UART and the device
 * status are ports (an exit each under a hypervisor), so they are read only
 * every this many polls. */
#define NE_UART_EVERY (1u << 12)
#define NE_STATUS_EVERY (1u << 20)

const char guest_name[] = "netecho";
static struct ne_virtio dev;

static _Noreturn void ne_fail(const char *msg)
{
	uart_printf("netecho: %s\nnetecho: halted\n", msg);
	cpu_halt_forever();
}

static bool parse_ip(struct strv s, uint8_t ip[4])
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;
		while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9' && digits < 4) {
			v = v * 10 + (unsigned)(s.p[i++] - '0');
			digits++;
		}
		if (!digits || v > 255 || (part < 3 && (i >= s.len || s.p[i++] != '.')))
			return false;
		ip[part] = (uint8_t)v;
	}
	return i == s.len && ip[0] && ip[0] < 224 && ip[0] != 127;
}

/* A station's address, not a group. */
static bool station_mac(struct strv s, uint8_t mac[6])
{
	return strv_to_mac(s, mac) && !(mac[0] & 1);
}

static void parse(const char *cmdline, uint8_t ip[4], uint8_t mac[6], uint64_t *fill_mib)
{
	const char *pos = cmdline;
	struct cmdline_word w;
	bool have_ip = false;
	char err[96];

	while (cmdline_next(&pos, &w)) {
		if (!w.has_value)
			continue; /* the image name Tern and QEMU put first */
		if (strv_is(w.key, "ip") && parse_ip(w.value, ip)) {
			have_ip = true;
		} else if (strv_is(w.key, "fill") && strv_to_u64(w.value, fill_mib) == 0) {
			continue;
		} else if (!(strv_is(w.key, "mac") && station_mac(w.value, mac))) {
			char key[24];
			size_t n = w.key.len < sizeof(key) - 1 ? w.key.len : sizeof(key) - 1;
			for (size_t i = 0; i < n; i++)
				key[i] = w.key.p[i];
			key[n] = '\0';
			fmt_snprintf(err, sizeof(err),
				     "error: option '%s': unknown option or bad value", key);
			ne_fail(err);
		}
	}
	if (!have_ip)
		ne_fail("error: ip=A.B.C.D is required");
}

static bool send_frame(const uint8_t *frame, size_t len)
{
	return ne_virtio_tx(&dev, frame, len);
}

static void print_counters(void)
{
	const struct ne_stats *s = &ne_proto.stats;

	uart_printf("netecho: rx=%lu tx=%lu arp=%lu icmp=%lu udp=%lu ignored=%lu tx_full=%lu\n",
		    s->rx, s->tx, s->arp, s->icmp, s->udp, s->ignored, s->tx_full);
}

/* fill=MIB: that much of the RAM above the image gets a pattern no page
 * of which is zero, so that a migration has something to carry (its own
 * state is a few dozen pages) and, capped, takes as long as a test needs. */
static void fill_memory(const struct boot_info *b, uint64_t mib)
{
	uint64_t top = b->image_end + (mib << 20);
	char err[96];

	if (mib > b->ram_top || top > b->ram_top || top > BOOT_MAPPED_TOP) {
		fmt_snprintf(err, sizeof(err), "error: fill=%lu: more than the RAM above the image",
			     mib);
		ne_fail(err);
	}
	for (uint64_t *p = (uint64_t *)b->image_end; p < (uint64_t *)top; p++)
		*p = (uint64_t)p | 1;
	uart_printf("netecho: filled %lu MiB\n", mib);
}

void guest_main(const struct boot_info *b)
{
	char err[128];
	const uint8_t *m = dev.mac, *a = ne_proto.ip;
	uint64_t fill_mib = 0;

	uart_printf("netecho: start\nnetecho: cmdline: %s\n", b->cmdline);
	parse(b->cmdline, ne_proto.ip, dev.mac, &fill_mib);
	if (fill_mib)
		fill_memory(b, fill_mib);
	if (!ne_virtio_up(&dev, err, sizeof(err)))
		ne_fail(err);
	for (int i = 0; i < 6; i++)
		ne_proto.mac[i] = dev.mac[i];
	ne_proto.send = send_frame;
	uart_printf("netecho: virtio-net at 00:%02x.0, %s\n", dev.pci.dev,
		    dev.common.io ? "I/O BAR" : "memory BAR");
	uart_printf("netecho: up mac=%02x:%02x:%02x:%02x:%02x:%02x ip=%u.%u.%u.%u\n", m[0], m[1],
		    m[2], m[3], m[4], m[5], a[0], a[1], a[2], a[3]);
	unsigned nbuf;
	uint64_t rx = ne_virtio_rx_buffers(&nbuf);
	uart_printf("netecho: rx buffers at 0x%lx, %u x %u bytes\n", rx, nbuf, NE_BUF_LEN);
	ne_proto_announce();

	for (uint32_t n = 1;; n++) {
		char c;
		ne_virtio_rx(&dev, ne_proto_input);
		if (n % NE_UART_EVERY == 0 && uart_try_getc(&c))
			print_counters();
		if (n % NE_STATUS_EVERY == 0 && ne_virtio_broken(&dev)) {
			print_counters();
			ne_fail("error: the device needs a reset (DEVICE_NEEDS_RESET)");
		}
		cpu_relax();
	}
}
