/*
 * Console driver for the Arm CMSDK APB UART (the UARTs of the MPS2/MPS3 FPGA
 * images and many Cortex-M designs), polled. Base address, baud rate and the
 * UART's clock come from the board file through utvm_board_config.h.
 *
 * Registers: DATA 0x00, STATE 0x04 (bit 0 TX full, bit 1 RX full), CTRL 0x08
 * (bit 0 TX enable, bit 1 RX enable), INTSTATUS 0x0C, BAUDDIV 0x10 (>= 16).
 */
#include <stdint.h>

#include "cortex_m.h"
#include "utvm_firmware.h"

#define UART_DATA UTVM_REG32(UTVM_CONSOLE_BASE + 0x00u)
#define UART_STATE UTVM_REG32(UTVM_CONSOLE_BASE + 0x04u)
#define UART_CTRL UTVM_REG32(UTVM_CONSOLE_BASE + 0x08u)
#define UART_INTSTATUS UTVM_REG32(UTVM_CONSOLE_BASE + 0x0Cu)
#define UART_BAUDDIV UTVM_REG32(UTVM_CONSOLE_BASE + 0x10u)

#define STATE_TX_FULL (1u << 0)
#define STATE_RX_FULL (1u << 1)
#define STATE_OVERRUNS (3u << 2)
#define CTRL_TX_EN (1u << 0)
#define CTRL_RX_EN (1u << 1)

static int ready;

void utvm_console_init(void) {
  uint32_t div = (uint32_t)(UTVM_CONSOLE_CLOCK_HZ / UTVM_CONSOLE_BAUD);
  if (ready) {
    return;
  }
  UART_CTRL = 0u;
  UART_BAUDDIV = div < 16u ? 16u : div;
  UART_STATE = STATE_OVERRUNS; /* write 1 to clear */
  UART_CTRL = CTRL_TX_EN | CTRL_RX_EN;
  /* Read the data register once: an emulated UART may hold the first byte
     from the host back until the guest has read it (about a second's stall). */
  (void)UART_DATA;
  ready = 1;
}

int utvm_console_ready(void) {
  return ready;
}

void utvm_console_write(const uint8_t *data, uint32_t len) {
  uint32_t i;
  for (i = 0; i < len; i++) {
    while (UART_STATE & STATE_TX_FULL) {
    }
    UART_DATA = data[i];
  }
}

uint32_t utvm_console_read_available(uint8_t *buf, uint32_t max_len) {
  uint32_t n = 0;
  while (n < max_len && (UART_STATE & STATE_RX_FULL)) {
    buf[n++] = (uint8_t)UART_DATA;
  }
  if (UART_STATE & STATE_OVERRUNS) {
    UART_STATE = STATE_OVERRUNS;
  }
  return n;
}
