/*
 * AVERAGE_POOL_2D and MAX_POOL_2D on int8 NHWC tensors, bit-exact with
 * TFLite Micro's reference kernels.
 *
 * The compiler computes the output size and the (top/left) padding exactly as
 * TFLite does (ComputePaddingHeightWidth, dilation 1) and the clamp of the
 * fused activation (CalculateActivationRangeQuantized). Input and output have
 * the same scale and zero point, so no requantization happens: the average is
 * the integer sum over the part of the window inside the input, divided by
 * the number of those elements and rounded half away from zero.
 */
#ifndef UTVM_KERNELS_POOLING_H
#define UTVM_KERNELS_POOLING_H

#include <stdint.h>

typedef struct {
  int32_t batches;
  int32_t input_height;
  int32_t input_width;
  int32_t depth;
  int32_t output_height;
  int32_t output_width;
  int32_t stride_height;
  int32_t stride_width;
  int32_t filter_height;
  int32_t filter_width;
  int32_t padding_height; /* rows of padding above the input */
  int32_t padding_width;  /* columns of padding left of the input */
  int32_t activation_min;
  int32_t activation_max;
} utvm_pool_params;

/* input [batches, input_height, input_width, depth] -> output [batches, output_height, output_width, depth].
 * The buffers must not overlap. */
void utvm_avg_pool_s8(const utvm_pool_params *params, const int8_t *input, int8_t *output);
void utvm_max_pool_s8(const utvm_pool_params *params, const int8_t *input, int8_t *output);

#endif /* UTVM_KERNELS_POOLING_H */
