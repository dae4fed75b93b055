/* DEPTHWISE_CONV_2D int8 with SMLABB / SMLATT; see utvm/kernels/dsp/depthwise_conv.h. */
#include "utvm/kernels/dsp/depthwise_conv.h"

#include "utvm/kernels/dsp/dsp.h"

/* One tap of 4 channels: the input word at xp (offset added), the weights as (c0, c2) and (c1, c3). */
#define UTVM_DW_TAP(xp, w02, w13)                     \
  do {                                                \
    const int32_t a_ = utvm_dsp_read4(xp);            \
    const int32_t lo_ = utvm_sxtab16(off2, a_);       \
    const int32_t hi_ = utvm_sxtab16_ror8(off2, a_);  \
    acc0 = utvm_smlabb(lo_, (w02), acc0);             \
    acc2 = utvm_smlatt(lo_, (w02), acc2);             \
    acc1 = utvm_smlabb(hi_, (w13), acc1);             \
    acc3 = utvm_smlatt(hi_, (w13), acc3);             \
  } while (0)

#if UTVM_DSP_ASM
/* One tap in assembly: input word at [x, OFS], weights from wr (post-incremented). */
#define UTVM_DW_TAP_ASM(OFS)                        \
  "ldr %[a], [%[x]" OFS "]\n\t"                     \
  "ldrd %[w0], %[w1], [%[wr]], #8\n\t"              \
  "sxtab16 %[lo], %[off], %[a]\n\t"                 \
  "sxtab16 %[a], %[off], %[a], ror #8\n\t"          \
  "smlabb %[c0], %[lo], %[w0], %[c0]\n\t"           \
  "smlatt %[c2], %[lo], %[w0], %[c2]\n\t"           \
  "smlabb %[c1], %[a], %[w1], %[c1]\n\t"            \
  "smlatt %[c3], %[a], %[w1], %[c3]\n\t"
#endif

#if UTVM_DSP_ASM
/* Into the next row of the window: x by the row step, the weights past the taps left out. */
#define UTVM_DW_NEXT_ROW "ldr %[lo], %[rs]\n\t" "add %[x], %[x], %[lo]\n\t"
#define UTVM_DW_SKIP_W "add %[wr], %[wr], #8\n\t"
#endif

#if UTVM_DSP_ASM
/* The operands of the rows' assembly. */
#define UTVM_DW_ROWS_OPERANDS                                                                                  \
  : [c0] "+r"(r0), [c1] "+r"(r1), [c2] "+r"(r2), [c3] "+r"(r3), [x] "+r"(x), [wr] "+r"(wr), [a] "=&r"(a),   \
    [lo] "=&r"(lo), [w0] "=&r"(w0), [w1] "=&r"(w1)                                                            \
  : [off] "r"(off2), [ch] "r"(ch), [rs] "m"(row_step), [rows] "m"(rows)                                       \
  : "cc", "memory"
#endif

/*
 * `rows` (1 to 3) rows of a window of a 3 x 3 filter, 4 channels, `cols` (3,
 * or 2 where the left or right edge of the input cuts it) taps across, all
 * inside the input: the first at x, rows row_bytes apart; weights at *w from
 * the first tap read (6 words per row, then advanced), into the four
 * accumulators.
 */
UTVM_DSP_INLINE void utvm_dsp_dw_rows(const int8_t *x, const int32_t **w, int32_t rows, int32_t cols, int32_t ch,
                                      int32_t row_bytes, int32_t off2, int32_t *c0, int32_t *c1, int32_t *c2,
                                      int32_t *c3) {
#if UTVM_DSP_ASM
  const int32_t row_step = row_bytes;
  int32_t r0 = *c0, r1 = *c1, r2 = *c2, r3 = *c3;
  const int32_t *wr = *w;
  int32_t a, lo, w0, w1;
  if (cols == 3) {
    __asm__ volatile(
        "ldr %[lo], %[rows]\n\t"
        "cmp %[lo], #2\n\t"
        "beq 2f\n\t"
        "blt 1f\n\t"
        UTVM_DW_TAP_ASM("") UTVM_DW_TAP_ASM(", %[ch]") UTVM_DW_TAP_ASM(", %[ch], lsl #1")
        UTVM_DW_NEXT_ROW
        "2:\n\t"
        UTVM_DW_TAP_ASM("") UTVM_DW_TAP_ASM(", %[ch]") UTVM_DW_TAP_ASM(", %[ch], lsl #1")
        UTVM_DW_NEXT_ROW
        "1:\n\t"
        UTVM_DW_TAP_ASM("") UTVM_DW_TAP_ASM(", %[ch]") UTVM_DW_TAP_ASM(", %[ch], lsl #1")
        UTVM_DW_ROWS_OPERANDS);
  } else {
    __asm__ volatile(
        "ldr %[lo], %[rows]\n\t"
        "cmp %[lo], #2\n\t"
        "beq 2f\n\t"
        "blt 1f\n\t"
        UTVM_DW_TAP_ASM("") UTVM_DW_TAP_ASM(", %[ch]")
        UTVM_DW_NEXT_ROW UTVM_DW_SKIP_W
        "2:\n\t"
        UTVM_DW_TAP_ASM("") UTVM_DW_TAP_ASM(", %[ch]")
        UTVM_DW_NEXT_ROW UTVM_DW_SKIP_W
        "1:\n\t"
        UTVM_DW_TAP_ASM("") UTVM_DW_TAP_ASM(", %[ch]")
        UTVM_DW_SKIP_W
        UTVM_DW_ROWS_OPERANDS);
  }
  *c0 = r0;
  *c1 = r1;
  *c2 = r2;
  *c3 = r3;
  *w = wr;
#else
  int32_t acc0 = *c0, acc1 = *c1, acc2 = *c2, acc3 = *c3;
  const int32_t *wr = *w;
  for (; rows > 0; --rows) {
    int32_t k;
    for (k = 0; k < cols; ++k) {
      UTVM_DW_TAP(x + k * ch, wr[2 * k], wr[2 * k + 1]);
    }
    x += row_bytes;
    wr += 6;
  }
  *c0 = acc0;
  *c1 = acc1;
  *c2 = acc2;
  *c3 = acc3;
  *w = wr;
#endif
}

