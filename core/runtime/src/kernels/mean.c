/* MEAN (int8), see utvm/kernels/mean.h. */
#include "utvm/kernels/mean.h"

#include "utvm/kernels/common.h"

/* Sum of the reduced elements whose first element is base (wrapping int32 sum). */
static uint32_t utvm_mean_sum(const utvm_mean_params *p, const int8_t *base) {
  int32_t index[UTVM_MEAN_MAX_DIMS];
  uint32_t sum = 0;
  int32_t d;
  if (p->num_reduced == 0) {
    return (uint32_t)(int32_t)base[0];
  }
  for (d = 0; d < p->num_reduced; ++d) {
    index[d] = 0;
  }
  for (;;) {
    /* Innermost reduced axis as a plain loop. */
    const int32_t inner = p->num_reduced - 1;
    const int32_t n = p->reduced_dims[inner];
    const int32_t stride = p->reduced_strides[inner];
    int32_t i;
    for (i = 0; i < n; ++i) {
      sum += (uint32_t)(int32_t)base[i * stride];
    }
    /* Advance the outer reduced axes like an odometer. */
    for (d = inner - 1; d >= 0; --d) {
      base += p->reduced_strides[d];
      if (++index[d] < p->reduced_dims[d]) {
        break;
      }
      base -= p->reduced_strides[d] * p->reduced_dims[d];
      index[d] = 0;
    }
    if (d < 0) {
      return sum;
    }
  }
}

void utvm_mean_s8(const utvm_mean_params *params, const int8_t *input, int8_t *output) {
  int32_t index[UTVM_MEAN_MAX_DIMS];
  const int8_t *base = input;
  int32_t d;
  for (d = 0; d < params->num_kept; ++d) {
    index[d] = 0;
  }
  for (;;) {
    const int32_t sum = (int32_t)(utvm_mean_sum(params, base) + (uint32_t)params->sum_offset);
    int32_t out = utvm_requantize(sum, params->multiplier, params->shift) + params->output_zero_point;
    *output++ = (int8_t)utvm_clamp_i32(out, UTVM_INT8_MIN, UTVM_INT8_MAX);
    for (d = params->num_kept - 1; d >= 0; --d) {
      base += params->kept_strides[d];
      if (++index[d] < params->kept_dims[d]) {
        break;
      }
      base -= params->kept_strides[d] * params->kept_dims[d];
      index[d] = 0;
    }
    if (d < 0) {
      return;
    }
  }
}
