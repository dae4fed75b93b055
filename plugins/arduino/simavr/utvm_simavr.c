/*
 * utvm-simavr: runs an AVR firmware image in simavr (libsimavr) with its
 * UART 0 bridged to a TCP socket or to stdout, and reports cycle counts.
 *
 *   utvm-simavr --mcu atmega328p --freq 16000000 [--tcp PORT | --stdio]
 *               [--marker ADDR] [--stack-limit ADDR] [--timeout SECONDS] [--parent PID] firmware.elf
 *
 * --tcp PORT   listen on 127.0.0.1:PORT (0: any free port), print
 *              "utvm-simavr: listening 127.0.0.1:PORT" on stderr, and start the
 *              firmware once a client connects (pyserial "socket://"). Bytes
 *              from the client go to the UART's receiver, paced by the UART's
 *              own XON/XOFF so none is dropped; bytes the firmware sends go to
 *              the client. When the client disconnects, the program exits.
 * --stdio      the firmware's UART output goes to stdout (a standalone run).
 * --marker A   the data-space address of an I/O register (GPIOR0) the firmware
 *              writes to mark events: 1 starts a timed region, 2 ends it (one
 *              "run" line with its cycles), 0x80 | status ends the simulation
 *              with that exit status.
 * --stack-limit A  the lowest data address the stack may reach (the end of the static
 *              data, avr-libc's __heap_start): below it the run stops with a stack overflow.
 *
 * Reports go to stderr, one line each:
 *   utvm-simavr: run N cycles C stack S        (a marked region: CPU cycles, peak stack bytes so far)
 *   utvm-simavr: exit S cycles C stack S       (the firmware ended: status, total cycles)
 *   utvm-simavr: error ...
 * Exit status: the firmware's status (marker), 0 when the client left or the
 * CPU stopped with interrupts off, 3 when the CPU crashed, 4 on a stack
 * overflow, 124 on --timeout, 2 on a usage or load error.
 *
 * The process never outlives its owner: on Linux it asks the kernel for
 * SIGKILL when its parent dies, and --parent PID makes it exit at once if
 * that process is already gone.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_io.h"
#include "sim_irq.h"

/* Instructions run between two looks at the socket. */
#define SLICE 4096
#define QUEUE_BYTES 65536

typedef struct {
  uint8_t data[QUEUE_BYTES];
  size_t head, tail; /* bytes in [head, tail) */
} queue_t;

static avr_t *avr;
static int client = -1;
static int use_stdio;
static queue_t to_avr, from_avr;
static volatile int uart_xoff;
static avr_cycle_count_t region_start;
static long runs;
static int exit_requested = -1;
static uint16_t min_sp = 0xFFFF;

static size_t queue_len(const queue_t *q) { return q->tail - q->head; }

static void queue_compact(queue_t *q) {
  if (q->head > 0) {
    memmove(q->data, q->data + q->head, q->tail - q->head);
    q->tail -= q->head;
    q->head = 0;
  }
}

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...) {
  va_list ap;
  fputs("utvm-simavr: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
}

/* simavr's own messages: errors and warnings to stderr, the rest dropped (stdout may be the console). */
static void simavr_logger(struct avr_t *a, const int level, const char *format, va_list ap) {
  (void)a;
  if (level <= LOG_WARNING && level != LOG_OUTPUT) {
    fputs("utvm-simavr: simavr: ", stderr);
    vfprintf(stderr, format, ap);
    fflush(stderr);
  }
}

static unsigned stack_peak(void) {
  return min_sp == 0xFFFF ? 0u : (unsigned)(avr->ramend - min_sp);
}

/* ---- UART ---- */

static void uart_out(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)param;
  if (from_avr.tail == QUEUE_BYTES) queue_compact(&from_avr);
  if (from_avr.tail < QUEUE_BYTES) from_avr.data[from_avr.tail++] = (uint8_t)value;
}

static void uart_xon(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)value;
  (void)param;
  uart_xoff = 0;
}

static void uart_xoff_cb(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)value;
  (void)param;
  uart_xoff = 1;
}

