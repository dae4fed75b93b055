/* STRIDED_SLICE / generic strided copy; see utvm/kernels/strided_slice.h. */
#include <string.h>

#include "utvm/kernels/strided_slice.h"

/*
 * Copies n elements of es bytes, the k-th read at in + at + k * step bytes.
 * Offsets stay integers until an element is accessed, so no pointer ever
 * leaves the input buffer (negative steps walk backwards).
 */
static void copy_row(uint8_t *out, const uint8_t *in, int32_t at, int32_t n, int32_t step, int32_t es) {
  int32_t j;
  if (step == es) {
    memcpy(out, in + at, (size_t)n * (size_t)es);
    return;
  }
  switch (es) {
    case 1:
      for (j = 0; j < n; ++j, at += step) {
        out[j] = in[at];
      }
      break;
    case 2:
      for (j = 0; j < n; ++j, at += step, out += 2) {
        memcpy(out, in + at, 2);
      }
      break;
    case 4:
      for (j = 0; j < n; ++j, at += step, out += 4) {
        memcpy(out, in + at, 4);
      }
      break;
    default:
      for (j = 0; j < n; ++j, at += step, out += es) {
        memcpy(out, in + at, (size_t)es);
      }
      break;
  }
}

void utvm_strided_copy(const utvm_strided_copy_params *params, const void *input, void *output) {
  const int32_t *shape = params->shape;
  const int32_t *stride = params->stride;
  const int32_t es = params->elem_size;
  const size_t row_bytes = (size_t)shape[5] * (size_t)es;
  const uint8_t *in = (const uint8_t *)input;
  uint8_t *out = (uint8_t *)output;
  int32_t i0, i1, i2, i3, i4;
  int32_t o0, o1, o2, o3, o4;
  for (i0 = 0, o0 = params->offset; i0 < shape[0]; ++i0, o0 += stride[0]) {
    for (i1 = 0, o1 = o0; i1 < shape[1]; ++i1, o1 += stride[1]) {
      for (i2 = 0, o2 = o1; i2 < shape[2]; ++i2, o2 += stride[2]) {
        for (i3 = 0, o3 = o2; i3 < shape[3]; ++i3, o3 += stride[3]) {
          for (i4 = 0, o4 = o3; i4 < shape[4]; ++i4, o4 += stride[4]) {
            copy_row(out, in, o4, shape[5], stride[5], es);
            out += row_bytes;
          }
        }
      }
    }
  }
}
