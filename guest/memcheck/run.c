/* mode=run and mode=selftest. Every data page holds the content of its
 * current generation (page.h); a table in guest memory right after the image
 * keeps, per page, the generation and checksum last written. Both move with
 * the guest in a migration, so after one the table still describes the
 * pages and generations simply continue. */
#include "memcheck.h"
#include "page.h"
#include "common/cpu.h"
#include "common/fmt.h"
#include "common/uart.h"

#define MC_REPORT_MAX 32  /* MISMATCH lines per verification pass */
#define MC_CATCHUP_DIV 10 /* a late writer catches up at most 1/10 s of writes */

struct mc_entry {
	uint64_t gen, sum;
};

struct mc_run {
	const struct mc_opts *o;
	struct mc_entry *table;
	uint64_t first;	 /* gfn of data page 0 */
	uint64_t pages;	 /* data pages, all verified */
	uint64_t hot;	 /* data pages [0, hot) are written after initialisation */
	uint64_t writes; /* page writes since boot, initialisation included */
	uint64_t errors; /* mismatching pages found since boot */
	uint64_t rng;
};

static void run_write(struct mc_run *r, uint64_t i)
{
	struct mc_entry *e = &r->table[i];
	uint64_t gen = e->gen + 1;

	e->sum = page_fill(mc_page(r->first + i), r->first + i, gen, r->o->seed);
	e->gen = gen;
	r->writes++;
}

/* Table first, then the data pages; n + ceil(n / per_page) <= free pages. */
static void run_setup(struct mc_run *r, const struct mc_opts *o, const struct mc_mem *m)
{
	const uint64_t per_page = PAGE_SIZE / sizeof(struct mc_entry);
	uint64_t avail = m->top - m->free_first;
	uint64_t n = avail * per_page / (per_page + 1);

	while (n + (n + per_page - 1) / per_page > avail)
		n--;
	if (!n)
		mc_fail("error: memory size: no room for data pages");

	uint64_t table_pages = (n + per_page - 1) / per_page;
	uint64_t wss = o->wss_mib << (20 - PAGE_SHIFT);
	char rate[24];

	*r = (struct mc_run){
		.o = o,
		.table = mc_page(m->free_first),
		.first = m->free_first + table_pages,
		.pages = n,
		.hot = wss && wss < n ? wss : n,
		.rng = (o->seed * 0x9E3779B97F4A7C15ull) | 1,
	};
	if (o->rate)
		fmt_snprintf(rate, sizeof(rate), "%lu", o->rate);
	else
		fmt_snprintf(rate, sizeof(rate), "max");
	uart_printf("memcheck: run pages=%lu data=%#lx-%#lx table=%#lx-%#lx wss=%lu rate=%s "
		    "pattern=%s verify=%lus seed=%lu idle=%lums\n",
		    n, r->first, r->first + n - 1, m->free_first, r->first - 1, r->hot, rate,
		    o->random ? "random" : "seq", o->verify_s, o->seed, o->idle_ms);

	for (uint64_t i = 0; i < n; i++) {
		r->table[i].gen = 0;
		run_write(r, i);
	}
	uart_printf("memcheck: initialised %lu pages\n", n);
}

static void run_report(struct mc_run *r, uint64_t i, const struct page_check *c)
{
	const uint64_t *p = mc_page(r->first + i);
	const struct mc_entry *e = &r->table[i];

	uart_printf("memcheck: MISMATCH page=%#lx expected=%lu:%#018lx got=%lu:%#018lx kind=%s "
		    "bad_words=%u first_bad=%u\n",
		    r->first + i, e->gen, e->sum, p[1], c->sum,
		    page_diagnose(p, r->first + i, e->gen, r->o->seed), c->bad_words, c->first_bad);
}

/* Checks every data page against the table. A bad page is reported, then
 * rewritten with the next generation, so one loss is reported once. */
