/* Multiboot v1 header and the 32-bit entry: from the state a Multiboot
 * loader leaves (protected mode, flat segments, paging off, EAX = magic,
 * EBX = info, no stack) to 64-bit C in boot_main(magic, info).
 *
 * Page tables: an identity map of the low 4 GiB in 2 MiB pages, so guest RAM,
 * the Multiboot info and the cmdline are reachable wherever the loader put
 * them. Every entry is created with its Accessed and Dirty bits already set:
 * the CPU then never writes a paging structure, so the only pages a guest
 * writes besides its own data are its .data/.bss (stack and these tables
 * live there), which is what it prints as its reserved pages. */
#include "multiboot.h"

#define PTE_P (1 << 0)
#define PTE_W (1 << 1)
#define PTE_A (1 << 5)
#define PTE_D (1 << 6)
#define PTE_PS (1 << 7)
#define CR0_PE (1 << 0)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define MSR_EFER 0xC0000080
#define EFER_LME (1 << 8)
#define GDT_CODE64 0x08
#define GDT_DATA 0x10
#define BOOT_STACK_SIZE 16384
#define BOOT_PD_COUNT 4 /* 4 x 1 GiB */
#define COM1 0x3F8

	.section .multiboot, "a"
	.balign 4
	.long MB_HEADER_MAGIC
	.long MB_HEADER_FLAGS
	.long -(MB_HEADER_MAGIC + MB_HEADER_FLAGS)

	.section .text.entry, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	mov %eax, %ebp /* Multiboot magic, checked in C where it can be reported */
	mov %ebx, %esi /* Multiboot info; the loader placed it outside the image */

	/* Zero .bss (stack and page tables included); the loader may not have. */
	mov $__bss_start, %edi
	mov $__bss_end, %ecx
	sub %edi, %ecx
	shr $2, %ecx
	xor %eax, %eax
	rep stosl
	mov $boot_stack_top, %esp

	/* AMD APM vol. 3, CPUID Fn8000_0001 EDX bit 29: long mode. */
	mov $0x80000000, %eax
	cpuid
	cmp $0x80000001, %eax
	jb no_long_mode
	mov $0x80000001, %eax
	cpuid
	bt $29, %edx
	jnc no_long_mode

	/* PML4[0] -> PDPT, PDPT[0..3] -> PD[0..3], PD: 2048 x 2 MiB leaves. */
	movl $(boot_pdpt + PTE_P + PTE_W + PTE_A), boot_pml4
	mov $(boot_pd + PTE_P + PTE_W + PTE_A), %eax
	xor %ecx, %ecx
1:	mov %eax, boot_pdpt(, %ecx, 8)
	add $4096, %eax
	inc %ecx
	cmp $BOOT_PD_COUNT, %ecx
	jb 1b
	mov $(PTE_P + PTE_W + PTE_A + PTE_D + PTE_PS), %eax
	xor %ecx, %ecx
2:	mov %eax, boot_pd(, %ecx, 8)
	add $0x200000, %eax
	inc %ecx
	cmp $(BOOT_PD_COUNT * 512), %ecx
	jb 2b

	/* SDM vol. 3A 10.8.5: PAE, then CR3, then EFER.LME, then CR0.PG. */
	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $boot_pml4, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $(CR0_PG | CR0_PE), %eax
	mov %eax, %cr0
	lgdt boot_gdt_ptr
	ljmp $GDT_CODE64, $long_mode

no_long_mode:
	mov $no_long_mode_msg, %esi
	mov $COM1, %dx
3:	lodsb
	test %al, %al
	jz 4f
	out %al, %dx
	jmp 3b
4:	hlt
	jmp 4b

	.code64
long_mode:
	mov $GDT_DATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %ax, %fs
	mov %ax, %gs
	mov $boot_stack_top, %rsp
	mov %ebp, %edi /* zero-extends: boot_main(uint32_t magic, uint32_t info) */
	mov %esi, %esi
	call boot_main
5:	cli
	hlt
	jmp 5b

	.section .rodata
no_long_mode_msg:
	.asciz "error: this guest needs a 64-bit CPU (no long mode in CPUID)\r\n"

	/* Writable: the CPU sets a descriptor's Accessed bit when it loads it,
	 * so it is set here already (type 0x9B / 0x93) and the GDT is never
	 * written after boot. */
	.section .data
	.balign 16
boot_gdt:
	.quad 0
	.quad 0x00AF9B000000FFFF /* 0x08: 64-bit code, DPL 0 */
	.quad 0x00CF93000000FFFF /* 0x10: data, DPL 0 */
boot_gdt_end:
	.balign 4
boot_gdt_ptr:
	.word boot_gdt_end - boot_gdt - 1
	.long boot_gdt

	.section .bss.boot, "aw", @nobits
	.balign 4096
boot_pml4:
	.skip 4096
boot_pdpt:
	.skip 4096
boot_pd:
	.skip 4096 * BOOT_PD_COUNT
boot_stack:
	.skip BOOT_STACK_SIZE
boot_stack_top:
