/* Page content, checksum and diagnosis; the format is in page.h. */
#include "page.h"
#include "common/cpu.h"

#define GOLDEN 0x9E3779B97F4A7C15ull
#define FNV_OFFSET 0xCBF29CE484222325ull
#define FNV_PRIME 0x100000001B3ull

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 27;
	x *= 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

static uint64_t page_word(uint64_t base, uint64_t gfn, uint64_t gen, unsigned i)
{
	if (i == 0)
		return gfn;
	if (i == 1)
		return gen;
	return base ^ (i * GOLDEN);
}

static uint64_t page_base(uint64_t gfn, uint64_t gen, uint64_t seed)
{
	return mix64(mix64(mix64(gen) ^ gfn) ^ seed);
}

uint64_t page_fill(uint64_t *page, uint64_t gfn, uint64_t gen, uint64_t seed)
{
	uint64_t base = page_base(gfn, gen, seed);
	uint64_t sum = FNV_OFFSET;

	for (unsigned i = 0; i < PAGE_WORDS; i++) {
		uint64_t w = page_word(base, gfn, gen, i);

		page[i] = w;
		sum = (sum ^ w) * FNV_PRIME;
	}
	return sum;
}

void page_check(const uint64_t *page, uint64_t gfn, uint64_t gen, uint64_t seed,
		struct page_check *out)
{
	uint64_t base = page_base(gfn, gen, seed);
	uint64_t sum = FNV_OFFSET;

	/* The page may have changed behind the compiler's back (a hypervisor
	 * copying it, or the self-test): read memory, not what was written. */
	compiler_barrier();
	out->bad_words = 0;
	out->first_bad = PAGE_WORDS;
	for (unsigned i = 0; i < PAGE_WORDS; i++) {
		uint64_t w = page[i];

		sum = (sum ^ w) * FNV_PRIME;
		if (w != page_word(base, gfn, gen, i) && out->bad_words++ == 0)
			out->first_bad = i;
	}
	out->sum = sum;
}

const char *page_diagnose(const uint64_t *page, uint64_t gfn, uint64_t gen, uint64_t seed)
{
	unsigned nonzero = 0;

	for (unsigned i = 0; i < PAGE_WORDS; i++)
		nonzero += page[i] != 0;
	if (!nonzero)
		return "zero";

	uint64_t held = page[1];
	struct page_check c;

	if (page[0] != gfn || held == 0)
		return "corrupt";
	page_check(page, gfn, held, seed, &c);
	if (c.bad_words)
		return "corrupt";
	return held < gen ? "stale" : held > gen ? "ahead" : "sum";
}
