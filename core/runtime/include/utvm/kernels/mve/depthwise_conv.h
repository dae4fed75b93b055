/*
 * DEPTHWISE_CONV_2D int8, Armv8.1-M MVE variant (bit-exact with
 * utvm_depthwise_conv_s8 and TFLite Micro's DepthwiseConvPerChannel), for
 * windows of at most 16 taps.
 *
 * For each band of output rows and each input channel the kernel copies the
 * channel's rows of the band into a planar stack buffer (plane_w bytes a row: pad_w columns of the input zero
 * point, the row, the zero point up to plane_w; rows above or below the image
 * are all zero point), so that every output's window is at the fixed byte
 * offsets `offsets` (y * dilation_h * plane_w + x * dilation_w, tap order,
 * unused lanes 0) from the window's corner: one VLDRB gather and one
 * VMLADAV against the channel's 16 taps (zero padded) give the sum. The
 * offsets must be below 256 (the compiler checks).
 *
 * Four outputs of a channel form a group (requantized together as one
 * vector, stored with one scatter): four neighbours along x or along y,
 * whichever makes fewer groups (lane_in and lane_out are the steps between
 * them in the plane and in the output); a line whose
 * length is not a multiple of 4 ends with a group overlapping the previous
 * one (the same values are written twice). The compiler lists the groups of a
 * band in `schedule`: per group the plane offset of its first output's
 * window and the output offset of that output from the band's first output
 * of the channel; groups_full entries for a band of band_rows output rows,
 * then groups_last for the last band when it is shorter. Lines shorter than 4
 * are listed too; their groups' lanes past the line are not stored (lanes
 * of a group must then stay within the plane: the compiler sizes it so).
 *
 * The compiler prepares (core/ops/conv_mve.py) a stream of 32 bytes per
 * output channel: the 16 taps w[fy][fx][oc] in tap order (zeros after
 * filter_h * filter_w), then int32 bias, multiplier, left shift (>= 0) and
 * right shift (>= 0), the bias being b[oc] + input_offset * sum of the taps
 * (mod 2^32): the padding reads as the zero point, whose offset input is 0.
 */
#ifndef UTVM_KERNELS_MVE_DEPTHWISE_CONV_H
#define UTVM_KERNELS_MVE_DEPTHWISE_CONV_H

#include <stdint.h>

typedef struct {
  int32_t batches;
  int32_t input_h;
  int32_t input_w;
  int32_t input_c;
  int32_t output_h;
  int32_t output_w;
  int32_t output_c;
  int32_t depth_multiplier;
  int32_t stride_h;
  int32_t stride_w;
  int32_t pad_h;
  int32_t pad_w;
  int32_t input_zero_point;
  int32_t plane_w;    /* bytes per buffered row: pad_w + input_w + right padding */
  int32_t band_rows;  /* output rows per band */
  int32_t plane_rows; /* buffered input rows per band: (band_rows - 1) * stride_h + window height */
  int32_t plane_bytes; /* the plane buffer: plane_rows * plane_w plus what short groups read past it */
  int32_t lane_in;     /* plane bytes between the outputs of a group */
  int32_t lane_out;    /* output bytes between them */
  int32_t lanes;       /* outputs stored per group: 4, or the line length when lines are shorter */
  int32_t groups_full;
  int32_t groups_last;
  int32_t output_offset;
  int32_t act_min;
  int32_t act_max;
  const uint8_t *offsets; /* 16 */
  const int8_t *stream;   /* 32 bytes per output channel */
  const int32_t *schedule; /* (plane offset, output offset) per group */
} utvm_mve_depthwise_conv_params;

void utvm_depthwise_conv_s8_mve(const utvm_mve_depthwise_conv_params *params, const int8_t *input,
                                int8_t *output);

#endif /* UTVM_KERNELS_MVE_DEPTHWISE_CONV_H */
