/* RESIZE_NEAREST_NEIGHBOR; see utvm/kernels/resize.h. */
#include <string.h>

#include "utvm/kernels/resize.h"

void utvm_resize_nearest(const utvm_resize_nearest_params *params, const void *input, void *output) {
  const uint8_t *in = (const uint8_t *)input;
  uint8_t *out = (uint8_t *)output;
  const size_t n = (size_t)params->pixel_bytes;
  int32_t b, y, x;
  for (b = 0; b < params->batches; ++b) {
    const uint8_t *batch = in + (size_t)b * (size_t)params->batch_bytes;
    for (y = 0; y < params->out_height; ++y) {
      const uint8_t *row = batch + params->y_offset[y];
      for (x = 0; x < params->out_width; ++x) {
        memcpy(out, row + params->x_offset[x], n);
        out += n;
      }
    }
  }
}
