// tests/harness/cases/join.hpp - concat, stack, pad (grow and crop) and where.
#pragma once

#include "harness/op_case.hpp"

namespace fbseg::harness {

inline void add_join_cases(Registry& r) {
    using namespace in;
    auto concat_run = [](const Inputs& x, const Attrs& a) { return out(concat(x, a.i("dim"))); };
    add(r, "concat", "dim1")
        .in(randn({2, 3}))
        .in(randn({2, 1}).expand())
        .in(randn({2, 4}).t())
        .attr("dim", 1)
        .run(concat_run);
    add(r, "concat", "dim0").in(randn({1, 3, 2})).in(randn({2, 3, 2})).attr("dim", 0).run(concat_run);
    add(r, "stack", "dim1")
        .in(randn({2, 3}))
        .in(randn({2, 3}).t())
        .attr("dim", 1)
        .run([](const Inputs& x, const Attrs& a) { return out(stack(x, a.i("dim"))); });
    auto pad_run = [](const Inputs& x, const Attrs& a) { return out(pad(x[0], a.ints("pads"), a.f("value"))); };
    add(r, "pad", "hw").in(randn({1, 2, 3, 4})).attr("pads", {1, 2, 0, 1}).attr("value", 0.5).run(pad_run);
    add(r, "pad", "crop").in(randn({2, 3, 5}).step()).attr("pads", {-1, 2, 1, -1}).attr("value", 0.0).run(pad_run);
    add(r, "where", "broadcast")
        .in(boolean({3, 4}))
        .in(randn({3, 4}))
        .in(randn({4}))
        .run([](const Inputs& x, const Attrs&) { return out(where(x[0], x[1], x[2])); });
    add(r, "where", "strided")
        .in(boolean({2, 3}).t())
        .in(randn({2, 3}))
        .in(randn({2, 3}).t())
        .run([](const Inputs& x, const Attrs&) { return out(where(x[0], x[1], x[2])); });
}

}  // namespace fbseg::harness
