/*
 * FULLY_CONNECTED int8, Armv8.1-M MVE variant (bit-exact with
 * utvm_fully_connected_s8 and TFLite Micro).
 *
 * The compiler prepares (core/ops/conv_mve.py) the stream of
 * utvm/kernels/mve/gemm.h: the weights in the order the core reads them and
 * per block of 4 output rows the bias
 *   b[o] + input_offset * sum_d w[o][d] + accum_depth * weights_offset * input_offset
 * (mod 2^32) with the requantization multipliers and shifts. The only runtime
 * correction is weights_offset * sum_d x[d] per batch, when the weights' zero
 * point is not 0. For each output:
 *   acc = sum_d w[o][d] * x[d] + bias[o] + weights_offset * sum_d x[d]
 *   out = clamp(requantize(acc) + output_offset, act_min, act_max)
 * which equals the reference sum of (w + weights_offset) * (x + input_offset)
 * plus b[o] modulo 2^32.
 */
#ifndef UTVM_KERNELS_MVE_FULLY_CONNECTED_H
#define UTVM_KERNELS_MVE_FULLY_CONNECTED_H

#include <stdint.h>

typedef struct {
  int32_t batches;
  int32_t accum_depth;
  int32_t output_depth;
  int32_t k16; /* accum_depth rounded up to a multiple of 16 */
  int32_t weights_offset;
  int32_t output_offset;
  int32_t act_min;
  int32_t act_max;
  int32_t has_left;
  int32_t fast; /* no left shift, every right shift >= 1, activation range [-128, 127] (no weights offset) */
  const int8_t *stream;
} utvm_mve_fully_connected_params;

void utvm_fully_connected_s8_mve(const utvm_mve_fully_connected_params *params, const int8_t *input,
                                 int8_t *output);

#endif /* UTVM_KERNELS_MVE_FULLY_CONNECTED_H */
