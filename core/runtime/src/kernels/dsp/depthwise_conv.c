/* DEPTHWISE_CONV_2D int8 with SMLABB / SMLATT / SMLAD; see utvm/kernels/dsp/depthwise_conv.h. */
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

/* One group of 4 channels of a window of a 3 x 3 filter (see utvm_dsp_dw_rows), to out[0..3]. */
UTVM_DSP_INLINE void utvm_dsp_dw_group3(const int8_t *x0, const int32_t *w, const int32_t *bias, const int32_t *q,
                                        int32_t rows, int32_t cols, int32_t ch, int32_t row_bytes, int32_t off2,
                                        int32_t act_min, int32_t act_max, int full_range, int8_t *out) {
  int32_t acc0 = bias[0];
  int32_t acc1 = bias[1];
  int32_t acc2 = bias[2];
  int32_t acc3 = bias[3];
  const int32_t *wg = w;
  utvm_dsp_dw_rows(x0, &wg, rows, cols, ch, row_bytes, off2, &acc0, &acc1, &acc2, &acc3);
  utvm_dsp_dw_out4(q, acc0, acc1, acc2, acc3, act_min, act_max, full_range, out);
}

/* One group of 4 channels of any window: rows x cols taps from x0 (rows row_bytes apart), weights from w
   (rows f_w taps apart), to out[0..3]. */
UTVM_DSP_INLINE void utvm_dsp_dw_group(const int8_t *x0, const int32_t *w, const int32_t *bias, const int32_t *q,
                                       int32_t rows, int32_t cols, int32_t ch, int32_t row_bytes, int32_t f_w,
                                       int32_t off2, int32_t act_min, int32_t act_max, int full_range, int8_t *out) {
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
}

/* tail (a compile-time constant): channels % 4 != 0, then each pixel ends with a group of its last 4 channels
   (input and output moved back to them; weights, biases and triples go on). */
UTVM_DSP_INLINE void utvm_dsp_dw_body(const utvm_dsp_depthwise_conv_params *p, const int8_t *input, int8_t *output,
                                      int full_range, int tail) {
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
        int8_t *const out_tail = out + ch;                         /* tail: the end of the pixel */
        int8_t *const out_end = tail ? out + (ch & ~3) : out + ch; /* the end of the whole groups */
        if (is_3x3 && cols >= 2) {
          /* Windows of a 3 x 3 filter, whole or cut by an edge of the input. */
          const int32_t *w = (const int32_t *)(const void *)p->weights + 2 * (ky0 * 3 + kx0);
          while (out != out_end) {
            utvm_dsp_dw_group3(x0, w, bias, q, rows, cols, ch, row_bytes, off2, act_min, act_max, full_range, out);
            out += 4;
            x0 += 4;
            bias += 4;
            q += 12;
            w += 2 * 9;
          }
          if (tail) {
            utvm_dsp_dw_group3(x0 - (out + 4 - out_tail), w, bias, q, rows, cols, ch, row_bytes, off2, act_min,
                               act_max, full_range, out_tail - 4);
            out = out_tail;
          }
          continue;
        }
        {
          const int32_t *w = (const int32_t *)(const void *)p->weights + 2 * (ky0 * f_w + kx0);
          while (out != out_end) {
            utvm_dsp_dw_group(x0, w, bias, q, rows, cols, ch, row_bytes, f_w, off2, act_min, act_max, full_range,
                              out);
            out += 4;
            x0 += 4;
            bias += 4;
            q += 12;
            w += 2 * taps;
          }
          if (tail) {
            utvm_dsp_dw_group(x0 - (out + 4 - out_tail), w, bias, q, rows, cols, ch, row_bytes, f_w, off2, act_min,
                              act_max, full_range, out_tail - 4);
            out = out_tail;
          }
        }
      }
    }
  }
}

