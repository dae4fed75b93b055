/*
 * AVERAGE_POOL_2D, int8, for cores with the DSP extension: the contract and
 * parameters of utvm/kernels/pooling.h (TFLite Micro's reference AveragePool,
 * bit for bit) for depth % 4 == 0 and windows of at most 255 elements. Four
 * channels are summed at once, in the two halfword lanes of two words
 * (SXTAB16): at most 255 * 128 in magnitude, so the lanes never wrap.
 */
#ifndef UTVM_KERNELS_DSP_POOLING_H
#define UTVM_KERNELS_DSP_POOLING_H

#include <stdint.h>

#include "utvm/kernels/pooling.h"

void utvm_dsp_avg_pool_s8(const utvm_pool_params *params, const int8_t *input, int8_t *output);

#endif /* UTVM_KERNELS_DSP_POOLING_H */
