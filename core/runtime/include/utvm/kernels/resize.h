/*
 * RESIZE_NEAREST_NEIGHBOR (NHWC), bit-exact with TFLite Micro. TFLM picks the
 * source row/column of each output row/column with float arithmetic that
 * depends only on the (static) shapes and the align_corners /
 * half_pixel_centers options, so the compiler evaluates it and hands the
 * kernel tables of byte offsets: output pixel (b, y, x) copies the
 * pixel_bytes at input + b * batch_bytes + y_offset[y] + x_offset[x].
 */
#ifndef UTVM_KERNELS_RESIZE_H
#define UTVM_KERNELS_RESIZE_H

#include "utvm/kernels/common.h"

typedef struct {
  int32_t batches;
  int32_t out_height;
  int32_t out_width;
  int32_t pixel_bytes;       /* depth * element size */
  int32_t batch_bytes;       /* input height * width * pixel_bytes */
  const int32_t *y_offset;   /* [out_height]: source row * input row bytes */
  const int32_t *x_offset;   /* [out_width]: source column * pixel_bytes */
} utvm_resize_nearest_params;

/* Input and output must not overlap. */
void utvm_resize_nearest(const utvm_resize_nearest_params *params, const void *input, void *output);

#endif /* UTVM_KERNELS_RESIZE_H */
