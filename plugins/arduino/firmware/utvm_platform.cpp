/*
 * utvm/rpc/platform.h on Arduino: bytes over Serial (or UTVM_ARDUINO_SERIAL),
 * the inference timer on Timer1 cycles (AVR) or micros(), the end through
 * utvm_arduino_halt(). See utvm_arduino.h.
 */
#include <Arduino.h>

#include "utvm_arduino.h"
#include "utvm/rpc/platform.h"

#if defined(__AVR__)
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#endif

#ifndef UTVM_ARDUINO_SERIAL
#define UTVM_ARDUINO_SERIAL Serial
#endif
#ifndef UTVM_ARDUINO_BAUD
#define UTVM_ARDUINO_BAUD 115200
#endif
#ifndef UTVM_ARDUINO_USB_WAIT_MS
#define UTVM_ARDUINO_USB_WAIT_MS 3000
#endif

#if defined(__AVR__) && defined(GPIOR0)
#define UTVM_MARK(v) (GPIOR0 = (uint8_t)(v))
#else
#define UTVM_MARK(v) ((void)0)
#endif

#if defined(__AVR__) && defined(TCCR1A) && defined(TCCR1B) && defined(TCNT1) && defined(TIMSK1) && \
    defined(TIFR1) && defined(TOIE1) && defined(TOV1) && defined(CS10) && !defined(UTVM_ARDUINO_TIMER_MICROS)
#define UTVM_TIMER1_CYCLES 1
#else
#define UTVM_TIMER1_CYCLES 0
#endif

extern "C" {

void utvm_arduino_begin(void) {
  UTVM_ARDUINO_SERIAL.begin(UTVM_ARDUINO_BAUD);
  {
    unsigned long t0 = millis();
    while (!UTVM_ARDUINO_SERIAL && (millis() - t0) < (unsigned long)UTVM_ARDUINO_USB_WAIT_MS) {
    }
  }
}

void utvm_arduino_print(const char *text) {
  UTVM_ARDUINO_SERIAL.print(text);
}

void utvm_arduino_print_u32(uint32_t value) {
  UTVM_ARDUINO_SERIAL.print((unsigned long)value);
}

void utvm_arduino_halt(int32_t status) {
  UTVM_ARDUINO_SERIAL.flush();
  UTVM_MARK(0x80u | ((uint8_t)status & 0x7Fu));
#if defined(__AVR__)
  cli();
  set_sleep_mode(SLEEP_MODE_PWR_DOWN);
  sleep_enable();
  for (;;) {
    sleep_cpu();
  }
#else
  for (;;) {
    delay(1000);
  }
#endif
}

/* ---- utvm/rpc/platform.h ---- */

int32_t utvm_platform_write(const uint8_t *data, uint16_t len) {
  size_t n = UTVM_ARDUINO_SERIAL.write(data, (size_t)len);
  return n > 0 ? (int32_t)n : -1;
}

int32_t utvm_platform_read(uint8_t *buf, uint16_t max_len) {
  uint16_t n = 0;
  while (n < max_len && UTVM_ARDUINO_SERIAL.available() > 0) {
    int c = UTVM_ARDUINO_SERIAL.read();
    if (c < 0) {
      break;
    }
    buf[n++] = (uint8_t)c;
  }
  return (int32_t)n;
}

#if UTVM_TIMER1_CYCLES

/* Timer1 counts CPU cycles (clk/1); its overflows count the upper 16 bits.
   Timer1's settings (Arduino: PWM on pins 9 and 10) are restored afterwards. */
static volatile uint16_t timer1_overflows;
static uint8_t saved_tccr1a, saved_tccr1b, saved_timsk1;

ISR(TIMER1_OVF_vect) {
  timer1_overflows++;
}

uint8_t utvm_arduino_timer_unit(void) { return UTVM_TIMER_UNIT_CYCLES; }
uint32_t utvm_arduino_ticks_per_second(void) { return (uint32_t)F_CPU; }

void utvm_platform_timer_start(void) {
  uint8_t sreg = SREG;
  cli();
  saved_tccr1a = TCCR1A;
  saved_tccr1b = TCCR1B;
  saved_timsk1 = TIMSK1;
  TCCR1B = 0;
  TCCR1A = 0;
  TCNT1 = 0;
  timer1_overflows = 0;
  TIFR1 = (uint8_t)(1u << TOV1);
  TIMSK1 = (uint8_t)(1u << TOIE1);
  SREG = sreg;
  UTVM_MARK(1u);
  TCCR1B = (uint8_t)(1u << CS10);
}

uint32_t utvm_platform_timer_stop(void) {
  uint16_t count;
  uint32_t high;
  uint8_t sreg = SREG;
  cli();
  count = TCNT1;
  high = timer1_overflows;
  if ((TIFR1 & (uint8_t)(1u << TOV1)) && count < 0x8000u) {
    high++; /* it overflowed before the read, and the interrupt has not counted it yet */
  }
  TCCR1B = 0;
  UTVM_MARK(2u);
  TIFR1 = (uint8_t)(1u << TOV1);
  TIMSK1 = saved_timsk1;
  TCCR1A = saved_tccr1a;
  TCCR1B = saved_tccr1b;
  SREG = sreg;
  return (high << 16) | (uint32_t)count;
}

#else

static unsigned long timer_start_us;

uint8_t utvm_arduino_timer_unit(void) { return UTVM_TIMER_UNIT_MICROSECONDS; }
uint32_t utvm_arduino_ticks_per_second(void) { return 1000000UL; }

void utvm_platform_timer_start(void) {
  UTVM_MARK(1u);
  timer_start_us = micros();
}

uint32_t utvm_platform_timer_stop(void) {
  unsigned long elapsed = micros() - timer_start_us;
  UTVM_MARK(2u);
  return (uint32_t)elapsed;
}

#endif

void utvm_platform_abort(int32_t code) {
  utvm_arduino_print("\nutvm: abort ");
  utvm_arduino_print_u32((uint32_t)code);
  utvm_arduino_print("\n");
  utvm_arduino_halt(0x40 + code);
}

} /* extern "C" */
