/*
 * What the Armv7E-M / Armv8-M DSP kernels (kernels/dsp/) share: the SIMD
 * instructions they use, and the requantization they do.
 *
 * On a core with the DSP extension (__ARM_FEATURE_DSP: Cortex-M4, M7, M33,
 * M35P, M55, M85 with it) every helper is one instruction: SXTB16, SXTAB16
 * (with or without ROR #8), SMLAD, SMLABB, SMLATT, SMLABT, SMMLAR, SSAT (and
 * SSUB8 + SEL for a bytewise max or min); the inner
 * loops are GNU C inline assembly (with the same code in C beside it, which
 * -DUTVM_DSP_NO_ASM selects). Elsewhere (the host, a
 * Cortex-M3) the same helpers are portable C with the instructions' exact
 * semantics, so a model compiled for a DSP target still builds and runs, bit
 * for bit the same, on any C99 compiler: slower, never different. The
 * compiler selects these kernels only for targets whose features include
 * "dsp". Define UTVM_DSP_REQUIRE_HW to refuse to build without the extension.
 *
 * Requantization (utvm_dsp_requantize) computes TFLite Micro's
 * MultiplyByQuantizedMultiplier (gemmlowp's double rounding) plus the output
 * offset in 4 instructions. It is exact only for accumulators within bounds
 * the compiler proves from the weights and biases (core/ops/dsp.py):
 *
 *   srdhm(a, m) = (a * m + 2^30) >> 31     (floor; m > 0, so no saturation)
 *               = (2a * m + 2^31) >> 32    while |2a| < 2^31
 *   rdbpot(x, r) + o = (x + (x < 0 ? -1 : 0) + 2^(r-1) + o * 2^r) >> r
 *                                          for r >= 1, while that sum stays in int32
 *
 * SMMLAR adds the round term 2^(r-1) + o * 2^r to the product's high word.
 * r >= 1 means no left shift (TFLite's shift is -r), so a = acc. A channel
 * whose result is the same for every accumulator it can have gets
 * multiplier 0 and its result in the round term.
 *
 * The constants the compiler emits (weights, records, tables) are 16-byte
 * aligned (core/codegen.py) and laid out in whole words: the kernels read
 * them a word or two (LDRD) at a time. Activations are read a word at a time
 * at any alignment (LDR), which Armv7-M and Armv8-M Mainline allow.
 */
#ifndef UTVM_KERNELS_DSP_DSP_H
#define UTVM_KERNELS_DSP_DSP_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define UTVM_DSP_HW 1
#include <arm_acle.h>
#else
#define UTVM_DSP_HW 0
#if defined(UTVM_DSP_REQUIRE_HW)
#error "utvm DSP kernels: this compiler targets a core without the DSP extension (no __ARM_FEATURE_DSP); compile with -mcpu=cortex-m4/m7/m33/m55, or compile the model for a target without the 'dsp' feature"
#endif
#endif

/* The inline assembly: on the DSP cores, when optimizing (GCC needs its registers: at -O0 the C is used). */
#if UTVM_DSP_HW && defined(__OPTIMIZE__) && !defined(UTVM_DSP_NO_ASM)
#define UTVM_DSP_ASM 1
#else
#define UTVM_DSP_ASM 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define UTVM_DSP_INLINE static inline __attribute__((always_inline))
#else
#define UTVM_DSP_INLINE static inline
#endif

#if defined(__GNUC__) || defined(__clang__)
#define UTVM_DSP_NOINLINE __attribute__((noinline))
#else
#define UTVM_DSP_NOINLINE
#endif

/* The kernels' entry points. Their assembly inner loops take up to 13 core
   registers: under GCC the frame pointer (r7) is left free in them whatever
   the command line says. */
#if defined(__GNUC__) && !defined(__clang__)
#define UTVM_DSP_KERNEL __attribute__((optimize("omit-frame-pointer")))
#else
#define UTVM_DSP_KERNEL
#endif

/* Four bytes from any address as one word (LDR; unaligned access is allowed
   on Armv7-M and Armv8-M Mainline). */
UTVM_DSP_INLINE int32_t utvm_dsp_read4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

UTVM_DSP_INLINE void utvm_dsp_write4(int8_t *p, int32_t v) { memcpy(p, &v, 4); }

#if UTVM_DSP_HW

/* Bytes 0 and 2 of x, sign-extended to two halfwords. */
UTVM_DSP_INLINE int32_t utvm_sxtb16(int32_t x) { return (int32_t)__sxtb16(x); }

