// fbseg/data/data_library.hpp - where the readers' and writers' functions are compiled.
//
// The readers of datasets, labels, splits, augmentation configs and weight files parse JSON
// (nlohmann-json) and match patterns (std::regex); those templates alone took a program that
// included the umbrella header several seconds to compile. So, as the ops do
// (ops/op_library.hpp), these headers declare their functions (FBSEG_DATA Split read_split(...);)
// and define them inside `#if FBSEG_DATA_DEFINITIONS`:
//   header-only (no FBSEG_KERNEL_LIBRARY): FBSEG_DATA is `inline` and the definitions are seen;
//   against libfbseg (FBSEG_KERNEL_LIBRARY): a program sees the declarations only, and
//       src/data/data.cpp, which defines FBSEG_DEFINE_DATA, compiles the definitions once.
// The headers still include <nlohmann/json.hpp> where their API takes or returns a JSON value.
#pragma once

#if defined(FBSEG_KERNEL_LIBRARY)
#define FBSEG_DATA
#else
#define FBSEG_DATA inline
#endif

#if !defined(FBSEG_KERNEL_LIBRARY) || defined(FBSEG_DEFINE_DATA)
#define FBSEG_DATA_DEFINITIONS 1
#else
#define FBSEG_DATA_DEFINITIONS 0
#endif
