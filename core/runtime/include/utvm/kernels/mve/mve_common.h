/*
 * Shared pieces of the Armv8.1-M MVE (Helium) kernel variants.
 *
 * Every MVE kernel source has two bodies: the vector one, compiled where the
 * compiler targets MVE integer instructions (UTVM_MVE is 1), and a portable
 * scalar one with the same contract and the same compile-time data layout
 * (UTVM_MVE is 0), so that the layout the compiler prepares can be checked on
 * any host as well. Both are bit-exact with TFLite Micro's reference kernels.
 *
 * Requantization (utvm_requantize, gemmlowp double rounding) in vector form,
 * as the kernels write it (in their inline assembly):
 *   x = x << left                 VSHL by register: wraps like the scalar shift
 *   x = srdhm(x, multiplier)      VQRDMULH is exactly gemmlowp's
 *                                 SaturatingRoundingDoublingHighMul:
 *                                 floor((2ab + 2^31) / 2^32) equals the
 *                                 reference's truncating division of
 *                                 ab + nudge for both signs of ab, and
 *                                 INT32_MIN * INT32_MIN saturates the same way
 *   x = rdbpot(x, right)          VRSHL by -right rounds half up; rounding
 *                                 half away from zero is that applied to
 *                                 x - 1 for negative x (VQADD of x >> 31: the
 *                                 saturation at INT32_MIN does not change the
 *                                 result), and no fix where right is 0
 * left and right come from the reference shift: left = max(shift, 0),
 * right_neg = min(shift, 0) (the negated right shift). Where every right
 * shift is at least 1 the fix is x >> 31 unmasked. Then the output offset is
 * added and the result clamped: VMAX/VMIN, or, for the activation range
 * [-128, 127], two saturating narrowings (VQMOVNB.S32, VQMOVNB.S16) that
 * leave the clamped value in each 32-bit lane's low byte.
 *
 * Not used: the two-lane VMOV Qd[2], Qd[0], Rt, Rt2, because QEMU 7.2 and
 * the architecture's operand naming disagree on which lane Rt goes to (what
 * QEMU checks must hold on silicon too); accumulators reach vector lanes
 * through single-lane VMOVs or a store and a VLDRW.
 */
#ifndef UTVM_KERNELS_MVE_COMMON_H
#define UTVM_KERNELS_MVE_COMMON_H

#include <stdint.h>

#include "utvm/kernels/common.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define UTVM_MVE 1
#include <arm_mve.h>

#else
#define UTVM_MVE 0
#endif

/* dst[0, n) = src[0, n); the buffers do not overlap. A tail-predicated loop (nothing for n <= 0). */
static inline void utvm_mve_copy(int8_t *dst, const int8_t *src, int32_t n) {
#if UTVM_MVE
  if (n > 0) {
    __asm__ volatile(
        "dlstp.8 lr, %[n]\n\t"
        "1:\n\t"
        "vldrb.8 q0, [%[s]], #16\n\t"
        "vstrb.8 q0, [%[d]], #16\n\t"
        "letp lr, 1b\n\t"
        : [s] "+r"(src), [d] "+r"(dst)
        : [n] "r"(n)
        : "q0", "lr", "memory");
  }
#else
  int32_t i;
  for (i = 0; i < n; ++i) {
    dst[i] = src[i];
  }
#endif
}

/* dst[0, n) = value (nothing for n <= 0). */
static inline void utvm_mve_fill(int8_t *dst, int8_t value, int32_t n) {
#if UTVM_MVE
  if (n > 0) {
    __asm__ volatile(
        "vdup.8 q0, %[v]\n\t"
        "dlstp.8 lr, %[n]\n\t"
        "1:\n\t"
        "vstrb.8 q0, [%[d]], #16\n\t"
        "letp lr, 1b\n\t"
        : [d] "+r"(dst)
        : [n] "r"(n), [v] "r"((int32_t)value)
        : "q0", "lr", "memory");
  }
#else
  int32_t i;
  for (i = 0; i < n; ++i) {
    dst[i] = value;
  }
#endif
}

/* Scalar form of the requantization with split shifts (the fallback bodies). */
static inline int32_t utvm_mve_requantize_scalar(int32_t x, int32_t multiplier, int32_t left, int32_t right_neg) {
  return utvm_rdbpot(utvm_srdhm((int32_t)((uint32_t)x << left), multiplier), -right_neg);
}

#endif /* UTVM_KERNELS_MVE_COMMON_H */
