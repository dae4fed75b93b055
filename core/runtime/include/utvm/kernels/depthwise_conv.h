/*
 * DEPTHWISE_CONV_2D, int8 activations and weights, int32 bias (TFLite
 * Micro's reference_integer_ops::DepthwiseConvPerChannel, bit for bit).
 *
 * Layouts: input [batches, input_h, input_w, input_c], filter
 * [1, filter_h, filter_w, output_c], output [batches, output_h, output_w,
 * output_c] (NHWC), output_c = input_c * depth_multiplier. Output channel
 * oc = ic * depth_multiplier + m reads input channel ic only.
 *
 * For each output element:
 *   acc = sum over the window's points inside the image (padding skipped)
 *         of filter[fy][fx][oc] * (input[iy][ix][ic] + input_offset)
 *       + bias[oc]                                   (when bias is not NULL)
 *   acc = requantize(acc, multiplier[ch], shift[ch]) + output_offset
 *   out = min(max(acc, act_min), act_max)
 * with ch = oc when per_channel is nonzero, else 0. The weights' zero point
 * is not used (as in TFLM). shift > 0 is a left shift. pad_h / pad_w are the
 * top and left padding.
 */
#ifndef UTVM_KERNELS_DEPTHWISE_CONV_H
#define UTVM_KERNELS_DEPTHWISE_CONV_H

#include <stdint.h>

#include "utvm/attributes.h"

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
  int32_t depth_multiplier;
  int32_t stride_h;
  int32_t stride_w;
  int32_t dilation_h;
  int32_t dilation_w;
  int32_t pad_h;
  int32_t pad_w;
  int32_t input_offset;
  int32_t output_offset;
  int32_t act_min;
  int32_t act_max;
  int32_t per_channel;
  const UTVM_CONST_AS int32_t *multiplier; /* output_c entries, or 1 when per_channel is 0 */
  const UTVM_CONST_AS int32_t *shift; /* same length as multiplier */
} utvm_depthwise_conv_params;

void utvm_depthwise_conv_s8(const utvm_depthwise_conv_params *params, const int8_t *input,
                            const UTVM_CONST_AS int8_t *filter, const UTVM_CONST_AS int32_t *bias, int8_t *output);

#endif /* UTVM_KERNELS_DEPTHWISE_CONV_H */
