/*
 * The firmware side of a utvm bare-metal Cortex-M project: what the startup
 * code, the console driver, the SysTick timer and the two main() files share.
 * Board facts (console base address, clocks, FPU) come from the generated
 * utvm_board_config.h; nothing here names a board.
 */
#ifndef UTVM_FIRMWARE_H
#define UTVM_FIRMWARE_H

#include <stdint.h>

#include "utvm_board_config.h"

/* Exit statuses besides the application's own (standalone: 0 ok, 1 mismatch,
   2 run failed). Under QEMU they become QEMU's exit status (semihosting). */
#define UTVM_EXIT_ABORT_BASE 16 /* utvm_platform_abort(code): 16 + code */
#define UTVM_EXIT_FAULT_BASE 32 /* a fault: 32 + exception number (HardFault: 35) */

/* ---- console (one driver per board family, chosen by the board's data) ---- */

/* Set up the console UART; safe to call again. */
void utvm_console_init(void);
/* 1 once utvm_console_init has run. */
int utvm_console_ready(void);
/* Send len bytes, waiting while the transmitter is full. */
void utvm_console_write(const uint8_t *data, uint32_t len);
/* Move up to max_len bytes that have already arrived into buf; returns how many (0: none). */
uint32_t utvm_console_read_available(uint8_t *buf, uint32_t max_len);

/* ---- text output on the console ---- */

void utvm_print(const char *text);
void utvm_print_u32(uint32_t v);
void utvm_print_hex32(uint32_t v);

/* ---- cycle timer (SysTick on the processor clock, 24-bit, wraps counted in its interrupt) ---- */

void utvm_timer_init(void);
/* Processor clock cycles since utvm_timer_init (64-bit: no wrap in practice). */
uint64_t utvm_cycles(void);

/* ---- stack ---- */

/* Bytes of the stack ever used since reset: the stack is painted at reset and
   this finds the deepest word that lost the paint. */
uint32_t utvm_stack_high_water(void);
/* The stack's size in bytes. */
uint32_t utvm_stack_size(void);

/* ---- end ---- */

/* Stop with an exit status: through semihosting SYS_EXIT_EXTENDED where the
   board allows it (an emulator: the status becomes the emulator's), else by
   printing the status and sleeping for ever. */
void utvm_exit(int32_t status) __attribute__((noreturn));

#endif /* UTVM_FIRMWARE_H */
