/* CONCATENATION; see utvm/kernels/concatenation.h. */
#include <string.h>

#include "utvm/kernels/concatenation.h"

void utvm_concatenation(const utvm_concatenation_params *params, const void *const *inputs, void *output) {
  uint8_t *out = (uint8_t *)output;
  int32_t k, i;
  for (k = 0; k < params->outer; ++k) {
    for (i = 0; i < params->num_inputs; ++i) {
      const size_t n = (size_t)params->copy_bytes[i];
      memcpy(out, (const uint8_t *)inputs[i] + (size_t)k * n, n);
      out += n;
    }
  }
}
