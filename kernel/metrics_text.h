/* The Prometheus text exposition format (version 0.0.4): a writer of
 * metric families and samples into a fixed buffer. Host-tested
 * (tests/unit/kernel/test_metrics_text.c); kernel/metrics.c fills it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct metrics_text {
	char *buf;
	size_t cap, len;
	bool truncated; /* something did not fit: the text is cut at a line's end */
};

void mt_init(struct metrics_text *t, char *buf, size_t cap);
/* "# HELP" and "# TYPE" lines; type is "counter" or "gauge". */
void mt_family(struct metrics_text *t, const char *name, const char *type, const char *help);
/* One sample line. labels: name, value, name, value, ..., NULL (or NULL
 * for none); values are escaped as the format requires. */
void mt_sample(struct metrics_text *t, const char *name, const char *const *labels, uint64_t value);
/* The same for a value in millionths, printed as a decimal (seconds from
 * microseconds). */
void mt_sample_micro(struct metrics_text *t, const char *name, const char *const *labels,
		     uint64_t millionths);
