/*
 * memverify: fills N MiB with per-page patterns and verifies them in
 * passes, to catch a page that a hypervisor (live migration, NPT/EPT
 * changes) loses, tears or maps twice. Line formats: guest/linux/README.md.
 *
 * Word i of page p in generation g holds
 *     (p << 32) | ((g & 0xffff) << 16) | i
 * so a stale page (old generation), a page copied to the wrong place
 * (other page index) or a torn page (mixed words) each show as a
 * mismatch naming the page and both words.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_ERROR_LINES 16 /* per pass: a lost range must not flood a console */

static uint64_t pattern(uint64_t page, uint64_t gen, uint64_t word)
{
	return (page << 32) | ((gen & 0xffff) << 16) | word;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: memverify [-m MIB] [-t SECONDS] [-n PASSES] [-x]\n"
			"  -m MIB      memory to fill (default 64)\n"
			"  -t SECONDS  stop after this long (default: never)\n"
			"  -n PASSES   stop after this many verify passes\n"
			"  -x          test only: corrupt one word after the first pass\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long mib = 64, seconds = 0, max_passes = 0;
	int corrupt = 0, opt;

	while ((opt = getopt(argc, argv, "m:t:n:x")) != -1) {
		switch (opt) {
		case 'm': mib = strtoul(optarg, NULL, 0); break;
		case 't': seconds = strtoul(optarg, NULL, 0); break;
		case 'n': max_passes = strtoul(optarg, NULL, 0); break;
		case 'x': corrupt = 1; break;
		default: usage();
		}
	}
	if (mib == 0 || optind != argc)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	size_t psize = (size_t)sysconf(_SC_PAGESIZE);
	size_t words = psize / sizeof(uint64_t);
	size_t pages = (mib << 20) / psize;
	void *mem = mmap(NULL, pages * psize, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED) {
		printf("memverify: error: mmap %lu MiB failed\n", mib);
		return 2;
	}
	/* volatile: every pass must really read and write the memory. */
	volatile uint64_t *m = mem;

	for (size_t p = 0; p < pages; p++)
		for (size_t i = 0; i < words; i++)
			m[p * words + i] = pattern(p, 0, i);
	printf("memverify: start pages %zu mib %lu page_size %zu\n", pages, mib, psize);

	double t0 = now();
	unsigned long pass = 0, total_errors = 0;
	for (;;) {
		unsigned long errors = 0;
		pass++;
		for (size_t p = 0; p < pages; p++) {
			volatile uint64_t *w = m + p * words;
			for (size_t i = 0; i < words; i++) {
				uint64_t want = pattern(p, pass - 1, i), got = w[i];
				if (got != want) {
					if (errors < MAX_ERROR_LINES)
						printf("memverify: error pass %lu page %zu word %zu expected 0x%016llx actual 0x%016llx\n",
						       pass, p, i, (unsigned long long)want,
						       (unsigned long long)got);
					errors++;
				}
				w[i] = pattern(p, pass, i);
			}
		}
		total_errors += errors;
		printf("memverify: pass %lu pages %zu errors %lu\n", pass, pages, errors);
		if (corrupt && pass == 1)
			m[(pages / 2) * words + 7] ^= 1ull << 40;
		if (max_passes && pass >= max_passes)
			break;
		if (seconds && now() - t0 >= (double)seconds)
			break;
	}
	printf("memverify: done passes %lu pages %zu errors %lu\n", pass, pages, total_errors);
	return total_errors ? 1 : 0;
}