static avr_irq_t *uart_input;

static void feed_uart(void) {
  while (!uart_xoff && queue_len(&to_avr) > 0) {
    avr_raise_irq(uart_input, to_avr.data[to_avr.head++]);
  }
  if (queue_len(&to_avr) == 0) to_avr.head = to_avr.tail = 0;
}

/* ---- markers ---- */

static void marker_write(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)param;
  value &= 0xFFu;
  if (value == 1u) {
    region_start = avr->cycle;
  } else if (value == 2u) {
    runs++;
    report("run %ld cycles %llu stack %u", runs, (unsigned long long)(avr->cycle - region_start), stack_peak());
  } else if (value & 0x80u) {
    exit_requested = (int)(value & 0x7Fu);
  }
}

/* ---- I/O ---- */

static int flush_output(void) {
  while (queue_len(&from_avr) > 0) {
    ssize_t n;
    if (use_stdio) {
      n = write(1, from_avr.data + from_avr.head, queue_len(&from_avr));
    } else {
      n = send(client, from_avr.data + from_avr.head, queue_len(&from_avr), MSG_NOSIGNAL);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return -1;
    }
    from_avr.head += (size_t)n;
  }
  if (queue_len(&from_avr) == 0) from_avr.head = from_avr.tail = 0;
  return 0;
}

/* Read what the client sent; returns -1 when it has gone. */
static int poll_input(void) {
  if (client < 0) return 0;
  queue_compact(&to_avr);
  while (to_avr.tail < QUEUE_BYTES) {
    ssize_t n = recv(client, to_avr.data + to_avr.tail, QUEUE_BYTES - to_avr.tail, MSG_DONTWAIT);
    if (n > 0) {
      to_avr.tail += (size_t)n;
      continue;
    }
    if (n == 0) return -1;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return -1;
  }
  return 0;
}

static int listen_and_accept(int port) {
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  int one = 1;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return -1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons((uint16_t)port);
  if (bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 1) < 0) {
    report("error cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
    close(s);
    return -1;
  }
  getsockname(s, (struct sockaddr *)&addr, &len);
  report("listening 127.0.0.1:%d", ntohs(addr.sin_port));
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c >= 0) {
      close(s);
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
      return c;
    }
    if (errno != EINTR) {
      report("error accept: %s", strerror(errno));
      close(s);
      return -1;
    }
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(void) {
  fprintf(stderr,
          "usage: utvm-simavr --mcu MCU --freq HZ [--tcp PORT | --stdio] [--marker ADDR] "
          "[--stack-limit ADDR] [--timeout S] [--parent PID] firmware.elf\n");
}

