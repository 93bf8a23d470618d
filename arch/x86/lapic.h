/* Local APIC: Tern's tick (a periodic timer that wakes the idle loop). */
#pragma once
#include <stdint.h>

#define LAPIC_TICK_HZ 1000

extern volatile uint64_t lapic_ticks;
extern uint64_t lapic_timer_hz; /* the timer's input clock, after calibration */
extern int lapic_x2apic;

void lapic_init(void);
void lapic_eoi(void);
uint32_t lapic_id(void);
