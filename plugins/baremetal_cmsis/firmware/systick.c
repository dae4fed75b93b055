/*
 * The cycle timer: SysTick on the processor clock, reloading at 2^24 - 1.
 * Its interrupt counts the wraps, so utvm_cycles() counts on for 2^56 cycles.
 *
 * Under QEMU with -icount shift=0 one instruction takes one virtual
 * nanosecond, so a count of cycles at UTVM_CPU_CLOCK_HZ is a count of
 * instructions / (1e9 / UTVM_CPU_CLOCK_HZ): 40 per cycle on a 25 MHz machine.
 */
#include <stdint.h>

#include "cortex_m.h"
#include "utvm_firmware.h"

/* Counted at every 1 -> 0 step of the counter (the SysTick exception). It
   starts at 1 so that the count is monotonic from the first read on. */
static volatile uint32_t wraps;

void SysTick_Handler(void) {
  wraps++;
}

void utvm_timer_init(void) {
  UTVM_SYST_CSR = 0u;
  UTVM_SYST_RVR = UTVM_SYST_MAX;
  UTVM_SYST_CVR = 0u; /* clears the counter: it reloads on the next tick, without an exception */
  wraps = 1u;
  UTVM_SYST_CSR = UTVM_SYST_CSR_CLKSOURCE | UTVM_SYST_CSR_TICKINT | UTVM_SYST_CSR_ENABLE;
  utvm_enable_irq();
}

uint64_t utvm_cycles(void) {
  uint32_t before;
  uint32_t value;
  uint32_t after;
  /* The counter counts down, RVR .. 1, 0, then reloads: a period of 2^24
     ticks. A wrap between the two reads of `wraps` is handled by its
     exception (taken at once: interrupts are enabled) and shows as a changed
     count: read again. */
  do {
    before = wraps;
    value = UTVM_SYST_CVR & UTVM_SYST_MAX;
    after = wraps;
  } while (before != after);
  /* At 0 the wrap is already counted, but the period has one tick to go. */
  return ((uint64_t)before << 24) + (uint64_t)(UTVM_SYST_MAX - value) - (value == 0u ? (1ull << 24) : 0u);
}
