/* The MVE matrix-product core; see utvm/kernels/mve/gemm.h. */
#include "utvm/kernels/mve/gemm.h"

#include <string.h>

#include "utvm/kernels/mve/mve_common.h"

#if UTVM_MVE

/*
 * Two asm statements per block of 4 channels: the dot products (8 or 4
 * accumulators in even registers), then the requantization and the stores,
 * which read the block's parameters from the stream and use q0-q3 only (so
 * that no callee-saved vector register needs saving: less stack). The asm
 * blocks read the rows and the stream but declare no memory input ("memory"
 * would make GCC reload every parameter after each block): nothing in these
 * functions writes what they read, and the callers' writes happen before the
 * call. The stores are declared with "memory".
 */

/* The dot products of a block: the first chunk with VMLADAV (no accumulator to clear), the rest with VMLADAVA. */
#define UTVM_MVE_CHUNK_2X4(OP)                 \
  "vldrb.8 q0, [%[x0]], #16\n\t"               \
  "vldrb.8 q1, [%[x1]], #16\n\t"               \
  "vldrb.8 q2, [%[w]], #16\n\t"                \
  OP " %[a0], q0, q2\n\t"                      \
  OP " %[b0], q1, q2\n\t"                      \
  "vldrb.8 q2, [%[w]], #16\n\t"                \
  OP " %[a1], q0, q2\n\t"                      \
  OP " %[b1], q1, q2\n\t"                      \
  "vldrb.8 q2, [%[w]], #16\n\t"                \
  OP " %[a2], q0, q2\n\t"                      \
  OP " %[b2], q1, q2\n\t"                      \
  "vldrb.8 q2, [%[w]], #16\n\t"                \
  OP " %[a3], q0, q2\n\t"                      \
  OP " %[b3], q1, q2\n\t"

#define UTVM_MVE_CHUNK_1X4(OP)                 \
  "vldrb.8 q0, [%[x0]], #16\n\t"               \
  "vldrb.8 q2, [%[w]], #16\n\t"                \
  OP " %[a0], q0, q2\n\t"                      \
  "vldrb.8 q2, [%[w]], #16\n\t"                \
  OP " %[a1], q0, q2\n\t"                      \
  "vldrb.8 q2, [%[w]], #16\n\t"                \
  OP " %[a2], q0, q2\n\t"                      \
  "vldrb.8 q2, [%[w]], #16\n\t"                \
  OP " %[a3], q0, q2\n\t"

/* Output stage constants and scratch, read by the requantization asm at fixed offsets. */
typedef struct {
  int32_t correction; /* 0 */
  int32_t out_offset; /* 4 */
  int32_t act_min;    /* 8 */
  int32_t act_max;    /* 12 */
  int32_t remaining;  /* 16: channels left, for the predicated stores of a last partial block */
  int8_t *out0;       /* 20: where the block's outputs go */
  int8_t *out1;       /* 24 */
  int32_t lanes[8];   /* 28: the accumulators on their way into vector registers */
} utvm_mve_gemm_out;

/* q0 = {a0..a3} (and q1 = {b0..b3} when TWO), through the scratch: two STRD and one VLDRW per vector. */
#define UTVM_MVE_LANES(TWO)                                                     \
  "strd %[a0], %[a1], [%[g], #28]\n\t"                                          \
  "strd %[a2], %[a3], [%[g], #36]\n\t"                                          \
  TWO("strd %[b0], %[b1], [%[g], #44]\n\tstrd %[b2], %[b3], [%[g], #52]\n\t")   \
  "vldrw.32 q0, [%[g], #28]\n\t"                                                \
  TWO("vldrw.32 q1, [%[g], #44]\n\t")

/* The rounding right shift by q2's negated shifts: any shift (with the fix masked where it is 0)... */
#define UTVM_MVE_RIGHT(V)                      \
  "vand q3, q" V ", q2\n\t"                    \
  "vshr.s32 q3, q3, #31\n\t"                   \
  "vqadd.s32 q" V ", q" V ", q3\n\t"           \
  "vrshl.s32 q" V ", q" V ", q2\n\t"
