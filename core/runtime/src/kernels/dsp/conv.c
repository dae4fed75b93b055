/* CONV_2D int8 with SMLAD; see utvm/kernels/dsp/conv.h. */
#include "utvm/kernels/dsp/conv.h"

#include "utvm/kernels/dsp/dsp.h"

/* Requantized and clamped output of accumulator acc for the channel whose {multiplier, round, shift} is at q. */
#define UTVM_CONV_OUT(acc, q) \
  ((int8_t)utvm_dsp_output(utvm_dsp_requantize((acc), (q)[0], (q)[1], (q)[2]), act_min, act_max, full_range))

/* The state of the pair loop, kept in the caller's frame where the assembly reads and updates it. */
typedef struct {
  const int8_t *xa;   /* the windows' first taps */
  const int8_t *xb;
  int8_t *oa;         /* the next outputs of a and b */
  int8_t *ob;
  int8_t *oa_end;     /* oa after the last channel pair */
  const int32_t *rec; /* the next channel pair's record */
  utvm_dsp_2x2_loop loop;
} utvm_dsp_conv_pair_state;

#if UTVM_DSP_ASM
/* Requantize accumulator ACC with multiplier u, round v, shift x (full range), store to [OUT]. */
#define UTVM_CONV_REQ_ASM(ACC, OUT)                 \
  "add %[a], %[" ACC "], %[" ACC "]\n\t"            \
  "smmlar %[a], %[a], %[u], %[v]\n\t"               \
  "add %[a], %[a], %[" ACC "], asr #31\n\t"         \
  "asr %[a], %[a], %[x]\n\t"                        \
  "ssat %[a], #8, %[a]\n\t"                         \
  "strb %[a], " OUT "\n\t"

/* A channel pair starts: its two biases (the record at rec) in the four accumulators, pa and pb at the
   two windows. */
#define UTVM_CONV_PAIR_START               \
  "ldr %[t], %[rec]\n\t"                    \
  "ldrd %[r00], %[r10], [%[t]]\n\t"         \
  "mov %[r01], %[r00]\n\t"                  \
  "mov %[r11], %[r10]\n\t"                  \
  "ldr %[pa], %[xa]\n\t"                    \
  "ldr %[pb], %[xb]\n\t"

/* The pair's four outputs, at pa and pb (the record at t), and rec moved to the next pair's record. */
#define UTVM_CONV_PAIR_OUTPUTS                 \
  "ldrd %[u], %[v], [%[t], #8]\n\t"            \
  "ldr %[x], [%[t], #16]\n\t"                  \
  UTVM_CONV_REQ_ASM("r00", "[%[pa]]")          \
  UTVM_CONV_REQ_ASM("r01", "[%[pb]]")          \
  "ldrd %[u], %[v], [%[t], #20]\n\t"           \
  "ldr %[x], [%[t], #28]\n\t"                  \
  UTVM_CONV_REQ_ASM("r10", "[%[pa], #1]")      \
  UTVM_CONV_REQ_ASM("r11", "[%[pb], #1]")      \
  "add %[t], %[t], #32\n\t"                    \
  "str %[t], %[rec]\n\t"
#endif

/*
 * Two output positions whose windows are inside the input (xa, xb: their
 * first tap), all output channels, from the folded biases. Each window is
 * `segments` runs of seg_slices 4-byte slices, row_bytes apart.
 */
