/*
 * STRIDED_SLICE (and the generic strided copy TRANSPOSE shares), bit-exact
 * with TFLite Micro: the kernels only move bytes, for any element size.
 *
 * utvm_strided_copy walks the output in row-major order over `shape` and
 * reads each element from
 *     input + offset + sum_d index[d] * stride[d]        (all in bytes)
 * Every index computation that does not depend on data (slice begin/end/
 * strides and masks, transpose permutations, merging of contiguous axes) is
 * done by the compiler; unused leading axes have shape 1.
 * A row whose stride equals elem_size is copied with memcpy.
 */
#ifndef UTVM_KERNELS_STRIDED_SLICE_H
#define UTVM_KERNELS_STRIDED_SLICE_H

#include "utvm/kernels/common.h"

#define UTVM_STRIDED_COPY_MAX_DIMS 6

typedef struct {
  int32_t elem_size;                           /* bytes per element: 1, 2, 4 or 8 */
  int32_t offset;                              /* bytes from input to output element 0's source */
  int32_t shape[UTVM_STRIDED_COPY_MAX_DIMS];   /* output dimensions, outermost first */
  int32_t stride[UTVM_STRIDED_COPY_MAX_DIMS];  /* input bytes stepped per output index, may be < 0 */
} utvm_strided_copy_params;

/* Gathers the output from the input; input and output must not overlap. */
void utvm_strided_copy(const utvm_strided_copy_params *params, const void *input, void *output);

#endif /* UTVM_KERNELS_STRIDED_SLICE_H */
