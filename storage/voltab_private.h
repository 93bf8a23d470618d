/* What voltab.c shares with the files that add to the table's operations
 * (voltab_clone.c): entering a new volume. Private to storage/voltab*.c. */
#pragma once
#include "storage/voltab.h"

/* Enters v (name, size, and for a clone flags, parent and map_bytes set)
 * first-fit as a new volume of voltab_extent_bytes(v), and writes the
 * table. prepare, if any, runs once v's place (start_lba) is known and
 * before the table names it; its error leaves nothing. 0 and *out, or
 * voltab_create's errors. */
int voltab_add(struct voltab *t, struct voltab_volume *v,
	       int (*prepare)(struct voltab *t, const struct voltab_volume *v), uint64_t now_ns,
	       const struct voltab_volume **out);
