/* memcheck: a guest that writes its memory in a way that can be checked,
 * to prove a hypervisor loses no write (dirty tracking, migration).
 * main.c parses the options and lays out memory; run.c, list.c, fault.c and
 * exits.c are the modes. Options and output lines: guest/README.md. */
#pragma once
#include "common/boot.h"
#include "common/cmdline.h"

#include <stdbool.h>
#include <stdint.h>

enum mc_mode { MC_RUN, MC_SELFTEST, MC_LIST, MC_TRIPLEFAULT, MC_OUTSIDE, MC_EXITS };

struct mc_opts {
	enum mc_mode mode;
	uint64_t rate; /* pages per second; 0 = as fast as possible */
	bool random;   /* pattern=random (else sequential) */
	uint64_t seed;
	uint64_t verify_s; /* seconds between verifications; 0 = never */
	uint64_t wss_mib;  /* working set written in run mode; 0 = all */
	uint64_t idle_ms;  /* run mode: rest after each sweep of the working set */
	uint64_t writes;   /* run mode stops after this many page writes; 0 = never */
	struct strv pages; /* list mode: the range list as given */
	uint64_t repeat;   /* list mode: passes */
	uint64_t delay_ms; /* list mode: pause between passes */
	bool delay_key;	   /* list mode: wait for a UART byte instead */
	uint64_t addr;	   /* outside mode; 0 = first byte past RAM */
	uint64_t count;	   /* exits mode: instructions timed per kind */
	uint64_t mem_mib;  /* upper limit of RAM used; 0 = all */
	uint64_t tsc_khz;  /* 0 = from CPUID */
	bool tsc_pit;
};

/* Guest-physical layout, in page numbers (gfn). */
struct mc_mem {
	uint64_t low_end;    /* [0, low_end): free RAM below 1 MiB */
	uint64_t free_first; /* [free_first, top): free RAM above the image */
	uint64_t top;
	/* [reserved_first, free_first): pages the guest writes for itself:
	 * variables, stack, page tables. */
	uint64_t reserved_first;
	uint64_t ram_end; /* first byte past RAM as the loader gave it */
	uint64_t tsc_khz;
};

static inline void *mc_page(uint64_t gfn)
{
	return (void *)(uintptr_t)(gfn << PAGE_SHIFT);
}

void mc_run(const struct mc_opts *o, const struct mc_mem *m);
void mc_selftest(const struct mc_opts *o, const struct mc_mem *m);
void mc_list(const struct mc_opts *o, const struct mc_mem *m);
void mc_triplefault(void);
void mc_outside(const struct mc_opts *o, const struct mc_mem *m);
void mc_exits(const struct mc_opts *o, const struct mc_mem *m);
/* Prints "memcheck: " then the message, then halts. */
void mc_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
