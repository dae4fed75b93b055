/*
 * Placement attributes for generated model code: the weights and the arena
 * go to named sections so that a linker script can put them in chosen
 * memory regions. Compilers without GCC attributes get plain definitions.
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
#else
#define UTVM_SECTION(name)
#define UTVM_ALIGNED(n)
#endif

#endif /* UTVM_ATTRIBUTES_H */
