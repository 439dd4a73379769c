// tests/harness/registry.hpp - every op case of the harness, one family per file in cases/.
// A new op comes with its cases here (the coverage test in tests/test_harness.cpp fails otherwise).
#pragma once

#include <set>

#include "harness/cases/binary.hpp"
#include "harness/cases/class_loss.hpp"
#include "harness/cases/factory.hpp"
#include "harness/cases/index.hpp"
#include "harness/cases/join.hpp"
#include "harness/cases/linalg.hpp"
#include "harness/cases/loss.hpp"
#include "harness/cases/nn.hpp"
#include "harness/cases/reduce.hpp"
#include "harness/cases/softmax.hpp"
#include "harness/cases/unary.hpp"
#include "harness/cases/view.hpp"
#include "harness/op_case.hpp"

namespace fbseg::harness {

/// The registry, built once. Case ids ("op/name") are unique (checked here).
inline const Registry& registry() {
    static const Registry cases = [] {
        Registry r;
        add_unary_cases(r);
        add_binary_cases(r);
        add_reduce_cases(r);
        add_linalg_cases(r);
        add_softmax_cases(r);
        add_join_cases(r);
        add_view_cases(r);
        add_factory_cases(r);
        add_nn_cases(r);
        add_loss_cases(r);
        add_class_loss_cases(r);
        add_index_cases(r);
        std::set<std::string> ids;
        for (const OpCase& c : r) {
            FBSEG_CHECK(ids.insert(c.id()).second, "harness: case '", c.id(), "' is registered twice");
            FBSEG_CHECK(bool(c.fn), "harness: case '", c.id(), "' has no run function");
        }
        return r;
    }();
    return cases;
}

}  // namespace fbseg::harness
