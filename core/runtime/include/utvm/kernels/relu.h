/*
 * Standalone quantized RELU and RELU6 (int8, int16), bit-exact with TFLite
 * Micro's reference kernels.
 *
 * RELU requantizes: output = clamp(output_offset + MultiplyByQuantizedMultiplier(
 * input - input_offset, multiplier, shift), act_min, act_max), where
 * input_offset and output_offset are the zero points and act_min is the
 * output zero point (so negative reals become 0).
 *
 * RELU6 does NOT requantize (TFLite Micro's behaviour): the input is clamped
 * to [lower, upper], the input's quantized 0 and 6, and copied as is, whatever
 * the output tensor's quantization.
 *
 * Both may run in place (output == input).
 */
#ifndef UTVM_KERNELS_RELU_H
#define UTVM_KERNELS_RELU_H

#include <stdint.h>

#include "utvm/kernels/common.h"

typedef struct {
  int32_t size;
  int32_t input_offset;
  int32_t output_offset;
  int32_t multiplier;
  int32_t shift;
  int32_t act_min;
  int32_t act_max;
} utvm_relu_params;

void utvm_relu_s8(const utvm_relu_params *params, const int8_t *input, int8_t *output);
void utvm_relu_s16(const utvm_relu_params *params, const int16_t *input, int16_t *output);

typedef struct {
  int32_t size;
  int32_t lower;
  int32_t upper;
} utvm_relu6_params;

void utvm_relu6_s8(const utvm_relu6_params *params, const int8_t *input, int8_t *output);
void utvm_relu6_s16(const utvm_relu6_params *params, const int16_t *input, int16_t *output);

#endif /* UTVM_KERNELS_RELU_H */
