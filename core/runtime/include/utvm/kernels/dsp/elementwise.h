/*
 * ADD and SUB of int8 tensors of one shape, for cores with the DSP
 * extension: the contract of utvm/kernels/elementwise.h (TFLite Micro's
 * quantized AddFunc / SUB, bit for bit) with the per-input half of the
 * arithmetic precomputed by the compiler (core/ops/dsp.py):
 *
 *   table1[x + 128] = rdbpot(srdhm((x + input1_offset) << left_shift,
 *                            input1_multiplier), -input1_shift)
 *
 * and table2 likewise (negated for SUB), for every int8 x. Each output is
 * then table1[a] + table2[b], requantized by {multiplier, round, shift} (the
 * output offset folded in, see utvm/kernels/dsp/dsp.h) and clamped.
 *
 * The output may be the same buffer as either input.
 * utvm_dsp_add_s8_full is the same for act_min = -128, act_max = 127.
 */
#ifndef UTVM_KERNELS_DSP_ELEMENTWISE_H
#define UTVM_KERNELS_DSP_ELEMENTWISE_H

#include <stdint.h>

typedef struct {
  int32_t size;
  int32_t multiplier;
  int32_t round;
  int32_t shift;
  int32_t act_min;
  int32_t act_max;
  const int32_t *table1; /* 256 entries, for x = -128 .. 127 */
  const int32_t *table2;
} utvm_dsp_add_params;

void utvm_dsp_add_s8(const utvm_dsp_add_params *params, const int8_t *input1, const int8_t *input2,
                     int8_t *output);
void utvm_dsp_add_s8_full(const utvm_dsp_add_params *params, const int8_t *input1, const int8_t *input2,
                          int8_t *output);

#endif /* UTVM_KERNELS_DSP_ELEMENTWISE_H */
