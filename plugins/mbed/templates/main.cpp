/*
 * utvm on Mbed OS: the platform layer of the utvm runtime (utvm/rpc/platform.h) and main().
 *
 * Transport: a BufferedSerial on the console UART pins (USBTX/USBRX, which the board's
 * debug probe bridges to a USB serial port) at UTVM_MBED_BAUD baud, 8N1, read without
 * blocking. mbed_app.json switches Mbed's own stdio console off ("target.console-uart":
 * false) so that nothing else writes to that UART; define UTVM_MBED_TX / UTVM_MBED_RX to
 * use other pins.
 *
 * Timer: the DWT cycle counter where the core has one (Cortex-M3, M4, M7, M33, M55...),
 * counting CPU cycles at SystemCoreClock; otherwise Mbed's microsecond ticker (mbed::Timer).
 * Define UTVM_MBED_TIMER_US to use the ticker everywhere.
 *
 * Project types:
 *   host_driven  (UTVM_MBED_STANDALONE == 0): the utvm RPC server; the host sets inputs,
 *                runs the model and reads its outputs and timing over the UART.
 *   standalone   (UTVM_MBED_STANDALONE == 1): runs the model on the inputs built into the
 *                image, prints "utvm: output ...", "utvm: ticks ..." and "utvm: status ..."
 *                lines, and runs again whenever a byte arrives.
 */
#include "mbed.h"

#include <errno.h>
#include <stdint.h>

extern "C" {
#include "utvm/rpc/platform.h"
#include "utvm/rpc/server.h"
#if UTVM_MBED_STANDALONE
#include "utvm/app/standalone.h"
#endif
}

#ifndef UTVM_MBED_BAUD
#define UTVM_MBED_BAUD 115200
#endif
#ifndef UTVM_MBED_TX
#define UTVM_MBED_TX USBTX
#endif
#ifndef UTVM_MBED_RX
#define UTVM_MBED_RX USBRX
#endif

/* The cycle counter exists when the CMSIS core header describes a DWT with CYCCNT. */
#if !defined(UTVM_MBED_TIMER_US) && defined(DWT) && defined(DWT_CTRL_CYCCNTENA_Msk) && \
    defined(CoreDebug_DEMCR_TRCENA_Msk)
#define UTVM_MBED_HAVE_DWT 1
#else
#define UTVM_MBED_HAVE_DWT 0
#endif

namespace {

mbed::BufferedSerial utvm_serial(UTVM_MBED_TX, UTVM_MBED_RX, UTVM_MBED_BAUD);
mbed::Timer utvm_timer;
bool utvm_use_cycles = false;
#if UTVM_MBED_HAVE_DWT
uint32_t utvm_cycles_t0 = 0;
#endif

/* Let other threads run while waiting for the UART (nothing to do without the RTOS). */
void utvm_mbed_idle()
{
#if defined(MBED_CONF_RTOS_PRESENT) && MBED_CONF_RTOS_PRESENT
    rtos::ThisThread::yield();
#endif
}

void utvm_mbed_setup()
{
    utvm_serial.set_format(8, mbed::BufferedSerial::None, 1);
    utvm_serial.set_blocking(false);
#if UTVM_MBED_HAVE_DWT
    CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;
#if defined(__CORTEX_M) && (__CORTEX_M == 7U)
    /* Cortex-M7 parts may lock the DWT: write the key to its lock access register. */
    *reinterpret_cast<volatile uint32_t *>(0xE0001FB0UL) = 0xC5ACCE55UL;
#endif
#if defined(DWT_CTRL_NOCYCCNT_Msk)
    utvm_use_cycles = (DWT->CTRL & DWT_CTRL_NOCYCCNT_Msk) == 0U;
#else
    utvm_use_cycles = true;
#endif
    if (utvm_use_cycles) {
        DWT->CYCCNT = 0U;
        DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;
    }
#endif
}

}  // namespace

