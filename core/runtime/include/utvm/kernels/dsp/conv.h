/*
 * CONV_2D, int8, for cores with the DSP extension: the contract of
 * utvm/kernels/conv.h (TFLite Micro's ConvPerChannel, bit for bit) for
 * ungrouped convolutions without dilation, with the constants prepared by the
 * compiler (core/ops/dsp.py). K = filter_h * filter_w * input_c, padded with
 * zero weights to depth = a multiple of 4.
 *
 * - weights: output channels in pairs; per pair, for each 4-deep slice of
 *   the depth, channel 2p's 4 bytes then channel 2p+1's (natural order
 *   inside each word: SXTB16 splits input and weights alike); an odd last
 *   channel's depth bytes as they are.
 * - records: per channel pair {folded bias 2p, folded bias 2p+1, multiplier,
 *   round, shift of 2p, the same of 2p+1} (8 words), an odd last channel
 *   {folded bias, multiplier, round, shift}. The folded bias is bias +
 *   input_offset * sum(filter[oc]): the start of an output position whose
 *   whole window is inside the input, where the kernel multiplies the raw
 *   int8 input. {multiplier, round, shift} requantize with the output offset
 *   folded in (see utvm/kernels/dsp/dsp.h).
 * - bias[oc] (the model's, or 0): the start of a position on the border,
 *   where the kernel adds input_offset to each input (SXTAB16) and skips the
 *   taps outside.
 *
 * utvm_dsp_conv_s8 needs input_c % 4 == 0 and reads the windows in place.
 * utvm_dsp_conv_s8_im2col takes any input_c: it copies each window into a
 * column of depth bytes on the stack (2 * depth bytes), the input zero point
 * (-input_offset) in the padding, which the folded bias makes exact.
 * The _full names are the same kernels for act_min = -128, act_max = 127.
 */
#ifndef UTVM_KERNELS_DSP_CONV_H
#define UTVM_KERNELS_DSP_CONV_H

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
  int32_t pad_h;
  int32_t pad_w;
  int32_t depth; /* filter_h * filter_w * input_c rounded up to a multiple of 4 */
  int32_t input_offset;
  int32_t act_min;
  int32_t act_max;
  const int8_t *weights;
  const int32_t *records;
  const int32_t *bias;
} utvm_dsp_conv_params;

void utvm_dsp_conv_s8(const utvm_dsp_conv_params *params, const int8_t *input, int8_t *output);
void utvm_dsp_conv_s8_full(const utvm_dsp_conv_params *params, const int8_t *input, int8_t *output);
void utvm_dsp_conv_s8_im2col(const utvm_dsp_conv_params *params, const int8_t *input, int8_t *output);
void utvm_dsp_conv_s8_im2col_full(const utvm_dsp_conv_params *params, const int8_t *input, int8_t *output);

#endif /* UTVM_KERNELS_DSP_CONV_H */
