/* The kernel heap: newlib's malloc over one contiguous run of frames,
 * grown through _sbrk. */
#pragma once
#include <stddef.h>
#include <stdint.h>

int heap_init(size_t bytes);
void heap_stats(uint64_t *size, uint64_t *used);