int32_t utvm_platform_write(const uint8_t *data, uint16_t len)
{
    if (len == 0U) {
        return 0;
    }
    for (;;) {
        ssize_t n = utvm_serial.write(data, len);
        if (n > 0) {
            return static_cast<int32_t>(n);
        }
        if (n != -EAGAIN && n != 0) {
            return -1;
        }
        utvm_mbed_idle(); /* the transmit buffer is full: let it drain */
    }
}

int32_t utvm_platform_read(uint8_t *buf, uint16_t max_len)
{
    ssize_t n = utvm_serial.read(buf, max_len);
    if (n == -EAGAIN) {
        return 0;
    }
    if (n < 0) {
        return -1;
    }
    return static_cast<int32_t>(n);
}

void utvm_platform_timer_start(void)
{
#if UTVM_MBED_HAVE_DWT
    if (utvm_use_cycles) {
        utvm_cycles_t0 = DWT->CYCCNT;
        return;
    }
#endif
    utvm_timer.reset();
    utvm_timer.start();
}

uint32_t utvm_platform_timer_stop(void)
{
#if UTVM_MBED_HAVE_DWT
    if (utvm_use_cycles) {
        return DWT->CYCCNT - utvm_cycles_t0;
    }
#endif
    utvm_timer.stop();
    auto us = utvm_timer.elapsed_time().count();
    if (us < 0) {
        return 0U;
    }
    return static_cast<uint64_t>(us) > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(us);
}

void utvm_platform_abort(int32_t code)
{
    (void)code;
    /* The link to the host failed for good: start again from reset, ready for a new session. */
    system_reset();
}

#if UTVM_MBED_STANDALONE

extern "C" const utvm_standalone_case utvm_standalone_data;

static void utvm_write_all(const char *text, uint16_t len)
{
    uint16_t done = 0;
    while (done < len) {
        int32_t n = utvm_platform_write(reinterpret_cast<const uint8_t *>(text) + done,
                                        static_cast<uint16_t>(len - done));
        if (n <= 0) {
            return;
        }
        done = static_cast<uint16_t>(done + n);
    }
}

static void utvm_announce_timer()
{
    /* "utvm: timer cycles 216000000" or "utvm: timer us 1000000": the unit of "utvm: ticks". */
    char line[40] = "utvm: timer ";
    char digits[10];
    uint16_t len = static_cast<uint16_t>(sizeof("utvm: timer ") - 1U);
    const char *unit = utvm_use_cycles ? "cycles " : "us ";
    for (const char *c = unit; *c != '\0'; c++) {
        line[len++] = *c;
    }
    uint32_t rate = utvm_use_cycles ? SystemCoreClock : 1000000UL;
    uint16_t n = 0;
    do {
        digits[n++] = static_cast<char>('0' + rate % 10U);
        rate /= 10U;
    } while (rate != 0U && n < sizeof(digits));
    while (n > 0U) {
        line[len++] = digits[--n];
    }
    line[len++] = '\n';
    utvm_write_all(line, len);
}

int main()
{
    static const char again[] = "utvm: send any byte to run again\n";
    utvm_mbed_setup();
    for (;;) {
        utvm_announce_timer();
        (void)utvm_standalone_run(&utvm_model, &utvm_standalone_data);
        utvm_write_all(again, static_cast<uint16_t>(sizeof(again) - 1U));
        uint8_t byte[16];
        while (utvm_platform_read(byte, sizeof(byte)) <= 0) {
            utvm_mbed_idle();
        }
        while (utvm_platform_read(byte, sizeof(byte)) > 0) {
        }
    }
}

#else

static void utvm_declare_timer()
{
    if (utvm_use_cycles) {
        utvm_rpc_server_set_timer(UTVM_TIMER_UNIT_CYCLES, SystemCoreClock);
    } else {
        utvm_rpc_server_set_timer(UTVM_TIMER_UNIT_MICROSECONDS, 1000000UL);
    }
}

int main()
{
    utvm_mbed_setup();
    utvm_rpc_server_init(&utvm_model);
    utvm_declare_timer();
    for (;;) {
        if (utvm_rpc_server_poll() == 0) {
            utvm_mbed_idle();
        }
    }
}

#endif
