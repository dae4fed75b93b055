/*
 * FULLY_CONNECTED, int8 activations and weights, int32 bias (TFLite Micro's
 * reference_integer_ops::FullyConnected and FullyConnectedPerChannel, bit
 * for bit).
 *
 * Layouts: input [batches, accum_depth] (any input shape, read flat, as
 * TFLM does), filter [output_depth, accum_depth], output [batches,
 * output_depth], row-major.
 *
 * For each output element:
 *   acc = sum_d (filter[oc][d] + weights_offset) * (input[b][d] + input_offset)
 *       + bias[oc]                                   (when bias is not NULL)
 *   acc = requantize(acc, multiplier[ch], shift[ch]) + output_offset
 *   out = min(max(acc, act_min), act_max)
 * with ch = oc when per_channel is nonzero, else 0. TFLM applies the weights'
 * zero point (weights_offset = -zero point) only with per-tensor weights;
 * the lowering passes 0 for per-channel weights. shift > 0 is a left shift.
 */
#ifndef UTVM_KERNELS_FULLY_CONNECTED_H
#define UTVM_KERNELS_FULLY_CONNECTED_H

#include <stdint.h>

#include "utvm/attributes.h"

typedef struct {
  int32_t batches;
  int32_t accum_depth;
  int32_t output_depth;
  int32_t input_offset;
  int32_t weights_offset;
  int32_t output_offset;
  int32_t act_min;
  int32_t act_max;
  int32_t per_channel;
  const UTVM_CONST_AS int32_t *multiplier; /* output_depth entries, or 1 when per_channel is 0 */
  const UTVM_CONST_AS int32_t *shift; /* same length as multiplier */
} utvm_fully_connected_params;

void utvm_fully_connected_s8(const utvm_fully_connected_params *params, const int8_t *input,
                             const UTVM_CONST_AS int8_t *filter, const UTVM_CONST_AS int32_t *bias, int8_t *output);

#endif /* UTVM_KERNELS_FULLY_CONNECTED_H */
