/* mode=list: write exactly the pages named by pages=, print them, halt.
 * For dirty-tracking tests: the hypervisor's harvest must hold every listed
 * page; any other page in it must be one of the reserved pages. With
 * repeat=N the same pages are written N times (generation = pass number),
 * with delay= between passes, so a page written again after a harvest can
 * be checked for. */
#include "memcheck.h"
#include "page.h"
#include "common/cpu.h"
#include "common/tsc.h"
#include "common/uart.h"

static bool list_page_is_free(const struct mc_mem *m, uint64_t gfn)
{
	return gfn < m->low_end || (gfn >= m->free_first && gfn < m->top);
}

/* Checks every page before any is written: an error writes nothing. */
static uint64_t list_validate(const struct mc_opts *o, const struct mc_mem *m)
{
	struct range_iter it = range_iter_start(o->pages);
	uint64_t first, last, n = 0;

	while (range_next(&it, &first, &last) > 0) {
		for (uint64_t gfn = first; gfn <= last; gfn++) {
			if (!list_page_is_free(m, gfn))
				mc_fail("error: pages=: page %#lx is not free guest RAM (free: "
					"%#lx-%#lx and %#lx-%#lx)",
					gfn, 0ul, m->low_end - 1, m->free_first, m->top - 1);
		}
		n += last - first + 1;
	}
	return n;
}

static void list_write(const struct mc_opts *o, uint64_t gen)
{
	struct range_iter it = range_iter_start(o->pages);
	uint64_t first, last;

	while (range_next(&it, &first, &last) > 0)
		for (uint64_t gfn = first; gfn <= last; gfn++)
			page_fill(mc_page(gfn), gfn, gen, o->seed);
}

/* The list as given, each item in hex: "0x400,0x800-0x803". */
static void list_print(struct strv pages)
{
	struct range_iter it = range_iter_start(pages);
	uint64_t first, last;
	const char *sep = "";

	while (range_next(&it, &first, &last) > 0) {
		if (first == last)
			uart_printf("%s%#lx", sep, first);
		else
			uart_printf("%s%#lx-%#lx", sep, first, last);
		sep = ",";
	}
}

static void list_wait(const struct mc_opts *o, const struct mc_mem *m, uint64_t pass)
{
	char c;

	if (!o->delay_key) {
		tsc_delay_ms(m->tsc_khz, o->delay_ms);
		return;
	}
	uart_printf("memcheck: waiting for a key before pass %lu\n", pass);
	while (!uart_try_getc(&c))
		cpu_relax();
}

void mc_list(const struct mc_opts *o, const struct mc_mem *m)
{
	uint64_t n = list_validate(o, m);

	for (uint64_t pass = 1; pass <= o->repeat; pass++) {
		if (pass > 1)
			list_wait(o, m, pass);
		list_write(o, pass);
		uart_printf("memcheck: wrote %lu pages: ", n);
		list_print(o->pages);
		uart_printf("\n");
	}
}
