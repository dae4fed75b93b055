/*
 * The standalone application: runs the model once on inputs built into the
 * image, prints every output and the run's timer ticks through the platform's
 * write function, and compares the outputs with expected ones when given.
 *
 * Output, one line each (decimal; float32 values as the hex of their bits):
 *   utvm: output 0: -128 -128 12 ...
 *   utvm: ticks 123456
 *   utvm: status ok            (or "status mismatch N" / "status run-failed CODE")
 */
#ifndef UTVM_APP_STANDALONE_H
#define UTVM_APP_STANDALONE_H

#include <stdint.h>

#include "utvm/attributes.h"
#include "utvm/rpc/server.h"

/*
 * UTVM_STANDALONE_DATA: placement of the generated built-in inputs and
 * expected outputs (utvm_standalone_data.c): section .rodata.utvm_standalone,
 * so that a linker script can give them an output section of their own and a
 * size report can tell this test data from code. A linker script that does
 * not name the section takes it with its .rodata.* wildcard, like any other
 * read-only data. Empty on AVR, where read-only data is copied to RAM (.data)
 * at startup anyway and the images stay as they were. The application copies
 * the inputs into the model's input buffers (RAM) before the timed run.
 */
#if defined(__AVR__)
#define UTVM_STANDALONE_DATA
#else
#define UTVM_STANDALONE_DATA UTVM_SECTION(".rodata.utvm_standalone")
#endif

typedef struct {
  const void *const *inputs;   /* one array per model input, model->inputs[k].bytes long */
  const void *const *expected; /* one per output, or NULL to skip the comparison */
} utvm_standalone_case;

/* Returns 0 when the run succeeded and every output matched (or none was
   expected), 1 on a mismatch, 2 when the model's run function failed. */
int32_t utvm_standalone_run(const utvm_model_descriptor *model, const utvm_standalone_case *data);

#endif /* UTVM_APP_STANDALONE_H */