UTVM_DSP_INLINE void utvm_dsp_conv_pair_body(const utvm_dsp_conv_params *p, const int8_t *xa, const int8_t *xb,
                                             int32_t segments, int32_t seg_slices, int32_t row_bytes, int8_t *oa,
                                             int8_t *ob, int full_range) {
  const int32_t *w = (const int32_t *)(const void *)p->weights;
  const int32_t *rec = p->records;
  const int32_t act_min = p->act_min;
  const int32_t act_max = p->act_max;
  int8_t *const oa_end = oa + (p->output_c & ~1);
  utvm_dsp_conv_pair_state st;
  utvm_dsp_2x2_loop_init(&st.loop, segments, seg_slices, row_bytes - 4 * seg_slices);
  st.loop.end = xa + 4 * seg_slices;
#if UTVM_DSP_ASM
  if (full_range && oa != oa_end) {
    const int32_t *wp = w;
    int32_t r00, r01, r10, r11;
    const int8_t *pa, *pb;
    int32_t a, b, t, u, v, x;
    st.xa = xa;
    st.xb = xb;
    st.oa = oa;
    st.ob = ob;
    st.oa_end = oa_end;
    st.rec = rec;
    if (segments == 1) {
      /* Every channel pair of one-segment windows in assembly: the 2 x 2 block, then its four outputs. */
      __asm__ volatile(
          "6:\n\t"
          UTVM_CONV_PAIR_START
          UTVM_DSP_2X2_ONE_SEGMENT
          "ldr %[t], %[rec]\n\t"
          "ldr %[pa], %[oa]\n\t"
          "ldr %[pb], %[ob]\n\t"
          UTVM_CONV_PAIR_OUTPUTS
          "add %[pb], %[pb], #2\n\t"
          "str %[pb], %[ob]\n\t"
          "add %[pa], %[pa], #2\n\t"
          "str %[pa], %[oa]\n\t"
          "ldr %[a], %[oa_end]\n\t"
          "cmp %[pa], %[a]\n\t"
          "bne 6b\n\t"
          : [r00] "=&r"(r00), [r01] "=&r"(r01), [r10] "=&r"(r10), [r11] "=&r"(r11), [pa] "=&r"(pa),
            [pb] "=&r"(pb), [wp] "+r"(wp), [a] "=&r"(a), [b] "=&r"(b), [t] "=&r"(t), [u] "=&r"(u), [v] "=&r"(v),
            [x] "=&r"(x), [rec] "+m"(st.rec), [oa] "+m"(st.oa), [ob] "+m"(st.ob)
          : [xa] "m"(st.xa), [xb] "m"(st.xb), [end] "m"(st.loop.end), [odd] "m"(st.loop.odd),
            [oa_end] "m"(st.oa_end)
          : "cc", "memory");
    } else {
      /* The same for windows of several segments (rows of the filter): a segment loop around the slices. The
         output b is found from a (ob - oa), to stay within 30 operands. */
      const int32_t ob_delta = (int32_t)(ob - oa);
      __asm__ volatile(
          "6:\n\t"
          UTVM_CONV_PAIR_START
          "ldr %[t], %[segs]\n\t"
          "str %[t], %[left]\n\t"
          UTVM_DSP_2X2_SEGMENTS
          "ldr %[t], %[rec]\n\t"
          "ldr %[pa], %[oa]\n\t"
          "ldr %[pb], %[obd]\n\t"
          "add %[pb], %[pa], %[pb]\n\t"
          UTVM_CONV_PAIR_OUTPUTS
          "add %[pa], %[pa], #2\n\t"
          "str %[pa], %[oa]\n\t"
          "ldr %[a], %[oa_end]\n\t"
          "cmp %[pa], %[a]\n\t"
          "bne 6b\n\t"
          : [r00] "=&r"(r00), [r01] "=&r"(r01), [r10] "=&r"(r10), [r11] "=&r"(r11), [pa] "=&r"(pa),
            [pb] "=&r"(pb), [wp] "+r"(wp), [a] "=&r"(a), [b] "=&r"(b), [t] "=&r"(t), [u] "=&r"(u), [v] "=&r"(v),
            [x] "=&r"(x), [rec] "+m"(st.rec), [oa] "+m"(st.oa), [end] "+m"(st.loop.end), [left] "+m"(st.loop.left)
          : [xa] "m"(st.xa), [xb] "m"(st.xb), [segs] "m"(st.loop.segments), [bytes] "m"(st.loop.bytes),
            [odd] "m"(st.loop.odd), [gap] "m"(st.loop.gap), [oa_end] "m"(st.oa_end), [obd] "m"(ob_delta)
          : "cc", "memory");
    }
    w = wp;
    rec = st.rec;
    ob += st.oa - oa;
    oa = st.oa;
  }
#endif
  if (!(UTVM_DSP_ASM && full_range) && oa != oa_end) {
    /* The portable form, and the clamping one. */
    while (oa != oa_end) {
      int32_t acc00 = rec[0]; /* channel 0, position a */
      int32_t acc01 = rec[0]; /* channel 0, position b */
      int32_t acc10 = rec[1];
      int32_t acc11 = rec[1];
      utvm_dsp_block_2x2(&st.loop, xa, xb, &w, &acc00, &acc01, &acc10, &acc11);
      oa[0] = UTVM_CONV_OUT(acc00, rec + 2);
      ob[0] = UTVM_CONV_OUT(acc01, rec + 2);
      oa[1] = UTVM_CONV_OUT(acc10, rec + 5);
      ob[1] = UTVM_CONV_OUT(acc11, rec + 5);
      oa += 2;
      ob += 2;
      rec += 8;
    }
  }
  if (p->output_c & 1) {
    int32_t acc0 = rec[0];
    int32_t acc1 = rec[0];
    int32_t ky;
    for (ky = 0; ky < segments; ++ky) {
      const int8_t *pa = xa + ky * row_bytes;
      const int8_t *pb = xb + ky * row_bytes;
      int32_t n;
      for (n = seg_slices; n > 0; --n) {
        const int32_t a = utvm_dsp_read4(pa);
        const int32_t b = utvm_dsp_read4(pb);
        const int32_t w0 = *w++;
        const int32_t wl = utvm_sxtb16(w0);
        const int32_t wh = utvm_sxtb16_ror8(w0);
        pa += 4;
        pb += 4;
        acc0 = utvm_smlad(utvm_sxtb16(a), wl, acc0);
        acc0 = utvm_smlad(utvm_sxtb16_ror8(a), wh, acc0);
        acc1 = utvm_smlad(utvm_sxtb16(b), wl, acc1);
        acc1 = utvm_smlad(utvm_sxtb16_ror8(b), wh, acc1);
      }
    }
    oa[0] = UTVM_CONV_OUT(acc0, rec + 1);
    ob[0] = UTVM_CONV_OUT(acc1, rec + 1);
  }
}

