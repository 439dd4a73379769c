// The float64 loops of tests/support/direct_conv_reference.hpp: every output sums its window,
//   y[n, co, oh, ow] = b[co] + sum_{c, ki, kj} w[co, c, ki, kj] x[n, ci, oh sh - ph + ki dh, ow sw - pw + kj dw]
// (ci = the group's first channel + c; taps outside x are zero), and each term's two partial
// derivatives are added to dx and dw where the term read them.
#include "support/direct_conv_reference.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>

namespace fbseg::test {

DirectConvolution direct_convolution(const ConvGeometry& g, const std::vector<double>& x, const std::vector<double>& w,
                                     const std::vector<double>& b, const std::vector<double>& dy) {
    const auto size = [](std::int64_t n) { return std::size_t(n); };
    if (x.size() != size(g.n * g.c_in * g.hw()) || w.size() != size(g.c_out * g.k()) || b.size() != size(g.c_out) ||
        dy.size() != size(g.n * g.c_out * g.p()))
        throw std::invalid_argument("direct_convolution: operand sizes do not match the geometry");
    DirectConvolution r;
    r.y.assign(size(g.n * g.c_out * g.p()), 0.0);
    r.dx.assign(size(g.n * g.c_in * g.hw()), 0.0);
    r.dw.assign(size(g.c_out * g.k()), 0.0);
    r.db.assign(size(g.c_out), 0.0);
    const std::int64_t cg = g.cg(), coutg = g.coutg();
    for (std::int64_t n = 0; n < g.n; ++n)
        for (std::int64_t co = 0; co < g.c_out; ++co)
            for (std::int64_t oh = 0; oh < g.ho; ++oh)
                for (std::int64_t ow = 0; ow < g.wo; ++ow) {
                    const std::size_t yi = size(((n * g.c_out + co) * g.ho + oh) * g.wo + ow);
                    double sum = b[size(co)];
                    r.db[size(co)] += dy[yi];
                    for (std::int64_t c = 0; c < cg; ++c)
                        for (std::int64_t ki = 0; ki < g.kh; ++ki)
                            for (std::int64_t kj = 0; kj < g.kw; ++kj) {
                                const std::int64_t ih = oh * g.sh - g.ph + ki * g.dh, iw = ow * g.sw - g.pw + kj * g.dw;
                                if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                                const std::int64_t ci = co / coutg * cg + c;
                                const std::size_t xi = size(((n * g.c_in + ci) * g.h + ih) * g.w + iw);
                                const std::size_t wi = size(((co * cg + c) * g.kh + ki) * g.kw + kj);
                                sum += w[wi] * x[xi];
                                r.dx[xi] += w[wi] * dy[yi];
                                r.dw[wi] += dy[yi] * x[xi];
                            }
                    r.y[yi] = sum;
                }
    return r;
}

}  // namespace fbseg::test
