// fbseg/ops/op_library.hpp - where the ops' own functions are compiled.
//
// An op such as relu() or add() is a small function, but its body instantiates the templates
// behind it: the unary or binary map over its functor for every dtype, the autograd node with its
// backward lambda, std::function, the thread pool's loop. A program that included the op headers
// compiled all of that for every op the headers define, whether it called them or not, and that
// was most of what the narrow headers still cost (docs/performance.md, "Build cost"). So each op
// header declares its ops first (FBSEG_OP Tensor relu(const Tensor& x);) and defines them below,
// inside `#if FBSEG_OP_DEFINITIONS`:
//   header-only (no FBSEG_KERNEL_LIBRARY): FBSEG_OP is `inline` and the definitions are seen, so
//       a program compiles the ops with its own flags, as before;
//   against libfbseg (FBSEG_KERNEL_LIBRARY, set by the fbseg::fbseg target): a program sees the
//       declarations only, and src/ops/ops.cpp, which defines FBSEG_DEFINE_OPS, compiles the
//       definitions once, into the library.
// The same scheme as the device seam's kernels (ops/kernel/seam.hpp). The templates an op is built
// from (unary::apply, binary::record, ...) stay visible: a program may build its own ops on them.
// Default arguments are written on the declaration only, as C++ requires.
#pragma once

#if defined(FBSEG_KERNEL_LIBRARY)
#define FBSEG_OP
#else
#define FBSEG_OP inline
#endif

#if !defined(FBSEG_KERNEL_LIBRARY) || defined(FBSEG_DEFINE_OPS)
#define FBSEG_OP_DEFINITIONS 1
#else
#define FBSEG_OP_DEFINITIONS 0
#endif
