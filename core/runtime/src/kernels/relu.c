/* Quantized RELU and RELU6; see utvm/kernels/relu.h. */
#include "utvm/kernels/relu.h"

static inline int32_t utvm_relu_one(const utvm_relu_params *p, int32_t x) {
  const int32_t out = p->output_offset + utvm_requantize(x - p->input_offset, p->multiplier, p->shift);
  return utvm_clamp_i32(out, p->act_min, p->act_max);
}

void utvm_relu_s8(const utvm_relu_params *params, const int8_t *input, int8_t *output) {
  int32_t i;
  for (i = 0; i < params->size; ++i) {
    output[i] = (int8_t)utvm_relu_one(params, input[i]);
  }
}

void utvm_relu_s16(const utvm_relu_params *params, const int16_t *input, int16_t *output) {
  int32_t i;
  for (i = 0; i < params->size; ++i) {
    output[i] = (int16_t)utvm_relu_one(params, input[i]);
  }
}

void utvm_relu6_s8(const utvm_relu6_params *params, const int8_t *input, int8_t *output) {
  const int8_t lower = (int8_t)params->lower;
  const int8_t upper = (int8_t)params->upper;
  int32_t i;
  for (i = 0; i < params->size; ++i) {
    const int8_t v = input[i];
    output[i] = v > upper ? upper : (v < lower ? lower : v);
  }
}

void utvm_relu6_s16(const utvm_relu6_params *params, const int16_t *input, int16_t *output) {
  const int16_t lower = (int16_t)params->lower;
  const int16_t upper = (int16_t)params->upper;
  int32_t i;
  for (i = 0; i < params->size; ++i) {
    const int16_t v = input[i];
    output[i] = v > upper ? upper : (v < lower ? lower : v);
  }
}
