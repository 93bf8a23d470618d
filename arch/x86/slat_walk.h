/* Second-level address translation written once for EPT and NPT (after
 * KVM's TDP MMU): the four-level walk, the table allocator, map/lookup/
 * destroy, and dirty logging (D-bit harvest, the software log PML and
 * write-protect fill, the write-protect fault). A format is only its bit
 * masks and its invalidation primitive:
 *   arch/x86/vmx/ept.c  EPT (SDM Vol. 3C 28.3), invalidation = INVEPT
 *   arch/x86/svm/npt.c  NPT (APM Vol. 2 15.25), invalidation = a TLB
 *                       generation svm.c turns into TLB_CONTROL at VMRUN
 * PML (the CPU's page-modification log) stays in vmx/: it only feeds
 * slat_log_mark() and slat_clear_dirty(). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "kernel/hv.h"

#define SLAT_LEVELS 4
#define SLAT_ENTRIES 512
#define SLAT_GPA_LIMIT (1ull << 48) /* what a four-level walk translates */
#define SLAT_HPA_LIMIT (1ull << 52) /* address bits 51:12 in both formats */

/* What differs between the two formats, bit for bit. A leaf is made of
 * read|write|exec|user|memtype; a table entry of read|write|exec|user
 * (non-leaf entries allow everything: the leaf decides). */
struct slat_format {
	const char *name;
	uint64_t present;  /* any of these set: the entry is present (EPT R|W|X; NPT P) */
	uint64_t read;	   /* EPT R; NPT P (a present entry is readable) */
	uint64_t write;	   /* W in both */
	uint64_t exec;	   /* EPT X; NPT none (NX clear) */
	uint64_t user;	   /* NPT U: the nested walk is a user access (APM 15.25.5); EPT none */
	uint64_t memtype;  /* leaf memory type: EPT WB (28.3.7); NPT none (PAT entry 0, WB) */
	uint64_t accessed; /* A */
	uint64_t dirty;	   /* D, leaves only */
	uint64_t large;	   /* page-size bit of a non-leaf entry: Tern never sets it */
	uint64_t addr;	   /* address bits of an entry */
	/* Whether the fault that reports a disallowed access has itself
	 * dropped the cached translations of that GPA (EPT: SDM 28.4.3.1;
	 * NPT: no, the ASID must be flushed). */
	bool fault_invalidates;
	/* Drops every cached translation made through s (its tables, this
	 * VM's tag) before the guest runs again. */
	void (*invalidate)(struct slat *s);
};

/* One VM's tables. Visible to the two backends and the host tests, not to
 * kernel/ (kernel/hv.h keeps it opaque). */
struct slat {
	const struct slat_format *fmt;
	uint64_t root;	  /* host-physical address of the top table (EPTP / N_CR3) */
	uint64_t gfn_end; /* one past the highest mapped guest page */
	uint64_t tlb_gen; /* NPT: bumped by its invalidate; svm.c flushes on a change */
	enum dirty_mode mode;
	uint64_t *log; /* PML, WP: a bit per guest page written since the last harvest */
	uint64_t log_words;
};

struct slat *slat_create(const struct slat_format *fmt);
/* 4 KiB leaves with every permission and the format's memory type,
 * write-protected while DIRTY_WP logging is on. -EINVAL for a misaligned
 * or empty range, -ERANGE beyond the walk, -EEXIST over a mapped page,
 * -ENOMEM (what is mapped stays; slat_destroy frees it). */
int slat_map(struct slat *s, uint64_t gpa, uint64_t hpa, uint64_t size);
/* Invalidates (a later owner of the root frame must not inherit cached
 * translations: SDM 28.4.1), then frees every table. Guest RAM is not
 * the slat's. */
void slat_destroy(struct slat *s);
/* Whether gpa is guest RAM (has a leaf). */
bool slat_mapped(struct slat *s, uint64_t gpa);
void slat_invalidate(struct slat *s);

/* Dirty logging (kernel/hv.h DIRTY_*). Start clears every D bit (or W for
 * DIRTY_WP) and invalidates: the first harvest reports only pages written
 * after it. The caller checks that the CPU supports m. */
int slat_dirty_start(struct slat *s, enum dirty_mode m);
/* Sets bit gfn in bitmap for each page written since the start or the
 * previous harvest (gfn < npages), and returns how many bits it set; the
 * clear-then-invalidate order is commented inside. -EINVAL when off. */
long slat_dirty_harvest(struct slat *s, uint64_t *bitmap, uint64_t npages);
void slat_dirty_stop(struct slat *s);

/* A fault (EPT violation, #NPF) at gpa for an access that needs the
 * permission bits `need` of the format. */
enum slat_fault {
	SLAT_FAULT_NOT_MAPPED, /* no RAM at this GPA: the kernel's to handle */
	SLAT_FAULT_LOGGED,     /* DIRTY_WP: the write is logged and W restored; resume */
	SLAT_FAULT_STALE,  /* the leaf allows the access: a stale translation, dropped; resume */
	SLAT_FAULT_DENIED, /* mapped, yet the access is not allowed (a Tern bug) */
};
enum slat_fault slat_fault(struct slat *s, uint64_t gpa, uint64_t need);

/* For a hardware log (PML): records gfn as written... */
void slat_log_mark(struct slat *s, uint64_t gfn);
/* ...and takes its D bit away with a locked test-and-clear; true if it was
 * set. The caller invalidates once afterwards, before the guest runs. */
bool slat_clear_dirty(struct slat *s, uint64_t gpa);
