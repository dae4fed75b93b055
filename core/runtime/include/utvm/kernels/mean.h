/*
 * MEAN over any set of axes of an int8 tensor, bit-exact with TFLite Micro's
 * reference QuantizedMeanOrSum (the only int8 MEAN path TFLM has).
 *
 * The compiler splits the input's axes into kept axes (they index the output,
 * in order) and reduced axes, drops axes of size 1 and merges neighbouring
 * axes of the same kind; each entry below gives an axis's size and its stride
 * in input elements. For each output element the kernel sums the int8 inputs
 * in int32 (wrapping, like TFLM), adds sum_offset (= -input_zero_point *
 * reduced element count, precomputed), and requantizes with TFLM's
 * MultiplyByQuantizedMultiplier by (multiplier, shift), which already include
 * the 1/count factor exactly as TFLM folds it in, then adds output_zero_point
 * and saturates to int8.
 */
#ifndef UTVM_KERNELS_MEAN_H
#define UTVM_KERNELS_MEAN_H

#include <stdint.h>

#define UTVM_MEAN_MAX_DIMS 8

typedef struct {
  int32_t num_kept;
  int32_t kept_dims[UTVM_MEAN_MAX_DIMS];
  int32_t kept_strides[UTVM_MEAN_MAX_DIMS];
  int32_t num_reduced;
  int32_t reduced_dims[UTVM_MEAN_MAX_DIMS];
  int32_t reduced_strides[UTVM_MEAN_MAX_DIMS];
  int32_t sum_offset;
  int32_t multiplier;
  int32_t shift;
  int32_t output_zero_point;
} utvm_mean_params;

/* The output holds one element per combination of kept indices (row-major).
 * Input and output must not overlap. */
void utvm_mean_s8(const utvm_mean_params *params, const int8_t *input, int8_t *output);

#endif /* UTVM_KERNELS_MEAN_H */