UTVM_DSP_KERNEL void utvm_dsp_depthwise_conv_s8(const utvm_dsp_depthwise_conv_params *params, const int8_t *input,
                                int8_t *output) {
  utvm_dsp_dw_body(params, input, output, 0, 0);
}

UTVM_DSP_KERNEL void utvm_dsp_depthwise_conv_s8_full(const utvm_dsp_depthwise_conv_params *params, const int8_t *input,
                                     int8_t *output) {
  utvm_dsp_dw_body(params, input, output, 1, 0);
}

UTVM_DSP_KERNEL void utvm_dsp_depthwise_conv_s8_tail(const utvm_dsp_depthwise_conv_params *params,
                                                     const int8_t *input, int8_t *output) {
  utvm_dsp_dw_body(params, input, output, 0, 1);
}

UTVM_DSP_KERNEL void utvm_dsp_depthwise_conv_s8_tail_full(const utvm_dsp_depthwise_conv_params *params,
                                                          const int8_t *input, int8_t *output) {
  utvm_dsp_dw_body(params, input, output, 1, 1);
}

/* ------------------------------------------------------------------ one input channel (_c1) */

/* Requantized and clamped outputs of the first n (1 to 3) of a group's 4 accumulators. */
UTVM_DSP_INLINE void utvm_dsp_dw_outn(const int32_t *q, const int32_t *acc, int32_t n, int32_t act_min,
                                      int32_t act_max, int full_range, int8_t *out) {
  int32_t k;
  for (k = 0; k < n; ++k) {
    out[k] = (int8_t)utvm_dsp_output(utvm_dsp_requantize(acc[k], q[3 * k], q[3 * k + 1], q[3 * k + 2]), act_min,
                                     act_max, full_range);
  }
}

#if UTVM_DSP_ASM
/* One quad: the 4 input bytes at x (post-incremented) as two halfword pairs, offset added, against each
   channel's (t0, t2), (t1, t3) weights at wr (post-incremented). */
#define UTVM_DW1_CHANNEL(C)                     \
  "ldrd %[w0], %[w1], [%[wr]], #8\n\t"          \
  "smlad %[" C "], %[lo], %[w0], %[" C "]\n\t"  \
  "smlad %[" C "], %[a], %[w1], %[" C "]\n\t"
#define UTVM_DW1_QUAD                           \
  "ldr %[a], [%[x]], #4\n\t"                    \
  "sxtab16 %[lo], %[off], %[a]\n\t"             \
  "sxtab16 %[a], %[off], %[a], ror #8\n\t"      \
  UTVM_DW1_CHANNEL("c0")                        \
  UTVM_DW1_CHANNEL("c1")                        \
  UTVM_DW1_CHANNEL("c2")                        \
  UTVM_DW1_CHANNEL("c3")
#endif

/*
 * `rows` >= 1 rows of `quads` >= 1 quads of one window, the first at x, each
 * next `step` bytes after the end of the one before, against a group's
 * weights at w (8 words a quad), into acc[0..3]. (The full-range kernel's
 * main loop is the assembly of utvm_dsp_dw1_run_full.)
 */
