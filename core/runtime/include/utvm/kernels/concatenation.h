/*
 * CONCATENATION, bit-exact with TFLite Micro: for each of `outer` blocks, the
 * output receives input 0's block, then input 1's, ... in order. Block sizes
 * (bytes) are fixed by the compiler: copy_bytes[i] = dim(input i, axis) *
 * (product of the dimensions after axis) * element size. TFLM moves the
 * values unchanged (int8 inputs must share the output's quantization).
 *
 * The model calls utvm_concatenation_N with N = 2..10 input pointers (TFLM's
 * limit is 10 inputs); inputs must not overlap the output.
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

/* The generic form: `inputs` holds params->num_inputs pointers. */
void utvm_concatenation(const utvm_concatenation_params *params, const void *const *inputs, void *output);

void utvm_concatenation_1(const utvm_concatenation_params *params, const void *in0, void *output);
void utvm_concatenation_2(const utvm_concatenation_params *params, const void *in0, const void *in1, void *output);
void utvm_concatenation_3(const utvm_concatenation_params *params, const void *in0, const void *in1,
                          const void *in2, void *output);
void utvm_concatenation_4(const utvm_concatenation_params *params, const void *in0, const void *in1,
                          const void *in2, const void *in3, void *output);
void utvm_concatenation_5(const utvm_concatenation_params *params, const void *in0, const void *in1,
                          const void *in2, const void *in3, const void *in4, void *output);
void utvm_concatenation_6(const utvm_concatenation_params *params, const void *in0, const void *in1,
                          const void *in2, const void *in3, const void *in4, const void *in5, void *output);
void utvm_concatenation_7(const utvm_concatenation_params *params, const void *in0, const void *in1,
                          const void *in2, const void *in3, const void *in4, const void *in5,
                          const void *in6, void *output);
void utvm_concatenation_8(const utvm_concatenation_params *params, const void *in0, const void *in1,
                          const void *in2, const void *in3, const void *in4, const void *in5,
                          const void *in6, const void *in7, void *output);
void utvm_concatenation_9(const utvm_concatenation_params *params, const void *in0, const void *in1,
                          const void *in2, const void *in3, const void *in4, const void *in5,
                          const void *in6, const void *in7, const void *in8, void *output);
void utvm_concatenation_10(const utvm_concatenation_params *params, const void *in0, const void *in1,
                           const void *in2, const void *in3, const void *in4, const void *in5,
                           const void *in6, const void *in7, const void *in8, const void *in9,
                           void *output);

#endif /* UTVM_KERNELS_CONCATENATION_H */
