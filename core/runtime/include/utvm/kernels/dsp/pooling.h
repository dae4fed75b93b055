/*
 * AVERAGE_POOL_2D and MAX_POOL_2D, int8, for cores with the DSP extension:
 * the contract and parameters of utvm/kernels/pooling.h (TFLite Micro's
 * reference AveragePool and MaxPool, bit for bit), four channels at a time.
 *
 * utvm_dsp_avg_pool_s8: depth % 4 == 0 and windows of at most 255 elements.
 * Four channels are summed at once, in the two halfword lanes of two words
 * (SXTAB16): at most 255 * 128 in magnitude, so the lanes never wrap.
 *
 * utvm_dsp_max_pool_s8: depth >= 4. The bytewise max of words of 4 channels
 * (SSUB8 + SEL); when depth % 4 != 0 the last word is the last 4 channels
 * (the max of a channel is the same whichever word computes it). The _full
 * name is the same kernel for activation_min = -128, activation_max = 127.
 */
#ifndef UTVM_KERNELS_DSP_POOLING_H
#define UTVM_KERNELS_DSP_POOLING_H

#include <stdint.h>

#include "utvm/kernels/pooling.h"

void utvm_dsp_avg_pool_s8(const utvm_pool_params *params, const int8_t *input, int8_t *output);
void utvm_dsp_max_pool_s8(const utvm_pool_params *params, const int8_t *input, int8_t *output);
void utvm_dsp_max_pool_s8_full(const utvm_pool_params *params, const int8_t *input, int8_t *output);

#endif /* UTVM_KERNELS_DSP_POOLING_H */
