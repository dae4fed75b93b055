/*
 * The platform interface of the utvm RPC server. Every project template
 * (host, Cortex-M, Arduino, Zephyr, ...) implements these five functions once
 * for its board; the server and the framing code use nothing else from the
 * system. The reference implementation for POSIX hosts (stdin/stdout) is
 * runtime/src/platform/posix_stdio.c.
 */
#ifndef UTVM_RPC_PLATFORM_H
#define UTVM_RPC_PLATFORM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Send len bytes to the host. Returns the number of bytes accepted (1..len;
   the server calls again for the rest), or < 0 on an error the link cannot
   recover from (the server then calls utvm_platform_abort). May block until
   the bytes are queued; need not wait until they are on the wire. */
int32_t utvm_platform_write(const uint8_t *data, uint16_t len);

/* Receive up to max_len bytes from the host into buf. Returns the number of
   bytes read, 0 if none arrived (a non-blocking read, or a blocking read that
   timed out), or < 0 on an error. Reading everything already available in one
   call (rather than one byte per call) is faster but not required. */
int32_t utvm_platform_read(uint8_t *buf, uint16_t max_len);

/* Start the inference timer. */
void utvm_platform_timer_start(void);

/* Stop the inference timer and return the ticks elapsed since
   utvm_platform_timer_start(). The unit (nanoseconds, CPU cycles,
   instructions, ...) is declared with utvm_rpc_server_set_timer() or the
   UTVM_TIMER_UNIT / UTVM_TIMER_TICKS_PER_SECOND macros (see server.h) and
   reported to the host in the model info. */
uint32_t utvm_platform_timer_stop(void);

/* Stop for good: called with one of the UTVM_ABORT_* codes (server.h) when
   the link fails. A board may reset, halt, or exit with the code. Does not
   need to return. */
void utvm_platform_abort(int32_t code);

#ifdef __cplusplus
}
#endif

#endif /* UTVM_RPC_PLATFORM_H */
