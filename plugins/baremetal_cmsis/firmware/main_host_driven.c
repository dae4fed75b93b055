/*
 * main() of a host-driven image: the utvm RPC server on the console UART.
 * The host sets inputs, runs the model and reads outputs and the run's
 * SysTick cycles (timer unit: cycles at UTVM_CPU_CLOCK_HZ).
 */
#include "utvm/rpc/server.h"
#include "utvm_firmware.h"

int main(void) {
  utvm_console_init();
  utvm_timer_init();
  utvm_rpc_server_init(&utvm_model);
  utvm_rpc_server_set_timer(UTVM_TIMER_UNIT_CYCLES, (uint32_t)UTVM_CPU_CLOCK_HZ);
  utvm_rpc_server_run();
  return 0;
}
