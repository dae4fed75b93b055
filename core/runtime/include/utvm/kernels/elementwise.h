/*
 * Quantized elementwise binary operators: ADD, SUB (int8, int16) and MUL
 * (int8, int16), bit-exact with TFLite Micro's reference kernels.
 *
 * Broadcasting: the compiler collapses the (numpy-style) broadcast of the
 * two input shapes into at most UTVM_ELTWISE_MAX_RANK dimensions and passes
 * the output shape with, for each input, the element stride of every
 * dimension (0 where that input is broadcast along it). Unused leading
 * dimensions have extent 1 and stride 0. With broadcast == 0 both inputs have
 * the output's shape and the kernel runs one flat loop over size elements.
 *
 * The output may be the same buffer as an input whose shape is the output's
 * shape: each element is read before the output element at the same offset
 * is written, and never read again.
 */
#ifndef UTVM_KERNELS_ELEMENTWISE_H
#define UTVM_KERNELS_ELEMENTWISE_H

#include <stdint.h>

#include "utvm/kernels/common.h"

#define UTVM_ELTWISE_MAX_RANK 6

/*
 * ADD and SUB (TFLite's general quantized path): both inputs are shifted
 * left by left_shift (20 for int8, 15 for int16) after adding their offsets
 * (the negated zero points), scaled to the common scale by
 * input{1,2}_multiplier/_shift (shifts <= 0), summed (or subtracted), scaled
 * by output_multiplier/output_shift (<= 0), offset by output_offset (the
 * output zero point) and clamped to [act_min, act_max].
 */
typedef struct {
  int32_t size;      /* output element count */
  int32_t broadcast; /* 0: inputs have the output's shape */
  int32_t shape[UTVM_ELTWISE_MAX_RANK];
  int32_t stride1[UTVM_ELTWISE_MAX_RANK];
  int32_t stride2[UTVM_ELTWISE_MAX_RANK];
  int32_t left_shift;
  int32_t input1_offset;
  int32_t input1_multiplier;
  int32_t input1_shift;
  int32_t input2_offset;
  int32_t input2_multiplier;
  int32_t input2_shift;
  int32_t output_offset;
  int32_t output_multiplier;
  int32_t output_shift;
  int32_t act_min;
  int32_t act_max;
} utvm_add_params;

void utvm_add_s8(const utvm_add_params *params, const int8_t *input1, const int8_t *input2, int8_t *output);
void utvm_sub_s8(const utvm_add_params *params, const int8_t *input1, const int8_t *input2, int8_t *output);
void utvm_add_s16(const utvm_add_params *params, const int16_t *input1, const int16_t *input2, int16_t *output);
void utvm_sub_s16(const utvm_add_params *params, const int16_t *input1, const int16_t *input2, int16_t *output);

/*
 * MUL: (input1 + input1_offset) * (input2 + input2_offset) requantized by
 * output_multiplier/output_shift (any sign of shift), plus output_offset,
 * clamped to [act_min, act_max]. int16 requires all zero points 0.
 */
typedef struct {
  int32_t size;
  int32_t broadcast;
  int32_t shape[UTVM_ELTWISE_MAX_RANK];
  int32_t stride1[UTVM_ELTWISE_MAX_RANK];
  int32_t stride2[UTVM_ELTWISE_MAX_RANK];
  int32_t input1_offset;
  int32_t input2_offset;
  int32_t output_offset;
  int32_t output_multiplier;
  int32_t output_shift;
  int32_t act_min;
  int32_t act_max;
} utvm_mul_params;

void utvm_mul_s8(const utvm_mul_params *params, const int8_t *input1, const int8_t *input2, int8_t *output);
void utvm_mul_s16(const utvm_mul_params *params, const int16_t *input1, const int16_t *input2, int16_t *output);

#endif /* UTVM_KERNELS_ELEMENTWISE_H */
