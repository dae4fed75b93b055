/*
 * CONV_2D int8, Armv8.1-M MVE variant (bit-exact with utvm_conv_s8 and
 * TFLite Micro's ConvPerChannel), groups == 1.
 *
 * The convolution is a matrix product: every output pixel has a row of
 * k = filter_h * filter_w * input_c input values in (filter_y, filter_x,
 * channel) order, the filter's own order, and every output channel a row of
 * k weights. When the rows are not contiguous in the input (a window larger
 * than 1x1, or padding) the kernel copies the pixel's row into a stack buffer
 * of k16 bytes (im2col), with the input zero point where the window leaves
 * the image; for a 1x1 filter without padding it reads the input in place
 * (the k16 - k bytes past a pixel's channels meet the weights' zero padding),
 * copying only a row that would read past the end of the input.
 *
 * The compiler prepares (core/ops/conv_mve.py) the stream of
 * utvm/kernels/mve/gemm.h: the weights in the order the core reads them and
 * per block of 4 channels the bias b[oc] + input_offset * sum of w[oc]
 * (mod 2^32) -- the padding reads as the zero point (input + input_offset =
 * 0), so every window position adds input_offset * w, folded there -- with
 * the requantization multipliers and shifts.
 */
#ifndef UTVM_KERNELS_MVE_CONV_H
#define UTVM_KERNELS_MVE_CONV_H

#include <stdint.h>

typedef struct {
  int32_t batches;
  int32_t input_h;
  int32_t input_w;
  int32_t input_c;
  int32_t filter_h;
  int32_t filter_w;
  int32_t output_h;
  int32_t output_w;
  int32_t output_c;
  int32_t stride_h;
  int32_t stride_w;
  int32_t dilation_h;
  int32_t dilation_w;
  int32_t pad_h;
  int32_t pad_w;
  int32_t input_zero_point; /* what the padding reads as */
  int32_t k16;              /* filter_h * filter_w * input_c rounded up to 16 */
  int32_t im2col;           /* 0: 1x1 filter without padding: rows read in place */
  int32_t output_offset;
  int32_t act_min;
  int32_t act_max;
  int32_t has_left;
  int32_t fast; /* no left shift, every right shift >= 1, activation range [-128, 127] (no weights offset) */
  const int8_t *stream;
} utvm_mve_conv_params;

void utvm_conv_s8_mve(const utvm_mve_conv_params *params, const int8_t *input, int8_t *output);

#endif /* UTVM_KERNELS_MVE_CONV_H */