/* Bytes 1 and 3 of x, sign-extended to two halfwords. */
UTVM_DSP_INLINE int32_t utvm_sxtb16_ror8(int32_t x) {
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}

/* a + bytes 0 and 2 of x, per halfword. */
UTVM_DSP_INLINE int32_t utvm_sxtab16(int32_t a, int32_t x) { return (int32_t)__sxtab16(a, x); }

/* a + bytes 1 and 3 of x, per halfword. */
UTVM_DSP_INLINE int32_t utvm_sxtab16_ror8(int32_t a, int32_t x) {
  int32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
  return r;
}

/* acc + lo(a) * lo(b) + hi(a) * hi(b), wrapping. */
UTVM_DSP_INLINE int32_t utvm_smlad(int32_t a, int32_t b, int32_t acc) { return __smlad(a, b, acc); }

/* acc + lo(a) * lo(b), acc + hi(a) * hi(b) (halfwords), wrapping. */
UTVM_DSP_INLINE int32_t utvm_smlabb(int32_t a, int32_t b, int32_t acc) { return __smlabb(a, b, acc); }
UTVM_DSP_INLINE int32_t utvm_smlatt(int32_t a, int32_t b, int32_t acc) { return __smlatt(a, b, acc); }

/* acc + lo(a) * hi(b) (halfwords), wrapping. */
UTVM_DSP_INLINE int32_t utvm_smlabt(int32_t a, int32_t b, int32_t acc) { return __smlabt(a, b, acc); }

/* The larger and the smaller of each of the four signed bytes of a and b: SSUB8 sets the GE flags
   (a >= b per byte), SEL picks by them. The two stay in one asm statement: nothing may come between. */
UTVM_DSP_INLINE int32_t utvm_dsp_max4(int32_t a, int32_t b) {
  int32_t r;
  __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b) : "cc");
  return r;
}
UTVM_DSP_INLINE int32_t utvm_dsp_min4(int32_t a, int32_t b) {
  int32_t r;
  __asm__("ssub8 %0, %1, %2\n\tsel %0, %2, %1" : "=&r"(r) : "r"(a), "r"(b) : "cc");
  return r;
}

/* acc + ((a * b + 2^31) >> 32), i.e. (acc * 2^32 + a * b + 2^31) >> 32. */
UTVM_DSP_INLINE int32_t utvm_smmlar(int32_t a, int32_t b, int32_t acc) {
  int32_t r;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
  return r;
}

/* x saturated to int8. */
UTVM_DSP_INLINE int32_t utvm_ssat8(int32_t x) { return __ssat(x, 8); }

#else /* portable C with the same results */

UTVM_DSP_INLINE int32_t utvm_dsp_half(int32_t lo, int32_t hi) {
  return (int32_t)(((uint32_t)(uint16_t)(int16_t)lo) | ((uint32_t)(uint16_t)(int16_t)hi << 16));
}
UTVM_DSP_INLINE int32_t utvm_dsp_lo(int32_t x) { return (int16_t)(uint16_t)((uint32_t)x & 0xFFFFu); }
UTVM_DSP_INLINE int32_t utvm_dsp_hi(int32_t x) { return (int16_t)(uint16_t)((uint32_t)x >> 16); }
UTVM_DSP_INLINE int32_t utvm_dsp_byte(int32_t x, int n) { return (int8_t)(uint8_t)((uint32_t)x >> (8 * n)); }

