/* A token bucket for log lines a guest can cause (refused MSRs, a virtio
 * driver breaking the rules, ...): each line takes a token; tokens come
 * back at LOG_LIMIT_RATE_MS each, up to LOG_LIMIT_BURST. The log and its
 * console echo are synchronous on a polled UART (about 5 ms a line), so
 * without this a guest could slow the host, and every other guest, by
 * making it log in a loop. What is held back is counted and reported with
 * the next line that passes. Pure: the caller passes the time. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define LOG_LIMIT_BURST 10
#define LOG_LIMIT_RATE_MS 1000

struct log_limit {
	uint64_t refill_ms; /* when the bucket was last topped up */
	uint32_t tokens;
	uint32_t suppressed; /* lines refused since the last one that passed */
	bool started;
};

/* Whether a line may be logged at now_ms. When it may, *held is how many
 * were suppressed before it (then reset to 0); otherwise the line is
 * counted as suppressed. A zeroed struct is a full bucket. */
bool log_limit_take(struct log_limit *l, uint64_t now_ms, uint32_t *held);
