/* Console lines for the migration statistics. Integer arithmetic only:
 * the kernel prints these without touching the FPU. */
#include "migrate/stats.h"

#include <stdio.h>

/* A value in tenths as "12.3", into a small buffer. */
static const char *tenths(char *buf, size_t cap, uint64_t x10)
{
	snprintf(buf, cap, "%llu.%llu", (unsigned long long)(x10 / 10),
		 (unsigned long long)(x10 % 10));
	return buf;
}

static const char *ms(char *buf, size_t cap, uint64_t us)
{
	return tenths(buf, cap, (us + 50) / 100);
}

/* One bit per microsecond is one Mbit/s. */
static const char *mbit(char *buf, size_t cap, uint64_t bytes, uint64_t us)
{
	if (!us)
		return "-";
	return tenths(buf, cap, bytes * 80 / us);
}

/* Whole MiB, else KiB (a small guest's cache). */
static const char *size(char *buf, size_t cap, uint64_t bytes)
{
	if (bytes % (1024 * 1024))
		snprintf(buf, cap, "%llu KiB", (unsigned long long)(bytes >> 10));
	else
		snprintf(buf, cap, "%llu MiB", (unsigned long long)(bytes >> 20));
	return buf;
}

const char *mig_stats_result_name(enum mig_result r)
{
	switch (r) {
	case MIG_RUNNING:
		return "running";
	case MIG_DONE:
		return "completed";
	case MIG_FAILED:
		return "failed";
	case MIG_UNCERTAIN:
		return "uncertain";
	}
	return "unknown";
}

int mig_stats_header(char *buf, size_t cap, bool disk)
{
	return snprintf(buf, cap, "%6s%12s%12s%10s%13s%14s%12s%12s%s", "round", "sent pages",
			"zero pages", "round ms", "sent Mbit/s", "dirty Mbit/s", "left dirty",
			"throttle %", disk ? " sent blocks zero blocks" : "");
}

int mig_stats_row(const struct mig_round_row *row, char *buf, size_t cap)
{
	char t[24], s[24], d[24];

	int n = snprintf(buf, cap, "%5u%c%12llu%12llu%10s%13s%14s%12llu%12u", row->round,
			 row->final ? '*' : ' ', (unsigned long long)row->pages_sent,
			 (unsigned long long)row->pages_zero, ms(t, sizeof(t), row->elapsed_us),
			 mbit(s, sizeof(s), row->bytes, row->elapsed_us),
			 mbit(d, sizeof(d), row->pages_dirtied * 4096, row->elapsed_us),
			 (unsigned long long)row->pages_left, row->throttle_pct);
	if (row->disk && n >= 0 && (size_t)n < cap)
		n += snprintf(buf + n, cap - (size_t)n, "%12llu%12llu",
			      (unsigned long long)row->blocks_sent,
			      (unsigned long long)row->blocks_zero);
	return n;
}

