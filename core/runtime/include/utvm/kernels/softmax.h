/*
 * SOFTMAX over the last axis of an int8 tensor, bit-exact with TFLite Micro's
 * reference integer softmax (gemmlowp fixed point, no lookup table).
 *
 * Per row: diff = x - max(row); elements with diff < diff_min contribute 0.
 * The others are scaled to Q5.26 by input_multiplier * 2^input_left_shift
 * (TFLite's PreprocessSoftmaxScaling of beta * input_scale), exponentiated
 * with gemmlowp's exp_on_negative_values, summed in Q12.19, and multiplied by
 * the fixed-point reciprocal of the sum. The int8 output has scale 1/256 and
 * zero point -128; the int16 output scale 1/65536 and zero point -32768.
 * Where TFLM aborts (int8 output and a sum of exponentials >= 512, possible
 * only with depth >= 512), these kernels output the zero point instead: the
 * exact result, which rounds to 0 there.
 */
#ifndef UTVM_KERNELS_SOFTMAX_H
#define UTVM_KERNELS_SOFTMAX_H

#include <stdint.h>

typedef struct {
  int32_t outer_size; /* number of rows */
  int32_t depth;      /* length of the last axis */
  int32_t input_multiplier;
  int32_t input_left_shift;
  int32_t diff_min;
} utvm_softmax_params;

/* May run in place (output == input): row elements are read before they are overwritten. */
void utvm_softmax_s8(const utvm_softmax_params *params, const int8_t *input, int8_t *output);
/* int8 input, int16 output; the buffers must not overlap. */
void utvm_softmax_s8_s16(const utvm_softmax_params *params, const int8_t *input, int16_t *output);

#endif /* UTVM_KERNELS_SOFTMAX_H */
