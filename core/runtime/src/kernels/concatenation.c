/* CONCATENATION; see utvm/kernels/concatenation.h. */
#include <string.h>

#include "utvm/kernels/concatenation.h"

void utvm_concatenation(const utvm_concatenation_params *params, const void *const *inputs, void *output) {
  uint8_t *out = (uint8_t *)output;
  int32_t k, i;
  for (k = 0; k < params->outer; ++k) {
    for (i = 0; i < params->num_inputs; ++i) {
      const size_t n = (size_t)params->copy_bytes[i];
      memcpy(out, (const uint8_t *)inputs[i] + (size_t)k * n, n);
      out += n;
    }
  }
}

void utvm_concatenation_1(const utvm_concatenation_params *params, const void *in0, void *output) {
  const void *inputs[1];
  inputs[0] = in0;
  utvm_concatenation(params, inputs, output);
}

void utvm_concatenation_2(const utvm_concatenation_params *params, const void *in0, const void *in1, void *output) {
  const void *inputs[2];
  inputs[0] = in0;
  inputs[1] = in1;
  utvm_concatenation(params, inputs, output);
}

void utvm_concatenation_3(const utvm_concatenation_params *params, const void *in0, const void *in1,
                          const void *in2, void *output) {
  const void *inputs[3];
  inputs[0] = in0;
  inputs[1] = in1;
  inputs[2] = in2;
  utvm_concatenation(params, inputs, output);
}

void utvm_concatenation_4(const utvm_concatenation_params *params, const void *in0, const void *in1,
                          const void *in2, const void *in3, void *output) {
  const void *inputs[4];
  inputs[0] = in0;
  inputs[1] = in1;
  inputs[2] = in2;
  inputs[3] = in3;
  utvm_concatenation(params, inputs, output);
}

void utvm_concatenation_5(const utvm_concatenation_params *params, const void *in0, const void *in1,
                          const void *in2, const void *in3, const void *in4, void *output) {
  const void *inputs[5];
  inputs[0] = in0;
  inputs[1] = in1;
  inputs[2] = in2;
  inputs[3] = in3;
  inputs[4] = in4;
  utvm_concatenation(params, inputs, output);
}

void utvm_concatenation_6(const utvm_concatenation_params *params, const void *in0, const void *in1,
                          const void *in2, const void *in3, const void *in4, const void *in5, void *output) {
  const void *inputs[6];
  inputs[0] = in0;
  inputs[1] = in1;
  inputs[2] = in2;
  inputs[3] = in3;
  inputs[4] = in4;
  inputs[5] = in5;
  utvm_concatenation(params, inputs, output);
}

void utvm_concatenation_7(const utvm_concatenation_params *params, const void *in0, const void *in1,
                          const void *in2, const void *in3, const void *in4, const void *in5,
                          const void *in6, void *output) {
  const void *inputs[7];
  inputs[0] = in0;
  inputs[1] = in1;
  inputs[2] = in2;
  inputs[3] = in3;
  inputs[4] = in4;
  inputs[5] = in5;
  inputs[6] = in6;
  utvm_concatenation(params, inputs, output);
}

void utvm_concatenation_8(const utvm_concatenation_params *params, const void *in0, const void *in1,
                          const void *in2, const void *in3, const void *in4, const void *in5,
                          const void *in6, const void *in7, void *output) {
  const void *inputs[8];
  inputs[0] = in0;
  inputs[1] = in1;
  inputs[2] = in2;
  inputs[3] = in3;
  inputs[4] = in4;
  inputs[5] = in5;
  inputs[6] = in6;
  inputs[7] = in7;
  utvm_concatenation(params, inputs, output);
}

void utvm_concatenation_9(const utvm_concatenation_params *params, const void *in0, const void *in1,
                          const void *in2, const void *in3, const void *in4, const void *in5,
                          const void *in6, const void *in7, const void *in8, void *output) {
  const void *inputs[9];
  inputs[0] = in0;
  inputs[1] = in1;
  inputs[2] = in2;
  inputs[3] = in3;
  inputs[4] = in4;
  inputs[5] = in5;
  inputs[6] = in6;
  inputs[7] = in7;
  inputs[8] = in8;
  utvm_concatenation(params, inputs, output);
}

void utvm_concatenation_10(const utvm_concatenation_params *params, const void *in0, const void *in1,
                           const void *in2, const void *in3, const void *in4, const void *in5,
                           const void *in6, const void *in7, const void *in8, const void *in9,
                           void *output) {
  const void *inputs[10];
  inputs[0] = in0;
  inputs[1] = in1;
  inputs[2] = in2;
  inputs[3] = in3;
  inputs[4] = in4;
  inputs[5] = in5;
  inputs[6] = in6;
  inputs[7] = in7;
  inputs[8] = in8;
  inputs[9] = in9;
  utvm_concatenation(params, inputs, output);
}
