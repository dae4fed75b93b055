/*
 * DEPTHWISE_CONV_2D, int8, for cores with the DSP extension: the contract of
 * utvm/kernels/depthwise_conv.h (TFLite Micro's DepthwiseConvPerChannel, bit
 * for bit) for depth_multiplier 1, no dilation and channels % 4 == 0, with
 * the constants prepared by the compiler (core/ops/dsp.py):
 *
 * - weights: per group of 4 channels, for each tap (filter_h * filter_w,
 *   row-major) the group's 4 weights as two halfword pairs, (c0, c2) then
 *   (c1, c3): the int16 form SMLABB / SMLATT multiply directly;
 * - bias[c] the model's bias (or 0); the kernel adds input_offset to every
 *   input it reads (SXTAB16) and skips the taps outside the input;
 * - quant: {multiplier, round, shift} (the output offset folded in) per channel, see utvm/kernels/dsp/dsp.h.
 *
 * Channels are innermost: each window tap is one word of 4 channels.
 * utvm_dsp_depthwise_conv_s8_full is the same for act_min = -128, act_max = 127.
 */
#ifndef UTVM_KERNELS_DSP_DEPTHWISE_CONV_H
#define UTVM_KERNELS_DSP_DEPTHWISE_CONV_H

#include <stdint.h>

typedef struct {
  int32_t batches;
  int32_t input_h;
  int32_t input_w;
  int32_t channels;
  int32_t filter_h;
  int32_t filter_w;
  int32_t output_h;
  int32_t output_w;
  int32_t stride_h;
  int32_t stride_w;
  int32_t pad_h;
  int32_t pad_w;
  int32_t input_offset;
  int32_t act_min;
  int32_t act_max;
  const int16_t *weights;
  const int32_t *bias;
  const int32_t *quant;
} utvm_dsp_depthwise_conv_params;

void utvm_dsp_depthwise_conv_s8(const utvm_dsp_depthwise_conv_params *params, const int8_t *input,
                                int8_t *output);
void utvm_dsp_depthwise_conv_s8_full(const utvm_dsp_depthwise_conv_params *params, const int8_t *input,
                                     int8_t *output);

#endif /* UTVM_KERNELS_DSP_DEPTHWISE_CONV_H */