/* The two forms of the pair, out of line: the in-place and the im2col kernels share them. */
UTVM_DSP_KERNEL UTVM_DSP_NOINLINE static void utvm_dsp_conv_pair_full(const utvm_dsp_conv_params *p,
                                                                      const int8_t *xa, const int8_t *xb,
                                                                      int32_t segments, int32_t seg_slices,
                                                                      int32_t row_bytes, int8_t *oa, int8_t *ob) {
  utvm_dsp_conv_pair_body(p, xa, xb, segments, seg_slices, row_bytes, oa, ob, 1);
}

UTVM_DSP_KERNEL UTVM_DSP_NOINLINE static void utvm_dsp_conv_pair_clamp(const utvm_dsp_conv_params *p,
                                                                       const int8_t *xa, const int8_t *xb,
                                                                       int32_t segments, int32_t seg_slices,
                                                                       int32_t row_bytes, int8_t *oa, int8_t *ob) {
  utvm_dsp_conv_pair_body(p, xa, xb, segments, seg_slices, row_bytes, oa, ob, 0);
}

UTVM_DSP_INLINE void utvm_dsp_conv_pair(const utvm_dsp_conv_params *p, const int8_t *xa, const int8_t *xb,
                                        int32_t segments, int32_t seg_slices, int32_t row_bytes, int8_t *oa, int8_t *ob,
                                        int full_range) {
  if (full_range) {
    utvm_dsp_conv_pair_full(p, xa, xb, segments, seg_slices, row_bytes, oa, ob);
  } else {
    utvm_dsp_conv_pair_clamp(p, xa, xb, segments, seg_slices, row_bytes, oa, ob);
  }
}

#if UTVM_DSP_ASM
/* One slice of one position (input offset added) against two channel pairs' weights. */
#define UTVM_DSP_1X4_PAIR(WP, C0, C1)              \
  "ldrd %[w0], %[w1], [%[" WP "]], #8\n\t"         \
  "sxtb16 %[t], %[w0]\n\t"                         \
  "smlad %[" C0 "], %[al], %[t], %[" C0 "]\n\t"    \
  "sxtb16 %[w0], %[w0], ror #8\n\t"                \
  "smlad %[" C0 "], %[a], %[w0], %[" C0 "]\n\t"    \
  "sxtb16 %[t], %[w1]\n\t"                         \
  "smlad %[" C1 "], %[al], %[t], %[" C1 "]\n\t"    \
  "sxtb16 %[w1], %[w1], ror #8\n\t"                \
  "smlad %[" C1 "], %[a], %[w1], %[" C1 "]\n\t"
