/* memcheck's entry: options from the command line, the memory layout, the
 * TSC rate, the lines every mode starts with, then the mode. */
#include "memcheck.h"
#include "common/cpu.h"
#include "common/fmt.h"
#include "common/tsc.h"
#include "common/uart.h"

#include <stdarg.h>

#define MC_TSC_ASSUMED_KHZ 1000000
#define LOW_RAM_END 0xA0000 /* the VGA hole starts here */

const char guest_name[] = "memcheck";

static const char *const mc_mode_names[] = {
	[MC_RUN] = "run",	  [MC_SELFTEST] = "selftest",
	[MC_LIST] = "list",	  [MC_TRIPLEFAULT] = "triplefault",
	[MC_OUTSIDE] = "outside", [MC_EXITS] = "exits",
};
#define MC_MODES (sizeof(mc_mode_names) / sizeof(mc_mode_names[0]))

void mc_fail(const char *fmt, ...)
{
	va_list ap;

	uart_printf("memcheck: ");
	va_start(ap, fmt);
	uart_vprintf(fmt, ap);
	va_end(ap);
	uart_printf("\nmemcheck: halted\n");
	cpu_halt_forever();
}

/* A positive number, or 0 when the value is the word `zero_word`. */
static bool mc_number_or(struct strv v, const char *zero_word, uint64_t *out)
{
	if (zero_word && strv_is(v, zero_word)) {
		*out = 0;
		return true;
	}
	return strv_to_u64(v, out) == 0 && *out > 0;
}

static bool mc_parse_mode(struct strv v, enum mc_mode *mode)
{
	for (unsigned i = 0; i < MC_MODES; i++) {
		if (strv_is(v, mc_mode_names[i])) {
			*mode = (enum mc_mode)i;
			return true;
		}
	}
	return false;
}

static bool mc_parse_ranges(struct strv v)
{
	struct range_iter it = range_iter_start(v);
	uint64_t first, last;
	int r;

	while ((r = range_next(&it, &first, &last)) > 0)
		;
	return r == 0 && v.len > 0;
}

/* One key=value word; false if the key is unknown or the value malformed. */
static bool mc_parse_word(const struct cmdline_word *w, struct mc_opts *o)
{
	struct strv k = w->key, v = w->value;

	if (strv_is(k, "mode"))
		return mc_parse_mode(v, &o->mode);
	if (strv_is(k, "rate"))
		return mc_number_or(v, "max", &o->rate);
	if (strv_is(k, "pattern")) {
		o->random = strv_is(v, "random");
		return o->random || strv_is(v, "seq");
	}
	if (strv_is(k, "seed"))
		return strv_to_u64(v, &o->seed) == 0;
	if (strv_is(k, "verify"))
		return strv_to_u64(v, &o->verify_s) == 0;
	if (strv_is(k, "wss"))
		return strv_to_u64(v, &o->wss_mib) == 0;
	if (strv_is(k, "idle"))
		return strv_to_u64(v, &o->idle_ms) == 0;
	if (strv_is(k, "writes"))
		return strv_to_u64(v, &o->writes) == 0;
	if (strv_is(k, "pages")) {
		o->pages = v;
		return mc_parse_ranges(v);
	}
	if (strv_is(k, "repeat"))
		return mc_number_or(v, 0, &o->repeat);
	if (strv_is(k, "delay")) {
		o->delay_key = strv_is(v, "key");
		return o->delay_key || strv_to_u64(v, &o->delay_ms) == 0;
	}
	if (strv_is(k, "count"))
		return mc_number_or(v, 0, &o->count);
	if (strv_is(k, "addr"))
		return strv_to_u64(v, &o->addr) == 0 && o->addr < BOOT_MAPPED_TOP;
	if (strv_is(k, "mem"))
		return mc_number_or(v, 0, &o->mem_mib) && o->mem_mib < (BOOT_MAPPED_TOP >> 20);
	if (strv_is(k, "tsc_khz")) {
		o->tsc_pit = strv_is(v, "pit");
		return o->tsc_pit || mc_number_or(v, 0, &o->tsc_khz);
	}
	return false;
}

