/*
 * LOGISTIC and TANH on int8 tensors, bit-exact with TFLite Micro's reference
 * integer kernels, which compute in gemmlowp fixed point (no lookup table).
 *
 * x - input_zero_point is first compared with +-input_range_radius (outside
 * it the output saturates), otherwise rescaled to Q4.27 with
 * MultiplyByQuantizedMultiplier(input_multiplier, input_left_shift), passed
 * through gemmlowp's logistic / tanh and rounded to the output units.
 * TFLM fixes the output quantization in the arithmetic: LOGISTIC writes
 * round(2^8 * sigmoid) - 128 (scale 1/256, zero point -128), TANH writes
 * round(2^7 * tanh) (scale 1/128, zero point 0), whatever the output tensor says.
 */
#ifndef UTVM_KERNELS_LOGISTIC_TANH_H
#define UTVM_KERNELS_LOGISTIC_TANH_H

#include <stdint.h>

typedef struct {
  int32_t size; /* number of elements */
  int32_t input_zero_point;
  int32_t input_range_radius;
  int32_t input_multiplier;
  int32_t input_left_shift; /* 0 .. 31 */
} utvm_logistic_tanh_params;

/* Elementwise; may run in place (output == input). */
void utvm_logistic_s8(const utvm_logistic_tanh_params *params, const int8_t *input, int8_t *output);
void utvm_tanh_s8(const utvm_logistic_tanh_params *params, const int8_t *input, int8_t *output);

#endif /* UTVM_KERNELS_LOGISTIC_TANH_H */