static void run_verify(struct mc_run *r)
{
	uint64_t bad = 0;

	for (uint64_t i = 0; i < r->pages; i++) {
		struct page_check c;

		page_check(mc_page(r->first + i), r->first + i, r->table[i].gen, r->o->seed, &c);
		if (!c.bad_words && c.sum == r->table[i].sum)
			continue;
		r->errors++;
		if (bad++ < MC_REPORT_MAX)
			run_report(r, i, &c);
		run_write(r, i);
	}
	if (bad > MC_REPORT_MAX)
		uart_printf("memcheck: MISMATCH %lu more pages not shown\n", bad - MC_REPORT_MAX);
	uart_printf("memcheck: gen=%lu verified=%lu errors=%lu\n", r->writes, r->pages, r->errors);
}

/* xorshift64* (Vigna 2016). */
static uint64_t run_random(struct mc_run *r)
{
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return r->rng * 0x2545F4914F6CDD1Dull;
}

void mc_run(const struct mc_opts *o, const struct mc_mem *m)
{
	struct mc_run r;
	const uint64_t hz = m->tsc_khz * 1000;
	const uint64_t interval = o->rate ? hz / o->rate : 0;
	const uint64_t period = o->verify_s * hz;
	const uint64_t slack = hz / MC_CATCHUP_DIV;
	const uint64_t rest = o->idle_ms * (hz / 1000);
	uint64_t seq = 0, swept = 0, rest_until = 0;

	run_setup(&r, o, m);

	uint64_t now = rdtsc(), last = now, next = now, due = now + period;

	for (;;) {
		now = rdtsc();
		if (now < last) {
			/* A hypervisor that moved or restored the guest gave it
			 * a TSC that runs backwards: say so, then carry on. */
			uart_printf("memcheck: warning: TSC went back by %lu cycles\n", last - now);
			next = now;
			due = now + period;
		}
		last = now;
		if (o->writes && r.writes >= o->writes) {
			run_verify(&r);
			return;
		}
		if (period && now >= due) {
			run_verify(&r);
			last = now = rdtsc();
			due = now + period;
			continue;
		}
		if (now < rest_until) {
			cpu_relax();
			continue;
		}
		if (interval) {
			if (now < next) {
				cpu_relax();
				continue;
			}
			next = now - next > slack ? now + interval : next + interval;
		}
		if (o->random) {
			run_write(&r, run_random(&r) % r.hot);
		} else {
			run_write(&r, seq);
			seq = seq + 1 < r.hot ? seq + 1 : 0;
		}
		/* idle=: a burst writer, a sweep over the working set and
		 * then a rest, so the dirty rate comes in bursts. */
		if (rest && ++swept == r.hot) {
			swept = 0;
			rest_until = rdtsc() + rest;
		}
	}
}

/* Damages three pages behind the table's back, the ways a hypervisor could:
 * a torn copy (second half from the previous generation), a lost write (the
 * whole previous generation) and a page never copied (zero). Verification
 * must name exactly these three, and after its repair find nothing. */
void mc_selftest(const struct mc_opts *o, const struct mc_mem *m)
{
	static uint64_t old[PAGE_WORDS];
	static const char *const damage[] = {"corrupt", "stale", "zero"};
	struct mc_run r;

	run_setup(&r, o, m);
	if (r.pages < 4)
		mc_fail("error: mode=selftest: needs at least 4 data pages, has %lu", r.pages);

	for (unsigned d = 0; d < 3; d++) {
		uint64_t i = r.pages * (d + 1) / 4;
		uint64_t gfn = r.first + i;
		uint64_t *p = mc_page(gfn);

		run_write(&r, i); /* generation 2, so generation 1 is "older" */
		page_fill(old, gfn, r.table[i].gen - 1, o->seed);
		if (d == 0) {
			for (unsigned w = PAGE_WORDS / 2; w < PAGE_WORDS; w++)
				p[w] = old[w];
		} else if (d == 1) {
			for (unsigned w = 0; w < PAGE_WORDS; w++)
				p[w] = old[w];
		} else {
			for (unsigned w = 0; w < PAGE_WORDS; w++)
				p[w] = 0;
		}
		uart_printf("memcheck: selftest page=%#lx damage=%s\n", gfn, damage[d]);
	}
	run_verify(&r);

	uint64_t found = r.errors;

	run_verify(&r);
	if (found == 3 && r.errors == 3)
		uart_printf("memcheck: selftest passed\n");
	else
		uart_printf("memcheck: selftest FAILED: first pass found %lu bad pages, second "
			    "%lu, want 3 and 0\n",
			    found, r.errors - found);
}
