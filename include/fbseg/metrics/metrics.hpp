// fbseg/metrics/metrics.hpp - the evaluation metrics (CPU, header-only, no dependency beyond
// fbseg/core): overlap (Dice, IoU, precision, recall, volume similarity), surface distances (HD95,
// ASSD, as MONAI), connected components, the ellipse fit and HC18's head circumference, and the
// per-case evaluation with its aggregate. See docs/metrics.md.
#pragma once

#include "fbseg/metrics/common.hpp"
#include "fbseg/metrics/components.hpp"
#include "fbseg/metrics/ellipse.hpp"
#include "fbseg/metrics/evaluate.hpp"
#include "fbseg/metrics/head_circumference.hpp"
#include "fbseg/metrics/overlap.hpp"
#include "fbseg/metrics/surface.hpp"
