/* FULLY_CONNECTED int8, MVE variant; see utvm/kernels/mve/fully_connected.h for the contract. */
#include "utvm/kernels/mve/fully_connected.h"

#include "utvm/kernels/mve/gemm.h"
#include "utvm/kernels/mve/mve_common.h"

/* sum of x[0, n) as int32 (wrapping). */
static int32_t utvm_mve_sum_s8(const int8_t *x, int32_t n) {
#if UTVM_MVE
  int32_t sum = 0;
  while (n > 0) {
    const mve_pred16_t p = vctp8q((uint32_t)n);
    sum = vaddvaq_p_s8(sum, vldrbq_z_s8(x, p), p);
    x += 16;
    n -= 16;
  }
  return sum;
#else
  uint32_t sum = 0;
  int32_t i;
  for (i = 0; i < n; ++i) {
    sum += (uint32_t)(int32_t)x[i];
  }
  return (int32_t)sum;
#endif
}

void utvm_fully_connected_s8_mve(const utvm_mve_fully_connected_params *params, const int8_t *input,
                                 int8_t *output) {
  const int32_t depth = params->accum_depth;
  const int32_t k16 = params->k16;
  int8_t padded[k16 != depth ? k16 : 1];
  utvm_mve_gemm g;
  int32_t batch;

  g.channels = params->output_depth;
  g.k16 = k16;
  g.output_offset = params->output_offset;
  g.act_min = params->act_min;
  g.act_max = params->act_max;
  g.has_left = params->has_left;
  g.fast = params->fast;
  g.stream = params->stream;
  if (k16 != depth) {
    utvm_mve_fill(padded, 0, k16);
  }

  for (batch = 0; batch < params->batches; ++batch) {
    const int8_t *x = input + batch * depth;
    int32_t correction = 0;
    if (params->weights_offset != 0) {
      correction = (int32_t)((uint32_t)params->weights_offset * (uint32_t)utvm_mve_sum_s8(x, depth));
    }
    if (k16 != depth && batch == params->batches - 1) {
      /* The core reads whole 16-byte chunks (past accum_depth they meet the weights' zero
         padding); the last row would read past the end of the input: a copy padded with zeros. */
      utvm_mve_copy(padded, x, depth);
      x = padded;
    }
    utvm_mve_gemm_rows(&g, x, NULL, correction, output + batch * params->output_depth, NULL);
  }
}
