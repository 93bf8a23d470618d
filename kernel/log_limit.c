/* The token bucket behind log_guest() (see log_limit.h). */
#include "kernel/log_limit.h"

bool log_limit_take(struct log_limit *l, uint64_t now_ms, uint32_t *held)
{
	if (!l->started) {
		l->started = true;
		l->tokens = LOG_LIMIT_BURST;
		l->refill_ms = now_ms;
	}
	if (now_ms > l->refill_ms) {
		uint64_t n = (now_ms - l->refill_ms) / LOG_LIMIT_RATE_MS;
		if (n >= LOG_LIMIT_BURST - l->tokens) {
			l->tokens = LOG_LIMIT_BURST;
			l->refill_ms = now_ms;
		} else {
			l->tokens += (uint32_t)n;
			l->refill_ms += n * LOG_LIMIT_RATE_MS;
		}
	}
	if (!l->tokens) {
		l->suppressed++;
		return false;
	}
	l->tokens--;
	*held = l->suppressed;
	l->suppressed = 0;
	return true;
}
