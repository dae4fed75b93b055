/*
 * The few Cortex-M core registers the utvm firmware uses, at their
 * architectural addresses (the same on every Armv7-M / Armv8-M core), so the
 * project needs no CMSIS headers: System Control Block, SysTick, and the
 * coprocessor access register that enables the FPU and MVE.
 */
#ifndef UTVM_CORTEX_M_H
#define UTVM_CORTEX_M_H

#include <stdint.h>

#define UTVM_REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* SysTick (Armv7-M ARM B3.3, Armv8-M ARM B11). */
#define UTVM_SYST_CSR UTVM_REG32(0xE000E010u) /* control and status */
#define UTVM_SYST_RVR UTVM_REG32(0xE000E014u) /* reload value */
#define UTVM_SYST_CVR UTVM_REG32(0xE000E018u) /* current value */
#define UTVM_SYST_CSR_ENABLE (1u << 0)
#define UTVM_SYST_CSR_TICKINT (1u << 1)
#define UTVM_SYST_CSR_CLKSOURCE (1u << 2) /* 1: the processor clock */
#define UTVM_SYST_MAX 0x00FFFFFFu          /* 24-bit counter */

/* System Control Block. */
#define UTVM_SCB_ICSR UTVM_REG32(0xE000ED04u)
#define UTVM_SCB_VTOR UTVM_REG32(0xE000ED08u)
#define UTVM_SCB_CCR UTVM_REG32(0xE000ED14u)
#define UTVM_SCB_SHCSR UTVM_REG32(0xE000ED24u)
#define UTVM_SCB_CFSR UTVM_REG32(0xE000ED28u)
#define UTVM_SCB_HFSR UTVM_REG32(0xE000ED2Cu)
#define UTVM_SCB_MMFAR UTVM_REG32(0xE000ED34u)
#define UTVM_SCB_BFAR UTVM_REG32(0xE000ED38u)
#define UTVM_SCB_CPACR UTVM_REG32(0xE000ED88u)
#define UTVM_SCB_SFSR UTVM_REG32(0xE000EDE4u) /* Armv8-M Security Extension */
#define UTVM_SCB_SFAR UTVM_REG32(0xE000EDE8u)

/* CPACR: full access to CP10 and CP11 (the FPU, and MVE on Armv8.1-M). */
#define UTVM_CPACR_CP10_CP11_FULL (0xFu << 20)

/* SHCSR: enable the MemManage, BusFault and UsageFault handlers (else they escalate to HardFault). */
#define UTVM_SHCSR_FAULTS_ENABLE ((1u << 16) | (1u << 17) | (1u << 18))
/* CCR.DIV_0_TRP: trap integer division by zero as a UsageFault. */
#define UTVM_CCR_DIV_0_TRP (1u << 4)

#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_8M_MAIN__) || \
    defined(__ARM_ARCH_8_1M_MAIN__)
#define UTVM_HAS_FAULT_STATUS 1 /* CFSR, HFSR, MMFAR, BFAR, and the configurable fault handlers */
#else
#define UTVM_HAS_FAULT_STATUS 0
#endif

#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
#define UTVM_HAS_STACK_LIMIT 1 /* MSPLIM */
#else
#define UTVM_HAS_STACK_LIMIT 0
#endif

static inline void utvm_dsb_isb(void) {
  __asm__ volatile("dsb\n\tisb" ::: "memory");
}

static inline void utvm_enable_irq(void) {
  __asm__ volatile("cpsie i" ::: "memory");
}

static inline uint32_t utvm_get_ipsr(void) {
  uint32_t v;
  __asm__ volatile("mrs %0, ipsr" : "=r"(v));
  return v;
}

#endif /* UTVM_CORTEX_M_H */
