/* SOFTMAX (int8 input), see utvm/kernels/softmax.h. */
#include "utvm/kernels/softmax.h"

#include "utvm/kernels/common.h"
#include "utvm/kernels/fixedpoint.h"

/* exp(diff * input_scale * beta) in Q0, for diff_min <= diff <= 0. */
static int32_t utvm_softmax_exp(const utvm_softmax_params *p, int32_t diff) {
  /* MultiplyByQuantizedMultiplierGreaterThanOne: the scaled diff is Q5.26. */
  const int32_t rescaled = utvm_srdhm((int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
  return utvm_fp_exp_on_negative_values(rescaled, 5);
}

static int32_t utvm_softmax_row_max(const int8_t *in, int32_t depth) {
  int32_t max = UTVM_INT8_MIN;
  int32_t c;
  for (c = 0; c < depth; ++c) {
    if (in[c] > max) {
      max = in[c];
    }
  }
  return max;
}

/*
 * 1 / (sum of the row's exponentials) as a Q0 value, with the rounding right
 * shift that turns (scale * exp) into output units of 2^-output_bits.
 */
static int32_t utvm_softmax_row_scale(const utvm_softmax_params *p, const int8_t *in, int32_t max_in_row,
                                      int32_t output_bits, int32_t *exponent) {
  int32_t sum_of_exps = 0; /* Q12.19; wraps like TFLM's */
  int32_t num_bits_over_unit;
  int32_t scale;
  int32_t c;
  for (c = 0; c < p->depth; ++c) {
    const int32_t diff = (int32_t)in[c] - max_in_row;
    if (diff >= p->diff_min) {
      /* Rescale<12> from Q0: a rounding right shift by 12. */
      sum_of_exps = utvm_fp_add(sum_of_exps, utvm_rdbpot(utvm_softmax_exp(p, diff), 12));
    }
  }
  scale = utvm_fp_get_reciprocal(sum_of_exps, 12, &num_bits_over_unit);
  *exponent = num_bits_over_unit + 31 - output_bits;
  return scale;
}

/* The unsaturated output in units of 2^-output_bits (0 .. 2^output_bits). */
static int32_t utvm_softmax_value(const utvm_softmax_params *p, int32_t diff, int32_t scale, int32_t exponent) {
  if (exponent > 31) {
    return 0; /* scale * exp < 2^31 rounds to 0 */
  }
  return utvm_rdbpot(utvm_srdhm(scale, utvm_softmax_exp(p, diff)), exponent);
}

void utvm_softmax_s8(const utvm_softmax_params *params, const int8_t *input, int8_t *output) {
  int32_t i, c;
  for (i = 0; i < params->outer_size; ++i) {
    const int8_t *in = input + i * params->depth;
    int8_t *out = output + i * params->depth;
    const int32_t max_in_row = utvm_softmax_row_max(in, params->depth);
    int32_t exponent;
    const int32_t scale = utvm_softmax_row_scale(params, in, max_in_row, 8, &exponent);
    for (c = 0; c < params->depth; ++c) {
      const int32_t diff = (int32_t)in[c] - max_in_row;
      int32_t value = UTVM_INT8_MIN;
      if (diff >= params->diff_min) {
        value = utvm_clamp_i32(utvm_softmax_value(params, diff, scale, exponent) + UTVM_INT8_MIN, UTVM_INT8_MIN,
                               UTVM_INT8_MAX);
      }
      out[c] = (int8_t)value;
    }
  }
}

void utvm_softmax_s8_s16(const utvm_softmax_params *params, const int8_t *input, int16_t *output) {
  const int32_t int16_min = (int32_t)-32767 - 1;
  const int32_t int16_max = 32767;
  int32_t i, c;
  for (i = 0; i < params->outer_size; ++i) {
    const int8_t *in = input + i * params->depth;
    int16_t *out = output + i * params->depth;
    const int32_t max_in_row = utvm_softmax_row_max(in, params->depth);
    int32_t exponent;
    const int32_t scale = utvm_softmax_row_scale(params, in, max_in_row, 16, &exponent);
    for (c = 0; c < params->depth; ++c) {
      const int32_t diff = (int32_t)in[c] - max_in_row;
      int32_t value = int16_min;
      if (diff >= params->diff_min) {
        value = utvm_clamp_i32(utvm_softmax_value(params, diff, scale, exponent) + int16_min, int16_min, int16_max);
      }
      out[c] = (int16_t)value;
    }
  }
}
