/* Command-line words: `key=value` separated by spaces. Words without '='
 * (QEMU and GRUB put the image path first) have an empty value and
 * has_value false. Values are slices of the command line, not copies. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strv {
	const char *p;
	size_t len;
};

struct cmdline_word {
	struct strv key, value;
	bool has_value;
};

/* Steps *pos over the next word; false when none is left. */
bool cmdline_next(const char **pos, struct cmdline_word *w);
bool strv_is(struct strv s, const char *lit);
/* Decimal or 0x-hex, the whole slice, no overflow; 0 or -1. */
int strv_to_u64(struct strv s, uint64_t *out);
/* "52:54:00:12:34:56", the whole slice; false if it is not one. */
bool strv_to_mac(struct strv s, uint8_t mac[6]);

/* A range list "a,b-c,d": items are numbers (strv_to_u64) or inclusive
 * ranges first-last with first <= last. */
struct range_iter {
	struct strv rest;
};

static inline struct range_iter range_iter_start(struct strv list)
{
	return (struct range_iter){.rest = list};
}

/* 1 with first and last set, 0 at the end, -1 on a malformed item. */
int range_next(struct range_iter *it, uint64_t *first, uint64_t *last);
