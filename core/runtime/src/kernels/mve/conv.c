/* CONV_2D int8, MVE variant; see utvm/kernels/mve/conv.h for the contract. */
#include "utvm/kernels/mve/conv.h"

#include "utvm/kernels/mve/gemm.h"
#include "utvm/kernels/mve/mve_common.h"

/* The k inputs of output pixel (out_y, out_x), the padding read as the zero point. */
static void utvm_mve_conv_im2col(const utvm_mve_conv_params *p, const int8_t *in, int32_t out_y, int32_t out_x,
                                 int8_t *row) {
  const int32_t c = p->input_c;
  const int32_t w = p->input_w;
  const int32_t kw = p->filter_w;
  const int32_t y0 = out_y * p->stride_h - p->pad_h;
  const int32_t x0 = out_x * p->stride_w - p->pad_w;
  const int8_t zp = (int8_t)p->input_zero_point;
  int32_t ky;
  for (ky = 0; ky < p->filter_h; ++ky) {
    const int32_t iy = y0 + ky * p->dilation_h;
    int8_t *seg = row + ky * kw * c;
    if (iy < 0 || iy >= p->input_h) {
      utvm_mve_fill(seg, zp, kw * c);
    } else if (p->dilation_w == 1) {
      /* The window's row is contiguous in the input: one copy, zero point on both sides. */
      const int32_t lo = utvm_min_i32(utvm_max_i32(0, -x0), kw);
      const int32_t hi = utvm_max_i32(utvm_min_i32(kw, w - x0), lo);
      utvm_mve_fill(seg, zp, lo * c);
      utvm_mve_copy(seg + lo * c, in + (iy * w + x0 + lo) * c, (hi - lo) * c);
      utvm_mve_fill(seg + hi * c, zp, (kw - hi) * c);
    } else {
      int32_t kx;
      for (kx = 0; kx < kw; ++kx) {
        const int32_t ix = x0 + kx * p->dilation_w;
        if (ix < 0 || ix >= w) {
          utvm_mve_fill(seg + kx * c, zp, c);
        } else {
          utvm_mve_copy(seg + kx * c, in + (iy * w + ix) * c, c);
        }
      }
    }
  }
}

/*
 * The rows of two output pixels whose windows lie inside the image (dilation_w 1): filter_h segments
 * of seg = filter_w * input_c contiguous bytes each, row_step bytes apart in the input.
 */
static void utvm_mve_conv_im2col_pair(int8_t *d0, int8_t *d1, const int8_t *s0, const int8_t *s1, int32_t rows,
                                      int32_t seg, int32_t row_step) {
#if UTVM_MVE
  if (seg <= 16) {
    /* One predicated load and store per segment and pixel. */
    __asm__ volatile(
        "vctp.8 %[seg]\n\t"
        "1:\n\t"
        "vpstt\n\t"
        "vldrbt.8 q0, [%[s0]]\n\t"
        "vldrbt.8 q1, [%[s1]]\n\t"
        "vpstt\n\t"
        "vstrbt.8 q0, [%[d0]]\n\t"
        "vstrbt.8 q1, [%[d1]]\n\t"
        "add %[s0], %[s0], %[step]\n\t"
        "add %[s1], %[s1], %[step]\n\t"
        "add %[d0], %[d0], %[seg]\n\t"
        "add %[d1], %[d1], %[seg]\n\t"
        "subs %[rows], %[rows], #1\n\t"
        "bne 1b\n\t"
        : [s0] "+r"(s0), [s1] "+r"(s1), [d0] "+r"(d0), [d1] "+r"(d1), [rows] "+r"(rows)
        : [seg] "r"(seg), [step] "r"(row_step)
        : "q0", "q1", "memory", "cc");
    return;
  }
#endif
  for (; rows > 0; --rows) {
    utvm_mve_copy(d0, s0, seg);
    utvm_mve_copy(d1, s1, seg);
    d0 += seg;
    d1 += seg;
    s0 += row_step;
    s1 += row_step;
  }
}

