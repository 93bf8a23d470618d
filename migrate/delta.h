/* Delta encoding of a page sent again (docs/migration-stream.md,
 * "PAGE_DELTA"): the runs of bytes that differ from the copy sent before,
 * as (unchanged run, new run, new bytes) pairs with ULEB128 lengths. Pure
 * functions over caller buffers: nothing is allocated, so the page loop
 * can call them. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "migrate/format.h"

/* Encode new against old (both MIG_PAGE_SIZE bytes) into out. Returns the
 * encoding's length (0: the pages are equal), or -E2BIG when it would be
 * longer than out_cap or MIG_DELTA_MAX: then the page is better sent
 * whole. */
int mig_delta_encode(const uint8_t *old, const uint8_t *new, uint8_t *out, size_t out_cap);

/* Whether enc is a well-formed encoding: 0, -EBADMSG (malformed: a run past
 * the page, cut short, not in the shortest form, trailing bytes) or -E2BIG
 * (longer than MIG_DELTA_MAX). Reads only enc[0 .. len). */
int mig_delta_check(const uint8_t *enc, size_t len);

/* Apply enc to the MIG_PAGE_SIZE bytes at page. The whole encoding is
 * checked first: on any error page is left untouched. */
int mig_delta_decode(uint8_t *page, const uint8_t *enc, size_t len);
