/* DEPTHWISE_CONV_2D int8, MVE variant; see utvm/kernels/mve/depthwise_conv.h for the contract. */
#include "utvm/kernels/mve/depthwise_conv.h"

#include <string.h>

#include "utvm/kernels/mve/mve_common.h"

/* The requantization part of a channel's record in the stream. */
typedef struct {
  int32_t bias;
  int32_t multiplier;
  int32_t left;
  int32_t right;
} utvm_mve_dw_quant;

#if UTVM_MVE

/*
 * rows rows of one channel into the plane: dst[r * plane_w + x] = src[r * row_in + x * step] for
 * x in [0, n), n > 0, through 8-lane byte gathers (offsets: 0, step, .. 7 * step); a row of at most
 * 8 takes one predicated gather and store, a longer one a tail-predicated loop.
 */
static __attribute__((noinline)) void utvm_mve_dw_extract(int8_t *dst, const int8_t *src, int32_t rows, int32_t n,
                                                          int32_t plane_w, int32_t row_in, uint16x8_t offsets,
                                                          int32_t step8) {
  if (n <= 8) {
    __asm__ volatile(
        "vctp.16 %[n]\n\t"
        "1:\n\t"
        "vpstt\n\t"
        "vldrbt.s16 q0, [%[src], %q[off]]\n\t"
        "vstrbt.16 q0, [%[dst]]\n\t"
        "add %[src], %[src], %[row_in]\n\t"
        "add %[dst], %[dst], %[plane_w]\n\t"
        "subs %[rows], %[rows], #1\n\t"
        "bne 1b\n\t"
        : [src] "+r"(src), [dst] "+r"(dst), [rows] "+r"(rows)
        : [n] "r"(n), [off] "w"(offsets), [row_in] "r"(row_in), [plane_w] "r"(plane_w)
        : "q0", "memory", "cc");
  } else {
    const int8_t *s;
    int8_t *d;
    __asm__ volatile(
        "2:\n\t"
        "mov %[s], %[src]\n\t"
        "mov %[d], %[dst]\n\t"
        "dlstp.16 lr, %[n]\n\t"
        "1:\n\t"
        "vldrb.s16 q0, [%[s], %q[off]]\n\t"
        "add %[s], %[s], %[step8]\n\t"
        "vstrb.16 q0, [%[d]], #8\n\t"
        "letp lr, 1b\n\t"
        "add %[src], %[src], %[row_in]\n\t"
        "add %[dst], %[dst], %[plane_w]\n\t"
        "subs %[rows], %[rows], #1\n\t"
        "bne 2b\n\t"
        : [src] "+r"(src), [dst] "+r"(dst), [rows] "+r"(rows), [s] "=&r"(s), [d] "=&l"(d)
        : [n] "r"(n), [off] "w"(offsets), [row_in] "r"(row_in), [plane_w] "r"(plane_w), [step8] "r"(step8)
        : "q0", "lr", "memory", "cc");
  }
}

typedef struct {
  uint8x16_t offsets;
  int8x16_t taps;
  uint32x4_t scatter;
  int32x4_t act_min;
  int32x4_t act_max;
} utvm_mve_dw_vectors;

/*
 * The scheduled groups of one channel in one band, for a channel without left
 * shift and with a right shift of at least 1: per output one gather and one
 * VMLADAV, per group the requantization and one scatter store. STORE is the
 * store, predicated (P0 set by the caller) when lines are shorter than 4.
 */
