// kernels/lab.cu - the kernel lab's switch: which numbered version a dispatcher runs.
//
// Each kernel family keeps its versions side by side (v1 the plainest, the last the fastest) and
// a dispatcher that picks one from the problem's shape. set_kernel_version overrides that choice
// for one kernel by name, so that a test can check every version against the CPU and a
// benchmark can time every version on the same shapes (cuda/api.hpp).
#include <map>
#include <mutex>
#include <string>

#include "fbseg/cuda/api.hpp"
#include "lab.cuh"

namespace fbseg::cuda {
namespace {
std::mutex& versions_mutex() {
    static std::mutex m;
    return m;
}
std::map<std::string, int, std::less<>>& forced_versions() {
    static std::map<std::string, int, std::less<>> versions;
    return versions;
}
}  // namespace

void set_kernel_version(const char* kernel, int version) {
    FBSEG_CHECK(kernel != nullptr && version >= 0, "set_kernel_version: needs a kernel name and a version >= 0 (got ",
                version, ")");
    std::lock_guard<std::mutex> lock(versions_mutex());
    if (version == 0) forced_versions().erase(kernel);
    else forced_versions()[kernel] = version;
}

int forced_kernel_version(const char* kernel) {
    std::lock_guard<std::mutex> lock(versions_mutex());
    const auto it = forced_versions().find(kernel);
    return it == forced_versions().end() ? 0 : it->second;
}

namespace detail {
int choose_version(const char* kernel, int automatic, int count) {
    const int forced = forced_kernel_version(kernel);
    if (forced == 0) return automatic;
    FBSEG_CHECK(forced >= 1 && forced <= count, kernel, ": version ", forced, " was forced with set_kernel_version, but ",
                kernel, " has versions 1 to ", count);
    return forced;
}
}  // namespace detail

}  // namespace fbseg::cuda
