/*
 * POSIX platform layer and main() for host-driven builds: the RPC server talks
 * to the host over this process's stdin (requests) and stdout (responses).
 * Diagnostics go to stderr only, so they can never corrupt a frame.
 *
 * Build: the model's C, its runtime sources, the glue from rpc_glue.py
 * (utvm.rpc_glue.model_glue_source), the RPC sources and this file:
 *   cc -std=c99 -O2 -Iruntime/include -Icodegen/host/include -o device \
 *      codegen/host/src/NAME.c runtime/src/kernels/... utvm_glue.c \
 *      runtime/src/rpc/crc16.c runtime/src/rpc/framing.c \
 *      runtime/src/rpc/server.c runtime/src/platform/posix_stdio.c
 *
 * Timer: CLOCK_MONOTONIC in nanoseconds (saturates at 2^32 - 1, about 4.3 s).
 * Define UTVM_POSIX_NO_MAIN to provide your own main().
 */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 199309L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 199309L
#endif

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "utvm/rpc/platform.h"
#include "utvm/rpc/server.h"

static struct timespec timer_t0;

int32_t utvm_platform_write(const uint8_t *data, uint16_t len) {
  /* Buffered: stdout is flushed before every read that could wait, so a
     whole response goes out in one write instead of one per chunk. */
  size_t n = fwrite(data, 1, len, stdout);
  if (n == 0 && len > 0) {
    return -1;
  }
  return (int32_t)n;
}

int32_t utvm_platform_read(uint8_t *buf, uint16_t max_len) {
  ssize_t n;
  if (fflush(stdout) != 0) {
    return -1;
  }
  do {
    n = read(STDIN_FILENO, buf, max_len);
  } while (n < 0 && errno == EINTR);
  if (n == 0) {
    /* The host closed our stdin: the session is over. */
    exit(0);
  }
  if (n < 0) {
    return -1;
  }
  return (int32_t)n;
}

void utvm_platform_timer_start(void) {
  clock_gettime(CLOCK_MONOTONIC, &timer_t0);
}

uint32_t utvm_platform_timer_stop(void) {
  struct timespec t1;
  int64_t ns;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  ns = (int64_t)(t1.tv_sec - timer_t0.tv_sec) * 1000000000LL + (int64_t)(t1.tv_nsec - timer_t0.tv_nsec);
  if (ns < 0) {
    return 0;
  }
  if (ns > (int64_t)UINT32_MAX) {
    return UINT32_MAX;
  }
  return (uint32_t)ns;
}

void utvm_platform_abort(int32_t code) {
  fprintf(stderr, "utvm: device aborted with code %ld\n", (long)code);
  fflush(stderr);
  exit(code > 0 && code < 126 ? (int)code : 125);
}

#ifndef UTVM_POSIX_NO_MAIN
int main(void) {
  /* A host that goes away makes writes fail with EPIPE (then abort), not a
     silent death by SIGPIPE. */
  signal(SIGPIPE, SIG_IGN);
  utvm_rpc_server_init(&utvm_model);
  utvm_rpc_server_set_timer(UTVM_TIMER_UNIT_NANOSECONDS, 1000000000UL);
  fprintf(stderr, "utvm: serving model '%s' over stdin/stdout\n", utvm_model.name ? utvm_model.name : "?");
  fflush(stderr);
  utvm_rpc_server_run();
  return 0;
}
#endif