#define UTVM_MVE_DW_GROUPS(NAME, PRE, STORE)                                                                \
  static void NAME(const utvm_mve_dw_vectors *v, const utvm_mve_dw_quant *q, int32_t out_offset,             \
                   const int8_t *plane, int32_t lane_in, int8_t *out, const int32_t *schedule, int32_t groups, \
                   int32_t lanes) {                                                                          \
    const int32_t right_neg = -q->right;                                                                     \
    const int32x4_t bias = vdupq_n_s32(q->bias);                                                             \
    int32_t acc;                                                                                             \
    int32_t t;                                                                                               \
    int32_t o;                                                                                               \
    __asm__ volatile(                                                                                        \
        PRE "1:\n\t"                                                                                         \
        "ldrd %[t], %[o], [%[s]], #8\n\t"                                                                    \
        "add %[t], %[t], %[p]\n\t"                                                                           \
        "vldrb.u8 q6, [%[t], %q[off]]\n\t"                                                                   \
        "add %[t], %[t], %[li]\n\t"                                                                          \
        "vmladav.s8 %[a], q6, %q[taps]\n\t"                                                                  \
        "vmov.32 q7[0], %[a]\n\t"                                                                            \
        "vldrb.u8 q6, [%[t], %q[off]]\n\t"                                                                   \
        "add %[t], %[t], %[li]\n\t"                                                                          \
        "vmladav.s8 %[a], q6, %q[taps]\n\t"                                                                  \
        "vmov.32 q7[1], %[a]\n\t"                                                                            \
        "vldrb.u8 q6, [%[t], %q[off]]\n\t"                                                                   \
        "add %[t], %[t], %[li]\n\t"                                                                          \
        "vmladav.s8 %[a], q6, %q[taps]\n\t"                                                                  \
        "vmov.32 q7[2], %[a]\n\t"                                                                            \
        "vldrb.u8 q6, [%[t], %q[off]]\n\t"                                                                   \
        "vmladav.s8 %[a], q6, %q[taps]\n\t"                                                                  \
        "vmov.32 q7[3], %[a]\n\t"                                                                            \
        "vadd.i32 q7, q7, %q[bias]\n\t"                                                                      \
        "vqrdmulh.s32 q7, q7, %[mult]\n\t"                                                                   \
        "vshr.s32 q6, q7, #31\n\t"                                                                           \
        "vqadd.s32 q7, q7, q6\n\t"                                                                           \
        "vrshl.s32 q7, %[rneg]\n\t"                                                                          \
        "vadd.i32 q7, q7, %[zpo]\n\t"                                                                        \
        "vmax.s32 q7, q7, %q[lo]\n\t"                                                                        \
        "vmin.s32 q7, q7, %q[hi]\n\t"                                                                        \
        "add %[o], %[o], %[out]\n\t" STORE                                                                   \
        "subs %[n], %[n], #1\n\t"                                                                            \
        "bne 1b\n\t"                                                                                         \
        : [s] "+r"(schedule), [n] "+r"(groups), [a] "=&Te"(acc), [t] "=&r"(t), [o] "=&r"(o)                  \
        : [off] "w"(v->offsets), [taps] "w"(v->taps), [sc] "w"(v->scatter), [lo] "w"(v->act_min),             \
          [hi] "w"(v->act_max), [bias] "w"(bias), [p] "r"(plane), [li] "r"(lane_in), [out] "r"(out),           \
          [mult] "r"(q->multiplier), [rneg] "r"(right_neg), [zpo] "r"(out_offset), [ln] "r"(lanes)             \
        : "q6", "q7", "memory", "cc");                                                                       \
  }

UTVM_MVE_DW_GROUPS(utvm_mve_dw_groups, "", "vstrb.32 q7, [%[o], %q[sc]]\n\t")
UTVM_MVE_DW_GROUPS(utvm_mve_dw_groups_p, "vctp.32 %[ln]\n\t", "vpst\n\tvstrbt.32 q7, [%[o], %q[sc]]\n\t")

/* One group, any requantization parameters (the slow path): its first `lanes` outputs. */
static void utvm_mve_dw_group(const utvm_mve_dw_vectors *v, const utvm_mve_dw_quant *q, int32_t out_offset,
                              const int8_t *corner, int32_t lane_in, int8_t *out, int32_t lanes) {
  int32_t a[4] = {0, 0, 0, 0};
  int32_t k;
  int32x4_t acc;
  for (k = 0; k < lanes; ++k) {
    a[k] = vmladavq_s8(vldrbq_gather_offset_s8(corner + k * lane_in, v->offsets), v->taps);
  }
  acc = vaddq_n_s32(vldrwq_s32(a), q->bias);
  acc = vshlq_r_s32(acc, q->left);
  acc = vqrdmulhq_n_s32(acc, q->multiplier);
  if (q->right > 0) {
    acc = vqaddq_s32(acc, vshrq_n_s32(acc, 31));
    acc = vrshlq_n_s32(acc, -q->right);
  }
  acc = vminq_s32(vmaxq_s32(vaddq_n_s32(acc, out_offset), v->act_min), v->act_max);
  vstrbq_scatter_offset_p_s32(out, v->scatter, acc, vctp32q((uint32_t)lanes));
}

#else /* portable bodies: the same contract and layout */

static void utvm_mve_dw_extract(int8_t *dst, const int8_t *src, int32_t rows, int32_t n, int32_t plane_w,
                                int32_t row_in, int32_t step) {
  int32_t r;
  int32_t x;
  for (r = 0; r < rows; ++r) {
    for (x = 0; x < n; ++x) {
      dst[r * plane_w + x] = src[r * row_in + x * step];
    }
  }
}

#endif

