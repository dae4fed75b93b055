/*
 * main() of a standalone host program: runs the model on the inputs built
 * into it (utvm_standalone_data, generated) and exits with the status of
 * utvm_standalone_run. Link with posix_stdio.c built with -DUTVM_POSIX_NO_MAIN.
 */
#include <stdio.h>

#include "utvm/app/standalone.h"

extern const utvm_standalone_case utvm_standalone_data;

int main(void) {
  int status = (int)utvm_standalone_run(&utvm_model, &utvm_standalone_data);
  fflush(stdout);
  return status;
}
