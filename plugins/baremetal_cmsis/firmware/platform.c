/*
 * The utvm platform interface (utvm/rpc/platform.h) on a bare-metal Cortex-M:
 * bytes over the console UART, the inference timer on SysTick cycles, and the
 * end of the program through semihosting where the board has it.
 */
#include <stdint.h>
#include <string.h>

#include "cortex_m.h"
#include "utvm/rpc/platform.h"
#include "utvm_firmware.h"

/* ---- semihosting (Arm semihosting spec: BKPT 0xAB on M-profile) ---- */

#define SEMIHOSTING_SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

void utvm_exit(int32_t status) {
#if defined(UTVM_SEMIHOSTING) && UTVM_SEMIHOSTING
  /* SYS_EXIT_EXTENDED takes {reason, subcode}; QEMU exits with the subcode. */
  volatile uint32_t block[2];
  block[0] = ADP_STOPPED_APPLICATION_EXIT;
  block[1] = (uint32_t)status;
  {
    register uint32_t r0 __asm__("r0") = SEMIHOSTING_SYS_EXIT_EXTENDED;
    register volatile uint32_t *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  }
#else
  utvm_console_init();
  utvm_print("utvm: exit ");
  utvm_print_u32((uint32_t)status);
  utvm_print("\n");
#endif
  for (;;) {
    __asm__ volatile("wfi");
  }
}

/* ---- text ---- */

void utvm_print(const char *text) {
  utvm_console_write((const uint8_t *)text, (uint32_t)strlen(text));
}

void utvm_print_u32(uint32_t v) {
  char buf[11];
  int n = 0;
  char out[11];
  int i = 0;
  do {
    buf[n++] = (char)('0' + (char)(v % 10u));
    v /= 10u;
  } while (v != 0u);
  while (n > 0) {
    out[i++] = buf[--n];
  }
  utvm_console_write((const uint8_t *)out, (uint32_t)i);
}

void utvm_print_hex32(uint32_t v) {
  static const char digits[] = "0123456789abcdef";
  char out[10];
  int i;
  out[0] = '0';
  out[1] = 'x';
  for (i = 0; i < 8; i++) {
    out[2 + i] = digits[(v >> (28 - 4 * i)) & 0xFu];
  }
  utvm_console_write((const uint8_t *)out, 10u);
}

/* ---- utvm/rpc/platform.h ---- */

static uint64_t timer_start;

int32_t utvm_platform_write(const uint8_t *data, uint16_t len) {
  utvm_console_write(data, len);
  return (int32_t)len;
}

int32_t utvm_platform_read(uint8_t *buf, uint16_t max_len) {
  uint32_t n;
  if (max_len == 0u) {
    return 0;
  }
  /* Wait for the first byte, then take whatever else has already arrived. */
  do {
    n = utvm_console_read_available(buf, max_len);
  } while (n == 0u);
  return (int32_t)n;
}

void utvm_platform_timer_start(void) {
  timer_start = utvm_cycles();
}

uint32_t utvm_platform_timer_stop(void) {
  uint64_t elapsed = utvm_cycles() - timer_start;
  return elapsed > 0xFFFFFFFFull ? 0xFFFFFFFFu : (uint32_t)elapsed;
}

void utvm_platform_abort(int32_t code) {
  utvm_console_init();
  utvm_print("\nutvm: abort ");
  utvm_print_u32((uint32_t)code);
  utvm_print("\n");
  utvm_exit(UTVM_EXIT_ABORT_BASE + code);
}