/* ...or, when every shift is at least 1, the fix unmasked. */
#define UTVM_MVE_RIGHT_1(V)                    \
  "vshr.s32 q3, q" V ", #31\n\t"               \
  "vqadd.s32 q" V ", q" V ", q3\n\t"           \
  "vrshl.s32 q" V ", q" V ", q2\n\t"

/*
 * Requantize q0 (and q1 when TWO) and store. The general form: the
 * correction, left shifts when LEFT, any right shift, the clamp to
 * [act_min, act_max]. The fast form (no correction, no left shift, every
 * right shift >= 1, activation range [-128, 127]): the clamp is two
 * saturating narrowings (int32 -> int16 -> int8 in each lane's low byte,
 * which VSTRB.32 stores).
 */
#define UTVM_MVE_REQUANT(TWO, LEFT, STORE)                                                      \
  "vldrw.32 q2, [%[w]], #16\n\t"                                                                \
  "ldr %[a0], [%[g]]\n\t"                                                                       \
  "vadd.i32 q2, q2, %[a0]\n\t"                                                                  \
  "vadd.i32 q0, q0, q2\n\t" TWO("vadd.i32 q1, q1, q2\n\t")                                     \
  LEFT("vldrw.32 q2, [%[w]], #16\n\tvshl.s32 q0, q0, q2\n\t" TWO("vshl.s32 q1, q1, q2\n\t"))   \
  "vldrw.32 q2, [%[w]], #16\n\t"                                                                \
  "vqrdmulh.s32 q0, q0, q2\n\t" TWO("vqrdmulh.s32 q1, q1, q2\n\t")                             \
  "vldrw.32 q2, [%[w]], #16\n\t"                                                                \
  UTVM_MVE_RIGHT("0") TWO(UTVM_MVE_RIGHT("1"))                                                  \
  "ldr %[a0], [%[g], #4]\n\t"                                                                   \
  "vadd.i32 q0, q0, %[a0]\n\t" TWO("vadd.i32 q1, q1, %[a0]\n\t")                                \
  "ldr %[a0], [%[g], #8]\n\t"                                                                   \
  "vdup.32 q2, %[a0]\n\t"                                                                       \
  "vmax.s32 q0, q0, q2\n\t" TWO("vmax.s32 q1, q1, q2\n\t")                                     \
  "ldr %[a0], [%[g], #12]\n\t"                                                                  \
  "vdup.32 q2, %[a0]\n\t"                                                                       \
  "vmin.s32 q0, q0, q2\n\t" TWO("vmin.s32 q1, q1, q2\n\t") STORE

#define UTVM_MVE_REQUANT_FAST(TWO, LEFT, STORE)                                                 \
  "vldrw.32 q2, [%[w]], #16\n\t"                                                                \
  "vadd.i32 q0, q0, q2\n\t" TWO("vadd.i32 q1, q1, q2\n\t")                                     \
  "vldrw.32 q2, [%[w]], #16\n\t"                                                                \
  "vqrdmulh.s32 q0, q0, q2\n\t" TWO("vqrdmulh.s32 q1, q1, q2\n\t")                             \
  "vldrw.32 q2, [%[w]], #16\n\t"                                                                \
  UTVM_MVE_RIGHT_1("0") TWO(UTVM_MVE_RIGHT_1("1"))                                              \
  "ldr %[a0], [%[g], #4]\n\t"                                                                   \
  "vadd.i32 q0, q0, %[a0]\n\t" TWO("vadd.i32 q1, q1, %[a0]\n\t")                                \
  "vqmovnb.s32 q0, q0\n\t" TWO("vqmovnb.s32 q1, q1\n\t")                                       \
  "vqmovnb.s16 q0, q0\n\t" TWO("vqmovnb.s16 q1, q1\n\t") STORE

#define UTVM_MVE_YES(X) X
#define UTVM_MVE_NO(X)

#define UTVM_MVE_STORE_FULL(TWO)                                               \
  "ldr %[a0], [%[g], #20]\n\tvstrb.32 q0, [%[a0]]\n\t"                          \
  TWO("ldr %[a0], [%[g], #24]\n\tvstrb.32 q1, [%[a0]]\n\t")
