#pragma once
// SKIPZOO_VECTOR_LOOP marks an innermost loop compiled for AVX-512, AVX2 and baseline x86-64, the
// version picked by the instruction sets the CPU reports when the program loads (GCC function
// multiversioning); other compilers build the baseline only. SKIPZOO_INLINE forces a helper into
// each of those versions.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SKIPZOO_VECTOR_LOOP __attribute__((target_clones("avx512f", "avx2", "default")))
#define SKIPZOO_INLINE inline __attribute__((always_inline))
#else
#define SKIPZOO_VECTOR_LOOP
#define SKIPZOO_INLINE inline
#endif
