/* The content of a memcheck page, a pure function of (gfn, generation, seed)
 * so a page can be checked with or without the table:
 *   word 0      gfn
 *   word 1      generation (>= 1; 0 never written)
 *   word i>=2   base ^ (i * 0x9E3779B97F4A7C15),
 *               base = mix(mix(mix(gen) ^ gfn) ^ seed), mix = splitmix64's finalizer
 * and its checksum is FNV-1a-64 over the 512 little-endian words (each word
 * XORed whole, then multiplied by the FNV prime). tests/integration checks
 * pages against this same description. */
#pragma once
#include <stdint.h>

#define PAGE_WORDS 512

struct page_check {
	uint64_t sum;	    /* checksum of what the page holds */
	unsigned bad_words; /* words that differ from the expected content */
	unsigned first_bad; /* index of the first one (PAGE_WORDS if none) */
};

/* Writes the page for (gfn, gen) and returns its checksum. */
uint64_t page_fill(uint64_t *page, uint64_t gfn, uint64_t gen, uint64_t seed);
/* Compares the page with the content for (gfn, gen). */
void page_check(const uint64_t *page, uint64_t gfn, uint64_t gen, uint64_t seed,
		struct page_check *out);
/* After a failed check: what the page holds instead, one word from
 * "stale" (intact, older generation: a lost write), "ahead" (intact, newer
 * than the table: the table lost a write), "sum" (content right, table
 * checksum wrong), "zero" (all zero) or "corrupt" (no generation: torn
 * or overwritten). */
const char *page_diagnose(const uint64_t *page, uint64_t gfn, uint64_t gen, uint64_t seed);
