/* PAD; see utvm/kernels/pad.h. */
#include <string.h>

#include "utvm/kernels/pad.h"

/* Writes n copies of the pad value; returns the byte after them. */
static uint8_t *fill(uint8_t *out, int32_t n, int32_t es, int32_t value) {
  int32_t j;
  if (es == 1) {
    memset(out, (int)(int8_t)value, (size_t)n);
    return out + n;
  }
  if (es == 2) {
    const int16_t v = (int16_t)value;
    for (j = 0; j < n; ++j, out += 2) {
      memcpy(out, &v, 2);
    }
    return out;
  }
  for (j = 0; j < n; ++j, out += 4) {
    memcpy(out, &value, 4);
  }
  return out;
}

static int inside(int32_t i, int32_t dim, const utvm_pad_params *p) {
  return i >= p->before[dim] && i < p->shape[dim] - p->after[dim];
}

void utvm_pad(const utvm_pad_params *params, const void *input, void *output) {
  const int32_t *shape = params->shape;
  const int32_t es = params->elem_size;
  const int32_t value = params->pad_value;
  const int32_t row = shape[4];
  const int32_t left = params->before[4];
  const int32_t right = params->after[4];
  const int32_t in_row = row - left - right;
  const size_t in_row_bytes = (size_t)in_row * (size_t)es;
  const uint8_t *in = (const uint8_t *)input;
  uint8_t *out = (uint8_t *)output;
  int32_t i0, i1, i2, i3;
  for (i0 = 0; i0 < shape[0]; ++i0) {
    const int in0 = inside(i0, 0, params);
    for (i1 = 0; i1 < shape[1]; ++i1) {
      const int in1 = in0 && inside(i1, 1, params);
      for (i2 = 0; i2 < shape[2]; ++i2) {
        const int in2 = in1 && inside(i2, 2, params);
        for (i3 = 0; i3 < shape[3]; ++i3) {
          if (in2 && inside(i3, 3, params)) {
            out = fill(out, left, es, value);
            memcpy(out, in, in_row_bytes);
            out += in_row_bytes;
            in += in_row_bytes;
            out = fill(out, right, es, value);
          } else {
            out = fill(out, row, es, value);
          }
        }
      }
    }
  }
}