void utvm_conv_s8_mve(const utvm_mve_conv_params *params, const int8_t *input, int8_t *output) {
  const int32_t in_h = params->input_h;
  const int32_t in_w = params->input_w;
  const int32_t in_c = params->input_c;
  const int32_t out_c = params->output_c;
  const int32_t out_w = params->output_w;
  const int32_t pixels = params->output_h * out_w;
  const int32_t k16 = params->k16;
  const int32_t in_size = in_h * in_w * in_c;
  /* im2col rows; in place, copies of rows that would read past the end of the input. */
  const int32_t buffered = params->im2col || k16 != in_c;
  int8_t rows[buffered ? 2 * k16 : 1];
  utvm_mve_gemm g;
  int32_t batch;

  g.channels = out_c;
  g.k16 = k16;
  g.output_offset = params->output_offset;
  g.act_min = params->act_min;
  g.act_max = params->act_max;
  g.has_left = params->has_left;
  g.fast = params->fast;
  g.stream = params->stream;
  /* Output pixels whose window lies inside the image: rows [iy_lo, iy_hi], columns [ix_lo, ix_hi]. */
  const int32_t window_h = (params->filter_h - 1) * params->dilation_h + 1;
  const int32_t window_w = (params->filter_w - 1) * params->dilation_w + 1;
  const int32_t span_h = in_h - window_h + params->pad_h; /* negative: no window fits below the top */
  const int32_t span_w = in_w - window_w + params->pad_w;
  const int32_t iy_lo = (params->pad_h + params->stride_h - 1) / params->stride_h;
  const int32_t iy_hi = span_h >= 0 ? span_h / params->stride_h : -1;
  const int32_t ix_lo = (params->pad_w + params->stride_w - 1) / params->stride_w;
  const int32_t ix_hi = params->dilation_w == 1 && span_w >= 0 ? span_w / params->stride_w : -1;
  const int32_t seg = params->filter_w * in_c;
  const int32_t row_step = params->dilation_h * in_w * in_c;
  if (buffered) {
    /* Past k the rows meet the weights' zero padding; keep them defined. */
    utvm_mve_fill(rows, 0, 2 * k16);
  }

  for (batch = 0; batch < params->batches; ++batch) {
    const int8_t *in = input + batch * in_h * in_w * in_c;
    int32_t pixel;
    for (pixel = 0; pixel < pixels; pixel += 2) {
      const int32_t y0 = pixel / out_w;
      const int32_t x0 = pixel - y0 * out_w;
      const int32_t pair = pixel + 1 < pixels;
      const int32_t y1 = x0 + 1 < out_w ? y0 : y0 + 1;
      const int32_t x1 = x0 + 1 < out_w ? x0 + 1 : 0;
      const int8_t *row0;
      const int8_t *row1 = NULL;
      if (params->im2col) {
        row0 = rows;
        if (pair && y0 >= iy_lo && y0 <= iy_hi && y1 <= iy_hi && x0 >= ix_lo && x0 <= ix_hi && x1 >= ix_lo &&
            x1 <= ix_hi) {
          const int8_t *s0 = in + ((y0 * params->stride_h - params->pad_h) * in_w + x0 * params->stride_w -
                                   params->pad_w) * in_c;
          const int8_t *s1 = in + ((y1 * params->stride_h - params->pad_h) * in_w + x1 * params->stride_w -
                                   params->pad_w) * in_c;
          utvm_mve_conv_im2col_pair(rows, rows + k16, s0, s1, params->filter_h, seg, row_step);
          row1 = rows + k16;
        } else {
          utvm_mve_conv_im2col(params, in, y0, x0, rows);
          if (pair) {
            utvm_mve_conv_im2col(params, in, y1, x1, rows + k16);
            row1 = rows + k16;
          }
        }
      } else {
        /* A 1x1 window without padding: the pixel's channels, read in place up to k16 bytes (past
           input_c they meet the weights' zero padding), unless that passes the end of the input. */
        const int32_t at0 = (y0 * params->stride_h * in_w + x0 * params->stride_w) * in_c;
        row0 = in + at0;
        if (at0 + k16 > in_size) {
          utvm_mve_copy(rows, row0, in_c);
          row0 = rows;
        }
        if (pair) {
          const int32_t at1 = (y1 * params->stride_h * in_w + x1 * params->stride_w) * in_c;
          row1 = in + at1;
          if (at1 + k16 > in_size) {
            utvm_mve_copy(rows + k16, row1, in_c);
            row1 = rows + k16;
          }
        }
      }
      utvm_mve_gemm_rows(&g, row0, row1, 0, output, output + out_c);
      output += 2 * out_c;
    }
    output -= (pixels & 1) * out_c;
  }
}
