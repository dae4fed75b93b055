/*
 * DEPTHWISE_CONV_2D, int8, for cores with the DSP extension: the contract of
 * utvm/kernels/depthwise_conv.h (TFLite Micro's DepthwiseConvPerChannel, bit
 * for bit) without dilation, with the constants prepared by the compiler
 * (core/ops/dsp.py). Output channel oc reads input channel oc /
 * depth_multiplier; `channels` counts the output channels. Every kernel adds
 * input_offset to each input it multiplies and leaves out (or multiplies by
 * 0) the taps outside the input, starts from the model's bias (or 0), and
 * requantizes with a {multiplier, round, shift} triple per channel (the
 * output offset folded in, see utvm/kernels/dsp/dsp.h). Each walks the
 * output one pixel at a time, in order, reading only that pixel's window
 * (and, _c1, bytes next to it that count for nothing).
 *
 * utvm_dsp_depthwise_conv_s8: depth_multiplier 1, channels % 4 == 0. _tail:
 * depth_multiplier 1, channels >= 4 and not a multiple of 4. Groups of 4
 * channels, 0-3, 4-7, ..., and for _tail one more group, the last 4 channels
 * (it recomputes, to the same values, the channels it shares with the group
 * before). Each window tap of a group is one word of 4 input channels.
 * weights: per group, for each tap (filter_h * filter_w, row-major) the 4
 * weights as two halfword pairs, (c0, c2) then (c1, c3), the int16 form
 * SMLABB / SMLATT multiply directly; bias and quant (its triples): per group.
 *
 * utvm_dsp_depthwise_conv_s8_c1: input_c 1, any depth multiplier (channels =
 * depth_multiplier). A window row is filter_w consecutive bytes, read a word
 * (a quad of 4 taps) at a time, quads = ceil(filter_w / 4); SXTAB16 makes
 * the quad two halfword pairs of taps, (t0, t2) and (t1, t3), and SMLAD
 * multiplies each pair at once. Groups of 4 channels, the last one padded
 * with zero weights. weights: per group, per filter row, per quad, per
 * channel of the group, its (t0, t2) then (t1, t3) weights, zero past
 * filter_w (so the bytes read past a window row count for nothing). A window
 * cut by the left or right edge of the input, or whose last quad would read
 * past the end of the input, is copied to the stack first (filter_h * quads
 * words), the input zero point (-input_offset) outside the input: those taps
 * then count 0.
 *
 * utvm_dsp_depthwise_conv_s8_mult: any input_c and depth multiplier (what
 * the others leave: input_c >= 2 with a depth multiplier, or 2 or 3
 * channels). Per input channel, its depth_multiplier output channels in
 * groups of `group` (4, or 2 for depth multipliers 1 and 2), the last one
 * padded with zero weights. weights: per group, per tap, the group's weights
 * as int16 (two per word); the input is one byte per tap (SMLABB / SMLABT).
 *
 * _c1 and _mult take utvm_dsp_depthwise_mult_params, whose records hold per
 * group its `group` biases then their `group` triples. The _full names are
 * the same kernels for act_min = -128, act_max = 127.
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

/* The parameters of _c1 and _mult. */
typedef struct {
  int32_t batches;
  int32_t input_h;
  int32_t input_w;
  int32_t input_c;
  int32_t channels; /* output channels: input_c * depth_multiplier */
  int32_t depth_multiplier;
  int32_t group; /* output channels per group: 4, or 2 (_mult with a depth multiplier of 1 or 2) */
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
  const int32_t *records; /* per group: its `group` biases, then their triples */
} utvm_dsp_depthwise_mult_params;

void utvm_dsp_depthwise_conv_s8(const utvm_dsp_depthwise_conv_params *params, const int8_t *input,
                                int8_t *output);
void utvm_dsp_depthwise_conv_s8_full(const utvm_dsp_depthwise_conv_params *params, const int8_t *input,
                                     int8_t *output);
void utvm_dsp_depthwise_conv_s8_tail(const utvm_dsp_depthwise_conv_params *params, const int8_t *input,
                                     int8_t *output);
void utvm_dsp_depthwise_conv_s8_tail_full(const utvm_dsp_depthwise_conv_params *params, const int8_t *input,
                                          int8_t *output);
void utvm_dsp_depthwise_conv_s8_c1(const utvm_dsp_depthwise_mult_params *params, const int8_t *input,
                                   int8_t *output);
void utvm_dsp_depthwise_conv_s8_c1_full(const utvm_dsp_depthwise_mult_params *params, const int8_t *input,
                                        int8_t *output);
void utvm_dsp_depthwise_conv_s8_mult(const utvm_dsp_depthwise_mult_params *params, const int8_t *input,
                                     int8_t *output);
void utvm_dsp_depthwise_conv_s8_mult_full(const utvm_dsp_depthwise_mult_params *params, const int8_t *input,
                                          int8_t *output);

#endif /* UTVM_KERNELS_DSP_DEPTHWISE_CONV_H */
