/* ADD and SUB of int8 tensors through per-input tables; see utvm/kernels/dsp/elementwise.h. */
#include "utvm/kernels/dsp/elementwise.h"

#include "utvm/kernels/dsp/dsp.h"

UTVM_DSP_INLINE void utvm_dsp_add_body(const utvm_dsp_add_params *p, const int8_t *input1, const int8_t *input2,
                                       int8_t *output, int full_range) {
  const int32_t *t1 = p->table1 + 128;
  const int32_t *t2 = p->table2 + 128;
  const int32_t m = p->multiplier;
  const int32_t rnd = p->round;
  const int32_t s = p->shift;
  const int32_t act_min = p->act_min;
  const int32_t act_max = p->act_max;
  int8_t *const end = output + p->size;
  while (output != end) {
    const int32_t raw = t1[*input1++] + t2[*input2++];
    *output++ = (int8_t)utvm_dsp_output(utvm_dsp_requantize(raw, m, rnd, s), act_min, act_max, full_range);
  }
}

UTVM_DSP_KERNEL void utvm_dsp_add_s8(const utvm_dsp_add_params *params, const int8_t *input1, const int8_t *input2,
                     int8_t *output) {
  utvm_dsp_add_body(params, input1, input2, output, 0);
}

UTVM_DSP_KERNEL void utvm_dsp_add_s8_full(const utvm_dsp_add_params *params, const int8_t *input1, const int8_t *input2,
                          int8_t *output) {
  utvm_dsp_add_body(params, input1, input2, output, 1);
}
