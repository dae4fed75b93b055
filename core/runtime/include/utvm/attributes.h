/*
 * Placement attributes for generated model code: the weights and the arena
 * go to named sections so that a linker script can put them in chosen
 * memory regions (and UTVM_NOINLINE keeps a function out of its callers'
 * frames). Compilers without GCC attributes get plain definitions.
 */
#ifndef UTVM_ATTRIBUTES_H
#define UTVM_ATTRIBUTES_H

#if defined(__GNUC__) || defined(__clang__)
#if defined(__APPLE__)
#define UTVM_SECTION(name)
#else
#define UTVM_SECTION(name) __attribute__((section(name)))
#endif
#define UTVM_ALIGNED(n) __attribute__((aligned(n)))
#define UTVM_NOINLINE __attribute__((noinline))
#else
#define UTVM_SECTION(name)
#define UTVM_ALIGNED(n)
#define UTVM_NOINLINE
#endif

/*
 * UTVM_CONST_AS: the address space the kernels read the model's weights
 * through, where plain const data would be copied to RAM at startup. Under
 * avr-gcc in GNU C (-std=gnu99/gnu11; not strict ISO C, not C++) it is
 * __flash: the weights stay in program memory and are read in place (LPM).
 * Empty everywhere else. A kernel writes it on the pointer arguments and
 * params fields that carry weights; the code generated for a target whose
 * target_info has "const_address_space": "__flash" puts exactly the constants
 * passed there in that space (section .progmem.utvm_weights) and refuses to
 * compile where the space is missing. UTVM_CONST_AS_NAMED is 1 where it is
 * a real address space.
 */
#if defined(__AVR__) && defined(__FLASH) && defined(__GNUC__) && !defined(__STRICT_ANSI__) && !defined(__cplusplus)
#define UTVM_CONST_AS __flash
#define UTVM_CONST_AS_NAMED 1
#else
#define UTVM_CONST_AS
#define UTVM_CONST_AS_NAMED 0
#endif

#endif /* UTVM_ATTRIBUTES_H */
