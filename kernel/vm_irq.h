/* Interrupts into a guest: the glue between its virtual LAPIC
 * (kernel/vdev/vlapic.c) and the backend that injects events
 * (arch/x86/{vmx,svm}). The backends call these before each entry and on
 * the LAPIC's MSRs; PCI devices call vm_msi(), the UART's line goes
 * through the VM's I/O APIC (kernel/vdev/vioapic.c). The rule for when an event may
 * be injected (RFLAGS.IF, the STI/MOV-SS shadow, an event already being
 * re-delivered) is the backend's, written once in arch/x86/. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct vcpu;
struct vm;

/* The guest TSC now (host TSC + the vCPU's offset). */
uint64_t vcpu_guest_tsc(struct vcpu *v);
/* The external-interrupt vector to inject at the next entry, or -1; fires
 * LAPIC timers that are due first. No other state change. */
int vcpu_irq_pending(struct vcpu *v);
/* The backend injected vector (the guest will take it now): IRR -> ISR. */
void vcpu_irq_delivered(struct vcpu *v, int vector);
/* IA32_APIC_BASE, IA32_TSC_DEADLINE and x2APIC MSRs (msr_guest_policy
 * returns MSR_LAPIC for them). false: inject #GP. */
bool vcpu_lapic_msr(struct vcpu *v, uint32_t msr, bool write, uint64_t *val);
/* MOV from/to CR8 (64-bit mode): the LAPIC's TPR[7:4] (SDM 10.8.6.1).
 * The backend has checked that bits 63:4 of a written value are clear. */
uint64_t vcpu_cr8_read(struct vcpu *v);
void vcpu_cr8_write(struct vcpu *v, uint64_t val);
/* A device's message-signalled interrupt (MSI/MSI-X table entry). */
void vm_msi(struct vm *vm, uint64_t addr, uint32_t data);
/* The UART's interrupt line to its I/O APIC pin follows its registers:
 * called after each guest access and each byte of console input. */
void vm_uart_irq(struct vm *vm);
