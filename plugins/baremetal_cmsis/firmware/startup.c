/*
 * Reset and exceptions for a bare-metal Cortex-M image.
 *
 * The vector table (section .vectors, placed first in the startup region by
 * the generated linker script) holds the initial stack pointer and the
 * handlers. Reset_Handler enables the FPU/MVE where the device has one,
 * paints the stack so its high-water mark can be measured, copies .data from
 * its load image, zeroes .bss and the model's arena, and calls main().
 *
 * Faults print what happened on the console and exit with status
 * UTVM_EXIT_FAULT_BASE + exception number (utvm_firmware.h):
 *   utvm: fault HardFault pc=0x... lr=0x... xpsr=0x... cfsr=0x... hfsr=0x... mmfar=0x... bfar=0x...
 */
#include <stdint.h>
#include <string.h>

#include "cortex_m.h"
#include "utvm_firmware.h"

/* From the linker script. */
extern uint32_t __stack_limit__;
extern uint32_t __stack_top__;
extern uint32_t __data_load__;
extern uint32_t __data_start__;
extern uint32_t __data_end__;
extern uint32_t __bss_start__;
extern uint32_t __bss_end__;
extern uint32_t __utvm_arena_start__;
extern uint32_t __utvm_arena_end__;

int main(void);
void Reset_Handler(void);
void Fault_Handler(void);
void SysTick_Handler(void);

#ifndef UTVM_STACK_PAINT
#define UTVM_STACK_PAINT 0xC5ACCE55u
#endif

/* Leave this many bytes below the reset handler's own frame unpainted. */
#define PAINT_MARGIN 64u

/* External interrupt slots in the table; none is enabled, but an unexpected
   one lands in Fault_Handler instead of jumping through garbage. */
#ifndef UTVM_NUM_IRQS
#define UTVM_NUM_IRQS 32
#endif

typedef void (*utvm_vector)(void);

__attribute__((section(".vectors"), used)) const utvm_vector utvm_vector_table[16 + UTVM_NUM_IRQS] = {
    (utvm_vector)(uintptr_t)&__stack_top__, /* 0: initial main stack pointer */
    Reset_Handler,                          /* 1 */
    Fault_Handler,                          /* 2: NMI */
    Fault_Handler,                          /* 3: HardFault */
    Fault_Handler,                          /* 4: MemManage */
    Fault_Handler,                          /* 5: BusFault */
    Fault_Handler,                          /* 6: UsageFault */
    Fault_Handler,                          /* 7: SecureFault (Armv8-M Security Extension) */
    0,
    0,
    0,
    Fault_Handler, /* 11: SVCall */
    Fault_Handler, /* 12: DebugMonitor */
    0,
    Fault_Handler,   /* 14: PendSV */
    SysTick_Handler, /* 15 */
    [16 ... 16 + UTVM_NUM_IRQS - 1] = Fault_Handler,
};

static void zero_words(uint32_t *start, uint32_t *end) {
  if (end > start) {
    memset(start, 0, (size_t)((uintptr_t)end - (uintptr_t)start));
  }
}

void Reset_Handler(void) {
  uint32_t *p;
  uint32_t *sp;
#if defined(UTVM_ENABLE_FPU) && UTVM_ENABLE_FPU
  /* CP10/CP11 full access: the FPU, and on Armv8.1-M the MVE (Helium) unit.
     First, and with a barrier: the compiler may use FP/MVE registers in any
     code after this point (even the copy loops below). */
  UTVM_SCB_CPACR |= UTVM_CPACR_CP10_CP11_FULL;
  utvm_dsb_isb();
#endif
#if UTVM_HAS_STACK_LIMIT
  /* A stack overflow becomes a UsageFault (STKOF) instead of silent damage. */
  __asm__ volatile("msr msplim, %0" ::"r"((uint32_t)(uintptr_t)&__stack_limit__));
#endif
  /* Paint the stack from its limit up to just below this frame. */
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  for (p = &__stack_limit__; p + PAINT_MARGIN / 4u < sp; p++) {
    *(volatile uint32_t *)p = UTVM_STACK_PAINT;
  }
  if (&__data_end__ > &__data_start__ && &__data_load__ != &__data_start__) {
    memcpy(&__data_start__, &__data_load__, (size_t)((uintptr_t)&__data_end__ - (uintptr_t)&__data_start__));
  }
  zero_words(&__bss_start__, &__bss_end__);
  zero_words(&__utvm_arena_start__, &__utvm_arena_end__);
#if UTVM_HAS_FAULT_STATUS
  UTVM_SCB_SHCSR |= UTVM_SHCSR_FAULTS_ENABLE;
  UTVM_SCB_CCR |= UTVM_CCR_DIV_0_TRP;
#endif
  utvm_dsb_isb();
  utvm_exit((int32_t)main());
}

