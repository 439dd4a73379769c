// tests/harness/cases/index.hpp - indexing and rearranging ops (ops/index.hpp, split.hpp,
// logical.hpp): gather, masked_fill(_), flip, repeat, cumsum, topk, chunk/split, any/all, cat,
// argmin, and the unary round and in-place clamps. Index inputs are int64 in [0, high).
#pragma once

#include "harness/op_case.hpp"

namespace fbseg::harness {

inline void add_index_cases(Registry& r) {
    using namespace in;
    add(r, "round", "randn").in(randn({3, 5}).t()).run([](const Inputs& x, const Attrs&) { return out(round(x[0])); });
    // distinct values: the bounds sit 0.035 away from every value (see cases/unary.hpp)
    add(r, "clamp_", "both")
        .in(distinct({4, 5}).t())
        .in_place()
        .attr("min", -0.44)
        .attr("max", 0.56)
        .run([](const Inputs& x, const Attrs& a) {
            Tensor y = x[0];
            return out(clamp_(y, a.f("min"), a.f("max")));
        });
    add(r, "clamp_min_", "distinct")
        .in(distinct({4, 5}))
        .in_place()
        .attr("min", -0.24)
        .run([](const Inputs& x, const Attrs& a) {
            Tensor y = x[0];
            return out(clamp_min_(y, a.f("min")));
        });
    add(r, "clamp_max_", "distinct")
        .in(distinct({4, 5}))
        .in_place()
        .attr("max", 0.36)
        .run([](const Inputs& x, const Attrs& a) {
            Tensor y = x[0];
            return out(clamp_max_(y, a.f("max")));
        });
    add(r, "argmin", "dim_keep")
        .in(distinct({3, 5}).t())
        .attr("dim", 1)
        .attr("keepdim", true)
        .no_grad()
        .run([](const Inputs& x, const Attrs& a) { return out(argmin(x[0], a.i("dim"), a.b("keepdim"))); });
    add(r, "argmin", "all").in(distinct({3, 5})).no_grad().run([](const Inputs& x, const Attrs&) {
        return out(argmin(x[0]));
    });

    add(r, "masked_fill", "broadcast")
        .in(randn({3, 4}))
        .in(boolean({4}))
        .attr("value", -2.0)
        .run([](const Inputs& x, const Attrs& a) { return out(masked_fill(x[0], x[1], a.f("value"))); });
    add(r, "masked_fill_", "strided")
        .in(randn({3, 4}).t())
        .in(boolean({3, 4}))
        .in_place()
        .attr("value", 0.5)
        .run([](const Inputs& x, const Attrs& a) {
            Tensor y = x[0];
            return out(masked_fill_(y, x[1], a.f("value")));
        });
    auto gather_run = [](const Inputs& x, const Attrs& a) { return out(gather(x[0], a.i("dim"), x[1])); };
    add(r, "gather", "dim1").in(randn({3, 5})).in(index({3, 4}, 5)).attr("dim", 1).run(gather_run);
    add(r, "gather", "dim0_strided").in(randn({4, 3}).t()).in(index({6, 3}, 4)).attr("dim", 0).run(gather_run);
    auto cumsum_run = [](const Inputs& x, const Attrs& a) { return out(cumsum(x[0], a.i("dim"))); };
    add(r, "cumsum", "dim1").in(randn({3, 5})).attr("dim", 1).run(cumsum_run);
    add(r, "cumsum", "int64").in(int64({3, 4})).attr("dim", 1).no_grad().run(cumsum_run);
    add(r, "cumsum", "dim0_sliced").in(randn({4, 3}).step()).attr("dim", 0).run(cumsum_run);
    auto topk_run = [](const Inputs& x, const Attrs& a) {
        return out(topk(x[0], a.i("k"), a.i("dim"), a.b("largest"), a.b("sorted")));
    };
    add(r, "topk", "largest")
        .in(distinct({3, 6}))
        .attr("k", 2)
        .attr("dim", 1)
        .attr("largest", true)
        .attr("sorted", true)
        .run(topk_run);
    add(r, "topk", "smallest_dim0")
        .in(distinct({5, 3}).t())
        .attr("k", 3)
        .attr("dim", 0)
        .attr("largest", false)
        .attr("sorted", true)
        .run(topk_run);
    add(r, "flip", "dims").in(randn({2, 3, 4}).step()).attr("dims", {0, 2}).run([](const Inputs& x, const Attrs& a) {
        return out(flip(x[0], Shape(a.ints("dims"))));
    });
    add(r, "repeat", "tile").in(randn({2, 3}).t()).attr("repeats", {2, 1, 3}).run([](const Inputs& x, const Attrs& a) {
        return out(repeat(x[0], Shape(a.ints("repeats"))));
    });
    add(r, "chunk", "uneven")
        .in(randn({7, 2}))
        .attr("chunks", 3)
        .attr("dim", 0)
        .run([](const Inputs& x, const Attrs& a) { return out(chunk(x[0], a.i("chunks"), a.i("dim"))); });
    add(r, "split", "sizes")
        .in(randn({7, 2}).t())
        .attr("sizes", {3, 4})
        .attr("dim", 0)
        .run([](const Inputs& x, const Attrs& a) { return out(split(x[0], Shape(a.ints("sizes")), a.i("dim"))); });
    add(r, "split", "size").in(randn({2, 7})).attr("size", 3).attr("dim", 1).run([](const Inputs& x, const Attrs& a) {
        return out(split(x[0], a.i("size"), a.i("dim")));
    });
    add(r, "any", "dim")
        .in(boolean({3, 4}).t())
        .attr("dim", 1)
        .attr("keepdim", false)
        .no_grad()
        .run([](const Inputs& x, const Attrs& a) { return out(any(x[0], a.i("dim"), a.b("keepdim"))); });
    add(r, "any", "all_elements").in(small_int({3, 4})).no_grad().run([](const Inputs& x, const Attrs&) {
        return out(any(x[0]));
    });
    add(r, "all", "dim_keep")
        .in(boolean({4, 2}))
        .attr("dim", 0)
        .attr("keepdim", true)
        .no_grad()
        .run([](const Inputs& x, const Attrs& a) { return out(all(x[0], a.i("dim"), a.b("keepdim"))); });
    add(r, "all", "all_elements").in(small_int({2, 3}).step()).no_grad().run([](const Inputs& x, const Attrs&) {
        return out(all(x[0]));
    });
    add(r, "cat", "default_dim")
        .in(randn({2, 3}))
        .in(randn({1, 3}))
        .in(randn({3, 3}).t())
        .run([](const Inputs& x, const Attrs&) { return out(cat(x)); });
}

}  // namespace fbseg::harness