#define UTVM_DSP_1X4_SLICE                         \
  "ldr %[a], [%[px]], #4\n\t"                      \
  "sxtab16 %[al], %[off], %[a]\n\t"                \
  "sxtab16 %[a], %[off], %[a], ror #8\n\t"         \
  UTVM_DSP_1X4_PAIR("wp0", "c0", "c1")             \
  UTVM_DSP_1X4_PAIR("wp1", "c2", "c3")
#endif

/*
 * One position against four channels (two pairs, weights at w0p and w1p, 2
 * words a slice each) over n >= 1 slices of raw input at px, the input
 * offset added (off2: it in both halfwords): c[k] += (x + offset) . w_k.
 */
#if UTVM_DSP_ASM
/* Out of line: its 13 registers are allocated reliably only in a small function. */
UTVM_DSP_KERNEL UTVM_DSP_NOINLINE static
#else
UTVM_DSP_INLINE
#endif
void utvm_dsp_block_1x4(const int8_t *px, const int32_t *w0p, const int32_t *w1p, int32_t n, int32_t off2,
                        int32_t *c) {
#if UTVM_DSP_ASM
  const int8_t *const end = px + 4 * n;
  int32_t c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3];
  int32_t a, al, w0, w1, t = n;
  __asm__ volatile(
      "lsls %[t], %[t], #31\n\t"
      "bpl 2f\n\t"
      UTVM_DSP_1X4_SLICE
      "ldr %[t], %[end]\n\t"
      "cmp %[px], %[t]\n\t"
      "beq 3f\n\t"
      "2:\n\t"
      UTVM_DSP_1X4_SLICE
      UTVM_DSP_1X4_SLICE
      "ldr %[t], %[end]\n\t"
      "cmp %[px], %[t]\n\t"
      "bne 2b\n\t"
      "3:\n\t"
      : [c0] "+r"(c0), [c1] "+r"(c1), [c2] "+r"(c2), [c3] "+r"(c3), [px] "+r"(px), [wp0] "+r"(w0p),
        [wp1] "+r"(w1p), [a] "=&r"(a), [al] "=&r"(al), [w0] "=&r"(w0), [w1] "=&r"(w1), [t] "+r"(t)
      : [off] "r"(off2), [end] "m"(end)
      : "cc", "memory");
  c[0] = c0;
  c[1] = c1;
  c[2] = c2;
  c[3] = c3;
#else
  for (; n > 0; --n) {
    const int32_t a = utvm_dsp_read4(px);
    const int32_t al = utvm_sxtab16(off2, a);
    const int32_t ah = utvm_sxtab16_ror8(off2, a);
    c[0] = utvm_smlad(ah, utvm_sxtb16_ror8(w0p[0]), utvm_smlad(al, utvm_sxtb16(w0p[0]), c[0]));
    c[1] = utvm_smlad(ah, utvm_sxtb16_ror8(w0p[1]), utvm_smlad(al, utvm_sxtb16(w0p[1]), c[1]));
    c[2] = utvm_smlad(ah, utvm_sxtb16_ror8(w1p[0]), utvm_smlad(al, utvm_sxtb16(w1p[0]), c[2]));
    c[3] = utvm_smlad(ah, utvm_sxtb16_ror8(w1p[1]), utvm_smlad(al, utvm_sxtb16(w1p[1]), c[3]));
    px += 4;
    w0p += 2;
    w1p += 2;
  }
#endif
}

/*
 * One output position, all channels, from the model's biases, adding the
 * input offset to every input: the taps [ky0, ky1) x [kx0, kx1) of its
 * window, the others being outside the input (x: the tap (ky0, kx0)).
 */
