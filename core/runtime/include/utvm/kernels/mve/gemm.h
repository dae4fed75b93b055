/*
 * The matrix-product core the MVE convolution and fully connected variants
 * share: rows of k int8 inputs against the int8 rows of every output channel,
 * then requantization, the output offset and the clamp.
 *
 The compiler prepares one stream the kernel reads front to back: for each
 * block b of 4 output channels (the channels padded to a multiple of 4 with
 * zero rows),
 *   k16 / 16 chunks, each the 16 weights of the block's 4 channels in turn:
 *     chunk c, row r holds w[4b + r][16c .. 16c + 15] (rows zero padded from
 *     k to k16, k rounded up to 16);
 *   int32 bias[4], then left[4] when has_left, multiplier[4] and
 *     right_neg[4] of the block's channels (see mve_common.h for the shifts).
 * Input rows must be readable up to k16 bytes; what lies past k meets the
 * zero padding of the weights.
 *
 * The inner loops are inline assembly: GCC 12 keeps the eight VMLADAVA
 * accumulators (they must be even registers, constraint "Te") in registers,
 * but spills pointers and predicates around intrinsics loops.
 */
#ifndef UTVM_KERNELS_MVE_GEMM_H
#define UTVM_KERNELS_MVE_GEMM_H

#include <stdint.h>

typedef struct {
  int32_t channels; /* output channels */
  int32_t k16;      /* inputs per row, rounded up to 16 */
  int32_t output_offset;
  int32_t act_min;
  int32_t act_max;
  int32_t has_left;
  int32_t fast; /* no left shift, every right shift >= 1, activation range [-128, 127] */
  const int8_t *stream; /* weights and requantization parameters, as above */
} utvm_mve_gemm;

/*
 * out0[oc] (and out1[oc] when row1 is not NULL) = clamp(requantize(w[oc] .
 * row + bias[oc] + correction) + output_offset) for every channel oc.
 */
void utvm_mve_gemm_rows(const utvm_mve_gemm *g, const int8_t *row0, const int8_t *row1, int32_t correction,
                        int8_t *out0, int8_t *out1);

#endif /* UTVM_KERNELS_MVE_GEMM_H */
