/* AVERAGE_POOL_2D int8, four channels per SXTAB16 pair; see utvm/kernels/dsp/pooling.h. */
#include "utvm/kernels/dsp/pooling.h"

#include "utvm/kernels/dsp/dsp.h"

/* TFLM's rounding division: half away from zero (C99 division truncates toward zero). */
UTVM_DSP_INLINE int8_t utvm_dsp_pool_avg(int32_t sum, int32_t count, int32_t lo, int32_t hi) {
  int32_t v = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
  v = v < lo ? lo : v;
  v = v > hi ? hi : v;
  return (int8_t)v;
}

UTVM_DSP_KERNEL void utvm_dsp_avg_pool_s8(const utvm_pool_params *params, const int8_t *input, int8_t *output) {
  const int32_t depth = params->depth;
  const int32_t row_stride = params->input_width * depth;
  const int32_t lo = params->activation_min;
  const int32_t hi = params->activation_max;
  int32_t b, out_y, out_x;
  for (b = 0; b < params->batches; ++b) {
    const int8_t *in_batch = input + b * params->input_height * row_stride;
    for (out_y = 0; out_y < params->output_height; ++out_y) {
      const int32_t y0 = out_y * params->stride_height - params->padding_height;
      const int32_t ys = y0 < 0 ? 0 : y0;
      const int32_t ye = y0 + params->filter_height < params->input_height ? y0 + params->filter_height
                                                                           : params->input_height;
      for (out_x = 0; out_x < params->output_width; ++out_x) {
        const int32_t x0 = out_x * params->stride_width - params->padding_width;
        const int32_t xs = x0 < 0 ? 0 : x0;
        const int32_t xe = x0 + params->filter_width < params->input_width ? x0 + params->filter_width
                                                                          : params->input_width;
        const int32_t count = (ye - ys) * (xe - xs);
        const int8_t *first = in_batch + ys * row_stride + xs * depth;
        int32_t c;
        if (count <= 0) {
          return; /* as TFLM; the compiler never emits such a window */
        }
        for (c = 0; c < depth; c += 4) {
          int32_t even = 0; /* lanes: channels c, c + 2 */
          int32_t odd = 0;  /* lanes: channels c + 1, c + 3 */
          const int8_t *row = first + c;
          int32_t y, x;
          for (y = ys; y < ye; ++y) {
            const int8_t *px = row;
            for (x = xs; x < xe; ++x) {
              const int32_t v = utvm_dsp_read4(px);
              even = utvm_sxtab16(even, v);
              odd = utvm_sxtab16_ror8(odd, v);
              px += depth;
            }
            row += row_stride;
          }
          output[0] = utvm_dsp_pool_avg((int16_t)(uint16_t)((uint32_t)even & 0xFFFFu), count, lo, hi);
          output[1] = utvm_dsp_pool_avg((int16_t)(uint16_t)((uint32_t)odd & 0xFFFFu), count, lo, hi);
          output[2] = utvm_dsp_pool_avg((int16_t)(uint16_t)((uint32_t)even >> 16), count, lo, hi);
          output[3] = utvm_dsp_pool_avg((int16_t)(uint16_t)((uint32_t)odd >> 16), count, lo, hi);
          output += 4;
        }
      }
    }
  }
}

/*
 * MAX_POOL_2D: four channels per word, the bytewise max of SSUB8 + SEL. The
 * channels go in groups of 4, the last group the last 4 channels when depth %
 * 4 != 0 (recomputing, to the same values, those it shares with the group
 * before): depth >= 4.
 */
UTVM_DSP_INLINE void utvm_dsp_max_pool_body(const utvm_pool_params *params, const int8_t *input, int8_t *output,
                                            int full_range) {
  const int32_t depth = params->depth;
  const int32_t in_h = params->input_height;
  const int32_t in_w = params->input_width;
  const int32_t f_h = params->filter_height;
  const int32_t f_w = params->filter_width;
  const int32_t row_stride = in_w * depth;
  const int32_t lo4 = (int32_t)((uint32_t)(uint8_t)(int8_t)params->activation_min * 0x01010101u);
  const int32_t hi4 = (int32_t)((uint32_t)(uint8_t)(int8_t)params->activation_max * 0x01010101u);
  int32_t b, out_y, out_x;
  for (b = 0; b < params->batches; ++b) {
    const int8_t *in_batch = input + b * in_h * row_stride;
    for (out_y = 0; out_y < params->output_height; ++out_y) {
      const int32_t y0 = out_y * params->stride_height - params->padding_height;
      const int32_t ys = y0 < 0 ? 0 : y0;
      const int32_t ye = y0 + f_h < in_h ? y0 + f_h : in_h;
      for (out_x = 0; out_x < params->output_width; ++out_x) {
        const int32_t x0 = out_x * params->stride_width - params->padding_width;
        const int32_t xs = x0 < 0 ? 0 : x0;
        const int32_t xe = x0 + f_w < in_w ? x0 + f_w : in_w;
        const int32_t rows = ye - ys;
        const int32_t cols = xe - xs;
        const int8_t *first = in_batch + ys * row_stride + xs * depth;
        int32_t left;
        if (rows == 2 && cols == 2) {
          /* A whole 2 x 2 window: four words a group. */
          for (left = depth; left > 0; left -= 4) {
            int32_t m;
            if (left < 4) {
              first -= 4 - left;
              output -= 4 - left;
              left = 4;
            }
            m = utvm_dsp_max4(utvm_dsp_max4(utvm_dsp_read4(first), utvm_dsp_read4(first + depth)),
                              utvm_dsp_max4(utvm_dsp_read4(first + row_stride),
                                            utvm_dsp_read4(first + row_stride + depth)));
            if (!full_range) {
              m = utvm_dsp_min4(utvm_dsp_max4(m, lo4), hi4);
            }
            utvm_dsp_write4(output, m);
            output += 4;
            first += 4;
          }
          continue;
        }
        for (left = depth; left > 0; left -= 4) {
          int32_t m = (int32_t)0x80808080u; /* -128 in every byte */
          const int8_t *row;
          int32_t y;
          if (left < 4) { /* the last group: the last 4 channels */
            first -= 4 - left;
            output -= 4 - left;
            left = 4;
          }
          row = first;
          for (y = rows; y > 0; --y) {
            const int8_t *px = row;
            int32_t x;
            for (x = cols; x >= 2; x -= 2) {
              m = utvm_dsp_max4(m, utvm_dsp_read4(px));
              m = utvm_dsp_max4(m, utvm_dsp_read4(px + depth));
              px += 2 * depth;
            }
            if (x) {
              m = utvm_dsp_max4(m, utvm_dsp_read4(px));
            }
            row += row_stride;
          }
          if (!full_range) {
            m = utvm_dsp_min4(utvm_dsp_max4(m, lo4), hi4);
          }
          utvm_dsp_write4(output, m);
          output += 4;
          first += 4;
        }
      }
    }
  }
}

UTVM_DSP_KERNEL void utvm_dsp_max_pool_s8(const utvm_pool_params *params, const int8_t *input, int8_t *output) {
  utvm_dsp_max_pool_body(params, input, output, 0);
}

UTVM_DSP_KERNEL void utvm_dsp_max_pool_s8_full(const utvm_pool_params *params, const int8_t *input, int8_t *output) {
  utvm_dsp_max_pool_body(params, input, output, 1);
}