UTVM_DSP_INLINE void utvm_dsp_conv_one_body(const utvm_dsp_conv_params *p, const int8_t *x, int32_t ky0,
                                            int32_t ky1, int32_t kx0, int32_t kx1, int8_t *o, int full_range) {
  const int32_t c = p->input_c;
  const int32_t row_bytes = p->input_w * c;
  const int32_t depth = p->depth;
  const int32_t off = p->input_offset;
  const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
  const int32_t slices = (kx1 - kx0) * c >> 2;
  const int32_t first = (ky0 * p->filter_w + kx0) * c; /* depth index of the first tap read */
  const int32_t seg_step = p->filter_w * c;           /* depth between rows of the window */
  const int32_t act_min = p->act_min;
  const int32_t act_max = p->act_max;
  const int8_t *wbase = p->weights;
  const int32_t *bias = p->bias;
  const int32_t *rec = p->records;
  int32_t pairs = p->output_c >> 1;
  /* Four channels at a time: each input slice extended once for two pairs. */
  for (; pairs >= 2 && slices > 0; pairs -= 2) {
    int32_t acc[4];
    int32_t ky;
    acc[0] = bias[0];
    acc[1] = bias[1];
    acc[2] = bias[2];
    acc[3] = bias[3];
    for (ky = ky0; ky < ky1; ++ky) {
      const int8_t *w0p = wbase + 2 * (first + (ky - ky0) * seg_step);
      utvm_dsp_block_1x4(x + (ky - ky0) * row_bytes, (const int32_t *)(const void *)w0p,
                         (const int32_t *)(const void *)(w0p + 2 * depth), slices, off2, acc);
    }
    o[0] = UTVM_CONV_OUT(acc[0], rec + 2);
    o[1] = UTVM_CONV_OUT(acc[1], rec + 5);
    o[2] = UTVM_CONV_OUT(acc[2], rec + 10);
    o[3] = UTVM_CONV_OUT(acc[3], rec + 13);
    o += 4;
    bias += 4;
    rec += 16;
    wbase += 4 * depth;
  }
  for (; pairs > 0; --pairs) {
    int32_t acc0 = bias[0];
    int32_t acc1 = bias[1];
    int32_t ky;
    for (ky = ky0; ky < ky1; ++ky) {
      const int8_t *px = x + (ky - ky0) * row_bytes;
      const int32_t *w = (const int32_t *)(const void *)(wbase + 2 * (first + (ky - ky0) * seg_step));
      int32_t n;
      for (n = slices; n > 0; --n) {
        const int32_t a = utvm_dsp_read4(px);
        const int32_t al = utvm_sxtab16(off2, a);
        const int32_t ah = utvm_sxtab16_ror8(off2, a);
        const int32_t w0 = w[0];
        const int32_t w1 = w[1];
        px += 4;
        w += 2;
        acc0 = utvm_smlad(al, utvm_sxtb16(w0), acc0);
        acc0 = utvm_smlad(ah, utvm_sxtb16_ror8(w0), acc0);
        acc1 = utvm_smlad(al, utvm_sxtb16(w1), acc1);
        acc1 = utvm_smlad(ah, utvm_sxtb16_ror8(w1), acc1);
      }
    }
    o[0] = UTVM_CONV_OUT(acc0, rec + 2);
    o[1] = UTVM_CONV_OUT(acc1, rec + 5);
    o += 2;
    bias += 2;
    rec += 8;
    wbase += 2 * depth;
  }
  if (p->output_c & 1) {
    int32_t acc = bias[0];
    int32_t ky;
    for (ky = ky0; ky < ky1; ++ky) {
      const int8_t *px = x + (ky - ky0) * row_bytes;
      const int32_t *w = (const int32_t *)(const void *)(wbase + first + (ky - ky0) * seg_step);
      int32_t n;
      for (n = slices; n > 0; --n) {
        const int32_t a = utvm_dsp_read4(px);
        const int32_t w0 = *w++;
        px += 4;
        acc = utvm_smlad(utvm_sxtab16(off2, a), utvm_sxtb16(w0), acc);
        acc = utvm_smlad(utvm_sxtab16_ror8(off2, a), utvm_sxtb16_ror8(w0), acc);
      }
    }
    o[0] = UTVM_CONV_OUT(acc, rec + 1);
  }
}