#define UTVM_MVE_STORE_PART(TWO)                                               \
  "ldr %[a0], [%[g], #16]\n\tvctp.32 %[a0]\n\t"                                \
  "ldr %[a0], [%[g], #20]\n\tvpst\n\tvstrbt.32 q0, [%[a0]]\n\t"               \
  TWO("ldr %[a0], [%[g], #24]\n\tvpst\n\tvstrbt.32 q1, [%[a0]]\n\t")

/* The requantization asm of one block; MODE: fast (0), general without (1) or with (2) left shifts. */
#define UTVM_MVE_FINISH(TWO, OPERANDS)                                                                    \
  if (g->remaining >= 4) {                                                                                \
    if (mode == 0) {                                                                                      \
      __asm__ volatile(UTVM_MVE_LANES(TWO) UTVM_MVE_REQUANT_FAST(TWO, UTVM_MVE_NO, UTVM_MVE_STORE_FULL(TWO)) \
                       OPERANDS);                                                                         \
    } else if (mode == 1) {                                                                               \
      __asm__ volatile(UTVM_MVE_LANES(TWO) UTVM_MVE_REQUANT(TWO, UTVM_MVE_NO, UTVM_MVE_STORE_FULL(TWO))   \
                       OPERANDS);                                                                         \
    } else {                                                                                              \
      __asm__ volatile(UTVM_MVE_LANES(TWO) UTVM_MVE_REQUANT(TWO, UTVM_MVE_YES, UTVM_MVE_STORE_FULL(TWO))  \
                       OPERANDS);                                                                         \
    }                                                                                                     \
  } else if (mode == 2) {                                                                                 \
    __asm__ volatile(UTVM_MVE_LANES(TWO) UTVM_MVE_REQUANT(TWO, UTVM_MVE_YES, UTVM_MVE_STORE_PART(TWO))    \
                     OPERANDS);                                                                           \
  } else {                                                                                                \
    /* The fast form's stream is the general one without left shifts: the last block takes the general form. */ \
    __asm__ volatile(UTVM_MVE_LANES(TWO) UTVM_MVE_REQUANT(TWO, UTVM_MVE_NO, UTVM_MVE_STORE_PART(TWO))     \
                     OPERANDS);                                                                           \
  }

#define UTVM_MVE_OPERANDS_TWO                                                                    \
  : [w] "+r"(w), [a0] "+l"(a0)                                                                    \
  : [a1] "r"(a1), [a2] "r"(a2), [a3] "r"(a3), [b0] "r"(b0), [b1] "r"(b1), [b2] "r"(b2), [b3] "r"(b3), \
    [g] "r"(g)                                                                                    \
  : "q0", "q1", "q2", "q3", "memory"
#define UTVM_MVE_OPERANDS_ONE                                                                    \
  : [w] "+r"(w), [a0] "+l"(a0)                                                                    \
  : [a1] "r"(a1), [a2] "r"(a2), [a3] "r"(a3), [g] "r"(g)                                          \
  : "q0", "q1", "q2", "q3", "memory"

/* Requantization and stores of one block of two rows. */
static inline const int8_t *utvm_mve_finish_two(int32_t a0, int32_t a1, int32_t a2, int32_t a3, int32_t b0,
                                                int32_t b1, int32_t b2, int32_t b3, const int8_t *w,
                                                utvm_mve_gemm_out *g, int32_t mode) {
  UTVM_MVE_FINISH(UTVM_MVE_YES, UTVM_MVE_OPERANDS_TWO)
  return w;
}

static inline const int8_t *utvm_mve_finish_one(int32_t a0, int32_t a1, int32_t a2, int32_t a3, const int8_t *w,
                                                utvm_mve_gemm_out *g, int32_t mode) {
  UTVM_MVE_FINISH(UTVM_MVE_NO, UTVM_MVE_OPERANDS_ONE)
  return w;
}

