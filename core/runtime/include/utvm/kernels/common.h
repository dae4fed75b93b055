/*
 * Fixed-point arithmetic shared by the kernels, bit-exact with TFLite Micro.
 *
 * TFLite Micro requantizes with gemmlowp's double rounding: a saturating
 * rounding doubling high multiply by a Q31 multiplier, then a rounding
 * divide by a power of two. Every quantity is an explicit-width integer, so
 * the kernels are correct where int is 16 bits (AVR) too.
 */
#ifndef UTVM_KERNELS_COMMON_H
#define UTVM_KERNELS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define UTVM_INT8_MIN (-128)
#define UTVM_INT8_MAX 127

static inline int32_t utvm_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t utvm_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }

static inline int32_t utvm_clamp_i32(int32_t x, int32_t lo, int32_t hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

/* gemmlowp SaturatingRoundingDoublingHighMul: (a * b * 2 + 2^31) >> 32, saturated. */
static inline int32_t utvm_srdhm(int32_t a, int32_t b) {
  int64_t ab;
  int64_t nudge;
  if (a == INT32_MIN && b == INT32_MIN) {
    return INT32_MAX;
  }
  ab = (int64_t)a * (int64_t)b;
  nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
  ab += nudge;
  /* The reference divides by 2^31, truncating toward zero: an arithmetic shift, negatives biased first
     (no 64-bit division where the compiler would call one, as avr-gcc does). */
  return (int32_t)((ab < 0 ? ab + (((int64_t)1 << 31) - 1) : ab) >> 31);
}

/* gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero; 0 <= exponent <= 31. */
static inline int32_t utvm_rdbpot(int32_t x, int32_t exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/*
 * TFLite's MultiplyByQuantizedMultiplier: x * multiplier * 2^(shift - 31),
 * shift > 0 a left shift. The left shift wraps like the reference's int32.
 */
static inline int32_t utvm_requantize(int32_t x, int32_t multiplier, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0;
  const int32_t right = shift > 0 ? 0 : -shift;
  return utvm_rdbpot(utvm_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

#endif /* UTVM_KERNELS_COMMON_H */
