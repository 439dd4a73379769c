// tests/harness/cases/nn.hpp - the layer ops: conv2d and conv_transpose2d (stride, padding,
// dilation, groups, depthwise, no bias), conv2d_inference (with and without its ReLU),
// max_pool2d, adaptive_avg_pool2d, nearest and bilinear interpolation, batch_norm (train and
// eval) and dropout (a fixed generator: the same mask on every call, which finite differences
// need).
#pragma once

#include "harness/op_case.hpp"

namespace fbseg::harness {

namespace nn_cases {
inline Conv2dParams conv_params(const Attrs& a) {
    Conv2dParams p;
    p.stride = a.pair("stride");
    p.padding = a.pair("padding");
    p.dilation = a.pair("dilation");
    p.groups = a.i("groups");
    return p;
}
inline ConvTranspose2dParams conv_transpose_params(const Attrs& a) {
    ConvTranspose2dParams p;
    p.stride = a.pair("stride");
    p.padding = a.pair("padding");
    p.output_padding = a.pair("output_padding");
    p.dilation = a.pair("dilation");
    p.groups = a.i("groups");
    return p;
}
/// 2 * (multiply-adds) of a convolution: every output element sums Cin/groups * kh * kw products.
inline double conv_flops(const Tensor& out, const Tensor& weight) {
    return 2.0 * double(out.numel()) * double(weight.size(1) * weight.size(2) * weight.size(3));
}
}  // namespace nn_cases

inline void add_nn_cases(Registry& r) {
    using namespace in;
    using namespace nn_cases;
    auto conv = [](const Inputs& x, const Attrs& a) {
        return out(conv2d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), conv_params(a)));
    };
    auto conv_f = [](const Inputs& x) {
        return conv_flops(conv2d(x[0].detach(), x[1].detach(), Tensor(), Conv2dParams{}), x[1]);
    };
    add(r, "conv2d", "3x3_pad")
        .in(randn({2, 3, 5, 6}))
        .in(randn({4, 3, 3, 3}))
        .in(randn({4}))
        .attr("stride", {1, 1})
        .attr("padding", {1, 1})
        .attr("dilation", {1, 1})
        .attr("groups", 1)
        .run(conv)
        .flop_count([](const Inputs& x) {
            Conv2dParams p;
            p.padding = {1, 1};
            return conv_flops(conv2d(x[0].detach(), x[1].detach(), Tensor(), p), x[1]);
        });
    add(r, "conv2d", "stride_dilation")
        .in(randn({1, 2, 7, 6}))
        .in(randn({3, 2, 3, 2}))
        .attr("stride", {2, 1})
        .attr("padding", {1, 0})
        .attr("dilation", {1, 2})
        .attr("groups", 1)
        .run(conv);
    add(r, "conv2d", "groups_nobias")
        .in(randn({1, 4, 5, 5}).step())
        .in(randn({6, 2, 3, 3}))
        .attr("stride", {1, 1})
        .attr("padding", {0, 0})
        .attr("dilation", {1, 1})
        .attr("groups", 2)
        .run(conv);
    add(r, "conv2d", "depthwise")
        .in(randn({2, 3, 4, 5}))
        .in(randn({3, 1, 3, 3}))
        .in(randn({3}))
        .attr("stride", {1, 1})
        .attr("padding", {1, 1})
        .attr("dilation", {1, 1})
        .attr("groups", 3)
        .run(conv);
    add(r, "conv2d", "1x1")
        .in(randn({2, 5, 3, 3}).t())
        .in(randn({4, 5, 1, 1}))
        .in(randn({4}))
        .attr("stride", {1, 1})
        .attr("padding", {0, 0})
        .attr("dilation", {1, 1})
        .attr("groups", 1)
        .run(conv)
        .flop_count(conv_f);
    // conv2d_inference: inference only (no_grad), the ReLU in the kernel's epilogue on the CPU
    auto conv_inference = [](const Inputs& x, const Attrs& a) {
        const ConvActivation act = a.s("act") == "relu" ? ConvActivation::ReLU : ConvActivation::None;
        return out(conv2d_inference(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), conv_params(a), act));
    };
    add(r, "conv2d_inference", "3x3_relu")
        .in(randn({2, 8, 9, 11}))
        .in(randn({10, 8, 3, 3}))
        .in(randn({10}))
        .attr("stride", {1, 1})
        .attr("padding", {1, 1})
        .attr("dilation", {1, 1})
        .attr("groups", 1)
        .attr("act", "relu")
        .no_grad()
        .run(conv_inference);
    add(r, "conv2d_inference", "stride2_none")
        .in(randn({1, 4, 9, 8}))
        .in(randn({6, 4, 3, 3}))
        .attr("stride", {2, 2})
        .attr("padding", {1, 1})
        .attr("dilation", {1, 1})
        .attr("groups", 1)
        .attr("act", "none")
        .no_grad()
        .run(conv_inference);
    add(r, "conv2d_inference", "depthwise_relu")
        .in(randn({2, 3, 6, 5}).step())
        .in(randn({3, 1, 3, 3}))
        .in(randn({3}))
        .attr("stride", {1, 1})
        .attr("padding", {1, 1})
        .attr("dilation", {1, 1})
        .attr("groups", 3)
        .attr("act", "relu")
        .no_grad()
        .run(conv_inference);
    auto convt = [](const Inputs& x, const Attrs& a) {
        return out(conv_transpose2d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), conv_transpose_params(a)));
    };
    add(r, "conv_transpose2d", "stride2")
        .in(randn({2, 3, 3, 4}))
        .in(randn({3, 2, 2, 2}))
        .in(randn({2}))
        .attr("stride", {2, 2})
        .attr("padding", {0, 0})
        .attr("output_padding", {0, 0})
        .attr("dilation", {1, 1})
        .attr("groups", 1)
        .run(convt);
    add(r, "conv_transpose2d", "pad_outpad_groups")
        .in(randn({1, 4, 3, 3}))
        .in(randn({4, 1, 3, 3}))
        .attr("stride", {2, 2})
        .attr("padding", {1, 1})
        .attr("output_padding", {1, 0})
        .attr("dilation", {1, 1})
        .attr("groups", 2)
        .run(convt);

    auto maxpool = [](const Inputs& x, const Attrs& a) {
        MaxPool2dParams p;
        p.kernel = a.pair("kernel");
        p.stride = a.pair("stride");
        p.padding = a.pair("padding");
        p.dilation = a.pair("dilation");
        p.ceil_mode = a.b("ceil_mode");
        return out(max_pool2d(x[0], p));
    };
    add(r, "max_pool2d", "2x2")
        .in(distinct({2, 2, 4, 6}))
        .attr("kernel", {2, 2})
        .attr("stride", {2, 2})
        .attr("padding", {0, 0})
        .attr("dilation", {1, 1})
        .attr("ceil_mode", false)
        .run(maxpool);
    add(r, "max_pool2d", "3x3_pad_ceil")
        .in(distinct({1, 2, 5, 7}).t())
        .attr("kernel", {3, 3})
        .attr("stride", {2, 2})
        .attr("padding", {1, 1})
        .attr("dilation", {1, 1})
        .attr("ceil_mode", true)
        .run(maxpool);
    add(r, "max_pool2d", "dilation")
        .in(distinct({1, 1, 7, 7}))
        .attr("kernel", {2, 3})
        .attr("stride", {1, 2})
        .attr("padding", {0, 1})
        .attr("dilation", {2, 1})
        .attr("ceil_mode", false)
        .run(maxpool);
    auto adaptive = [](const Inputs& x, const Attrs& a) { return out(adaptive_avg_pool2d(x[0], a.pair("size"))); };
    add(r, "adaptive_avg_pool2d", "overlap").in(randn({2, 2, 5, 7})).attr("size", {3, 3}).run(adaptive);
    add(r, "adaptive_avg_pool2d", "global").in(randn({2, 3, 4, 5}).step()).attr("size", {1, 1}).run(adaptive);

    // interpolation: "size" or "scale" (one of the two), bilinear with and without align_corners
    auto nearest = [](const Inputs& x, const Attrs& a) {
        return out(a.has("scale") ? upsample_nearest2d(x[0], a.f("scale")) : upsample_nearest2d(x[0], a.pair("size")));
    };
    auto bilinear = [](const Inputs& x, const Attrs& a) {
        return out(a.has("scale") ? upsample_bilinear2d(x[0], a.f("scale"), a.b("align_corners"))
                                  : upsample_bilinear2d(x[0], a.pair("size"), a.b("align_corners")));
    };
    add(r, "upsample_nearest2d", "scale2").in(randn({1, 2, 3, 4})).attr("scale", 2.0).run(nearest);
    add(r, "upsample_nearest2d", "size_odd").in(randn({1, 2, 5, 4}).t()).attr("size", {7, 3}).run(nearest);
    add(r, "upsample_bilinear2d", "scale2")
        .in(randn({1, 2, 3, 4}))
        .attr("scale", 2.0)
        .attr("align_corners", false)
        .run(bilinear);
    add(r, "upsample_bilinear2d", "size_align")
        .in(randn({2, 1, 4, 3}))
        .attr("size", {7, 5})
        .attr("align_corners", true)
        .run(bilinear);
    add(r, "upsample_bilinear2d", "down")
        .in(randn({1, 2, 6, 5}).step())
        .attr("size", {4, 3})
        .attr("align_corners", false)
        .run(bilinear);

    // batch_norm: outputs y and the updated running statistics (clones: every call starts from
    // the same statistics, which finite differences need)
    auto bn = [](const Inputs& x, const Attrs& a) {
        Tensor rm = x[1].clone(), rv = x[2].clone();
        const Tensor y = batch_norm(x[0], rm, rv, x[3], x[4], a.b("training"), a.f("momentum"), a.f("eps"));
        return out({y, rm, rv});
    };
    add(r, "batch_norm", "train")
        .in(randn({3, 2, 3, 2}))
        .in(randn({2}).no_grad())
        .in(positive({2}).no_grad())
        .in(randn({2}))
        .in(randn({2}))
        .attr("training", true)
        .attr("momentum", 0.1)
        .attr("eps", 1e-5)
        .run(bn);
    add(r, "batch_norm", "eval_strided")
        .in(randn({2, 3, 2, 3}).t())
        .in(randn({3}).no_grad())
        .in(positive({3}).no_grad())
        .in(randn({3}))
        .in(randn({3}))
        .attr("training", false)
        .attr("momentum", 0.1)
        .attr("eps", 1e-5)
        .run(bn);

    // sync_batch_norm in a group of 3 replicated ranks (distributed::ReplicatedGroup): the whole
    // batch is 3 copies of this one, so y and the running mean are batch_norm's; the running
    // variance's unbiased factor uses the 3M values. No PyTorch counterpart in one process (its
    // SyncBatchNorm needs a process group): gradcheck checks the backward's global sums.
    auto sync_bn = [](const Inputs& x, const Attrs& a) {
        Tensor rm = x[1].clone(), rv = x[2].clone();
        // the group must outlive the backward pass, which runs after this function returns
        static distributed::ReplicatedGroup group(3);
        FBSEG_CHECK(a.i("ranks") == group.size(), "sync_batch_norm case: the test group has ", group.size(), " ranks");
        const Tensor y = distributed::sync_batch_norm(x[0], rm, rv, x[3], x[4], a.f("momentum"), a.f("eps"), group);
        return out({y, rm, rv});
    };
    add(r, "sync_batch_norm", "replicated_3")
        .in(randn({3, 2, 3, 2}))
        .in(randn({2}).no_grad())
        .in(positive({2}).no_grad())
        .in(randn({2}))
        .in(randn({2}))
        .attr("ranks", 3)
        .attr("momentum", 0.1)
        .attr("eps", 1e-5)
        .no_parity()
        .run(sync_bn);

    // all_reduce over 3 replicated ranks: y = 3 x, and the backward all-reduces the gradient (3 g)
    add(r, "all_reduce", "replicated_3")
        .in(randn({2, 5}))
        .no_parity()
        .run([](const Inputs& x, const Attrs&) {
            static distributed::ReplicatedGroup group(3);  // outlives the backward pass
            return out(distributed::all_reduce(x[0], group));
        });

    // dropout: fbseg's own Philox mask, so no PyTorch parity; the fixed seed gives one mask
    auto drop = [](const Inputs& x, const Attrs& a) {
        Generator gen(std::uint64_t(a.i("seed")));
        return out(a.s("kind") == "2d" ? dropout2d(x[0], a.f("p"), true, gen) : dropout(x[0], a.f("p"), true, gen));
    };
    add(r, "dropout", "p0_3")
        .in(randn({3, 5}))
        .attr("p", 0.3)
        .attr("seed", 11)
        .attr("kind", "elementwise")
        .no_parity()
        .run(drop);
    add(r, "dropout2d", "channels")
        .in(randn({2, 4, 3, 3}))
        .attr("p", 0.5)
        .attr("seed", 5)
        .attr("kind", "2d")
        .no_parity()
        .run(drop);
}

}  // namespace fbseg::harness