UTVM_DSP_INLINE void utvm_dsp_dw1_rows(const int8_t *x, const int32_t *w, int32_t rows, int32_t quads, int32_t step,
                                       int32_t off2, int32_t *acc) {
  int32_t c0 = acc[0], c1 = acc[1], c2 = acc[2], c3 = acc[3];
#if UTVM_DSP_ASM
  int32_t a, lo, w0, w1, n;
  for (; rows > 0; --rows) {
    n = quads;
    __asm__ volatile(
        "1:\n\t"
        UTVM_DW1_QUAD
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        : [c0] "+r"(c0), [c1] "+r"(c1), [c2] "+r"(c2), [c3] "+r"(c3), [x] "+r"(x), [wr] "+r"(w), [n] "+r"(n),
          [a] "=&r"(a), [lo] "=&r"(lo), [w0] "=&r"(w0), [w1] "=&r"(w1)
        : [off] "r"(off2)
        : "cc", "memory");
    x += step;
  }
#else
  for (; rows > 0; --rows) {
    int32_t k;
    for (k = quads; k > 0; --k) {
      const int32_t v = utvm_dsp_read4(x);
      const int32_t lo = utvm_sxtab16(off2, v);
      const int32_t hi = utvm_sxtab16_ror8(off2, v);
      c0 = utvm_smlad(hi, w[1], utvm_smlad(lo, w[0], c0));
      c1 = utvm_smlad(hi, w[3], utvm_smlad(lo, w[2], c1));
      c2 = utvm_smlad(hi, w[5], utvm_smlad(lo, w[4], c2));
      c3 = utvm_smlad(hi, w[7], utvm_smlad(lo, w[6], c3));
      x += 4;
      w += 8;
    }
    x += step;
  }
#endif
  acc[0] = c0;
  acc[1] = c1;
  acc[2] = c2;
  acc[3] = c3;
}

/* What every pixel of the _c1 kernel needs, set up once. */
typedef struct {
  const int32_t *records;
  int32_t groups; /* whole groups of 4 channels */
  int32_t last;   /* channels of a last, padded group (0 to 3) */
  int32_t quads;
  int32_t filter_h;
  int32_t off2; /* input_offset in both halfwords */
  int32_t act_min;
  int32_t act_max;
  int32_t stride_w;
  int32_t channels;
} utvm_dsp_dw1_setup;

/*
 * Groups of one output pixel, from the group whose record is at rec and
 * weights at w (its first row read) on, `groups` whole ones, then `last`
 * channels of a padded one: `rows` window rows from x (`step` bytes from the
 * end of a row's quads to the next row).
 */
UTVM_DSP_INLINE void utvm_dsp_dw1_groups(const utvm_dsp_dw1_setup *s, const int8_t *x, int32_t step, int32_t rows,
                                         const int32_t *w, const int32_t *rec, int32_t groups, int8_t *out,
                                         int full_range) {
  const int32_t group_words = 8 * s->quads * s->filter_h;
  for (; groups > 0; --groups) {
    int32_t acc[4];
    acc[0] = rec[0];
    acc[1] = rec[1];
    acc[2] = rec[2];
    acc[3] = rec[3];
    utvm_dsp_dw1_rows(x, w, rows, s->quads, step, s->off2, acc);
    utvm_dsp_dw_out4(rec + 4, acc[0], acc[1], acc[2], acc[3], s->act_min, s->act_max, full_range, out);
    out += 4;
    rec += 16;
    w += group_words;
  }
  if (s->last) {
    int32_t acc[4];
    acc[0] = rec[0];
    acc[1] = rec[1];
    acc[2] = rec[2];
    acc[3] = rec[3];
    utvm_dsp_dw1_rows(x, w, rows, s->quads, step, s->off2, acc);
    utvm_dsp_dw_outn(rec + 4, acc, s->last, s->act_min, s->act_max, full_range, out);
  }
}

/* The full-range form out of line: the assembly loop's fallback and its padded last group. */
UTVM_DSP_KERNEL UTVM_DSP_NOINLINE static void utvm_dsp_dw1_groups_full(const utvm_dsp_dw1_setup *s, const int8_t *x,
                                                                       int32_t step, int32_t rows, const int32_t *w,
                                                                       const int32_t *rec, int32_t groups,
                                                                       int8_t *out) {
  utvm_dsp_dw1_groups(s, x, step, rows, w, rec, groups, out, 1);
}

