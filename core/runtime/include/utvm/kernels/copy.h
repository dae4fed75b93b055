/* Byte copy between two tensors that cannot share storage (e.g. a model input reshaped into a model output). */
#ifndef UTVM_KERNELS_COPY_H
#define UTVM_KERNELS_COPY_H

#include <stdint.h>

typedef struct {
  int32_t bytes;
} utvm_copy_params;

/* Copies params->bytes bytes from in to out; the buffers must not overlap. */
void utvm_copy(const utvm_copy_params *params, const void *in, void *out);

#endif /* UTVM_KERNELS_COPY_H */
