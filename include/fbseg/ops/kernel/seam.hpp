// fbseg/ops/kernel/seam.hpp - where the device seam's functions are compiled.
//
// Each header of ops/kernel/ declares its kernels first (FBSEG_SEAM void fill(...);) and defines
// them below, each definition inside `#if FBSEG_SEAM_DEFINITIONS`. The definitions are what
// instantiates the CPU loops for every dtype (copy alone: 5 x 5 dtype pairs), so where they are
// compiled is most of what including fbseg costs:
//   header-only (no FBSEG_KERNEL_LIBRARY): FBSEG_SEAM is `inline` and the definitions are seen,
//       so every program compiles the kernels it calls, with its own flags, as before;
//   against libfbseg (FBSEG_KERNEL_LIBRARY, set by the fbseg::fbseg target): a program sees the
//       declarations only, and src/ops/seam.cpp, which defines FBSEG_DEFINE_SEAM, compiles the
//       definitions once, into the library (docs/performance.md, "Build cost").
// Templates of the seam (the unary and binary maps over a functor type, the bilinear resize over
// T) stay in the headers: they are compiled where they are instantiated.
#pragma once

#if defined(FBSEG_KERNEL_LIBRARY)
#define FBSEG_SEAM
#else
#define FBSEG_SEAM inline
#endif

#if !defined(FBSEG_KERNEL_LIBRARY) || defined(FBSEG_DEFINE_SEAM)
#define FBSEG_SEAM_DEFINITIONS 1
#else
#define FBSEG_SEAM_DEFINITIONS 0
#endif