#if UTVM_DSP_ASM
/* Requantize accumulator C (full range) with the triple at [n, #OFS] to the byte at [x, #K]. */
#define UTVM_DW1_REQ(C, OFS, OFS_SHIFT, K)              \
  "ldrd %[a], %[lo], [%[n], #" OFS "]\n\t"              \
  "ldr %[w0], [%[n], #" OFS_SHIFT "]\n\t"               \
  "add %[w1], %[" C "], %[" C "]\n\t"                   \
  "smmlar %[w1], %[w1], %[a], %[lo]\n\t"                \
  "add %[w1], %[w1], %[" C "], asr #31\n\t"             \
  "asr %[w1], %[w1], %[w0]\n\t"                         \
  "ssat %[w1], #8, %[w1]\n\t"                           \
  "strb %[w1], [%[x], #" K "]\n\t"

/* A group starts: its biases (the record at rec) in the accumulators, x at the window. */
#define UTVM_DW1_GROUP_START                  \
  "6:\n\t"                                    \
  "ldr %[lo], %[rec]\n\t"                     \
  "ldrd %[c0], %[c1], [%[lo]]\n\t"            \
  "ldrd %[c2], %[c3], [%[lo], #8]\n\t"        \
  "ldr %[x], %[xs]\n\t"

/* x to the next row of the window. */
#define UTVM_DW1_NEXT_ROW                     \
  "ldr %[lo], %[step]\n\t"                    \
  "add %[x], %[x], %[lo]\n\t"

/* The loop over the window's rows, around one row's quads. */
#define UTVM_DW1_ROWS(QUADS)                  \
  "ldr %[n], %[rows]\n\t"                     \
  "1:\n\t"                                    \
  QUADS                                       \
  UTVM_DW1_NEXT_ROW                           \
  "subs %[n], %[n], #1\n\t"                   \
  "bne 1b\n\t"

/* A group ends: the weights on to the next group, the four outputs, rec and out on, until out_end. */
#define UTVM_DW1_GROUP_END                    \
  "ldr %[lo], %[skip]\n\t"                    \
  "add %[wr], %[wr], %[lo]\n\t"               \
  "ldr %[n], %[rec]\n\t"                      \
  "ldr %[x], %[out]\n\t"                      \
  UTVM_DW1_REQ("c0", "16", "24", "0")         \
  UTVM_DW1_REQ("c1", "28", "36", "1")         \
  UTVM_DW1_REQ("c2", "40", "48", "2")         \
  UTVM_DW1_REQ("c3", "52", "60", "3")         \
  "add %[n], %[n], #64\n\t"                   \
  "str %[n], %[rec]\n\t"                      \
  "add %[x], %[x], #4\n\t"                    \
  "str %[x], %[out]\n\t"                      \
  "ldr %[lo], %[out_end]\n\t"                 \
  "cmp %[x], %[lo]\n\t"                       \
  "bne 6b\n\t"

#define UTVM_DW1_PIXEL_OPERANDS                                                                                \
  : [c0] "=&r"(c0), [c1] "=&r"(c1), [c2] "=&r"(c2), [c3] "=&r"(c3), [x] "=&r"(xr), [wr] "+r"(wr), [n] "=&r"(n), \
    [a] "=&r"(a), [lo] "=&r"(lo), [w0] "=&r"(w0), [w1] "=&r"(w1), [rec] "+m"(run.rec), [out] "+m"(run.out)    \
  : [off] "r"(off2), [xs] "m"(run.x), [step] "m"(run.step), [rows] "m"(run.rows), [skip] "m"(run.skip),       \
    [out_end] "m"(run.out_end)                                                                               \
  : "cc", "memory"
#endif

/* The state of the assembly group loop, in the frame where it reads it. */
typedef struct {
  const int8_t *x;
  int32_t step;
  int32_t rows;
  int32_t skip; /* bytes of weights from the end of a group's rows read to the next group's first */
  const int32_t *rec;
  int8_t *out;
  int8_t *out_end;
} utvm_dsp_dw1_loop;

/*
 * `count` output pixels in a row, all channels (see utvm_dsp_dw1_groups): the
 * first one's window at x, the next ones stride_w bytes on; w: group 0's
 * weights from the first row read.
 */
