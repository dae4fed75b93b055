/*
 * QUANTIZE and DEQUANTIZE, bit-exact with TFLite Micro's reference kernels.
 *
 * Float to integer (AffineQuantize): q = input / scale in float (a true
 * division, like TFLite), rounded half away from zero, plus zero_point,
 * clamped to the output type. |q| >= 2^20 saturates (TFLite's conversion of
 * such values to int32 is undefined behaviour; the output saturates at any
 * |q| where TFLite's result is defined) and NaN gives the type's minimum.
 * No libm: the rounding is done on the float exactly.
 *
 * Integer to integer (Requantize): output = clamp(output_zero_point +
 * MultiplyByQuantizedMultiplier(input - input_zero_point, multiplier, shift)).
 * Same-size types may run in place (output == input).
 *
 * Integer to float (Dequantize): output = scale * (float)(input - zero_point),
 * one float multiply; this equals TFLite's double product rounded to float
 * because the exact product fits in a double.
 */
#ifndef UTVM_KERNELS_QUANTIZE_H
#define UTVM_KERNELS_QUANTIZE_H

#include <stdint.h>

#include "utvm/kernels/common.h"

typedef struct {
  int32_t size;
  int32_t zero_point;
  float scale;
} utvm_affine_params;

void utvm_quantize_f32_s8(const utvm_affine_params *params, const float *input, int8_t *output);
void utvm_quantize_f32_s16(const utvm_affine_params *params, const float *input, int16_t *output);

void utvm_dequantize_s8_f32(const utvm_affine_params *params, const int8_t *input, float *output);
void utvm_dequantize_u8_f32(const utvm_affine_params *params, const uint8_t *input, float *output);
void utvm_dequantize_s16_f32(const utvm_affine_params *params, const int16_t *input, float *output);

typedef struct {
  int32_t size;
  int32_t input_zero_point;
  int32_t output_zero_point;
  int32_t multiplier;
  int32_t shift;
} utvm_requantize_params;

/* The type pairs TFLite Micro's QUANTIZE accepts between integer types. */
void utvm_requantize_s8_s8(const utvm_requantize_params *params, const int8_t *input, int8_t *output);
void utvm_requantize_s8_u8(const utvm_requantize_params *params, const int8_t *input, uint8_t *output);
void utvm_requantize_s8_s16(const utvm_requantize_params *params, const int8_t *input, int16_t *output);
void utvm_requantize_s8_s32(const utvm_requantize_params *params, const int8_t *input, int32_t *output);
void utvm_requantize_u8_s8(const utvm_requantize_params *params, const uint8_t *input, int8_t *output);
void utvm_requantize_s16_s8(const utvm_requantize_params *params, const int16_t *input, int8_t *output);
void utvm_requantize_s16_s16(const utvm_requantize_params *params, const int16_t *input, int16_t *output);
void utvm_requantize_s16_s32(const utvm_requantize_params *params, const int16_t *input, int32_t *output);
void utvm_requantize_s32_s8(const utvm_requantize_params *params, const int32_t *input, int8_t *output);
void utvm_requantize_s32_s16(const utvm_requantize_params *params, const int32_t *input, int16_t *output);

#endif /* UTVM_KERNELS_QUANTIZE_H */
