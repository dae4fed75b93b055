/*
 * gemmlowp-style Q-format fixed-point arithmetic on int32 raw values, as
 * TFLite Micro's integer SOFTMAX, LOGISTIC and TANH use it (gemmlowp's
 * fixedpoint.h, scalar int32 path).
 *
 * A value "Qn" has n integer bits and 31 - n fractional bits. gemmlowp's
 * FixedPoint additions and subtractions are plain (wrapping) int32
 * arithmetic; here they wrap explicitly through uint32 so that the C code has
 * no signed overflow. Multiplication of Qa by Qb is utvm_srdhm and gives
 * Q(a+b). Every quantity has an explicit width, so this works where int is
 * 16 bits.
 */
#ifndef UTVM_KERNELS_FIXEDPOINT_H
#define UTVM_KERNELS_FIXEDPOINT_H

#include "utvm/kernels/common.h"

/* Wrapping int32 add / subtract / negate (gemmlowp's Add, Sub, Neg). */
static inline int32_t utvm_fp_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t utvm_fp_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
static inline int32_t utvm_fp_neg(int32_t a) { return (int32_t)(0u - (uint32_t)a); }

/* Number of leading zero bits of x as a 32-bit unsigned value (32 for 0). */
static inline int32_t utvm_clz32(uint32_t x) {
  int32_t n = 0;
  if (x == 0u) {
    return 32;
  }
  while ((x & 0x80000000u) == 0u) {
    x <<= 1;
    n++;
  }
  return n;
}

/*
 * gemmlowp SaturatingRoundingMultiplyByPOT with a non-negative exponent:
 * x * 2^exponent, saturated to the int32 range. 0 <= exponent <= 30.
 */
static inline int32_t utvm_fp_sat_shl(int32_t x, int32_t exponent) {
  int32_t threshold;
  if (exponent == 0) {
    return x;
  }
  threshold = (int32_t)(((int32_t)1 << (31 - exponent)) - 1);
  if (x > threshold) {
    return INT32_MAX;
  }
  if (x < -threshold) {
    return INT32_MIN;
  }
  return (int32_t)((uint32_t)x << exponent);
}

/* gemmlowp RoundingHalfSum: (a + b) / 2 rounded half away from zero. */
static inline int32_t utvm_fp_rounding_half_sum(int32_t a, int32_t b) {
  const int64_t sum = (int64_t)a + (int64_t)b;
  const int64_t sign = sum >= 0 ? 1 : -1;
  return (int32_t)((sum + sign) / 2);
}

/* gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl: Q0 -> Q0. */
static inline int32_t utvm_fp_exp_on_interval_m025_0(int32_t a) {
  const int32_t constant_term = 1895147668;   /* exp(-1/8) */
  const int32_t constant_1_over_3 = 715827883; /* 1/3 */
  const int32_t x = utvm_fp_add(a, (int32_t)1 << 28); /* a + 1/8 */
  const int32_t x2 = utvm_srdhm(x, x);
  const int32_t x3 = utvm_srdhm(x2, x);
  const int32_t x4 = utvm_srdhm(x2, x2);
  const int32_t x4_over_4 = utvm_rdbpot(x4, 2);
  const int32_t poly = utvm_rdbpot(
      utvm_fp_add(utvm_srdhm(utvm_fp_add(x4_over_4, x3), constant_1_over_3), x2), 1);
  return utvm_fp_add(constant_term, utvm_srdhm(constant_term, utvm_fp_add(x, poly)));
}

/*
 * gemmlowp exp_on_negative_values: a is Q(integer_bits) and <= 0, the result
 * exp(a) is Q0. 0 <= integer_bits <= 30.
 */
static inline int32_t utvm_fp_exp_on_negative_values(int32_t a, int32_t integer_bits) {
  static const int32_t multipliers[7] = {
      1672461947, /* exp(-1/4) */
      1302514674, /* exp(-1/2) */
      790015084,  /* exp(-1) */
      290630308,  /* exp(-2) */
      39332535,   /* exp(-4) */
      720401,     /* exp(-8) */
      242,        /* exp(-16) */
  };
  const int32_t fractional_bits = 31 - integer_bits;
  const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
  const int32_t mask = one_quarter - 1;
  const int32_t a_mod_quarter_minus_one_quarter = utvm_fp_sub(a & mask, one_quarter);
  /* Rescale<0> from Q(integer_bits): a saturating left shift by integer_bits. */
  int32_t result = utvm_fp_exp_on_interval_m025_0(utvm_fp_sat_shl(a_mod_quarter_minus_one_quarter, integer_bits));
  const int32_t remainder = utvm_fp_sub(a_mod_quarter_minus_one_quarter, a);
  int32_t exponent;
  for (exponent = -2; exponent <= 4; exponent++) {
    if (integer_bits > exponent) {
      const int32_t shift = fractional_bits + exponent;
      if ((remainder & ((int32_t)1 << shift)) != 0) {
        result = utvm_srdhm(result, multipliers[exponent + 2]);
      }
    }
  }
  if (integer_bits > 5) {
    const int32_t clamp = -((int32_t)1 << (36 - integer_bits)); /* -32.0 */
    if (a < clamp) {
      result = 0;
    }
  }
  if (a == 0) {
    result = INT32_MAX; /* One() of Q0 */
  }
  return result;
}

