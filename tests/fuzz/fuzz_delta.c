/* libFuzzer target: the PAGE_DELTA decoder fed hostile encodings. It must
 * never touch memory outside the page or read past the input (ASan),
 * must agree with mig_delta_check, must leave the page untouched when it
 * refuses, and what it accepts must survive the encoder: encoding the
 * decoded page against the old one decodes to the same page again. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/delta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Heap pages, so ASan sees a write one byte outside either. */
	uint8_t *old = malloc(MIG_PAGE_SIZE), *page = malloc(MIG_PAGE_SIZE);
	uint8_t *again = malloc(MIG_PAGE_SIZE), enc[MIG_DELTA_MAX];

	if (!old || !page || !again)
		abort();
	for (unsigned i = 0; i < MIG_PAGE_SIZE; i++)
		old[i] = (uint8_t)(i % 251 < 64 ? 0 : i * 7);
	memcpy(page, old, MIG_PAGE_SIZE);

	int checked = mig_delta_check(data, size);
	int ret = mig_delta_decode(page, data, size);
	if (ret != checked || (ret && ret != -EBADMSG && ret != -E2BIG))
		__builtin_trap();
	if (ret && memcmp(page, old, MIG_PAGE_SIZE))
		__builtin_trap();
	if (!ret) {
		int n = mig_delta_encode(old, page, enc, sizeof(enc));
		if (n == -E2BIG)
			goto out;
		memcpy(again, old, MIG_PAGE_SIZE);
		if (n < 0 || mig_delta_decode(again, enc, (size_t)n) ||
		    memcmp(again, page, MIG_PAGE_SIZE))
			__builtin_trap();
	}
out:
	free(old);
	free(page);
	free(again);
	return 0;
}
