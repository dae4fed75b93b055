/* AVERAGE_POOL_2D and MAX_POOL_2D (int8), see utvm/kernels/pooling.h. */
#include "utvm/kernels/pooling.h"

#include "utvm/kernels/common.h"

/* The window of output position (out_y, out_x), clipped to the input. */
typedef struct {
  int32_t y_origin, x_origin;
  int32_t y_start, y_end, x_start, x_end;
} utvm_pool_window;

static void utvm_pool_window_at(const utvm_pool_params *p, int32_t out_y, int32_t out_x, utvm_pool_window *w) {
  w->y_origin = out_y * p->stride_height - p->padding_height;
  w->x_origin = out_x * p->stride_width - p->padding_width;
  w->y_start = utvm_max_i32(0, -w->y_origin);
  w->y_end = utvm_min_i32(p->filter_height, p->input_height - w->y_origin);
  w->x_start = utvm_max_i32(0, -w->x_origin);
  w->x_end = utvm_min_i32(p->filter_width, p->input_width - w->x_origin);
}

void utvm_avg_pool_s8(const utvm_pool_params *params, const int8_t *input, int8_t *output) {
  const int32_t depth = params->depth;
  const int32_t row_stride = params->input_width * depth;
  int32_t b, out_y, out_x, c, fy, fx;
  for (b = 0; b < params->batches; ++b) {
    const int8_t *in_batch = input + (int32_t)b * params->input_height * row_stride;
    for (out_y = 0; out_y < params->output_height; ++out_y) {
      for (out_x = 0; out_x < params->output_width; ++out_x) {
        utvm_pool_window w;
        int32_t count;
        utvm_pool_window_at(params, out_y, out_x, &w);
        count = (w.y_end - w.y_start) * (w.x_end - w.x_start);
        if (count <= 0) {
          /* TFLM's kernel stops at a window without input elements; the compiler never emits one. */
          return;
        }
        for (c = 0; c < depth; ++c) {
          int32_t acc = 0;
          for (fy = w.y_start; fy < w.y_end; ++fy) {
            const int8_t *row = in_batch + (w.y_origin + fy) * row_stride + c;
            for (fx = w.x_start; fx < w.x_end; ++fx) {
              acc += row[(w.x_origin + fx) * depth];
            }
          }
          /* Round half away from zero; C99 division truncates toward zero. */
          acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
          acc = utvm_clamp_i32(acc, params->activation_min, params->activation_max);
          *output++ = (int8_t)acc;
        }
      }
    }
  }
}

void utvm_max_pool_s8(const utvm_pool_params *params, const int8_t *input, int8_t *output) {
  const int32_t depth = params->depth;
  const int32_t row_stride = params->input_width * depth;
  int32_t b, out_y, out_x, c, fy, fx;
  for (b = 0; b < params->batches; ++b) {
    const int8_t *in_batch = input + (int32_t)b * params->input_height * row_stride;
    for (out_y = 0; out_y < params->output_height; ++out_y) {
      for (out_x = 0; out_x < params->output_width; ++out_x) {
        utvm_pool_window w;
        utvm_pool_window_at(params, out_y, out_x, &w);
        for (c = 0; c < depth; ++c) {
          int32_t max = UTVM_INT8_MIN;
          for (fy = w.y_start; fy < w.y_end; ++fy) {
            const int8_t *row = in_batch + (w.y_origin + fy) * row_stride + c;
            for (fx = w.x_start; fx < w.x_end; ++fx) {
              const int32_t v = row[(w.x_origin + fx) * depth];
              if (v > max) {
                max = v;
              }
            }
          }
          max = utvm_clamp_i32(max, params->activation_min, params->activation_max);
          *output++ = (int8_t)max;
        }
      }
    }
  }
}