/* The border position, out of line (in two forms, as the pair). */
UTVM_DSP_KERNEL UTVM_DSP_NOINLINE static void utvm_dsp_conv_one_full(const utvm_dsp_conv_params *p, const int8_t *x, int32_t ky0,
                                                     int32_t ky1, int32_t kx0, int32_t kx1, int8_t *o) {
  utvm_dsp_conv_one_body(p, x, ky0, ky1, kx0, kx1, o, 1);
}

UTVM_DSP_KERNEL UTVM_DSP_NOINLINE static void utvm_dsp_conv_one_clamp(const utvm_dsp_conv_params *p, const int8_t *x, int32_t ky0,
                                                      int32_t ky1, int32_t kx0, int32_t kx1, int8_t *o) {
  utvm_dsp_conv_one_body(p, x, ky0, ky1, kx0, kx1, o, 0);
}

UTVM_DSP_INLINE void utvm_dsp_conv_one(const utvm_dsp_conv_params *p, const int8_t *x, int32_t ky0, int32_t ky1,
                                       int32_t kx0, int32_t kx1, int8_t *o, int full_range) {
  if (full_range) {
    utvm_dsp_conv_one_full(p, x, ky0, ky1, kx0, kx1, o);
  } else {
    utvm_dsp_conv_one_clamp(p, x, ky0, ky1, kx0, kx1, o);
  }
}

/*
 * Positions in order, read from the parameters as they are needed (few
 * values live across the calls: a small frame). Inside windows go in pairs
 * (across rows too), the others one at a time.
 */
UTVM_DSP_INLINE void utvm_dsp_conv_body(const utvm_dsp_conv_params *p, const int8_t *input, int8_t *output,
                                        int full_range) {
  int32_t batch;
  for (batch = 0; batch < p->batches; ++batch) {
    const int8_t *in = input + batch * p->input_h * p->input_w * p->input_c;
    int8_t *out = output + batch * p->output_h * p->output_w * p->output_c;
    const int8_t *pending = NULL; /* an inside window waiting for a second one */
    int8_t *pending_out = NULL;
    int32_t pos;
    for (pos = 0; pos < p->output_h * p->output_w; ++pos) {
      const int32_t oy = pos / p->output_w;
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      const int32_t ix0 = (pos - oy * p->output_w) * p->stride_w - p->pad_w;
      int8_t *o = out + pos * p->output_c;
      if (iy0 >= 0 && iy0 + p->filter_h <= p->input_h && ix0 >= 0 && ix0 + p->filter_w <= p->input_w) {
        const int8_t *x = in + (iy0 * p->input_w + ix0) * p->input_c;
        if (pending != NULL) {
          utvm_dsp_conv_pair(p, pending, x, p->filter_h, p->filter_w * p->input_c >> 2, p->input_w * p->input_c,
                             pending_out, o, full_range);
          pending = NULL;
        } else {
          pending = x;
          pending_out = o;
        }
      } else {
        const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
        const int32_t ky1 = p->input_h - iy0 < p->filter_h ? p->input_h - iy0 : p->filter_h;
        const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
        const int32_t kx1 = p->input_w - ix0 < p->filter_w ? p->input_w - ix0 : p->filter_w;
        /* The window's first tap inside the input. */
        const int8_t *x = in + ((iy0 + ky0) * p->input_w + ix0 + kx0) * p->input_c;
        utvm_dsp_conv_one(p, x, ky0, ky1, kx0, kx1, o, full_range);
      }
    }
    if (pending != NULL) {
      utvm_dsp_conv_one(p, pending, 0, p->filter_h, 0, p->filter_w, pending_out, full_range);
    }
  }
}

/* n bytes from src to dst, a word at a time. */
UTVM_DSP_INLINE int8_t *utvm_dsp_copy(int8_t *dst, const int8_t *src, int32_t n) {
  for (; n >= 4; n -= 4) {
    utvm_dsp_write4(dst, utvm_dsp_read4(src));
    dst += 4;
    src += 4;
  }
  for (; n > 0; --n) {
    *dst++ = *src++;
  }
  return dst;
}

/* n bytes of v4's low byte (v4: that byte in all four) at dst, a word at a time. */
UTVM_DSP_INLINE int8_t *utvm_dsp_fill(int8_t *dst, int32_t v4, int32_t n) {
  for (; n >= 4; n -= 4) {
    utvm_dsp_write4(dst, v4);
    dst += 4;
  }
  for (; n > 0; --n) {
    *dst++ = (int8_t)v4;
  }
  return dst;
}

