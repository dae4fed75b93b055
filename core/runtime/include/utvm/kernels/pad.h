/*
 * PAD / PADV2, bit-exact with TFLite Micro: the output is the input framed by
 * `before[d]` and `after[d]` elements of the pad value along each axis d.
 * Elements are moved as bytes (no requantization: TFLM copies int8 values
 * unchanged and pads with the output zero point, or PADV2's constant).
 *
 * The compiler normalizes the axes: an axis without padding is merged into
 * the axis outside it, unused leading axes are {1, 0, 0}. The input is read
 * once, sequentially, as in TFLM.
 */
#ifndef UTVM_KERNELS_PAD_H
#define UTVM_KERNELS_PAD_H

#include "utvm/kernels/common.h"

#define UTVM_PAD_MAX_DIMS 5

typedef struct {
  int32_t elem_size;                      /* bytes per element: 1, 2 or 4 */
  int32_t pad_value;                      /* the value (int8/int16/int32), or a float32's bits */
  int32_t shape[UTVM_PAD_MAX_DIMS];       /* output dimensions, outermost first */
  int32_t before[UTVM_PAD_MAX_DIMS];      /* pad elements before the input, per axis */
  int32_t after[UTVM_PAD_MAX_DIMS];       /* pad elements after the input, per axis */
} utvm_pad_params;

/* Input and output must not overlap. */
void utvm_pad(const utvm_pad_params *params, const void *input, void *output);

#endif /* UTVM_KERNELS_PAD_H */
