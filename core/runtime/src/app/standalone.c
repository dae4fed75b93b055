#include "utvm/app/standalone.h"

#include <string.h>

#include "utvm/rpc/platform.h"

static void put(const char *text) {
  utvm_platform_write((const uint8_t *)text, (uint16_t)strlen(text));
}

/* Decimal text of v into buf (at least 12 bytes); returns buf. */
static char *format_i32(int32_t v, char *buf) {
  char tmp[12];
  uint32_t u = v < 0 ? (uint32_t)0 - (uint32_t)v : (uint32_t)v;
  int32_t n = 0;
  int32_t i = 0;
  do {
    tmp[n++] = (char)('0' + (char)(u % 10u));
    u /= 10u;
  } while (u != 0u);
  if (v < 0) {
    buf[i++] = '-';
  }
  while (n > 0) {
    buf[i++] = tmp[--n];
  }
  buf[i] = '\0';
  return buf;
}

static char *format_hex32(uint32_t v, char *buf) {
  static const char digits[] = "0123456789abcdef";
  int32_t i;
  buf[0] = '0';
  buf[1] = 'x';
  for (i = 0; i < 8; i++) {
    buf[2 + i] = digits[(v >> (28 - 4 * i)) & 0xFu];
  }
  buf[10] = '\0';
  return buf;
}

static void put_element(const uint8_t *p, uint8_t dtype) {
  char buf[16];
  switch (dtype) {
    case UTVM_DTYPE_INT8: {
      int8_t v;
      memcpy(&v, p, 1);
      put(format_i32(v, buf));
      break;
    }
    case UTVM_DTYPE_INT16: {
      int16_t v;
      memcpy(&v, p, 2);
      put(format_i32(v, buf));
      break;
    }
    case UTVM_DTYPE_INT32: {
      int32_t v;
      memcpy(&v, p, 4);
      put(format_i32(v, buf));
      break;
    }
    case UTVM_DTYPE_FLOAT32: {
      uint32_t v;
      memcpy(&v, p, 4);
      put(format_hex32(v, buf));
      break;
    }
    default:
      put(format_i32(*p, buf));
      break;
  }
}

static uint32_t element_size(uint8_t dtype) {
  switch (dtype) {
    case UTVM_DTYPE_INT16:
      return 2u;
    case UTVM_DTYPE_INT32:
    case UTVM_DTYPE_FLOAT32:
      return 4u;
    case UTVM_DTYPE_INT64:
      return 8u;
    default:
      return 1u;
  }
}

/*
 * The run's report: each output, whether the outputs are the expected ones,
 * the ticks and the status line; returns the exit status. Out of line, so
 * that its buffers are not on the stack while the model runs.
 */
static UTVM_NOINLINE int32_t report(const utvm_model_descriptor *model, const utvm_standalone_case *data,
                                    int32_t status, uint32_t ticks) {
  char buf[16];
  uint32_t mismatches = 0u;
  uint8_t k;
  if (status != 0) {
    put("utvm: status run-failed ");
    put(format_i32(status, buf));
    put("\n");
    return 2;
  }
  for (k = 0; k < model->num_outputs; k++) {
    const utvm_rpc_tensor *t = &model->outputs[k];
    const uint8_t *p = (const uint8_t *)t->data;
    uint32_t size = element_size(t->dtype);
    uint32_t i;
    put("utvm: output ");
    put(format_i32(k, buf));
    put(":");
    for (i = 0; i + size <= t->bytes; i += size) {
      put(" ");
      put_element(p + i, t->dtype);
    }
    put("\n");
    if (data->expected != NULL && memcmp(t->data, data->expected[k], t->bytes) != 0) {
      mismatches++;
    }
  }
  put("utvm: ticks ");
  put(format_i32((int32_t)(ticks > 0x7FFFFFFFu ? 0x7FFFFFFFu : ticks), buf));
  put("\n");
  if (mismatches != 0u) {
    put("utvm: status mismatch ");
    put(format_i32((int32_t)mismatches, buf));
    put("\n");
    return 1;
  }
  put("utvm: status ok\n");
  return 0;
}

int32_t utvm_standalone_run(const utvm_model_descriptor *model, const utvm_standalone_case *data) {
  uint32_t ticks;
  int32_t status;
  uint8_t k;
  for (k = 0; k < model->num_inputs; k++) {
    memcpy(model->inputs[k].data, data->inputs[k], model->inputs[k].bytes);
  }
  utvm_platform_timer_start();
  status = model->run();
  ticks = utvm_platform_timer_stop();
  return report(model, data, status, ticks);
}