UTVM_DSP_KERNEL UTVM_DSP_NOINLINE static void utvm_dsp_dw1_run_full(const utvm_dsp_dw1_setup *s, const int8_t *x,
                                                                    int32_t step, int32_t rows, const int32_t *w,
                                                                    int8_t *out, int32_t count) {
#if UTVM_DSP_ASM
  if (s->groups > 0 && s->quads <= 2) {
    /* The whole groups in assembly (a row's 1 or 2 quads unrolled, and 3 rows of 1 quad); a padded last group
       in C. */
    const int32_t off2 = s->off2;
    const int32_t quads = s->quads;
    int32_t c0, c1, c2, c3, n, a, lo, w0, w1;
    const int8_t *xr;
    utvm_dsp_dw1_loop run;
    run.step = step;
    run.rows = rows;
    run.skip = 32 * quads * (s->filter_h - rows);
    for (; count > 0; --count) {
      const int32_t *wr = w;
      run.x = x;
      run.rec = s->records;
      run.out = out;
      run.out_end = out + 4 * s->groups;
      if (quads == 2) {
        __asm__ volatile(UTVM_DW1_GROUP_START UTVM_DW1_ROWS(UTVM_DW1_QUAD UTVM_DW1_QUAD) UTVM_DW1_GROUP_END
                         UTVM_DW1_PIXEL_OPERANDS);
      } else if (rows == 3) { /* 3 x 3 and 3 x 4 filters: the rows unrolled */
        __asm__ volatile(UTVM_DW1_GROUP_START UTVM_DW1_QUAD UTVM_DW1_NEXT_ROW UTVM_DW1_QUAD UTVM_DW1_NEXT_ROW
                         UTVM_DW1_QUAD UTVM_DW1_GROUP_END UTVM_DW1_PIXEL_OPERANDS);
      } else {
        __asm__ volatile(UTVM_DW1_GROUP_START UTVM_DW1_ROWS(UTVM_DW1_QUAD) UTVM_DW1_GROUP_END
                         UTVM_DW1_PIXEL_OPERANDS);
      }
      if (s->last) {
        utvm_dsp_dw1_groups_full(s, x, step, rows, wr, run.rec, 0, run.out);
      }
      x += s->stride_w;
      out += s->channels;
    }
    return;
  }
#endif
  for (; count > 0; --count) {
    utvm_dsp_dw1_groups_full(s, x, step, rows, w, s->records, s->groups, out);
    x += s->stride_w;
    out += s->channels;
  }
}

UTVM_DSP_KERNEL UTVM_DSP_NOINLINE static void utvm_dsp_dw1_run_clamp(const utvm_dsp_dw1_setup *s, const int8_t *x,
                                                                     int32_t step, int32_t rows, const int32_t *w,
                                                                     int8_t *out, int32_t count) {
  for (; count > 0; --count) {
    utvm_dsp_dw1_groups(s, x, step, rows, w, s->records, s->groups, out, 0);
    x += s->stride_w;
    out += s->channels;
  }
}

UTVM_DSP_INLINE void utvm_dsp_dw1_run(const utvm_dsp_dw1_setup *s, const int8_t *x, int32_t step, int32_t rows,
                                      const int32_t *w, int8_t *out, int32_t count, int full_range) {
  if (full_range) {
    utvm_dsp_dw1_run_full(s, x, step, rows, w, out, count);
  } else {
    utvm_dsp_dw1_run_clamp(s, x, step, rows, w, out, count);
  }
}

/*
 * The quad of a window row whose first byte is column c of the input row at
 * `row`, that quad being partly or wholly outside the row's columns [0,
 * in_w): the row's bytes inside, zp4's (the zero point in every byte)
 * outside. Little-endian: byte k of a word is bits 8k to 8k + 7.
 */
