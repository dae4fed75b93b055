/* FULLY_CONNECTED int8 with SMLAD; see utvm/kernels/dsp/fully_connected.h. */
#include "utvm/kernels/dsp/fully_connected.h"

#include "utvm/kernels/dsp/dsp.h"

#if UTVM_DSP_ASM
/* One 4-deep slice of six rows: the input word at xp, the rows' six weight words at wp. */
#define UTVM_FC_ROWS2(A, B)                 \
  "ldrd %[w0], %[w1], [%[wp]], #8\n\t"      \
  "sxtb16 %[t], %[w0]\n\t"                  \
  "smlad %[" A "], %[xl], %[t], %[" A "]\n\t" \
  "sxtb16 %[w0], %[w0], ror #8\n\t"         \
  "smlad %[" A "], %[xh], %[w0], %[" A "]\n\t" \
  "sxtb16 %[t], %[w1]\n\t"                  \
  "smlad %[" B "], %[xl], %[t], %[" B "]\n\t" \
  "sxtb16 %[w1], %[w1], ror #8\n\t"         \
  "smlad %[" B "], %[xh], %[w1], %[" B "]\n\t"
#define UTVM_FC_SLICE6                      \
  "ldr %[xh], [%[xp]], #4\n\t"              \
  "sxtb16 %[xl], %[xh]\n\t"                 \
  "sxtb16 %[xh], %[xh], ror #8\n\t"         \
  UTVM_FC_ROWS2("a0", "a1")                 \
  UTVM_FC_ROWS2("a2", "a3")                 \
  UTVM_FC_ROWS2("a4", "a5")
#endif

/*
 * Six rows over n 4-deep slices of x: acc[r] = bias[r] + row r . x; returns the
 * weights after the n slices (6 words a slice). Out of line: its registers
 * would otherwise push the caller's state onto the stack (RAM).
 */
UTVM_DSP_KERNEL UTVM_DSP_NOINLINE static const int32_t *utvm_dsp_fc_rows6(const int8_t *x, const int32_t *w,
                                                                          int32_t n, const int32_t *bias,
                                                                          int32_t *acc) {
#if UTVM_DSP_ASM
  const int8_t *xp = x;
  const int8_t *const end = x + 4 * n;
  const int32_t *wp = w;
  int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3], a4 = bias[4], a5 = bias[5];
  int32_t xl, xh, w0, w1, t = n;
  if (n == 0) {
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    acc[4] = a4;
    acc[5] = a5;
    return w;
  }
  /* n % 4 slices first (bit 0 of n in N, bit 1 in C: the slices leave the flags alone), then four at a time. */
  __asm__ volatile(
      "lsls %[t], %[t], #31\n\t"
      "bpl 1f\n\t"
      UTVM_FC_SLICE6
      "1:\n\t"
      "bcc 2f\n\t"
      UTVM_FC_SLICE6
      UTVM_FC_SLICE6
      "2:\n\t"
      "ldr %[t], %[end]\n\t"
      "cmp %[xp], %[t]\n\t"
      "beq 3f\n\t"
      "4:\n\t"
      UTVM_FC_SLICE6
      UTVM_FC_SLICE6
      UTVM_FC_SLICE6
      UTVM_FC_SLICE6
      "ldr %[t], %[end]\n\t"
      "cmp %[xp], %[t]\n\t"
      "bne 4b\n\t"
      "3:\n\t"
      : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4), [a5] "+r"(a5), [xp] "+r"(xp),
        [wp] "+r"(wp), [xl] "=&r"(xl), [xh] "=&r"(xh), [w0] "=&r"(w0), [w1] "=&r"(w1), [t] "+r"(t)
      : [end] "m"(end)
      : "cc", "memory");
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
  acc[4] = a4;
  acc[5] = a5;
  return wp;
