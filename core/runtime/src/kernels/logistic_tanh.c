/* LOGISTIC and TANH (int8), see utvm/kernels/logistic_tanh.h. */
#include "utvm/kernels/logistic_tanh.h"

#include "utvm/kernels/common.h"
#include "utvm/kernels/fixedpoint.h"

void utvm_logistic_s8(const utvm_logistic_tanh_params *params, const int8_t *input, int8_t *output) {
  int32_t i;
  for (i = 0; i < params->size; ++i) {
    const int32_t x = (int32_t)input[i] - params->input_zero_point;
    int32_t y;
    if (x <= -params->input_range_radius) {
      y = UTVM_INT8_MIN;
    } else if (x >= params->input_range_radius) {
      y = UTVM_INT8_MAX;
    } else {
      const int32_t x_q4 = utvm_requantize(x, params->input_multiplier, params->input_left_shift);
      const int32_t y_q0 = utvm_fp_logistic(x_q4, 4);
      /* Q0.31 -> units of 2^-8, then the fixed output zero point -128. */
      y = utvm_clamp_i32(utvm_rdbpot(y_q0, 23) - 128, UTVM_INT8_MIN, UTVM_INT8_MAX);
    }
    output[i] = (int8_t)y;
  }
}

void utvm_tanh_s8(const utvm_logistic_tanh_params *params, const int8_t *input, int8_t *output) {
  int32_t i;
  for (i = 0; i < params->size; ++i) {
    const int32_t x = (int32_t)input[i] - params->input_zero_point;
    int32_t y;
    if (x <= -params->input_range_radius) {
      y = UTVM_INT8_MIN;
    } else if (x >= params->input_range_radius) {
      y = UTVM_INT8_MAX;
    } else {
      const int32_t x_q4 = utvm_requantize(x, params->input_multiplier, params->input_left_shift);
      const int32_t y_q0 = utvm_fp_tanh(x_q4, 4);
      /* Q0.31 -> units of 2^-7 (output zero point 0). */
      y = utvm_clamp_i32(utvm_rdbpot(y_q0, 24), UTVM_INT8_MIN, UTVM_INT8_MAX);
    }
    output[i] = (int8_t)y;
  }
}