/*
 * The window of the output position whose first tap is at input row iy0,
 * column ix0, as a column of depth bytes: the input zero point where the
 * window leaves the input and after its filter_h * filter_w * c bytes.
 */
UTVM_DSP_NOINLINE static void utvm_dsp_conv_fill(const utvm_dsp_conv_params *p, const int8_t *in, int32_t iy0,
                                                 int32_t ix0, int8_t *col) {
  const int32_t c = p->input_c;
  const int32_t f_w = p->filter_w;
  const int32_t row_bytes = p->input_w * c;
  const int32_t zp4 = (int32_t)(((uint32_t)(uint8_t)(int8_t)(-p->input_offset)) * 0x01010101u);
  const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
  const int32_t kx1 = p->input_w - ix0 < f_w ? p->input_w - ix0 : f_w;
  const int32_t left = kx0 * c;
  const int32_t inside = kx1 > kx0 ? (kx1 - kx0) * c : 0;
  const int32_t right = f_w * c - left - inside;
  int8_t *dst = col;
  int32_t ky;
  for (ky = 0; ky < p->filter_h; ++ky) {
    const int32_t iy = iy0 + ky;
    if (iy < 0 || iy >= p->input_h) {
      dst = utvm_dsp_fill(dst, zp4, f_w * c);
    } else {
      dst = utvm_dsp_fill(dst, zp4, left);
      dst = utvm_dsp_copy(dst, in + iy * row_bytes + (ix0 + kx0) * c, inside);
      dst = utvm_dsp_fill(dst, zp4, right);
    }
  }
  utvm_dsp_fill(dst, zp4, (int32_t)(col + p->depth - dst));
}

UTVM_DSP_INLINE void utvm_dsp_conv_im2col_body(const utvm_dsp_conv_params *p, const int8_t *input, int8_t *output,
                                               int full_range) {
  int8_t cols[2 * p->depth];
  int32_t batch;
  for (batch = 0; batch < p->batches; ++batch) {
    const int8_t *in = input + batch * p->input_h * p->input_w * p->input_c;
    int8_t *out = output + batch * p->output_h * p->output_w * p->output_c;
    int32_t pos;
    for (pos = 0; pos < p->output_h * p->output_w; ++pos) {
      const int32_t oy = pos / p->output_w;
      const int32_t ox = pos - oy * p->output_w;
      utvm_dsp_conv_fill(p, in, oy * p->stride_h - p->pad_h, ox * p->stride_w - p->pad_w,
                         cols + (pos & 1) * p->depth);
      if (pos & 1) {
        utvm_dsp_conv_pair(p, cols, cols + p->depth, 1, p->depth >> 2, 0, out + (pos - 1) * p->output_c,
                           out + pos * p->output_c, full_range);
      }
    }
    if ((p->output_h * p->output_w) & 1) {
      /* The last column (at cols) alone: as a pair with itself, writing its outputs twice. */
      int8_t *o = out + (p->output_h * p->output_w - 1) * p->output_c;
      utvm_dsp_conv_pair(p, cols, cols, 1, p->depth >> 2, 0, o, o, full_range);
    }
  }
}

UTVM_DSP_KERNEL void utvm_dsp_conv_s8(const utvm_dsp_conv_params *params, const int8_t *input, int8_t *output) {
  utvm_dsp_conv_body(params, input, output, 0);
}

UTVM_DSP_KERNEL void utvm_dsp_conv_s8_full(const utvm_dsp_conv_params *params, const int8_t *input, int8_t *output) {
  utvm_dsp_conv_body(params, input, output, 1);
}

UTVM_DSP_KERNEL void utvm_dsp_conv_s8_im2col(const utvm_dsp_conv_params *params, const int8_t *input, int8_t *output) {
  utvm_dsp_conv_im2col_body(params, input, output, 0);
}

UTVM_DSP_KERNEL void utvm_dsp_conv_s8_im2col_full(const utvm_dsp_conv_params *params, const int8_t *input, int8_t *output) {
  utvm_dsp_conv_im2col_body(params, input, output, 1);
}
