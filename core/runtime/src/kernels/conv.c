/* CONV_2D int8 reference kernel; see utvm/kernels/conv.h for the contract. */
#include "utvm/kernels/conv.h"

#include "utvm/kernels/common.h"

void utvm_conv_s8(const utvm_conv_params *params, const int8_t *input, const UTVM_CONST_AS int8_t *filter,
                  const UTVM_CONST_AS int32_t *bias, int8_t *output) {
  const int32_t input_h = params->input_h;
  const int32_t input_w = params->input_w;
  const int32_t input_c = params->input_c;
  const int32_t filter_h = params->filter_h;
  const int32_t filter_w = params->filter_w;
  const int32_t filter_c = params->filter_c;
  const int32_t output_c = params->output_c;
  const int32_t input_offset = params->input_offset;
  const int32_t filters_per_group = output_c / (input_c / filter_c);
  const int32_t filter_size = filter_h * filter_w * filter_c;
  int32_t batch;
  int32_t out_y;
  int32_t out_x;
  int32_t out_c;

  for (batch = 0; batch < params->batches; ++batch) {
    const int8_t *input_batch = input + batch * input_h * input_w * input_c;
    for (out_y = 0; out_y < params->output_h; ++out_y) {
      const int32_t in_y_origin = out_y * params->stride_h - params->pad_h;
      for (out_x = 0; out_x < params->output_w; ++out_x) {
        const int32_t in_x_origin = out_x * params->stride_w - params->pad_w;
        for (out_c = 0; out_c < output_c; ++out_c) {
          const int32_t channel_base = (out_c / filters_per_group) * filter_c;
          const UTVM_CONST_AS int8_t *filter_oc = filter + out_c * filter_size;
          const int32_t ch = params->per_channel ? out_c : 0;
          int32_t acc = 0;
          int32_t filter_y;
          for (filter_y = 0; filter_y < filter_h; ++filter_y) {
            const int32_t in_y = in_y_origin + params->dilation_h * filter_y;
            int32_t filter_x;
            if (in_y < 0 || in_y >= input_h) {
              continue;
            }
            for (filter_x = 0; filter_x < filter_w; ++filter_x) {
              const int32_t in_x = in_x_origin + params->dilation_w * filter_x;
              const int8_t *in_ptr;
              const UTVM_CONST_AS int8_t *w_ptr;
              int32_t c;
              if (in_x < 0 || in_x >= input_w) {
                continue;
              }
              in_ptr = input_batch + (in_y * input_w + in_x) * input_c + channel_base;
              w_ptr = filter_oc + (filter_y * filter_w + filter_x) * filter_c;
              for (c = 0; c < filter_c; ++c) {
                acc += (int32_t)w_ptr[c] * ((int32_t)in_ptr[c] + input_offset);
              }
            }
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
  }
}
