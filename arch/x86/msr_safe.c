#include <errno.h>
#include "arch/x86/asm.h"

volatile uint64_t fixup_fault_rip, fixup_resume_rip;

int rdmsr_safe(uint32_t msr, uint64_t *val)
{
	uint32_t lo = 0, hi = 0;
	int failed = 0;

	__asm__ volatile("leaq 1f(%%rip), %%r8\n\t"
			 "leaq 2f(%%rip), %%r9\n\t"
			 "movq %%r9, %[resume]\n\t"
			 "movq %%r8, %[fault]\n"
			 "1:\trdmsr\n\t"
			 "jmp 3f\n"
			 "2:\tmovl $1, %[failed]\n"
			 "3:"
			 : "=a"(lo), "=d"(hi), [failed] "+r"(failed), [fault] "=m"(fixup_fault_rip),
			   [resume] "=m"(fixup_resume_rip)
			 : "c"(msr)
			 : "r8", "r9", "memory");
	fixup_fault_rip = 0;
	*val = failed ? 0 : ((uint64_t)hi << 32) | lo;
	return failed ? -EIO : 0;
}