UTVM_DSP_INLINE int32_t utvm_dsp_dw1_edge_quad(const int8_t *row, int32_t in_w, int32_t c, uint32_t zp4) {
  if (c + 4 <= 0 || c >= in_w) {
    return (int32_t)zp4;
  }
  if (in_w < 4) {
    uint32_t v = 0;
    int32_t k;
    for (k = 3; k >= 0; --k) {
      v = (v << 8) | (c + k >= 0 && c + k < in_w ? (uint8_t)row[c + k] : (zp4 & 0xFFu));
    }
    return (int32_t)v;
  }
  if (c < 0) { /* the first -c bytes are left of the row */
    const uint32_t sh = 8u * (uint32_t)-c;
    return (int32_t)(((uint32_t)utvm_dsp_read4(row) << sh) | (zp4 & ((1u << sh) - 1u)));
  }
  { /* the last c + 4 - in_w bytes are right of it */
    const uint32_t sh = 8u * (uint32_t)(c + 4 - in_w);
    return (int32_t)(((uint32_t)utvm_dsp_read4(row + in_w - 4) >> sh) | (zp4 & ~(0xFFFFFFFFu >> sh)));
  }
}

/*
 * A pixel whose window is cut by the left or right edge of the input (or
 * whose last quad would read past the input's end): its rows copied to the
 * stack first, 4 * quads bytes each, the bytes of columns ix0 to ix0 + 4 *
 * quads - 1, the input zero point where a column is outside the input.
 * row: the window's first row inside the input.
 */
UTVM_DSP_INLINE void utvm_dsp_dw1_border_body(const utvm_dsp_dw1_setup *s, const int8_t *row, int32_t in_w,
                                              int32_t ix0, int32_t rows, int32_t zp, const int32_t *w, int8_t *out,
                                              int full_range) {
  const int32_t span = 4 * s->quads;
  const uint32_t zp4 = (uint32_t)(uint8_t)(int8_t)zp * 0x01010101u;
  int32_t win[rows * s->quads];
  int32_t *dst = win;
  int32_t r;
  for (r = rows; r > 0; --r) {
    int32_t c;
    for (c = ix0; c < ix0 + span; c += 4) {
      *dst++ = c >= 0 && c + 4 <= in_w ? utvm_dsp_read4(row + c) : utvm_dsp_dw1_edge_quad(row, in_w, c, zp4);
    }
    row += in_w;
  }
  utvm_dsp_dw1_run(s, (const int8_t *)(const void *)win, 0, rows, w, out, 1, full_range);
}

UTVM_DSP_NOINLINE static void utvm_dsp_dw1_border_full(const utvm_dsp_dw1_setup *s, const int8_t *row, int32_t in_w,
                                                       int32_t ix0, int32_t rows, int32_t zp, const int32_t *w,
                                                       int8_t *out) {
  utvm_dsp_dw1_border_body(s, row, in_w, ix0, rows, zp, w, out, 1);
}

UTVM_DSP_NOINLINE static void utvm_dsp_dw1_border_clamp(const utvm_dsp_dw1_setup *s, const int8_t *row, int32_t in_w,
                                                        int32_t ix0, int32_t rows, int32_t zp, const int32_t *w,
                                                        int8_t *out) {
  utvm_dsp_dw1_border_body(s, row, in_w, ix0, rows, zp, w, out, 0);
}

