/* AVERAGE_POOL_2D and MAX_POOL_2D int8, MVE variants; see utvm/kernels/mve/pooling.h. */
#include "utvm/kernels/mve/pooling.h"

#include "utvm/kernels/mve/mve_common.h"

/* The window of one output position, clipped to the input: rows [y0, y1), columns [x0, x1). */
typedef struct {
  int32_t y0, y1, x0, x1;
} utvm_mve_pool_window;

static inline utvm_mve_pool_window utvm_mve_pool_window_at(const utvm_pool_params *p, int32_t out_y,
                                                          int32_t out_x) {
  utvm_mve_pool_window w;
  const int32_t y = out_y * p->stride_height - p->padding_height;
  const int32_t x = out_x * p->stride_width - p->padding_width;
  w.y0 = utvm_max_i32(0, y);
  w.y1 = utvm_min_i32(p->input_height, y + p->filter_height);
  w.x0 = utvm_max_i32(0, x);
  w.x1 = utvm_min_i32(p->input_width, x + p->filter_width);
  return w;
}

/* The reference's rounding division (half away from zero; C99 truncates) and clamp. */
static inline int8_t utvm_mve_pool_average(int32_t sum, int32_t count, const utvm_pool_params *p) {
  const int32_t q = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
  return (int8_t)utvm_clamp_i32(q, p->activation_min, p->activation_max);
}

void utvm_avg_pool_s8_mve(const utvm_pool_params *params, const int8_t *input, int8_t *output) {
  const int32_t depth = params->depth;
  const int32_t row_stride = params->input_width * depth;
  int32_t b, out_y, out_x, c, y, x;
  for (b = 0; b < params->batches; ++b) {
    const int8_t *in = input + b * params->input_height * row_stride;
    for (out_y = 0; out_y < params->output_height; ++out_y) {
      for (out_x = 0; out_x < params->output_width; ++out_x) {
        const utvm_mve_pool_window w = utvm_mve_pool_window_at(params, out_y, out_x);
        const int32_t count = (w.y1 - w.y0) * (w.x1 - w.x0);
        if (count <= 0) {
          return; /* as the reference: the compiler never emits such a window */
        }
        for (c = 0; c < depth; c += 8) {
#if UTVM_MVE
          const mve_pred16_t p = vctp16q((uint32_t)(depth - c));
          int16x8_t acc = vdupq_n_s16(0);
          int16_t sums[8];
          int32_t k;
          for (y = w.y0; y < w.y1; ++y) {
            const int8_t *px = in + (y * params->input_width + w.x0) * depth + c;
            for (x = w.x0; x < w.x1; ++x) {
              acc = vaddq_s16(acc, vldrbq_z_s16(px, p));
              px += depth;
            }
          }
          vst1q_s16(sums, acc);
          for (k = 0; k < 8 && c + k < depth; ++k) {
            *output++ = utvm_mve_pool_average(sums[k], count, params);
          }
#else
          int32_t k;
          for (k = 0; k < 8 && c + k < depth; ++k) {
            int32_t sum = 0;
            for (y = w.y0; y < w.y1; ++y) {
              for (x = w.x0; x < w.x1; ++x) {
                sum += in[(y * params->input_width + x) * depth + c + k];
              }
            }
            *output++ = utvm_mve_pool_average(sum, count, params);
          }
#endif
        }
      }
    }
  }
}

void utvm_max_pool_s8_mve(const utvm_pool_params *params, const int8_t *input, int8_t *output) {
  const int32_t depth = params->depth;
  const int32_t row_stride = params->input_width * depth;
  int32_t b, out_y, out_x, c, y, x;
  for (b = 0; b < params->batches; ++b) {
    const int8_t *in = input + b * params->input_height * row_stride;
    for (out_y = 0; out_y < params->output_height; ++out_y) {
      for (out_x = 0; out_x < params->output_width; ++out_x) {
        const utvm_mve_pool_window w = utvm_mve_pool_window_at(params, out_y, out_x);
        for (c = 0; c < depth; c += 16) {
#if UTVM_MVE
          const mve_pred16_t p = vctp8q((uint32_t)(depth - c));
          int8x16_t m = vdupq_n_s8(UTVM_INT8_MIN);
          for (y = w.y0; y < w.y1; ++y) {
            const int8_t *px = in + (y * params->input_width + w.x0) * depth + c;
            for (x = w.x0; x < w.x1; ++x) {
              m = vmaxq_s8(m, vldrbq_z_s8(px, p));
              px += depth;
            }
          }
          m = vmaxq_s8(m, vdupq_n_s8((int8_t)params->activation_min));
          m = vminq_s8(m, vdupq_n_s8((int8_t)params->activation_max));
          vstrbq_p_s8(output, m, p);
          output += utvm_min_i32(16, depth - c);
#else
          int32_t k;
          for (k = 0; k < 16 && c + k < depth; ++k) {
            int32_t m = UTVM_INT8_MIN;
            for (y = w.y0; y < w.y1; ++y) {
              for (x = w.x0; x < w.x1; ++x) {
                m = utvm_max_i32(m, in[(y * params->input_width + x) * depth + c + k]);
              }
            }
            *output++ = (int8_t)utvm_clamp_i32(m, params->activation_min, params->activation_max);
          }
#endif
        }
      }
    }
  }
}
