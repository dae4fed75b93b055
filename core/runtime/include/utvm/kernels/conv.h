/*
 * CONV_2D, int8 activations and weights, int32 bias (TFLite Micro's
 * reference_integer_ops::ConvPerChannel, bit for bit).
 *
 * Layouts: input [batches, input_h, input_w, input_c], filter
 * [output_c, filter_h, filter_w, filter_c], output [batches, output_h,
 * output_w, output_c], all row-major (NHWC). Grouped convolution is
 * supported: groups = input_c / filter_c and output channel oc reads input
 * channels [g * filter_c, (g + 1) * filter_c) with g = oc / (output_c / groups).
 *
 * For each output element:
 *   acc = sum over the window's points inside the image (the padding is
 *         implicit zeros, i.e. skipped) of filter * (input + input_offset)
 *       + bias[oc]                                   (when bias is not NULL)
 *   acc = requantize(acc, multiplier[ch], shift[ch]) + output_offset
 *   out = min(max(acc, act_min), act_max)
 * with ch = oc when per_channel is nonzero, else 0. input_offset is minus
 * the input zero point; the weights' zero point is not used (TFLM ignores it
 * too: weights are symmetric by the quantization spec). shift > 0 is a left
 * shift (TFLM's QuantizeMultiplier exponent). pad_h / pad_w are the top and
 * left padding (ComputePaddingHeightWidth).
 */
#ifndef UTVM_KERNELS_CONV_H
#define UTVM_KERNELS_CONV_H

#include <stdint.h>

#include "utvm/attributes.h"

typedef struct {
  int32_t batches;
  int32_t input_h;
  int32_t input_w;
  int32_t input_c;
  int32_t filter_h;
  int32_t filter_w;
  int32_t filter_c;
  int32_t output_h;
  int32_t output_w;
  int32_t output_c;
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
} utvm_conv_params;

void utvm_conv_s8(const utvm_conv_params *params, const int8_t *input, const UTVM_CONST_AS int8_t *filter,
                  const UTVM_CONST_AS int32_t *bias, int8_t *output);

#endif /* UTVM_KERNELS_CONV_H */