/* Parses the whole command line; on an error, writes it to err. */
static bool mc_parse(const char *cmdline, struct mc_opts *o, char *err, size_t err_size)
{
	const char *pos = cmdline;
	struct cmdline_word w;

	*o = (struct mc_opts){.mode = MC_RUN,
			      .rate = 1000,
			      .seed = 1,
			      .verify_s = 1,
			      .repeat = 1,
			      .delay_ms = 1000,
			      .count = 10000};
	while (cmdline_next(&pos, &w)) {
		if (!w.has_value)
			continue; /* the image path QEMU and GRUB put first */
		if (!mc_parse_word(&w, o)) {
			/* Point at the word: copy it, the line is not ours to cut. */
			char word[64];
			size_t n = w.key.len + 1 + w.value.len;

			if (n >= sizeof(word))
				n = sizeof(word) - 1;
			for (size_t i = 0; i < n; i++)
				word[i] = w.key.p[i];
			word[n] = '\0';
			fmt_snprintf(err, err_size,
				     "error: option '%s': unknown option or bad value (see "
				     "guest/README.md)",
				     word);
			return false;
		}
	}
	if (o->mode == MC_LIST && !o->pages.len) {
		fmt_snprintf(err, err_size, "error: mode=list: needs pages=<list>");
		return false;
	}
	return true;
}

static bool mc_layout(const struct boot_info *b, const struct mc_opts *o, struct mc_mem *m,
		      char *err, size_t err_size)
{
	uint64_t top = b->has_memory ? b->ram_top : o->mem_mib << 20;

	if (!top) {
		fmt_snprintf(err, err_size,
			     "error: memory size: the loader gave no mem_upper; pass mem=<MiB>");
		return false;
	}
	if (o->mem_mib && (o->mem_mib << 20) < top)
		top = o->mem_mib << 20;
	if (top > BOOT_MAPPED_TOP)
		top = BOOT_MAPPED_TOP;
	m->ram_end = b->has_memory ? b->ram_top : top;
	m->top = top >> PAGE_SHIFT;
	m->low_end = (b->low_top < LOW_RAM_END ? b->low_top : LOW_RAM_END) >> PAGE_SHIFT;
	m->reserved_first = b->data_start >> PAGE_SHIFT;
	m->free_first = b->image_end >> PAGE_SHIFT;
	if (m->top <= m->free_first) {
		fmt_snprintf(
			err, err_size,
			"error: memory size: %lu KiB leaves no room above the image (ends at %#lx)",
			(top >> 10), b->image_end);
		return false;
	}
	return true;
}

static void mc_tsc(const struct mc_opts *o, struct mc_mem *m)
{
	const char *source = "tsc_khz=";

	m->tsc_khz = o->tsc_khz;
	if (o->tsc_pit) {
		m->tsc_khz = tsc_khz_from_pit();
		source = "PIT channel 2";
	}
	if (!m->tsc_khz)
		m->tsc_khz = tsc_khz_from_cpuid(&source);
	if (!m->tsc_khz) {
		m->tsc_khz = MC_TSC_ASSUMED_KHZ;
		source = "assumed; set tsc_khz=<kHz> or tsc_khz=pit";
	}
	uart_printf("memcheck: tsc %lu kHz (%s)\n", m->tsc_khz, source);
}

void guest_main(const struct boot_info *b)
{
	struct mc_opts o;
	struct mc_mem m = {0};
	char parse_err[160], layout_err[160];
	bool parsed = mc_parse(b->cmdline, &o, parse_err, sizeof(parse_err));
	/* Laid out even after a bad option, so the banner shows the memory. */
	bool laid_out = mc_layout(b, &o, &m, layout_err, sizeof(layout_err));

	uart_printf("memcheck: start mem=%lu mode=%s\n", m.top >> 8,
		    parsed ? mc_mode_names[o.mode] : "?");
	uart_printf("memcheck: cmdline: %s%s\n", b->cmdline,
		    b->cmdline_truncated ? " (truncated)" : "");
	if (!parsed || !laid_out)
		mc_fail("%s", parsed ? layout_err : parse_err);
	mc_tsc(&o, &m);
	uart_printf("memcheck: reserved pages: %#lx-%#lx\n", m.reserved_first, m.free_first - 1);

	switch (o.mode) {
	case MC_RUN:
		mc_run(&o, &m);
		break;
	case MC_SELFTEST:
		mc_selftest(&o, &m);
		break;
	case MC_LIST:
		mc_list(&o, &m);
		break;
	case MC_TRIPLEFAULT:
		mc_triplefault();
		break;
	case MC_OUTSIDE:
		mc_outside(&o, &m);
		break;
	case MC_EXITS:
		mc_exits(&o, &m);
		break;
	}
	uart_printf("memcheck: done\n");
	cpu_halt_forever();
}
