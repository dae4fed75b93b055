/*
 * Quantized ADD, SUB and MUL with broadcasting; see utvm/kernels/elementwise.h.
 *
 * The arithmetic follows TFLite Micro's reference kernels (AddFunc,
 * SubElementwise/BroadcastQuantSubSlow, MulElementwise) with double-rounding
 * requantization. The result of each element only depends on the two input
 * elements, so the loop order is free: a flat loop without broadcasting, and
 * otherwise one inner row per output row, the outer dimensions walked with
 * per-input strides.
 */
#include "utvm/kernels/elementwise.h"

/* One row of n output elements; inputs advance by s1 and s2 elements. */
typedef void (*utvm_eltwise_row)(const void *params, const void *in1, int32_t off1, int32_t s1,
                                 const void *in2, int32_t off2, int32_t s2, void *out, int32_t off_out,
                                 int32_t n);

static void utvm_eltwise_walk(const void *params, int32_t size, int32_t broadcast, const int32_t *shape,
                              const int32_t *stride1, const int32_t *stride2, const void *in1,
                              const void *in2, void *out, utvm_eltwise_row row) {
  int32_t idx[UTVM_ELTWISE_MAX_RANK];
  int32_t off1 = 0;
  int32_t off2 = 0;
  int32_t off_out = 0;
  int32_t n;
  int32_t s1;
  int32_t s2;
  int d;

  if (!broadcast) {
    row(params, in1, 0, 1, in2, 0, 1, out, 0, size);
    return;
  }
  n = shape[UTVM_ELTWISE_MAX_RANK - 1];
  s1 = stride1[UTVM_ELTWISE_MAX_RANK - 1];
  s2 = stride2[UTVM_ELTWISE_MAX_RANK - 1];
  for (d = 0; d < UTVM_ELTWISE_MAX_RANK; ++d) {
    idx[d] = 0;
  }
  for (;;) {
    row(params, in1, off1, s1, in2, off2, s2, out, off_out, n);
    off_out += n;
    for (d = UTVM_ELTWISE_MAX_RANK - 2; d >= 0; --d) {
      off1 += stride1[d];
      off2 += stride2[d];
      if (++idx[d] < shape[d]) {
        break;
      }
      off1 -= stride1[d] * shape[d];
      off2 -= stride2[d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) {
      return;
    }
  }
}

/* ------------------------------------------------------------------ ADD, SUB */

/* AddFunc / the SUB lambda: subtract != 0 computes input1 - input2. */
static inline int32_t utvm_addsub_one(const utvm_add_params *p, int32_t x, int32_t y, int subtract) {
  const int32_t shifted1 = (p->input1_offset + x) * ((int32_t)1 << p->left_shift);
  const int32_t shifted2 = (p->input2_offset + y) * ((int32_t)1 << p->left_shift);
  const int32_t scaled1 = utvm_rdbpot(utvm_srdhm(shifted1, p->input1_multiplier), -p->input1_shift);
  const int32_t scaled2 = utvm_rdbpot(utvm_srdhm(shifted2, p->input2_multiplier), -p->input2_shift);
  const int32_t raw = subtract ? scaled1 - scaled2 : scaled1 + scaled2;
  const int32_t out =
      utvm_rdbpot(utvm_srdhm(raw, p->output_multiplier), -p->output_shift) + p->output_offset;
  return utvm_clamp_i32(out, p->act_min, p->act_max);
}

#define UTVM_ADDSUB_ROW(NAME, T, SUBTRACT)                                                              \
  static void NAME(const void *params, const void *in1, int32_t off1, int32_t s1, const void *in2,     \
                   int32_t off2, int32_t s2, void *out, int32_t off_out, int32_t n) {                  \
    const utvm_add_params *p = (const utvm_add_params *)params;                                        \
    const T *x = (const T *)in1 + off1;                                                                \
    const T *y = (const T *)in2 + off2;                                                                \
    T *o = (T *)out + off_out;                                                                         \
    int32_t i;                                                                                         \
    for (i = 0; i < n; ++i) {                                                                          \
      o[i] = (T)utvm_addsub_one(p, x[i * s1], y[i * s2], SUBTRACT);                                    \
    }                                                                                                  \
  }

UTVM_ADDSUB_ROW(utvm_add_row_s8, int8_t, 0)
UTVM_ADDSUB_ROW(utvm_sub_row_s8, int8_t, 1)
UTVM_ADDSUB_ROW(utvm_add_row_s16, int16_t, 0)
UTVM_ADDSUB_ROW(utvm_sub_row_s16, int16_t, 1)

void utvm_add_s8(const utvm_add_params *params, const int8_t *input1, const int8_t *input2, int8_t *output) {
  utvm_eltwise_walk(params, params->size, params->broadcast, params->shape, params->stride1, params->stride2,
                    input1, input2, output, utvm_add_row_s8);
}

void utvm_sub_s8(const utvm_add_params *params, const int8_t *input1, const int8_t *input2, int8_t *output) {
  utvm_eltwise_walk(params, params->size, params->broadcast, params->shape, params->stride1, params->stride2,
                    input1, input2, output, utvm_sub_row_s8);
}

void utvm_add_s16(const utvm_add_params *params, const int16_t *input1, const int16_t *input2,
                  int16_t *output) {
  utvm_eltwise_walk(params, params->size, params->broadcast, params->shape, params->stride1, params->stride2,
                    input1, input2, output, utvm_add_row_s16);
}

void utvm_sub_s16(const utvm_add_params *params, const int16_t *input1, const int16_t *input2,
                  int16_t *output) {
  utvm_eltwise_walk(params, params->size, params->broadcast, params->shape, params->stride1, params->stride2,
                    input1, input2, output, utvm_sub_row_s16);
}

/* ----------------------------------------------------------------------- MUL */

/* MulElementwise: MultiplyByQuantizedMultiplier of the offset product. */
static inline int32_t utvm_mul_one(const utvm_mul_params *p, int32_t x, int32_t y) {
  const int32_t prod = (p->input1_offset + x) * (p->input2_offset + y);
  const int32_t out = p->output_offset + utvm_requantize(prod, p->output_multiplier, p->output_shift);
  return utvm_clamp_i32(out, p->act_min, p->act_max);
}

#define UTVM_MUL_ROW(NAME, T)                                                                          \
  static void NAME(const void *params, const void *in1, int32_t off1, int32_t s1, const void *in2,     \
                   int32_t off2, int32_t s2, void *out, int32_t off_out, int32_t n) {                  \
    const utvm_mul_params *p = (const utvm_mul_params *)params;                                        \
    const T *x = (const T *)in1 + off1;                                                                \
    const T *y = (const T *)in2 + off2;                                                                \
    T *o = (T *)out + off_out;                                                                         \
    int32_t i;                                                                                         \
    for (i = 0; i < n; ++i) {                                                                          \
      o[i] = (T)utvm_mul_one(p, x[i * s1], y[i * s2]);                                                 \
    }                                                                                                  \
  }

UTVM_MUL_ROW(utvm_mul_row_s8, int8_t)
UTVM_MUL_ROW(utvm_mul_row_s16, int16_t)

void utvm_mul_s8(const utvm_mul_params *params, const int8_t *input1, const int8_t *input2, int8_t *output) {
  utvm_eltwise_walk(params, params->size, params->broadcast, params->shape, params->stride1, params->stride2,
                    input1, input2, output, utvm_mul_row_s8);
}

void utvm_mul_s16(const utvm_mul_params *params, const int16_t *input1, const int16_t *input2,
                  int16_t *output) {
  utvm_eltwise_walk(params, params->size, params->broadcast, params->shape, params->stride1, params->stride2,
                    input1, input2, output, utvm_mul_row_s16);
}
