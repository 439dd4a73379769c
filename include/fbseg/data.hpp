// fbseg/data.hpp - datasets, readers (PNG, HC18, CSV, NIfTI), the phantom, augmentation and the loader.
// A narrower header than the umbrella fbseg/fbseg.hpp (which includes this one): a program that
// needs only this part compiles faster (docs/performance.md, "Build cost").
#pragma once

#include "fbseg/tensor.hpp"

#include "fbseg/data/augment/distortion.hpp"
#include "fbseg/data/augment/draws.hpp"
#include "fbseg/data/augment/filter.hpp"
#include "fbseg/data/augment/geometric.hpp"
#include "fbseg/data/augment/intensity.hpp"
#include "fbseg/data/augment/pipeline.hpp"
#include "fbseg/data/augment/presets.hpp"
#include "fbseg/data/augment/warp.hpp"
#include "fbseg/data/batch.hpp"
#include "fbseg/data/csv.hpp"
#include "fbseg/data/folder.hpp"
#include "fbseg/data/hc18.hpp"
#include "fbseg/data/image_io.hpp"
#include "fbseg/data/labels.hpp"
#include "fbseg/data/loader.hpp"
#include "fbseg/data/manifest.hpp"
#include "fbseg/data/nifti.hpp"
#include "fbseg/data/nifti_dataset.hpp"
#include "fbseg/data/nifti_write.hpp"
#include "fbseg/data/normalize.hpp"
#include "fbseg/data/phantom/dataset.hpp"  // data/phantom: shapes, filters, mri, ultrasound, dataset
#include "fbseg/data/phantom/write.hpp"
#include "fbseg/data/split.hpp"
#include "fbseg/data/volume_slice.hpp"
