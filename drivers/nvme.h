/* NVMe driver (drivers/nvme.c): QEMU's `-device nvme` and real NVMe
 * controllers (PCI class 01/08/02). Polled, no interrupts: one admin queue
 * pair and one I/O queue pair, one command in flight, namespace 1 served
 * as a struct blkdev (drivers/blkdev.h). */
#pragma once
#include "drivers/blkdev.h"

/* The index-th NVMe controller on the PCI bus (0 = first), brought up:
 * reset, queues created, namespace 1 identified. NULL when there is no
 * such controller; NULL with *err set (negative errno) when one was found
 * but could not be brought up (the reason is logged). err may be NULL. */
struct blkdev *nvme_probe(unsigned index, int *err);

/* What `disk list` shows of the controller behind a blkdev from
 * nvme_probe: "QEMU NVMe Ctrl, serial tern-1, fw 7.2.0, 00:03.0". */
void nvme_describe(const struct blkdev *d, char *out, unsigned size);
