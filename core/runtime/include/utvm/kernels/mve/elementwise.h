/*
 * ADD and SUB int8 without broadcasting, Armv8.1-M MVE variant (bit-exact
 * with utvm_add_s8 / utvm_sub_s8 and TFLite Micro).
 *
 * Each input's contribution to the sum, rdbpot(srdhm((x + offset) <<
 * left_shift, multiplier), shift), depends on that one int8 value only: the
 * compiler tabulates it (core/ops/elementwise_mve.py) for the 256 values,
 * indexed by the value's byte (uint8_t)x, input2's negated for SUB. The
 * kernel gathers both table entries, adds them and requantizes the sum
 * (output multiplier, right shift output_right >= 0), then adds the output
 * zero point and clamps. In place on an input is allowed: each group of
 * elements is read before the same group of outputs is written.
 */
#ifndef UTVM_KERNELS_MVE_ELEMENTWISE_H
#define UTVM_KERNELS_MVE_ELEMENTWISE_H

#include <stdint.h>

typedef struct {
  int32_t size;
  int32_t output_multiplier;
  int32_t output_right; /* >= 0 */
  int32_t output_offset;
  int32_t act_min;
  int32_t act_max;
  const int32_t *table1; /* 256 */
  const int32_t *table2; /* 256 */
} utvm_mve_add_params;

void utvm_add_s8_mve(const utvm_mve_add_params *params, const int8_t *input1, const int8_t *input2,
                     int8_t *output);

#endif /* UTVM_KERNELS_MVE_ELEMENTWISE_H */
