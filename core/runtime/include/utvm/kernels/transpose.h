/*
 * TRANSPOSE, bit-exact with TFLite Micro (a pure permutation of elements of
 * any size). The compiler turns the permutation into a strided gather: the
 * output's axis d steps the input by the stride of input axis perm[d]; axes
 * of size 1 are dropped and axes that stay contiguous are merged.
 */
#ifndef UTVM_KERNELS_TRANSPOSE_H
#define UTVM_KERNELS_TRANSPOSE_H

#include "utvm/kernels/strided_slice.h"

/* Input and output must not overlap. */
void utvm_transpose(const utvm_strided_copy_params *params, const void *input, void *output);

#endif /* UTVM_KERNELS_TRANSPOSE_H */
