/* The main loop: everything is polled, nothing blocks. Subsystems add a
 * poll function that does bounded work and says whether it did any. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

typedef bool (*loop_poll_fn)(void);

/* Poll functions the loop holds, the console's included. */
#define LOOP_MAX 17

int loop_add(const char *name, loop_poll_fn fn);
/* Gives the poll `name` a function run at the end of every pass, after all
 * polls (before the loop may halt); its time counts as that poll's. For
 * work the polls batch up, such as a NIC's transmit tail. -ENOENT if no
 * such poll. */
typedef void (*loop_flush_fn)(void);
int loop_add_flush(const char *name, loop_flush_fn fn);
_Noreturn void loop_run(void);
/* Registers the optional subsystems (net, vm, migrate) present in this build. */
void subsystems_init(void);

/* The longest window loop_load() can look back over, in seconds. */
#define LOOP_LOAD_MAX_S 60

/* Where the host CPU's time went, in TSC cycles: idle is the time halted
 * with nothing to do, everything else (guest slices, exits, polling,
 * commands) is busy. */
struct loop_load {
	uint64_t window_cycles, window_idle; /* the last `seconds` (up to 1 s more) */
	uint64_t total_cycles, total_idle;   /* since the main loop started */
};

/* Fills *out for the last `seconds` (1..LOOP_LOAD_MAX_S): the loop samples
 * once a second, so the window is `seconds` to `seconds` + 1 long, or
 * shorter while the loop is younger than that. */
void loop_load(unsigned seconds, struct loop_load *out);

/* One poll function's share since the last loop_poll_stats(). */
struct loop_poll_stat {
	const char *name;
	uint64_t calls;
	uint64_t cycles;     /* TSC cycles inside it */
	uint64_t max_cycles; /* its longest single call */
};

/* Copies up to max entries (the console first, then the polls in the order
 * they were added) and starts a new window; *window_cycles is the window's
 * length, *longest_pass the longest loop pass in it (halts excluded).
 * Returns the number of entries. */
int loop_poll_stats(struct loop_poll_stat *out, int max, uint64_t *window_cycles,
		    uint64_t *longest_pass);

/* TSC cycles spent inside the poll function `name` since the loop started
 * (0 for an unknown name), and halted idle: never reset, so a caller takes
 * the difference over its own window (a migration's summary). */
uint64_t loop_poll_cycles(const char *name);
uint64_t loop_idle_cycles(void);