void utvm_mve_gemm_rows(const utvm_mve_gemm *g, const int8_t *row0, const int8_t *row1, int32_t correction,
                        int8_t *out0, int8_t *out1) {
  const int8_t *w = g->stream;
  const int32_t chunks_after_first = (g->k16 >> 4) - 1;
  const int32_t mode = g->has_left ? 2 : (g->fast && correction == 0 ? 0 : 1);
  int32_t remaining;
  utvm_mve_gemm_out out;
  out.correction = correction;
  out.out_offset = g->output_offset;
  out.act_min = g->act_min;
  out.act_max = g->act_max;
  out.out0 = out0;
  out.out1 = out1;

  if (row1 != NULL) {
    for (remaining = g->channels; remaining > 0; remaining -= 4) {
      int32_t a0, a1, a2, a3, b0, b1, b2, b3;
      const int8_t *x0 = row0;
      const int8_t *x1 = row1;
      int32_t n = chunks_after_first;
      __asm__ volatile(
          UTVM_MVE_CHUNK_2X4("vmladav.s8")
          "cbz %[n], 2f\n\t"
          "1:\n\t"
          UTVM_MVE_CHUNK_2X4("vmladava.s8")
          "subs %[n], %[n], #1\n\t"
          "bne 1b\n\t"
          "2:\n\t"
          : [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3), [b0] "=&Te"(b0),
            [b1] "=&Te"(b1), [b2] "=&Te"(b2), [b3] "=&Te"(b3), [x0] "+r"(x0), [x1] "+r"(x1), [w] "+r"(w),
            [n] "+l"(n)
          :
          : "q0", "q1", "q2", "cc");
      out.remaining = remaining;
      w = utvm_mve_finish_two(a0, a1, a2, a3, b0, b1, b2, b3, w, &out, mode);
      out.out0 += 4;
      out.out1 += 4;
    }
  } else {
    for (remaining = g->channels; remaining > 0; remaining -= 4) {
      int32_t a0, a1, a2, a3;
      const int8_t *x0 = row0;
      int32_t n = chunks_after_first;
      __asm__ volatile(
          UTVM_MVE_CHUNK_1X4("vmladav.s8")
          "cbz %[n], 2f\n\t"
          "1:\n\t"
          UTVM_MVE_CHUNK_1X4("vmladava.s8")
          "subs %[n], %[n], #1\n\t"
          "bne 1b\n\t"
          "2:\n\t"
          : [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3), [x0] "+r"(x0), [w] "+r"(w),
            [n] "+l"(n)
          :
          : "q0", "q2", "cc");
      out.remaining = remaining;
      w = utvm_mve_finish_one(a0, a1, a2, a3, w, &out, mode);
      out.out0 += 4;
    }
  }
}

#else /* portable body: the same contract and layout */

static int32_t utvm_mve_param(const int8_t *p, int32_t index) {
  int32_t v;
  memcpy(&v, p + 4 * index, sizeof v);
  return v;
}

static void utvm_mve_gemm_row(const utvm_mve_gemm *g, const int8_t *row, int32_t correction, int8_t *out) {
  const int32_t chunks = g->k16 >> 4;
  const int32_t block_bytes = chunks * 64 + (g->has_left ? 64 : 48);
  int32_t oc;
  for (oc = 0; oc < g->channels; ++oc) {
    const int8_t *block = g->stream + (oc >> 2) * block_bytes;
    const int8_t *weights = block + (oc & 3) * 16;
    const int8_t *p = block + chunks * 64;
    const int32_t lane = oc & 3;
    const int32_t shifts = g->has_left ? 4 : 0; /* the left shifts come second when present */
    uint32_t acc = (uint32_t)utvm_mve_param(p, lane) + (uint32_t)correction;
    int32_t left = g->has_left ? utvm_mve_param(p, 4 + lane) : 0;
    int32_t d;
    int32_t v;
    for (d = 0; d < g->k16; ++d) {
      acc += (uint32_t)((int32_t)weights[(d >> 4) * 64 + (d & 15)] * (int32_t)row[d]);
    }
    v = utvm_mve_requantize_scalar((int32_t)acc, utvm_mve_param(p, shifts + 4 + lane), left,
                                   utvm_mve_param(p, shifts + 8 + lane));
    v += g->output_offset;
    out[oc] = (int8_t)utvm_clamp_i32(v, g->act_min, g->act_max);
  }
}

void utvm_mve_gemm_rows(const utvm_mve_gemm *g, const int8_t *row0, const int8_t *row1, int32_t correction,
                        int8_t *out0, int8_t *out1) {
  utvm_mve_gemm_row(g, row0, correction, out0);
  if (row1 != NULL) {
    utvm_mve_gemm_row(g, row1, correction, out1);
  }
}

#endif
