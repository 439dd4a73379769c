// tests/harness/cases/reduce.hpp - sums, means, extremes, argmax and variance, over all elements,
// one dim or several, with and without keepdim, on strided inputs.
#pragma once

#include "harness/op_case.hpp"

namespace fbseg::harness {

inline void add_reduce_cases(Registry& r) {
    using namespace in;
    auto dims_of = [](const Attrs& a) { return a.has("dims") ? Shape(a.ints("dims")) : Shape{}; };
    auto keep = [](const Attrs& a) { return a.has("keepdim") && a.b("keepdim"); };
    // sum and mean: no "dims" attribute reduces everything
    auto sum_run = [=](const Inputs& x, const Attrs& a) { return out(sum(x[0], dims_of(a), keep(a))); };
    auto mean_run = [=](const Inputs& x, const Attrs& a) { return out(mean(x[0], dims_of(a), keep(a))); };
    add(r, "sum", "all").in(randn({3, 5})).run(sum_run);
    add(r, "sum", "dim0").in(randn({3, 5}).t()).attr("dims", {0}).run(sum_run);
    add(r, "sum", "dims_keep").in(randn({2, 3, 4})).attr("dims", {0, 2}).attr("keepdim", true).run(sum_run);
    add(r, "sum", "long_row").in(randn({2, 150}).step()).attr("dims", {1}).run(sum_run);
    add(r, "sum", "int64").in(int64({3, 5}).t()).attr("dims", {1}).no_grad().run(sum_run);
    add(r, "mean", "all").in(randn({3, 5})).run(mean_run);
    add(r, "mean", "dims").in(randn({2, 3, 4}).expand()).attr("dims", {1, 2}).attr("keepdim", true).run(mean_run);
    add(r, "sum_to", "broadcast_grad")
        .in(randn({2, 3, 4}))
        .attr("shape", {3, 1})
        .run([](const Inputs& x, const Attrs& a) { return out(sum_to(x[0], Shape(a.ints("shape")))); });
    // max/min over everything share the gradient among ties (distinct: no ties)
    add(r, "max", "all").in(distinct({3, 5})).run([](const Inputs& x, const Attrs&) { return out(max(x[0])); });
    add(r, "min", "all").in(distinct({3, 5}).t()).run([](const Inputs& x, const Attrs&) { return out(min(x[0])); });
    add(r, "max", "dim")
        .in(distinct({3, 5}))
        .attr("dim", 1)
        .attr("keepdim", false)
        .run([](const Inputs& x, const Attrs& a) { return out(max(x[0], a.i("dim"), a.b("keepdim"))); });
    add(r, "min", "dim_keep")
        .in(distinct({3, 4, 2}))
        .attr("dim", 1)
        .attr("keepdim", true)
        .run([](const Inputs& x, const Attrs& a) { return out(min(x[0], a.i("dim"), a.b("keepdim"))); });
    add(r, "argmax", "dim")
        .in(distinct({3, 5}).t())
        .attr("dim", 0)
        .attr("keepdim", false)
        .no_grad()
        .run([](const Inputs& x, const Attrs& a) { return out(argmax(x[0], a.i("dim"), a.b("keepdim"))); });
    add(r, "argmax", "all").in(distinct({3, 5})).no_grad().run([](const Inputs& x, const Attrs&) {
        return out(argmax(x[0]));
    });
    auto var_run = [=](const Inputs& x, const Attrs& a) {
        return out(var(x[0], dims_of(a), a.i("correction"), keep(a)));
    };
    add(r, "var", "all").in(randn({3, 5})).attr("correction", 1).run(var_run);
    add(r, "var", "dims_biased")
        .in(randn({2, 3, 4}).t())
        .attr("dims", {0, 2})
        .attr("correction", 0)
        .attr("keepdim", true)
        .run(var_run);
}

}  // namespace fbseg::harness
