// tests/harness/cases/softmax.hpp - softmax and log_softmax along the last, a middle and a
// transposed dim (the rows are then strided).
#pragma once

#include "harness/op_case.hpp"

namespace fbseg::harness {

inline void add_softmax_cases(Registry& r) {
    using namespace in;
    auto soft = [](const Inputs& x, const Attrs& a) { return out(softmax(x[0], a.i("dim"))); };
    auto log_soft = [](const Inputs& x, const Attrs& a) { return out(log_softmax(x[0], a.i("dim"))); };
    add(r, "softmax", "last").in(randn({3, 5})).attr("dim", -1).run(soft);
    add(r, "softmax", "middle").in(randn({2, 4, 3})).attr("dim", 1).run(soft);
    add(r, "softmax", "transposed").in(randn({3, 5}).t()).attr("dim", 1).run(soft);
    add(r, "log_softmax", "last").in(randn({3, 5})).attr("dim", -1).run(log_soft);
    add(r, "log_softmax", "strided").in(randn({2, 3, 4}).step()).attr("dim", 0).run(log_soft);
}

}  // namespace fbseg::harness
