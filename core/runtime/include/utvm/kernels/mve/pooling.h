/*
 * AVERAGE_POOL_2D and MAX_POOL_2D int8, Armv8.1-M MVE variants (bit-exact
 * with utvm_avg_pool_s8 / utvm_max_pool_s8 and TFLite Micro), on the
 * reference's parameters (utvm/kernels/pooling.h).
 *
 * Average: the sums over the window run on vectors of 8 channels in int16
 * lanes, exact because the compiler uses this kernel only for windows of at
 * most 256 elements (256 * 128 fits); the rounding division (half away from
 * zero) and the clamp are per channel. Max: vectors of 16 channels.
 */
#ifndef UTVM_KERNELS_MVE_POOLING_H
#define UTVM_KERNELS_MVE_POOLING_H

#include <stdint.h>

#include "utvm/kernels/pooling.h"

void utvm_avg_pool_s8_mve(const utvm_pool_params *params, const int8_t *input, int8_t *output);
void utvm_max_pool_s8_mve(const utvm_pool_params *params, const int8_t *input, int8_t *output);

#endif /* UTVM_KERNELS_MVE_POOLING_H */
