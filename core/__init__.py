"""utvm: ahead-of-time compilation of int8 TFLite models to C for microcontrollers."""
