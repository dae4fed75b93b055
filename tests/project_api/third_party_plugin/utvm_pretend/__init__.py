"""utvm platform plugin for the (imaginary) Pretend RTOS."""
