/* A fake NVMe controller for host tests of drivers/nvme.c, and the stubs
 * the driver links against (PCI, paging, frames, time).
 *
 * The controller lives in memory: its register page is the "BAR", the
 * driver's queues and buffers are ordinary host memory. It acts whenever
 * the driver looks at the clock (time_ns, udelay), as if it ran beside the
 * CPU: it follows CC.EN, takes commands off the submission queues up to
 * their tail doorbells, moves data through the PRPs and posts completions
 * with the phase tag. Each look advances the fake clock by 10 us, so a
 * command it never completes times out in fake time, at once. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define FAKE_NVME_BAR_BYTES 0x2000

struct fake_nvme {
	uint8_t *bar; /* FAKE_NVME_BAR_BYTES, page aligned */
	uint64_t cap;

	/* namespace 1 */
	uint8_t *disk;
	uint64_t blocks;
	uint32_t lbads; /* log2 of the block size */
	uint16_t ms;	/* metadata bytes per block in the format in use */
	uint8_t mdts;	/* Identify Controller MDTS */
	bool no_write_zeroes; /* ONCS without Write Zeroes */

	/* behaviour on demand, for the next I/O command */
	bool swallow_io;    /* take it, never complete it */
	bool fatal_io;	    /* take it, set CSTS.CFS, never complete it */
	uint16_t status_io; /* complete it with this status (SCT << 8 | SC) */
	bool never_ready;   /* CSTS.RDY never follows CC.EN = 1 */

	/* what happened */
	unsigned enables, disables;
	unsigned io_commands, prp_lists, max_prp_entries;
	uint32_t last_nlb; /* blocks of the last read or write */
	unsigned write_zeroes; /* Write Zeroes commands done */

	/* controller state */
	bool enabled;
	struct {
		uint64_t base;
		uint16_t size, head;
		uint16_t cqid;
		bool live;
	} sq[2];
	struct {
		uint64_t base;
		uint16_t size, tail;
		uint16_t phase;
		bool live;
	} cq[2];
};

extern struct fake_nvme fake;
extern uint64_t fake_clock_ns;

/* A fresh controller with `blocks` blocks of 2^lbads bytes, the only
 * function on the fake PCI bus (class 01/08/02). */
void fake_nvme_reset(uint64_t blocks, uint32_t lbads);
void fake_nvme_free(void);