UTVM_DSP_INLINE int32_t utvm_sxtb16(int32_t x) { return utvm_dsp_half(utvm_dsp_byte(x, 0), utvm_dsp_byte(x, 2)); }
UTVM_DSP_INLINE int32_t utvm_sxtb16_ror8(int32_t x) {
  return utvm_dsp_half(utvm_dsp_byte(x, 1), utvm_dsp_byte(x, 3));
}
UTVM_DSP_INLINE int32_t utvm_sxtab16(int32_t a, int32_t x) {
  return utvm_dsp_half(utvm_dsp_lo(a) + utvm_dsp_byte(x, 0), utvm_dsp_hi(a) + utvm_dsp_byte(x, 2));
}
UTVM_DSP_INLINE int32_t utvm_sxtab16_ror8(int32_t a, int32_t x) {
  return utvm_dsp_half(utvm_dsp_lo(a) + utvm_dsp_byte(x, 1), utvm_dsp_hi(a) + utvm_dsp_byte(x, 3));
}
UTVM_DSP_INLINE int32_t utvm_smlad(int32_t a, int32_t b, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(utvm_dsp_lo(a) * utvm_dsp_lo(b)) +
                   (uint32_t)(utvm_dsp_hi(a) * utvm_dsp_hi(b)));
}
UTVM_DSP_INLINE int32_t utvm_smlabb(int32_t a, int32_t b, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(utvm_dsp_lo(a) * utvm_dsp_lo(b)));
}
UTVM_DSP_INLINE int32_t utvm_smlatt(int32_t a, int32_t b, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(utvm_dsp_hi(a) * utvm_dsp_hi(b)));
}
UTVM_DSP_INLINE int32_t utvm_smlabt(int32_t a, int32_t b, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(utvm_dsp_lo(a) * utvm_dsp_hi(b)));
}
UTVM_DSP_INLINE int32_t utvm_dsp_bytes4(int32_t b0, int32_t b1, int32_t b2, int32_t b3) {
  return (int32_t)((uint32_t)(uint8_t)b0 | ((uint32_t)(uint8_t)b1 << 8) | ((uint32_t)(uint8_t)b2 << 16) |
                   ((uint32_t)(uint8_t)b3 << 24));
}
UTVM_DSP_INLINE int32_t utvm_dsp_max1(int32_t a, int32_t b) { return a > b ? a : b; }
UTVM_DSP_INLINE int32_t utvm_dsp_min1(int32_t a, int32_t b) { return a < b ? a : b; }
UTVM_DSP_INLINE int32_t utvm_dsp_max4(int32_t a, int32_t b) {
  return utvm_dsp_bytes4(utvm_dsp_max1(utvm_dsp_byte(a, 0), utvm_dsp_byte(b, 0)),
                         utvm_dsp_max1(utvm_dsp_byte(a, 1), utvm_dsp_byte(b, 1)),
                         utvm_dsp_max1(utvm_dsp_byte(a, 2), utvm_dsp_byte(b, 2)),
                         utvm_dsp_max1(utvm_dsp_byte(a, 3), utvm_dsp_byte(b, 3)));
}
UTVM_DSP_INLINE int32_t utvm_dsp_min4(int32_t a, int32_t b) {
  return utvm_dsp_bytes4(utvm_dsp_min1(utvm_dsp_byte(a, 0), utvm_dsp_byte(b, 0)),
                         utvm_dsp_min1(utvm_dsp_byte(a, 1), utvm_dsp_byte(b, 1)),
                         utvm_dsp_min1(utvm_dsp_byte(a, 2), utvm_dsp_byte(b, 2)),
                         utvm_dsp_min1(utvm_dsp_byte(a, 3), utvm_dsp_byte(b, 3)));
}
UTVM_DSP_INLINE int32_t utvm_smmlar(int32_t a, int32_t b, int32_t acc) {
  /* acc + floor((a * b + 2^31) / 2^32), without relying on >> of a negative value; wraps. */
  const int64_t p = (int64_t)a * (int64_t)b + ((int64_t)1 << 31);
  const int64_t q = p >= 0 ? p / ((int64_t)1 << 32) : -((-p + ((int64_t)1 << 32) - 1) / ((int64_t)1 << 32));
  return (int32_t)((uint32_t)acc + (uint32_t)q);
}
UTVM_DSP_INLINE int32_t utvm_ssat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }

#endif /* UTVM_DSP_HW */

/* x >> n for n in 0..31, rounding toward minus infinity (ASR) on every compiler. */
UTVM_DSP_INLINE int32_t utvm_dsp_asr(int32_t x, int32_t n) {
#if UTVM_DSP_HW
  return x >> n;
#else
  return x >= 0 ? x >> n : -(int32_t)((~(uint32_t)x >> n)) - 1;
#endif
}

/*
 * Requantize one accumulator and add the output offset: multiplier, round
 * and shift are its channel's triple (see the top of this file and
 * core/ops/dsp.py). 4 instructions:
 *   (SMMLAR(2 * acc, multiplier, round) + (acc < 0 ? -1 : 0)) >> shift
 * The sign of acc stands for the sign of srdhm's result: they differ only
 * where that result is 0, which rounds to 0 either way (shift >= 1).
 */
UTVM_DSP_INLINE int32_t utvm_dsp_requantize(int32_t acc, int32_t multiplier, int32_t round, int32_t shift) {
  const int32_t t = utvm_smmlar((int32_t)((uint32_t)acc << 1), multiplier, round);
  return utvm_dsp_asr((int32_t)((uint32_t)t + (uint32_t)utvm_dsp_asr(acc, 31)), shift);
}

