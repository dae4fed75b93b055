/* ADD and SUB int8, MVE variant; see utvm/kernels/mve/elementwise.h for the contract. */
#include "utvm/kernels/mve/elementwise.h"

#include "utvm/kernels/mve/mve_common.h"

#if UTVM_MVE

/* One tail-predicated loop over groups of 4 elements; FIX is the rounding fix for a right shift of at least 1. */
#define UTVM_MVE_ADD_LOOP(FIX)                                                                             \
  __asm__ volatile(                                                                                         \
      "dlstp.32 lr, %[n]\n\t"                                                                               \
      "1:\n\t"                                                                                              \
      "vldrb.u32 q0, [%[x1]], #4\n\t"                                                                       \
      "vldrb.u32 q1, [%[x2]], #4\n\t"                                                                       \
      "vldrw.u32 q2, [%[t1], q0, uxtw #2]\n\t"                                                              \
      "vldrw.u32 q3, [%[t2], q1, uxtw #2]\n\t"                                                              \
      "vadd.i32 q2, q2, q3\n\t"                                                                             \
      "vqrdmulh.s32 q2, q2, %[mult]\n\t" FIX                                                                \
      "vadd.i32 q2, q2, %[zpo]\n\t"                                                                         \
      "vmax.s32 q2, q2, %q[lo]\n\t"                                                                         \
      "vmin.s32 q2, q2, %q[hi]\n\t"                                                                         \
      "vstrb.32 q2, [%[o]], #4\n\t"                                                                         \
      "letp lr, 1b\n\t"                                                                                     \
      : [x1] "+l"(x1), [x2] "+l"(x2), [o] "+l"(out)                                                         \
      : [n] "r"(n), [t1] "r"(params->table1), [t2] "r"(params->table2), [mult] "r"(params->output_multiplier), \
        [rneg] "r"(-params->output_right), [zpo] "r"(params->output_offset), [lo] "w"(lo), [hi] "w"(hi)      \
      : "q0", "q1", "q2", "q3", "lr", "memory")

void utvm_add_s8_mve(const utvm_mve_add_params *params, const int8_t *input1, const int8_t *input2,
                     int8_t *output) {
  const int8_t *x1 = input1;
  const int8_t *x2 = input2;
  int8_t *out = output;
  const int32_t n = params->size;
  const int32x4_t lo = vdupq_n_s32(params->act_min);
  const int32x4_t hi = vdupq_n_s32(params->act_max);
  if (n <= 0) {
    return;
  }
  if (params->output_right > 0) {
    UTVM_MVE_ADD_LOOP("vshr.s32 q3, q2, #31\n\tvqadd.s32 q2, q2, q3\n\tvrshl.s32 q2, %[rneg]\n\t");
  } else {
    UTVM_MVE_ADD_LOOP("");
  }
}

#else /* portable body: the same contract */

void utvm_add_s8_mve(const utvm_mve_add_params *params, const int8_t *input1, const int8_t *input2,
                     int8_t *output) {
  int32_t i;
  for (i = 0; i < params->size; ++i) {
    const uint32_t raw = (uint32_t)params->table1[(uint8_t)input1[i]] + (uint32_t)params->table2[(uint8_t)input2[i]];
    const int32_t v = utvm_rdbpot(utvm_srdhm((int32_t)raw, params->output_multiplier), params->output_right) +
                      params->output_offset;
    output[i] = (int8_t)utvm_clamp_i32(v, params->act_min, params->act_max);
  }
}

#endif
