/*
 * main() of a standalone image: runs the model once on the inputs built into
 * the image (utvm_standalone_data, generated), prints the outputs, the run's
 * timer ticks and the status (utvm/app/standalone.h), then the clock and the
 * stack high-water mark, and exits with the run's status:
 *   utvm: clock_hz 25000000
 *   utvm: stack_used 1234 of 8192
 * Under QEMU the status becomes QEMU's exit status (semihosting).
 */
#include "utvm/app/standalone.h"
#include "utvm_firmware.h"

extern const utvm_standalone_case utvm_standalone_data;

int main(void) {
  int32_t status;
  utvm_console_init();
  utvm_timer_init();
  utvm_print("utvm: standalone " UTVM_BOARD_NAME "\n");
  status = utvm_standalone_run(&utvm_model, &utvm_standalone_data);
  utvm_print("utvm: clock_hz ");
  utvm_print_u32((uint32_t)UTVM_CPU_CLOCK_HZ);
  utvm_print("\nutvm: stack_used ");
  utvm_print_u32(utvm_stack_high_water());
  utvm_print(" of ");
  utvm_print_u32(utvm_stack_size());
  utvm_print("\n");
  return (int)status;
}
