/*
 * CONCATENATION, bit-exact with TFLite Micro: for each of `outer` blocks, the
 * output receives input 0's block, then input 1's, ... in order. Block sizes
 * (bytes) are fixed by the compiler: copy_bytes[i] = dim(input i, axis) *
 * (product of the dimensions after axis) * element size. TFLM moves the
 * values unchanged (int8 inputs must share the output's quantization).
 *
 * The model passes its 1..10 input pointers (TFLM's limit is 10) as one
 * array; inputs must not overlap the output.
 */
#ifndef UTVM_KERNELS_CONCATENATION_H
#define UTVM_KERNELS_CONCATENATION_H

#include "utvm/kernels/common.h"

#define UTVM_CONCATENATION_MAX_INPUTS 10

typedef struct {
  int32_t outer;                                       /* product of the dimensions before axis */
  int32_t num_inputs;                                  /* 1..10 */
  int32_t copy_bytes[UTVM_CONCATENATION_MAX_INPUTS];   /* bytes per block of each input */
} utvm_concatenation_params;

/* `inputs` holds params->num_inputs pointers. */
void utvm_concatenation(const utvm_concatenation_params *params, const void *const *inputs, void *output);

#endif /* UTVM_KERNELS_CONCATENATION_H */