/* A requantized value (offset included) clamped to [act_min, act_max] (within int8). With full_range (a
   compile-time constant: act_min = -128, act_max = 127) that is one SSAT. */
UTVM_DSP_INLINE int32_t utvm_dsp_output(int32_t y, int32_t act_min, int32_t act_max, int full_range) {
  y = utvm_ssat8(y);
  if (!full_range) {
    y = y < act_min ? act_min : y;
    y = y > act_max ? act_max : y;
  }
  return y;
}

#if UTVM_DSP_ASM
#define UTVM_DSP_2X2_SLICE                \
  "ldr %[a], [%[pa]], #4\n\t"             \
  "ldr %[x], [%[wp]], #4\n\t"             \
  "sxtb16 %[t], %[a]\n\t"                 \
  "sxtb16 %[a], %[a], ror #8\n\t"         \
  "ldr %[b], [%[pb]], #4\n\t"             \
  "sxtb16 %[u], %[x]\n\t"                 \
  "sxtb16 %[x], %[x], ror #8\n\t"         \
  "smlad %[r00], %[t], %[u], %[r00]\n\t"  \
  "smlad %[r00], %[a], %[x], %[r00]\n\t"  \
  "sxtb16 %[v], %[b]\n\t"                 \
  "sxtb16 %[b], %[b], ror #8\n\t"         \
  "smlad %[r01], %[v], %[u], %[r01]\n\t"  \
  "smlad %[r01], %[b], %[x], %[r01]\n\t"  \
  "ldr %[x], [%[wp]], #4\n\t"             \
  "sxtb16 %[u], %[x]\n\t"                 \
  "sxtb16 %[x], %[x], ror #8\n\t"         \
  "smlad %[r10], %[t], %[u], %[r10]\n\t"  \
  "smlad %[r10], %[a], %[x], %[r10]\n\t"  \
  "smlad %[r11], %[v], %[u], %[r11]\n\t"  \
  "smlad %[r11], %[b], %[x], %[r11]\n\t"

/* The slices of a one-segment 2 x 2 block, two at a time (one first when n is odd), pa up to end. Needs
   the operands of UTVM_DSP_2X2_SLICE and end, odd; labels 2 and 3 are its own. */
#define UTVM_DSP_2X2_ONE_SEGMENT \
  "ldr %[t], %[odd]\n\t" \
  "cmp %[t], #0\n\t" \
  "beq 2f\n\t" \
  UTVM_DSP_2X2_SLICE \
  "ldr %[a], %[end]\n\t" \
  "cmp %[pa], %[a]\n\t" \
  "beq 3f\n\t" \
  "2:\n\t" \
  UTVM_DSP_2X2_SLICE \
  UTVM_DSP_2X2_SLICE \
  "ldr %[a], %[end]\n\t" \
  "cmp %[pa], %[a]\n\t" \
  "bne 2b\n\t" \
  "3:\n\t"

/* Every segment of a 2 x 2 block: each one's slices as UTVM_DSP_2X2_ONE_SEGMENT, then on to the
   next segment until `left` runs out. Needs the operands of UTVM_DSP_2X2_SLICE and bytes, end, odd,
   left, gap; labels 2-5 are its own. */
#define UTVM_DSP_2X2_SEGMENTS \
  "5:\n\t" \
  "ldr %[t], %[bytes]\n\t" \
  "add %[t], %[pa], %[t]\n\t" \
  "str %[t], %[end]\n\t" \
  UTVM_DSP_2X2_ONE_SEGMENT \
  "ldr %[t], %[left]\n\t" \
  "subs %[t], %[t], #1\n\t" \
  "beq 4f\n\t" \
  "str %[t], %[left]\n\t" \
  "ldr %[t], %[gap]\n\t" \
  "add %[pa], %[pa], %[t]\n\t" \
  "add %[pb], %[pb], %[t]\n\t" \
  "b 5b\n\t" \
  "4:\n\t"
#endif

/* The shape of the 2 x 2 block's loop, the same for every channel pair of a position pair: kept in the
   caller's frame, where the assembly reads it. */
typedef struct {
  int32_t segments;  /* >= 1 */
  int32_t n;         /* slices per segment, >= 1 */
  int32_t gap;       /* bytes from the end of a segment to the start of the next */
  int32_t odd;       /* n & 1 */
  int32_t bytes;     /* 4 * n */
  const int8_t *end; /* xa + bytes: the end of a's first segment */
  int32_t left;      /* scratch: segments still to do */
} utvm_dsp_2x2_loop;