int main(int argc, char **argv) {
  const char *mcu = NULL;
  const char *image = NULL;
  unsigned long freq = 0;
  long port = -1;
  long marker = -1;
  long stack_limit = -1;
  long parent = 0;
  double timeout = 0.0;
  double deadline;
  elf_firmware_t fw;
  uint32_t flags = 0;
  int status = 0;
  int overflow = 0;
  int i;

#if defined(__linux__)
  prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
    if (!strcmp(a, "--mcu") && v) { mcu = v; i++; }
    else if (!strcmp(a, "--freq") && v) { freq = strtoul(v, NULL, 0); i++; }
    else if (!strcmp(a, "--tcp") && v) { port = strtol(v, NULL, 0); i++; }
    else if (!strcmp(a, "--stdio")) { use_stdio = 1; }
    else if (!strcmp(a, "--marker") && v) { marker = strtol(v, NULL, 0); i++; }
    else if (!strcmp(a, "--stack-limit") && v) { stack_limit = strtol(v, NULL, 0); i++; }
    else if (!strcmp(a, "--timeout") && v) { timeout = strtod(v, NULL); i++; }
    else if (!strcmp(a, "--parent") && v) { parent = strtol(v, NULL, 0); i++; }
    else if (a[0] != '-' && image == NULL) { image = a; }
    else { usage(); return 2; }
  }
  if (mcu == NULL || image == NULL || freq == 0 || (port < 0) == !use_stdio) {
    usage();
    return 2;
  }
  if (parent > 0 && getppid() != (pid_t)parent) return 2; /* the owner is already gone */

  avr_global_logger_set(simavr_logger);
  memset(&fw, 0, sizeof fw);
  if (elf_read_firmware(image, &fw) != 0) {
    report("error cannot read %s", image);
    return 2;
  }
  avr = avr_make_mcu_by_name(mcu);
  if (avr == NULL) {
    report("error simavr does not know the MCU '%s'", mcu);
    return 2;
  }
  avr_init(avr);
  avr->log = LOG_ERROR;
  avr->frequency = (uint32_t)freq;
  avr_load_firmware(avr, &fw);
  avr->frequency = (uint32_t)freq; /* the ELF carries none: keep ours */

  /* UART 0: no console echo, no sleeping while the firmware polls it. */
  avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
  flags &= ~(uint32_t)(AVR_UART_FLAG_POLL_SLEEP | AVR_UART_FLAG_STDIO);
  avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
  uart_input = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), uart_out, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), uart_xon, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), uart_xoff_cb, NULL);
  if (marker > 0) {
    avr_irq_register_notify(avr_iomem_getirq(avr, (avr_io_addr_t)marker, NULL, AVR_IOMEM_IRQ_ALL), marker_write,
                            NULL);
  }

  if (!use_stdio) {
    client = listen_and_accept((int)port);
    if (client < 0) return 2;
  }

  deadline = timeout > 0.0 ? now_s() + timeout : 0.0;
  for (;;) {
    int state = cpu_Running;
    int k;
    for (k = 0; k < SLICE; k++) {
      uint16_t sp;
      state = avr_run(avr);
      sp = (uint16_t)(avr->data[R_SPL] | (avr->data[R_SPH] << 8));
      if (sp < min_sp && sp > 0) {
        min_sp = sp;
        if (stack_limit > 0 && (long)sp + 1 < stack_limit) overflow = 1; /* a push wrote below the limit */
      }
      if (overflow || state == cpu_Done || state == cpu_Crashed || exit_requested >= 0) break;
    }
    if (flush_output() < 0 && !use_stdio) {
      status = 0; /* the client has gone */
      break;
    }
    if (overflow) {
      report("error stack overflow: the stack pointer reached 0x%04x, below the end of the static data 0x%04lx "
             "(%u B of stack used, %ld B were free) after %llu cycles",
             (unsigned)min_sp, stack_limit, stack_peak(), (long)avr->ramend - stack_limit + 1,
             (unsigned long long)avr->cycle);
      status = 4;
      break;
    }
    if (exit_requested >= 0) {
      /* Let the UART finish the bytes the firmware queued before it stopped. */
      avr_cycle_count_t until = avr->cycle + (avr_cycle_count_t)(freq / 100u);
      while (avr->cycle < until && avr->state != cpu_Done && avr->state != cpu_Crashed) avr_run(avr);
      flush_output();
      status = exit_requested;
      report("exit %d cycles %llu stack %u", status, (unsigned long long)avr->cycle, stack_peak());
      break;
    }
    if (state == cpu_Done) {
      report("exit 0 cycles %llu stack %u (the CPU stopped with interrupts off)", (unsigned long long)avr->cycle,
             stack_peak());
      status = 0;
      break;
    }
    if (state == cpu_Crashed) {
      report("error the CPU crashed at pc 0x%05x after %llu cycles", (unsigned)avr->pc,
             (unsigned long long)avr->cycle);
      status = 3;
      break;
    }
    if (!use_stdio) {
      if (poll_input() < 0) {
        flush_output();
        status = 0;
        break;
      }
      feed_uart();
    }
    if (deadline > 0.0 && now_s() > deadline) {
      report("error timeout after %.1f s (%llu cycles)", timeout, (unsigned long long)avr->cycle);
      status = 124;
      break;
    }
    if (parent > 0 && getppid() != (pid_t)parent) {
      status = 2;
      break;
    }
  }
  if (client >= 0) close(client);
  avr_terminate(avr);
  return status;
}
