// src/data/data.cpp - the readers' and writers' functions (labels, splits, augmentation configs,
// folders, the phantom's writer, safetensors in include/fbseg/data/ and include/fbseg/io/),
// compiled once. A program built against libfbseg sees their declarations only
// (data/data_library.hpp); this file defines FBSEG_DEFINE_DATA before any fbseg header, so here
// the headers give the definitions, with the JSON and regex templates they instantiate.
#define FBSEG_DEFINE_DATA 1

#include "fbseg/data.hpp"
#include "fbseg/io.hpp"