UTVM_DSP_INLINE void utvm_dsp_2x2_loop_init(utvm_dsp_2x2_loop *l, int32_t segments, int32_t n, int32_t gap) {
  l->segments = segments;
  l->n = n;
  l->gap = gap;
  l->odd = n & 1;
  l->bytes = 4 * n;
  l->end = NULL;
  l->left = 0;
}

/*
 * The 2 x 2 block of the convolution: positions a and b (raw int8 input),
 * channels 0 and 1 (weights interleaved per 4-byte slice at *w, which
 * advances by 2 words per slice), over `segments` >= 1 runs of n >= 1
 * slices, the first starting at xa and xb, each next one `gap` bytes after
 * the end of the one before:
 *   c00 += a . w0, c01 += b . w0, c10 += a . w1, c11 += b . w1.
 * 21.5 instructions per slice (16 MACs) in the assembly form.
 */
UTVM_DSP_INLINE void utvm_dsp_block_2x2(utvm_dsp_2x2_loop *l, const int8_t *xa, const int8_t *xb, const int32_t **w,
                                        int32_t *c00, int32_t *c01, int32_t *c10, int32_t *c11) {
#if UTVM_DSP_ASM
  /* 13 registers (the frame pointer r7 may be one of them): the rest is read from memory. Per segment, one
     slice alone when n is odd, then two per iteration. */
  const int8_t *pa = xa;
  const int8_t *pb = xb;
  int32_t r00 = *c00, r01 = *c01, r10 = *c10, r11 = *c11;
  const int32_t *wp = *w;
  int32_t a, b, t, u, v, x;
  if (l->segments == 1) {
    __asm__ volatile(
        UTVM_DSP_2X2_ONE_SEGMENT
        : [r00] "+r"(r00), [r01] "+r"(r01), [r10] "+r"(r10), [r11] "+r"(r11), [pa] "+r"(pa), [pb] "+r"(pb),
          [wp] "+r"(wp), [a] "=&r"(a), [b] "=&r"(b), [t] "=&r"(t), [u] "=&r"(u), [v] "=&r"(v), [x] "=&r"(x)
        : [end] "m"(l->end), [odd] "m"(l->odd)
        : "cc", "memory");
  } else {
    l->left = l->segments;
    __asm__ volatile(
        UTVM_DSP_2X2_SEGMENTS
        : [r00] "+r"(r00), [r01] "+r"(r01), [r10] "+r"(r10), [r11] "+r"(r11), [pa] "+r"(pa), [pb] "+r"(pb),
          [wp] "+r"(wp), [a] "=&r"(a), [b] "=&r"(b), [t] "=&r"(t), [u] "=&r"(u), [v] "=&r"(v), [x] "=&r"(x),
          [end] "+m"(l->end), [left] "+m"(l->left)
        : [bytes] "m"(l->bytes), [odd] "m"(l->odd), [gap] "m"(l->gap)
        : "cc", "memory");
  }
  *c00 = r00;
  *c01 = r01;
  *c10 = r10;
  *c11 = r11;
  *w = wp;
#else
  const int32_t *wp = *w;
  int32_t r00 = *c00, r01 = *c01, r10 = *c10, r11 = *c11;
  int32_t segments;
  for (segments = l->segments; segments > 0; --segments) {
    int32_t k;
    for (k = l->n; k > 0; --k) {
      const int32_t a = utvm_dsp_read4(xa);
      const int32_t b = utvm_dsp_read4(xb);
      const int32_t al = utvm_sxtb16(a);
      const int32_t ah = utvm_sxtb16_ror8(a);
      const int32_t bl = utvm_sxtb16(b);
      const int32_t bh = utvm_sxtb16_ror8(b);
      int32_t wl = utvm_sxtb16(wp[0]);
      int32_t wh = utvm_sxtb16_ror8(wp[0]);
      r00 = utvm_smlad(ah, wh, utvm_smlad(al, wl, r00));
      r01 = utvm_smlad(bh, wh, utvm_smlad(bl, wl, r01));
      wl = utvm_sxtb16(wp[1]);
      wh = utvm_sxtb16_ror8(wp[1]);
      r10 = utvm_smlad(ah, wh, utvm_smlad(al, wl, r10));
      r11 = utvm_smlad(bh, wh, utvm_smlad(bl, wl, r11));
      xa += 4;
      xb += 4;
      wp += 2;
    }
    xa += l->gap;
    xb += l->gap;
  }
  *c00 = r00;
  *c01 = r01;
  *c10 = r10;
  *c11 = r11;
  *w = wp;
#endif
}

#endif /* UTVM_KERNELS_DSP_DSP_H */
