/*
 * The Arduino side of a utvm sketch: the platform layer of the utvm runtime
 * (utvm/rpc/platform.h) over Serial and a timer, implemented in
 * utvm_platform.cpp, and what the sketch's setup() uses.
 *
 * Timer: on AVR parts with a 16-bit Timer1, CPU cycles (Timer1 at clk/1 with
 * an overflow count); elsewhere micros(). On AVR the firmware also writes
 * GPIOR0 at the start (1) and end (2) of every timed run and when it stops
 * (0x80 | status), which the simavr harness (utvm-simavr) turns into cycle
 * counts and an exit status; on a real board those writes do nothing.
 */
#ifndef UTVM_ARDUINO_H
#define UTVM_ARDUINO_H

#include <stdint.h>

#include "utvm_sketch_config.h"
#include "utvm/rpc/server.h"

#ifdef __cplusplus
extern "C" {
#endif
#include "utvm/app/standalone.h"

/* The standalone application's inputs and expected outputs (generated). */
extern const utvm_standalone_case utvm_standalone_data;

/* Serial at UTVM_ARDUINO_BAUD; on a native-USB board waits (at most
   UTVM_ARDUINO_USB_WAIT_MS) for the host to open the port. */
void utvm_arduino_begin(void);

/* The unit of utvm_platform_timer_stop() and its rate, for the RPC server. */
uint8_t utvm_arduino_timer_unit(void);
uint32_t utvm_arduino_ticks_per_second(void);

void utvm_arduino_print(const char *text);
void utvm_arduino_print_u32(uint32_t value);

/* Stop for good with this status: flush Serial, mark the end for the
   emulator, and (AVR) sleep with interrupts off. Does not return. */
void utvm_arduino_halt(int32_t status);

#ifdef __cplusplus
}
#endif

#endif /* UTVM_ARDUINO_H */