/* The shared Newton-Raphson loop of 1/(1+x) and (1-x)/(1+x): returns 1/(1+a) in Q2. */
static inline int32_t utvm_fp_reciprocal_1_plus_x_q2(int32_t half_denominator) {
  const int32_t constant_48_over_17 = 1515870810;      /* Q2 */
  const int32_t constant_neg_32_over_17 = -1010580540; /* Q2 */
  int32_t x = utvm_fp_add(constant_48_over_17, utvm_srdhm(half_denominator, constant_neg_32_over_17));
  int32_t i;
  for (i = 0; i < 3; i++) {
    const int32_t half_denominator_times_x = utvm_srdhm(half_denominator, x);            /* Q2 */
    const int32_t one_minus = utvm_fp_sub((int32_t)1 << 29, half_denominator_times_x); /* Q2 */
    /* x * one_minus is Q4; Rescale<2> is a saturating left shift by 2. */
    x = utvm_fp_add(x, utvm_fp_sat_shl(utvm_srdhm(x, one_minus), 2));
  }
  return x;
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1: Q0 -> Q0. */
static inline int32_t utvm_fp_one_over_one_plus_x(int32_t a) {
  const int32_t half_denominator = utvm_fp_rounding_half_sum(a, INT32_MAX);
  const int32_t x = utvm_fp_reciprocal_1_plus_x_q2(half_denominator);
  /* ExactMulByPot<-1> makes it Q1; Rescale<0> shifts left by 1, saturating. */
  return utvm_fp_sat_shl(x, 1);
}

/* gemmlowp one_minus_x_over_one_plus_x_for_x_in_0_1: Q0 -> Q0. */
static inline int32_t utvm_fp_one_minus_x_over_one_plus_x(int32_t a) {
  const int32_t half_denominator = utvm_fp_rounding_half_sum(a, INT32_MAX);
  const int32_t x = utvm_fp_reciprocal_1_plus_x_q2(half_denominator);
  return utvm_fp_sat_shl(utvm_fp_sub(x, (int32_t)1 << 29), 2);
}

/* gemmlowp logistic: a in Q(integer_bits), result in Q0. */
static inline int32_t utvm_fp_logistic(int32_t a, int32_t integer_bits) {
  const int32_t abs_input = a > 0 ? a : utvm_fp_neg(a);
  const int32_t result_if_positive =
      utvm_fp_one_over_one_plus_x(utvm_fp_exp_on_negative_values(utvm_fp_neg(abs_input), integer_bits));
  if (a == 0) {
    return (int32_t)1 << 30; /* 0.5 */
  }
  if (a > 0) {
    return result_if_positive;
  }
  return utvm_fp_sub(INT32_MAX, result_if_positive);
}

/* gemmlowp tanh: a in Q(integer_bits), result in Q0. */
static inline int32_t utvm_fp_tanh(int32_t a, int32_t integer_bits) {
  const int32_t n = a < 0 ? a : utvm_fp_neg(a);
  /* ExactMulByPot<1>: the same raw value read with one more integer bit. */
  const int32_t t = utvm_fp_one_minus_x_over_one_plus_x(utvm_fp_exp_on_negative_values(n, integer_bits + 1));
  if (a == 0) {
    return 0;
  }
  return a < 0 ? utvm_fp_neg(t) : t;
}

/*
 * TFLite's GetReciprocal: x > 0 in Q(x_integer_digits); returns 1/x as a Q0
 * value scaled by 2^(*num_bits_over_unit).
 */
static inline int32_t utvm_fp_get_reciprocal(int32_t x, int32_t x_integer_digits, int32_t *num_bits_over_unit) {
  const int32_t headroom_plus_one = utvm_clz32((uint32_t)x);
  const int32_t shifted_sum_minus_one =
      (int32_t)((uint32_t)(((uint32_t)x << headroom_plus_one) - ((uint32_t)1 << 31)));
  *num_bits_over_unit = x_integer_digits - headroom_plus_one;
  return utvm_fp_one_over_one_plus_x(shifted_sum_minus_one);
}

#endif /* UTVM_KERNELS_FIXEDPOINT_H */