#else
  int32_t r;
  for (r = 0; r < 6; ++r) {
    acc[r] = bias[r];
  }
  for (; n > 0; --n) {
    const int32_t xv = utvm_dsp_read4(x);
    const int32_t xl = utvm_sxtb16(xv);
    const int32_t xh = utvm_sxtb16_ror8(xv);
    int32_t r;
    for (r = 0; r < 6; ++r) {
      acc[r] = utvm_smlad(xh, utvm_sxtb16_ror8(w[r]), utvm_smlad(xl, utvm_sxtb16(w[r]), acc[r]));
    }
    x += 4;
    w += 6;
  }
  return w;
#endif
}

/* The tail of a depth not a multiple of 4: acc += the `tail` bytes of x against the zero-padded slice w. */
UTVM_DSP_INLINE int32_t utvm_dsp_fc_tail(int32_t acc, const int8_t *x, const int8_t *w, int32_t tail) {
  int32_t t;
  for (t = 0; t < tail; ++t) {
    acc += w[t] * x[t];
  }
  return acc;
}

/*
 * The kernel with few values live across the calls of utvm_dsp_fc_rows6:
 * the parameters are read again where needed rather than kept, so that the
 * frame (RAM) stays small.
 */
UTVM_DSP_INLINE void utvm_dsp_fc_body(const utvm_dsp_fully_connected_params *p, const int8_t *input,
                                      int8_t *output, int full_range) {
  int32_t batch;
  for (batch = 0; batch < p->batches; ++batch) {
    const int8_t *x = input + batch * p->accum_depth;
    const int32_t *w = (const int32_t *)(const void *)p->weights;
    int32_t row;
    for (row = 0; row < p->output_depth; ++row) {
      const int32_t chunks = p->accum_depth >> 2;
      const int32_t tail = p->accum_depth & 3;
      const int32_t *q = p->quant + row * p->quant_stride;
      int8_t *out = output + batch * p->output_depth + row;
      int32_t acc[6];
      int32_t r, n;
      if (row + 6 <= p->output_depth) {
        /* A group of six rows. */
        n = 6;
        w = utvm_dsp_fc_rows6(x, w, chunks, p->bias + row, acc);
        if (tail) {
          /* The last slice: each row's bytes padded with zeros to 4. */
          for (r = 0; r < 6; ++r) {
            acc[r] = utvm_dsp_fc_tail(acc[r], x + 4 * chunks, (const int8_t *)w + 4 * r, tail);
          }
          w += 6;
        }
        row += 5;
      } else {
        /* One of the output_depth % 6 last rows. */
        const int8_t *xp = x;
        int32_t a = p->bias[row];
        n = 1;
        for (r = chunks; r > 0; --r) {
          const int32_t xv = utvm_dsp_read4(xp);
          const int32_t wv = *w++;
          xp += 4;
          a = utvm_smlad(utvm_sxtb16(xv), utvm_sxtb16(wv), a);
          a = utvm_smlad(utvm_sxtb16_ror8(xv), utvm_sxtb16_ror8(wv), a);
        }
        if (tail) {
          a = utvm_dsp_fc_tail(a, xp, (const int8_t *)w, tail);
          w += 1;
        }
        acc[0] = a;
      }
      for (r = 0; r < n; ++r) {
        out[r] = (int8_t)utvm_dsp_output(utvm_dsp_requantize(acc[r], q[0], q[1], q[2]), p->act_min, p->act_max,
                                         full_range);
        q += p->quant_stride;
      }
    }
  }
}

UTVM_DSP_KERNEL void utvm_dsp_fully_connected_s8(const utvm_dsp_fully_connected_params *params,
                                                 const int8_t *input, int8_t *output) {
  utvm_dsp_fc_body(params, input, output, 0);
}

UTVM_DSP_KERNEL void utvm_dsp_fully_connected_s8_full(const utvm_dsp_fully_connected_params *params,
                                                      const int8_t *input, int8_t *output) {
  utvm_dsp_fc_body(params, input, output, 1);
}
