/* Multiboot2 entry (GRUB on legacy BIOS, e.g. under Bochs). GRUB leaves us
 * in 32-bit protected mode without paging (Multiboot2 spec 3.3): build an
 * identity map of the first 4 GiB with 2 MiB pages, enter long mode, enable
 * SSE (newlib may use it) and call mb2_main(magic, mbi, tsc). */

#define MB2_MAGIC 0xE85250D6
#define MB2_ARCH_I386 0

	.section .multiboot2, "a"
	.align 8
mb2_header:
	.long MB2_MAGIC
	.long MB2_ARCH_I386
	.long mb2_header_end - mb2_header
	.long -(MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
	.align 8
	.word 0, 0 /* end tag */
	.long 8
mb2_header_end:

	.section .text.boot, "ax"
	.code32
	.globl mb2_entry
mb2_entry:
	cli
	movl %eax, boot_magic
	movl %ebx, boot_mbi
	rdtsc
	movl %eax, boot_tsc
	movl %edx, boot_tsc + 4
	movl $boot_stack_top, %esp

	/* PML4[0] -> PDPT; PDPT[0..3] -> four page directories; 2048 large pages. */
	movl $boot_pdpt, %eax
	orl $3, %eax
	movl %eax, boot_pml4
	movl $boot_pd, %eax
	orl $3, %eax
	xorl %ecx, %ecx
1:	movl %eax, boot_pdpt(, %ecx, 8)
	addl $4096, %eax
	incl %ecx
	cmpl $4, %ecx
	jne 1b
	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $21, %eax
	orl $0x83, %eax /* present, writable, 2 MiB */
	movl %eax, boot_pd(, %ecx, 8)
	incl %ecx
	cmpl $2048, %ecx
	jne 2b

	movl %cr4, %eax
	orl $0x20, %eax /* PAE */
	movl %eax, %cr4
	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl $0xC0000080, %ecx /* EFER.LME */
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax /* PG, PE */
	movl %eax, %cr0
	lgdt boot_gdt_ptr
	ljmp $0x08, $long_mode

	.code64
long_mode:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	movq $boot_stack_top, %rsp
	movq %cr0, %rax
	andq $~0x4, %rax /* clear EM */
	orq $0x2, %rax   /* set MP */
	movq %rax, %cr0
	movq %cr4, %rax
	orq $0x600, %rax /* OSFXSR, OSXMMEXCPT */
	movq %rax, %cr4
	movl boot_magic, %edi
	movl boot_mbi, %esi
	movq boot_tsc, %rdx
	xorl %ebp, %ebp
	call mb2_main
3:	cli
	hlt
	jmp 3b

	.section .rodata
	.align 16
boot_gdt:
	.quad 0
	.quad 0x00AF9A000000FFFF
	.quad 0x00CF92000000FFFF
boot_gdt_ptr:
	.word boot_gdt_ptr - boot_gdt - 1
	.long boot_gdt

	.section .bss
	.align 4096
boot_pml4: .skip 4096
boot_pdpt: .skip 4096
boot_pd:   .skip 4 * 4096
boot_stack: .skip 65536
boot_stack_top:
boot_magic: .skip 4
boot_mbi:   .skip 4
boot_tsc:   .skip 8

	.section .note.GNU-stack, "", @progbits
