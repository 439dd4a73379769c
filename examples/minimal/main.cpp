// examples/minimal: the smallest program that trains a model with fbseg.
//
// The task is a toy version of fetal-head segmentation: given a point (x, y) of an image, say
// whether it lies inside the head, an ellipse. A two-hidden-layer perceptron learns it from
// random points with binary cross-entropy and plain SGD; the loss printed every few steps falls.
// (The layer library and the UNet trainer come later; this uses only tensors and autograd.)
//
//   fbseg_minimal [--steps N]
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "fbseg/fbseg.hpp"

using namespace fbseg;

namespace {

/// Points uniform in [-1, 1]^2 and their labels: 1 inside the ellipse (x/0.7)^2 + (y/0.45)^2 < 1.
void make_batch(std::int64_t n, Generator& gen, Tensor& points, Tensor& labels) {
    points = sub(mul(rand({n, 2}, {}, gen), 2.0), 1.0);
    const Tensor x = points.select(1, 0), y = points.select(1, 1);
    const Tensor r = add(square(div(x, 0.7)), square(div(y, 0.45)));
    labels = lt(r, 1.0).to(DType::Float32).unsqueeze(1);
}

/// Numerically stable binary cross-entropy on logits z with targets t:
///   mean(max(z, 0) - z t + log(1 + exp(-|z|)))
Tensor bce_with_logits(const Tensor& z, const Tensor& t) {
    return mean(add(sub(relu(z), mul(z, t)), log(add(exp(neg(abs(z))), 1.0))));
}

}  // namespace

int main(int argc, char** argv) {
    int steps = 300;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = std::atoi(argv[++i]);
        else {
            std::cerr << "usage: fbseg_minimal [--steps N]\n";
            return 2;
        }
    }
    Generator gen(42);
    const auto param = [&](Shape shape, double scale) {
        Tensor w = mul(randn(shape, {}, gen), scale);
        return w.set_requires_grad(true), w;
    };
    // 2 -> 32 -> 32 -> 1, weights scaled by sqrt(2 / fan_in) (He initialisation for ReLU).
    std::vector<Tensor> params = {param({2, 32}, 1.0), param({32}, 0.0), param({32, 32}, 0.25),
                                  param({32}, 0.0),    param({32, 1}, 0.25), param({1}, 0.0)};
    std::vector<Tensor> velocity;
    for (const auto& p : params) velocity.push_back(zeros_like(p));
    const double lr = 0.1, momentum = 0.9;

    double first_loss = 0, last_loss = 0;
    for (int step = 1; step <= steps; ++step) {
        Tensor points, labels;
        make_batch(256, gen, points, labels);
        Tensor h = relu(add(matmul(points, params[0]), params[1]));
        h = relu(add(matmul(h, params[2]), params[3]));
        const Tensor logits = add(matmul(h, params[4]), params[5]);
        const Tensor loss = bce_with_logits(logits, labels);
        for (auto& p : params) p.zero_grad();
        loss.backward();
        {
            NoGradGuard no_grad;  // SGD with momentum: v = m v + g; p -= lr v
            for (std::size_t i = 0; i < params.size(); ++i) {
                mul_(velocity[i], momentum);
                add_(velocity[i], params[i].grad());
                sub_(params[i], mul(velocity[i], lr));
            }
        }
        last_loss = loss.item<double>();
        if (step == 1) first_loss = last_loss;
        if (step == 1 || step % 25 == 0 || step == steps)
            std::cout << "step " << step << "  loss " << last_loss << std::endl;
    }
    std::cout << "loss fell from " << first_loss << " to " << last_loss << std::endl;
    return last_loss < first_loss ? 0 : 1;
}