int mig_stats_summary(const struct mig_summary *s, char *buf, size_t cap)
{
	char a[24], b[24], c[24], d[24];
	int n;
	size_t at;

#define ADD(...)                                                                                   \
	do {                                                                                       \
		at = (size_t)n < cap ? (size_t)n : cap;                                            \
		n += snprintf(buf + at, cap - at, __VA_ARGS__);                                    \
	} while (0)

	n = 0;
	switch (s->result) {
	case MIG_DONE:
		ADD("result:       completed, guest running on the destination\n");
		break;
	case MIG_FAILED:
		ADD("result:       failed: %s; guest running on this host\n", s->reason);
		break;
	case MIG_UNCERTAIN:
		ADD("result:       uncertain: %s; guest paused on this host\n", s->reason);
		break;
	case MIG_RUNNING:
		ADD("result:       still running\n");
		break;
	}
	ADD("total time:   %s ms\n", ms(a, sizeof(a), s->total_us));
	if (s->downtime_known)
		ADD("downtime:     %s ms (source %s + destination %s; at most %s ms)\n",
		    ms(a, sizeof(a), s->downtime_src_us + s->downtime_dst_us),
		    ms(b, sizeof(b), s->downtime_src_us), ms(c, sizeof(c), s->downtime_dst_us),
		    ms(d, sizeof(d), s->downtime_max_us));
	else
		ADD("downtime:     -\n");
	if (s->frames_held)
		ADD("held frames:  %u for the guest after its device state, given to it there\n",
		    s->frames_held);
	ADD("setup time:   %s ms\n", ms(a, sizeof(a), s->setup_us));
	ADD("on the wire:  %llu bytes (%s MiB)\n", (unsigned long long)s->bytes,
	    tenths(a, sizeof(a), s->bytes * 10 / (1024 * 1024)));
	uint64_t x100 = s->ram_pages ? s->pages_sent * 100 / s->ram_pages : 0;
	ADD("pages sent:   %llu (%llu.%02llu x guest RAM of %llu pages)\n",
	    (unsigned long long)s->pages_sent, (unsigned long long)(x100 / 100),
	    (unsigned long long)(x100 % 100), (unsigned long long)s->ram_pages);
	ADD("zero pages:   %llu\n", (unsigned long long)s->pages_zero);
	if (s->disk_blocks) {
		x100 = (s->blocks_sent + s->blocks_zero) * 100 / s->disk_blocks;
		ADD("disk blocks:  %llu sent (%s MiB) + %llu zero (%llu.%02llu x the disk of %llu "
		    "blocks)\n",
		    (unsigned long long)s->blocks_sent,
		    tenths(a, sizeof(a), s->blocks_sent * 10 * MIG_DISK_BLOCK / (1024 * 1024)),
		    (unsigned long long)s->blocks_zero, (unsigned long long)(x100 / 100),
		    (unsigned long long)(x100 % 100), (unsigned long long)s->disk_blocks);
		if (s->bitmaps)
			ADD("disk bitmaps: %u sent with the disk\n", s->bitmaps);
	}
	if (s->delta == MIG_DELTA_ON)
		ADD("delta pages:  %llu (cache %s, %s MiB saved)\n",
		    (unsigned long long)s->pages_delta, size(a, sizeof(a), s->delta_cache_bytes),
		    tenths(b, sizeof(b), s->delta_saved * 10 / (1024 * 1024)));
	else if (s->delta == MIG_DELTA_NO_MEMORY)
		ADD("delta pages:  0 (off: no memory for the cache)\n");
	else if (s->delta == MIG_DELTA_PEER)
		ADD("delta pages:  0 (off: the destination does not take deltas)\n");
	ADD("rounds:       %u\n", s->rounds);
	if (s->throttle_max_pct)
		ADD("throttled:    up to %u %% of the guest's CPU (auto-converge)\n",
		    s->throttle_max_pct);
	ADD("stopped:      %s\n",
	    s->stop == MIG_STOP_CONTINUE ? "before the last round" : mig_policy_reason(s->stop));
	ADD("time in:      dirty log %s ms, pages %s ms, transport %s ms\n",
	    ms(a, sizeof(a), s->harvest_us), ms(b, sizeof(b), s->pages_us),
	    ms(c, sizeof(c), s->send_us));
#undef ADD
	return n;
}

int mig_stats_incoming(const struct mig_incoming_summary *s, char *buf, size_t cap)
{
	char a[24], b[24], c[24];

	if (s->result != MIG_DONE)
		return snprintf(buf, cap, "incoming %s: failed: %s; nothing kept",
				s->name[0] ? s->name : "guest", s->reason);
	char d[24], e[24], disk[80] = "";
	if (s->blocks_sent || s->blocks_zero)
		snprintf(disk, sizeof(disk), ", disk %llu blocks + %llu zero",
			 (unsigned long long)s->blocks_sent, (unsigned long long)s->blocks_zero);
	return snprintf(buf, cap,
			"incoming %s: completed in %s ms, %llu pages + %llu zero%s, %s MiB, %u "
			"rounds, resumed %s ms after the last byte\n"
			"time in:      transport %s ms, pages %s ms",
			s->name, ms(a, sizeof(a), s->total_us), (unsigned long long)s->pages_sent,
			(unsigned long long)s->pages_zero, disk,
			tenths(b, sizeof(b), s->bytes * 10 / (1024 * 1024)), s->rounds,
			ms(c, sizeof(c), s->resume_us), ms(d, sizeof(d), s->recv_us),
			ms(e, sizeof(e), s->pages_us));
}
