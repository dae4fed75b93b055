/* QUANTIZE and DEQUANTIZE; see utvm/kernels/quantize.h. */
#include "utvm/kernels/quantize.h"

/* Beyond this |input / scale| every output type saturates whatever the zero point. */
#define UTVM_QUANTIZE_SATURATE 1048576.0f /* 2^20 */

/*
 * TfLiteRound(input / scale) + zero_point, clamped to [lo, hi]. For |q| <
 * 2^20 the truncation is exact in int32 and q - trunc(q) is exact in float,
 * so comparing that fraction with 0.5 rounds half away from zero exactly.
 */
static inline int32_t utvm_quantize_one(float input, float scale, int32_t zero_point, int32_t lo,
                                        int32_t hi) {
  const float q = input / scale;
  int32_t r;
  float frac;
  if (q >= UTVM_QUANTIZE_SATURATE) {
    return hi;
  }
  if (!(q > -UTVM_QUANTIZE_SATURATE)) { /* also NaN */
    return lo;
  }
  r = (int32_t)q;
  frac = q - (float)r;
  if (frac >= 0.5f) {
    r += 1;
  } else if (frac <= -0.5f) {
    r -= 1;
  }
  return utvm_clamp_i32(r + zero_point, lo, hi);
}

void utvm_quantize_f32_s8(const utvm_affine_params *params, const float *input, int8_t *output) {
  const float scale = params->scale;
  const int32_t zp = params->zero_point;
  int32_t i;
  for (i = 0; i < params->size; ++i) {
    output[i] = (int8_t)utvm_quantize_one(input[i], scale, zp, INT8_MIN, INT8_MAX);
  }
}

void utvm_quantize_f32_s16(const utvm_affine_params *params, const float *input, int16_t *output) {
  const float scale = params->scale;
  const int32_t zp = params->zero_point;
  int32_t i;
  for (i = 0; i < params->size; ++i) {
    output[i] = (int16_t)utvm_quantize_one(input[i], scale, zp, INT16_MIN, INT16_MAX);
  }
}

#define UTVM_DEQUANTIZE(NAME, T)                                                     \
  void NAME(const utvm_affine_params *params, const T *input, float *output) {       \
    const float scale = params->scale;                                               \
    const int32_t zp = params->zero_point;                                           \
    int32_t i;                                                                       \
    for (i = 0; i < params->size; ++i) {                                             \
      output[i] = scale * (float)((int32_t)input[i] - zp);                           \
    }                                                                                \
  }

UTVM_DEQUANTIZE(utvm_dequantize_s8_f32, int8_t)
UTVM_DEQUANTIZE(utvm_dequantize_u8_f32, uint8_t)
UTVM_DEQUANTIZE(utvm_dequantize_s16_f32, int16_t)

/*
 * Requantize: the subtraction and the final addition wrap like TFLite's int32
 * arithmetic does in practice (only reachable with int32 tensors).
 */
#define UTVM_REQUANTIZE(NAME, TI, TO, LO, HI)                                                   \
  void NAME(const utvm_requantize_params *params, const TI *input, TO *output) {                \
    const int32_t izp = params->input_zero_point;                                               \
    const int32_t ozp = params->output_zero_point;                                              \
    const int32_t mult = params->multiplier;                                                    \
    const int32_t shift = params->shift;                                                        \
    int32_t i;                                                                                  \
    for (i = 0; i < params->size; ++i) {                                                        \
      const int32_t x = (int32_t)((uint32_t)(int32_t)input[i] - (uint32_t)izp);                 \
      const int32_t y = (int32_t)((uint32_t)utvm_requantize(x, mult, shift) + (uint32_t)ozp);   \
      output[i] = (TO)utvm_clamp_i32(y, LO, HI);                                                \
    }                                                                                           \
  }

UTVM_REQUANTIZE(utvm_requantize_s8_s8, int8_t, int8_t, INT8_MIN, INT8_MAX)
UTVM_REQUANTIZE(utvm_requantize_s8_u8, int8_t, uint8_t, 0, UINT8_MAX)
UTVM_REQUANTIZE(utvm_requantize_s8_s16, int8_t, int16_t, INT16_MIN, INT16_MAX)
UTVM_REQUANTIZE(utvm_requantize_s8_s32, int8_t, int32_t, INT32_MIN, INT32_MAX)
UTVM_REQUANTIZE(utvm_requantize_u8_s8, uint8_t, int8_t, INT8_MIN, INT8_MAX)
UTVM_REQUANTIZE(utvm_requantize_s16_s8, int16_t, int8_t, INT8_MIN, INT8_MAX)
UTVM_REQUANTIZE(utvm_requantize_s16_s16, int16_t, int16_t, INT16_MIN, INT16_MAX)
UTVM_REQUANTIZE(utvm_requantize_s16_s32, int16_t, int32_t, INT32_MIN, INT32_MAX)
UTVM_REQUANTIZE(utvm_requantize_s32_s8, int32_t, int8_t, INT8_MIN, INT8_MAX)
UTVM_REQUANTIZE(utvm_requantize_s32_s16, int32_t, int16_t, INT16_MIN, INT16_MAX)
