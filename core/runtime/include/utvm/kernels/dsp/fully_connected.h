/*
 * FULLY_CONNECTED, int8, for cores with the DSP extension: the contract of
 * utvm/kernels/fully_connected.h (TFLite Micro's FullyConnected and
 * FullyConnectedPerChannel, bit for bit) with the constants prepared by the
 * compiler (core/ops/dsp.py):
 *
 * - bias[oc] = bias + input_offset * sum_d filter[oc][d]: the input offset
 *   folded in (exact integer arithmetic; weights_offset must be 0), so the
 *   kernel multiplies the raw int8 input;
 * - weights: each row padded with zeros to a multiple of 4 bytes; rows in
 *   groups of six, per group for each 4-deep slice of the accumulation the
 *   six rows' 4 bytes (natural order inside each word: SXTB16 splits input
 *   and weights alike); the output_depth % 6 last rows as they are;
 * - quant: {multiplier, round, shift} (the output offset folded in) per output row (quant_stride 3) or one
 *   for all (quant_stride 0), see utvm/kernels/dsp/dsp.h.
 *
 * utvm_dsp_fully_connected_s8 clamps to [act_min, act_max];
 * utvm_dsp_fully_connected_s8_full is the same for act_min = -128, act_max = 127.
 */
#ifndef UTVM_KERNELS_DSP_FULLY_CONNECTED_H
#define UTVM_KERNELS_DSP_FULLY_CONNECTED_H

#include <stdint.h>

typedef struct {
  int32_t batches;
  int32_t accum_depth;
  int32_t output_depth;
  int32_t act_min;
  int32_t act_max;
  int32_t quant_stride;
  const int8_t *weights;
  const int32_t *bias;
  const int32_t *quant;
} utvm_dsp_fully_connected_params;

void utvm_dsp_fully_connected_s8(const utvm_dsp_fully_connected_params *params, const int8_t *input,
                                 int8_t *output);
void utvm_dsp_fully_connected_s8_full(const utvm_dsp_fully_connected_params *params, const int8_t *input,
                                      int8_t *output);

#endif /* UTVM_KERNELS_DSP_FULLY_CONNECTED_H */
