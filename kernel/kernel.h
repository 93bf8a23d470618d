/* Facts about the running Tern image that several subsystems need. */
#pragma once
#include <stdint.h>

extern uint64_t kernel_image_base, kernel_image_end;
extern const char *kernel_image_file; /* file to resolve addresses against */
extern uint64_t kernel_mapped_top;   /* end of the identity map of RAM */
extern const char tern_version[], tern_git[], tern_build_date[];

_Noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Tern runs identity-mapped: a physical address is a pointer. The empty
 * asm hides the constant from the compiler, which would otherwise treat
 * low fixed addresses (BIOS data area) as null-pointer arithmetic. */
static inline void *phys_ptr(uint64_t pa)
{
	void *p;
	__asm__("" : "=r"(p) : "0"(pa));
	return p;
}
