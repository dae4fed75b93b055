/* FULLY_CONNECTED int8 reference kernel; see utvm/kernels/fully_connected.h for the contract. */
#include "utvm/kernels/fully_connected.h"

#include "utvm/kernels/common.h"

void utvm_fully_connected_s8(const utvm_fully_connected_params *params, const int8_t *input,
                             const UTVM_CONST_AS int8_t *filter, const UTVM_CONST_AS int32_t *bias, int8_t *output) {
  const int32_t accum_depth = params->accum_depth;
  const int32_t output_depth = params->output_depth;
  const int32_t input_offset = params->input_offset;
  const int32_t weights_offset = params->weights_offset;
  int32_t batch;

  for (batch = 0; batch < params->batches; ++batch) {
    const int8_t *in_row = input + batch * accum_depth;
    int32_t out_c;
    for (out_c = 0; out_c < output_depth; ++out_c) {
      const UTVM_CONST_AS int8_t *w_row = filter + out_c * accum_depth;
      const int32_t ch = params->per_channel ? out_c : 0;
      int32_t acc = 0;
      int32_t d;
      for (d = 0; d < accum_depth; ++d) {
        acc += ((int32_t)w_row[d] + weights_offset) * ((int32_t)in_row[d] + input_offset);
      }
      if (bias != NULL) {
        acc += bias[out_c];
      }
      acc = utvm_requantize(acc, params->multiplier[ch], params->shift[ch]);
      acc += params->output_offset;
      acc = utvm_max_i32(acc, params->act_min);
      acc = utvm_min_i32(acc, params->act_max);
      *output++ = (int8_t)acc;
    }
  }
}