void utvm_depthwise_conv_s8_mve(const utvm_mve_depthwise_conv_params *params, const int8_t *input,
                                int8_t *output) {
  const int32_t in_h = params->input_h;
  const int32_t in_w = params->input_w;
  const int32_t in_c = params->input_c;
  const int32_t out_h = params->output_h;
  const int32_t out_w = params->output_w;
  const int32_t out_c = params->output_c;
  const int32_t dm = params->depth_multiplier;
  const int32_t stride_h = params->stride_h;
  const int32_t plane_w = params->plane_w;
  const int32_t band_rows = params->band_rows;
  const int32_t window_h = params->plane_rows - (band_rows - 1) * stride_h;
  const int32_t lane_in = params->lane_in;
  const int32_t lanes = params->lanes;
  const int32_t single_band = band_rows >= out_h;
  const int8_t zp = (int8_t)params->input_zero_point;
  int8_t plane[params->plane_bytes];
  int32_t batch;
#if UTVM_MVE
  const uint16x8_t extract_offsets = vmulq_n_u16(vidupq_n_u16(0, 1), (uint16_t)in_c);
  utvm_mve_dw_vectors v;
  v.offsets = vldrbq_u8(params->offsets);
  v.scatter = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)params->lane_out);
  v.act_min = vdupq_n_s32(params->act_min);
  v.act_max = vdupq_n_s32(params->act_max);
#endif

  utvm_mve_fill(plane, zp, params->plane_bytes);
  for (batch = 0; batch < params->batches; ++batch) {
    const int8_t *in = input + batch * in_h * in_w * in_c;
    int8_t *out = output + batch * out_h * out_w * out_c;
    int32_t oy0;
    for (oy0 = 0; oy0 < out_h; oy0 += band_rows) {
      /* The band: its input rows [iy0, iy0 + rows_in), those inside the image [first, last) of them. */
      const int32_t rows_out = utvm_min_i32(band_rows, out_h - oy0);
      const int32_t rows_in = (rows_out - 1) * stride_h + window_h;
      const int32_t iy0 = oy0 * stride_h - params->pad_h;
      const int32_t first = utvm_min_i32(utvm_max_i32(0, -iy0), rows_in);
      const int32_t last = utvm_max_i32(utvm_min_i32(rows_in, in_h - iy0), first);
      const int32_t *schedule = params->schedule + (rows_out == band_rows ? 0 : 2 * params->groups_full);
      const int32_t groups = rows_out == band_rows ? params->groups_full : params->groups_last;
      const int8_t *src = in + (iy0 + first) * in_w * in_c;
      int8_t *dst = plane + first * plane_w + params->pad_w;
      const int8_t *record = params->stream;
      int8_t *out_band = out + oy0 * out_w * out_c;
      int32_t r;
      int32_t ic;
      if (!single_band) {
        /* Rows outside the image read as the zero point (with one band they keep it from the start). */
        for (r = 0; r < first; ++r) {
          utvm_mve_fill(plane + r * plane_w + params->pad_w, zp, in_w);
        }
        for (r = last; r < rows_in; ++r) {
          utvm_mve_fill(plane + r * plane_w + params->pad_w, zp, in_w);
        }
      }
      for (ic = 0; ic < in_c; ++ic) {
        int32_t m;
        if (last > first) {
#if UTVM_MVE
          utvm_mve_dw_extract(dst, src + ic, last - first, in_w, plane_w, in_w * in_c, extract_offsets, 8 * in_c);
#else
          utvm_mve_dw_extract(dst, src + ic, last - first, in_w, plane_w, in_w * in_c, in_c);
#endif
        }
        for (m = 0; m < dm; ++m, record += 32, ++out_band) {
          utvm_mve_dw_quant q;
          int32_t g;
          memcpy(&q, record + 16, sizeof q);
#if UTVM_MVE
          v.taps = vldrbq_s8(record);
          if (q.left == 0 && q.right > 0) {
            if (lanes == 4) {
              utvm_mve_dw_groups(&v, &q, params->output_offset, plane, lane_in, out_band, schedule, groups, lanes);
            } else {
              utvm_mve_dw_groups_p(&v, &q, params->output_offset, plane, lane_in, out_band, schedule, groups,
                                   lanes);
            }
          } else {
            for (g = 0; g < groups; ++g) {
              utvm_mve_dw_group(&v, &q, params->output_offset, plane + schedule[2 * g], lane_in,
                                out_band + schedule[2 * g + 1], lanes);
            }
          }
#else
          for (g = 0; g < groups; ++g) {
            int32_t k;
            for (k = 0; k < lanes; ++k) {
              const int8_t *corner = plane + schedule[2 * g] + k * lane_in;
              uint32_t acc = (uint32_t)q.bias;
              int32_t t;
              int32_t value;
              for (t = 0; t < 16; ++t) {
                acc += (uint32_t)((int32_t)record[t] * (int32_t)corner[params->offsets[t]]);
              }
              value = utvm_mve_requantize_scalar((int32_t)acc, q.multiplier, q.left, -q.right);
              value += params->output_offset;
              out_band[schedule[2 * g + 1] + k * params->lane_out] =
                  (int8_t)utvm_clamp_i32(value, params->act_min, params->act_max);
            }
          }
#endif
        }
      }
    }
  }
}