UTVM_DSP_INLINE void utvm_dsp_dw1_body(const utvm_dsp_depthwise_mult_params *p, const int8_t *input, int8_t *output,
                                       int full_range) {
  const int32_t in_h = p->input_h;
  const int32_t in_w = p->input_w;
  const int32_t ch = p->channels;
  const int32_t f_h = p->filter_h;
  const int32_t f_w = p->filter_w;
  const int32_t out_w = p->output_w;
  const int32_t stride_w = p->stride_w;
  const int32_t off = p->input_offset;
  utvm_dsp_dw1_setup s;
  int32_t span;
  int32_t batch;
  s.records = p->records;
  s.groups = ch >> 2;
  s.last = ch & 3;
  s.quads = (f_w + 3) >> 2;
  s.filter_h = f_h;
  s.off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
  s.act_min = p->act_min;
  s.act_max = p->act_max;
  s.stride_w = stride_w;
  s.channels = ch;
  span = 4 * s.quads;
  for (batch = 0; batch < p->batches; ++batch) {
    const int8_t *in = input + batch * in_h * in_w;
    int8_t *out = output + batch * p->output_h * out_w * ch;
    int32_t oy;
    for (oy = 0; oy < p->output_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
      const int32_t ky1 = in_h - iy0 < f_h ? in_h - iy0 : f_h;
      const int32_t rows = ky1 - ky0; /* >= 1: every window meets the input */
      /* The windows read in place start at columns 0 to x_hi: all their taps inside the input, and on the
         input's last row their last quad too. */
      const int32_t x_hi = (iy0 + ky1 == in_h ? in_w - span : in_w - f_w);
      const int8_t *row0 = in + (iy0 + ky0) * in_w;
      const int32_t *w = (const int32_t *)(const void *)p->weights + 8 * s.quads * ky0;
      int32_t ix0 = -p->pad_w;
      int32_t ox = 0;
      while (ox < out_w) {
        if (ix0 >= 0 && ix0 <= x_hi) {
          /* The pixels from here whose windows are read in place. */
          const int32_t count = (x_hi - ix0) / stride_w + 1 < out_w - ox ? (x_hi - ix0) / stride_w + 1 : out_w - ox;
          utvm_dsp_dw1_run(&s, row0 + ix0, in_w - span, rows, w, out, count, full_range);
          out += count * ch;
          ix0 += count * stride_w;
          ox += count;
        } else {
          if (full_range) {
            utvm_dsp_dw1_border_full(&s, row0, in_w, ix0, rows, -off, w, out);
          } else {
            utvm_dsp_dw1_border_clamp(&s, row0, in_w, ix0, rows, -off, w, out);
          }
          out += ch;
          ix0 += stride_w;
          ++ox;
        }
      }
    }
  }
}

UTVM_DSP_KERNEL void utvm_dsp_depthwise_conv_s8_c1(const utvm_dsp_depthwise_mult_params *params, const int8_t *input,
                                                   int8_t *output) {
  utvm_dsp_dw1_body(params, input, output, 0);
}

UTVM_DSP_KERNEL void utvm_dsp_depthwise_conv_s8_c1_full(const utvm_dsp_depthwise_mult_params *params,
                                                        const int8_t *input, int8_t *output) {
  utvm_dsp_dw1_body(params, input, output, 1);
}

/* ------------------------------------------------------------------ any depth multiplier (_mult) */

/*
 * One group of a window (rows x cols taps inside the input, the first at x,
 * taps in_c bytes apart, rows row_bytes apart): per tap one input byte, its
 * offset added, against `pairs` (1 or 2, a compile-time constant) words of
 * the group's weights (taps of a filter row f_w apart), into acc[0..2 * pairs).
 */
UTVM_DSP_INLINE void utvm_dsp_dwm_group(const int8_t *x, const int32_t *w, int32_t rows, int32_t cols, int32_t in_c,
                                        int32_t row_bytes, int32_t f_w, int32_t off, int pairs, int32_t *acc) {
  int32_t c0 = acc[0], c1 = acc[1], c2 = acc[2], c3 = acc[3];
  for (; rows > 0; --rows) {
    const int8_t *xp = x;
    const int32_t *wp = w;
    int32_t k;
    for (k = cols; k > 0; --k) {
      const int32_t v = *xp + off;
      const int32_t w01 = wp[0];
      c0 = utvm_smlabb(v, w01, c0);
      c1 = utvm_smlabt(v, w01, c1);
      if (pairs == 2) {
        const int32_t w23 = wp[1];
        c2 = utvm_smlabb(v, w23, c2);
        c3 = utvm_smlabt(v, w23, c3);
      }
      xp += in_c;
      wp += pairs;
    }
    x += row_bytes;
    w += pairs * f_w;
  }
  acc[0] = c0;
  acc[1] = c1;
  acc[2] = c2;
  acc[3] = c3;
}