/* Requantized and clamped outputs of a group of 4 channels (triples at q) to out[0..3]. */
UTVM_DSP_INLINE void utvm_dsp_dw_out4(const int32_t *q, int32_t acc0, int32_t acc1, int32_t acc2, int32_t acc3,
                                      int32_t act_min, int32_t act_max, int full_range,
                                      int8_t *out) {
  const int32_t y0 = utvm_dsp_output(utvm_dsp_requantize(acc0, q[0], q[1], q[2]), act_min, act_max,
                                     full_range);
  const int32_t y1 = utvm_dsp_output(utvm_dsp_requantize(acc1, q[3], q[4], q[5]), act_min, act_max,
                                     full_range);
  const int32_t y2 = utvm_dsp_output(utvm_dsp_requantize(acc2, q[6], q[7], q[8]), act_min, act_max,
                                     full_range);
  const int32_t y3 = utvm_dsp_output(utvm_dsp_requantize(acc3, q[9], q[10], q[11]), act_min, act_max,
                                     full_range);
  out[0] = (int8_t)y0;
  out[1] = (int8_t)y1;
  out[2] = (int8_t)y2;
  out[3] = (int8_t)y3;
}

UTVM_DSP_INLINE void utvm_dsp_dw_body(const utvm_dsp_depthwise_conv_params *p, const int8_t *input, int8_t *output,
                                      int full_range) {
  const int32_t in_h = p->input_h;
  const int32_t in_w = p->input_w;
  const int32_t ch = p->channels;
  const int32_t f_h = p->filter_h;
  const int32_t f_w = p->filter_w;
  const int32_t out_h = p->output_h;
  const int32_t out_w = p->output_w;
  const int32_t row_bytes = in_w * ch;
  const int32_t taps = f_h * f_w;
  const int32_t off = p->input_offset;
  const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
  const int32_t act_min = p->act_min;
  const int32_t act_max = p->act_max;
  const int is_3x3 = f_h == 3 && f_w == 3;
  int32_t batch;
  for (batch = 0; batch < p->batches; ++batch) {
    const int8_t *in = input + batch * in_h * row_bytes;
    int8_t *out = output + batch * out_h * out_w * ch;
    int32_t oy;
    for (oy = 0; oy < out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
      const int32_t ky1 = in_h - iy0 < f_h ? in_h - iy0 : f_h;
      int32_t ox;
      for (ox = 0; ox < out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
        const int32_t kx1 = in_w - ix0 < f_w ? in_w - ix0 : f_w;
        const int32_t rows = ky1 - ky0;
        const int32_t cols = kx1 - kx0;
        /* The window's first tap inside the input, and its weights. */
        const int8_t *x0 = in + (iy0 + ky0) * row_bytes + (ix0 + kx0) * ch;
        const int32_t *bias = p->bias;
        const int32_t *q = p->quant;
        int8_t *const out_end = out + ch;
        if (is_3x3 && cols >= 2) {
          /* Windows of a 3 x 3 filter, whole or cut by an edge of the input. */
          const int32_t *w = (const int32_t *)(const void *)p->weights + 2 * (ky0 * 3 + kx0);
          while (out != out_end) {
            int32_t acc0 = bias[0];
            int32_t acc1 = bias[1];
            int32_t acc2 = bias[2];
            int32_t acc3 = bias[3];
            const int32_t *wg = w;
            utvm_dsp_dw_rows(x0, &wg, rows, cols, ch, row_bytes, off2, &acc0, &acc1, &acc2, &acc3);
            utvm_dsp_dw_out4(q, acc0, acc1, acc2, acc3, act_min, act_max, full_range, out);
            out += 4;
            x0 += 4;
            bias += 4;
            q += 12;
            w += 2 * 9;
          }
          continue;
        }
        {
          const int32_t *w = (const int32_t *)(const void *)p->weights + 2 * (ky0 * f_w + kx0);
          while (out != out_end) {
            int32_t acc0 = bias[0];
            int32_t acc1 = bias[1];
            int32_t acc2 = bias[2];
            int32_t acc3 = bias[3];
            const int8_t *xr = x0;
            const int32_t *wr = w;
            int32_t r;
            for (r = rows; r > 0; --r) {
              const int8_t *xp = xr;
              const int32_t *wp = wr;
              int32_t k;
              for (k = cols; k > 0; --k) {
                UTVM_DW_TAP(xp, wp[0], wp[1]);
                xp += ch;
                wp += 2;
              }
              xr += row_bytes;
              wr += 2 * f_w;
            }
            utvm_dsp_dw_out4(q, acc0, acc1, acc2, acc3, act_min, act_max, full_range, out);
            out += 4;
            x0 += 4;
            bias += 4;
            q += 12;
            w += 2 * taps;
          }
        }
      }
    }
  }
}

UTVM_DSP_KERNEL void utvm_dsp_depthwise_conv_s8(const utvm_dsp_depthwise_conv_params *params, const int8_t *input,
                                int8_t *output) {
  utvm_dsp_dw_body(params, input, output, 0);
}

UTVM_DSP_KERNEL void utvm_dsp_depthwise_conv_s8_full(const utvm_dsp_depthwise_conv_params *params, const int8_t *input,
                                     int8_t *output) {
  utvm_dsp_dw_body(params, input, output, 1);
}