uint32_t utvm_stack_high_water(void) {
  const uint32_t *p = &__stack_limit__;
  while (p < &__stack_top__ && *p == UTVM_STACK_PAINT) {
    p++;
  }
  return (uint32_t)((uintptr_t)&__stack_top__ - (uintptr_t)p);
}

uint32_t utvm_stack_size(void) {
  return (uint32_t)((uintptr_t)&__stack_top__ - (uintptr_t)&__stack_limit__);
}

static const char *exception_name(uint32_t n) {
  switch (n) {
    case 2:
      return "NMI";
    case 3:
      return "HardFault";
    case 4:
      return "MemManage";
    case 5:
      return "BusFault";
    case 6:
      return "UsageFault";
    case 7:
      return "SecureFault";
    case 11:
      return "SVCall";
    case 12:
      return "DebugMonitor";
    case 14:
      return "PendSV";
    default:
      return n >= 16 ? "IRQ" : "exception";
  }
}

static void print_reg(const char *name, uint32_t v) {
  utvm_print(" ");
  utvm_print(name);
  utvm_print("=");
  utvm_print_hex32(v);
}

/* Called by Fault_Handler with the stacked exception frame (r0-r3, r12, lr, pc, xpsr). */
__attribute__((used, noreturn)) void utvm_fault_report(const uint32_t *frame, uint32_t exc_return) {
  uint32_t n = utvm_get_ipsr() & 0x1FFu;
  (void)exc_return;
  utvm_console_init();
  utvm_print("\nutvm: fault ");
  utvm_print(exception_name(n));
  if (n >= 16) {
    utvm_print(" ");
    utvm_print_u32(n - 16u);
  }
  print_reg("pc", frame[6]);
  print_reg("lr", frame[5]);
  print_reg("xpsr", frame[7]);
#if UTVM_HAS_FAULT_STATUS
  print_reg("cfsr", UTVM_SCB_CFSR);
  print_reg("hfsr", UTVM_SCB_HFSR);
  print_reg("mmfar", UTVM_SCB_MMFAR);
  print_reg("bfar", UTVM_SCB_BFAR);
#if UTVM_HAS_STACK_LIMIT
  if (n == 7u) {
    print_reg("sfsr", UTVM_SCB_SFSR);
    print_reg("sfar", UTVM_SCB_SFAR);
  }
#endif
#endif
  utvm_print("\n");
  utvm_exit((int32_t)(UTVM_EXIT_FAULT_BASE + (n > 223u ? 223u : n)));
}

/* Every fault and unexpected exception: find the frame on the stack the
   exception used (EXC_RETURN bit 2: process or main) and report it. */
__attribute__((naked)) void Fault_Handler(void) {
  __asm__ volatile(
#if UTVM_HAS_STACK_LIMIT
      /* A stack overflow fault must not fault again in the report. */
      "movs r0, #0\n\t"
      "msr msplim, r0\n\t"
#endif
      "movs r0, #4\n\t"
      "mov r1, lr\n\t"
      "tst r0, r1\n\t"
      "beq 1f\n\t"
      "mrs r0, psp\n\t"
      "b 2f\n"
      "1:\n\t"
      "mrs r0, msp\n"
      "2:\n\t"
      "b utvm_fault_report\n\t");
}