UTVM_DSP_INLINE void utvm_dsp_dwm_body(const utvm_dsp_depthwise_mult_params *p, const int8_t *input, int8_t *output,
                                       int full_range, int pairs) {
  const int32_t in_h = p->input_h;
  const int32_t in_w = p->input_w;
  const int32_t in_c = p->input_c;
  const int32_t dm = p->depth_multiplier;
  const int32_t group = 2 * pairs;
  const int32_t f_h = p->filter_h;
  const int32_t f_w = p->filter_w;
  const int32_t row_bytes = in_w * in_c;
  const int32_t group_words = pairs * f_h * f_w;
  const int32_t off = p->input_offset;
  const int32_t act_min = p->act_min;
  const int32_t act_max = p->act_max;
  int32_t batch;
  for (batch = 0; batch < p->batches; ++batch) {
    const int8_t *in = input + batch * in_h * row_bytes;
    int8_t *out = output + batch * p->output_h * p->output_w * p->channels;
    int32_t oy;
    for (oy = 0; oy < p->output_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
      const int32_t ky1 = in_h - iy0 < f_h ? in_h - iy0 : f_h;
      int32_t ox;
      for (ox = 0; ox < p->output_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
        const int32_t kx1 = in_w - ix0 < f_w ? in_w - ix0 : f_w;
        const int8_t *x = in + (iy0 + ky0) * row_bytes + (ix0 + kx0) * in_c;
        const int32_t *w = (const int32_t *)(const void *)p->weights + pairs * (ky0 * f_w + kx0);
        const int32_t *rec = p->records;
        int32_t ic;
        for (ic = 0; ic < in_c; ++ic) {
          int32_t left;
          for (left = dm; left > 0; left -= group) {
            const int32_t n = left < group ? left : group;
            int32_t acc[4];
            acc[0] = rec[0];
            acc[1] = rec[1];
            acc[2] = pairs == 2 ? rec[2] : 0;
            acc[3] = pairs == 2 ? rec[3] : 0;
            utvm_dsp_dwm_group(x, w, ky1 - ky0, kx1 - kx0, in_c, row_bytes, f_w, off, pairs, acc);
            if (n == 4) {
              utvm_dsp_dw_out4(rec + 4, acc[0], acc[1], acc[2], acc[3], act_min, act_max, full_range, out);
            } else {
              utvm_dsp_dw_outn(rec + group, acc, n, act_min, act_max, full_range, out);
            }
            out += n;
            rec += 4 * group;
            w += group_words;
          }
          ++x;
        }
      }
    }
  }
}

UTVM_DSP_INLINE void utvm_dsp_dwm(const utvm_dsp_depthwise_mult_params *p, const int8_t *input, int8_t *output,
                                  int full_range) {
  if (p->group == 4) {
    utvm_dsp_dwm_body(p, input, output, full_range, 2);
  } else {
    utvm_dsp_dwm_body(p, input, output, full_range, 1);
  }
}

UTVM_DSP_KERNEL void utvm_dsp_depthwise_conv_s8_mult(const utvm_dsp_depthwise_mult_params *params,
                                                     const int8_t *input, int8_t *output) {
  utvm_dsp_dwm(params, input, output, 0);
}

UTVM_DSP_KERNEL void utvm_dsp_depthwise_conv_s8_mult_full(const utvm_dsp_depthwise_mult_params *params,
                                                          const int8_t *input, int8_t *output) {
  utvm_dsp_dwm(params, input, output, 1);
}
