// fbseg/core/error.hpp - the one exception type of the library and the check macros that build it.
//
// Every error carries context: which op (or file, or tensor key), what was expected, what was
// found, and where in the library the check stands. A library never calls exit() or assert() on
// user input; it throws fbseg::Error.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace fbseg {

/// The exception thrown for every user-facing error (bad shapes, dtypes, devices, files, keys).
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {

/// Streams any number of values into one string: str("got ", 3, " dims") == "got 3 dims".
template <typename... Args>
std::string str(Args&&... args) {
    std::ostringstream out;
    (out << ... << std::forward<Args>(args));
    return out.str();
}

[[noreturn]] inline void throw_error(const char* file, int line, const std::string& message) {
    std::ostringstream out;
    out << message << " [" << file << ":" << line << "]";
    throw Error(out.str());
}

}  // namespace detail
}  // namespace fbseg

/// FBSEG_CHECK(cond, "op: expected ", a, " but got ", b) throws fbseg::Error when cond is false.
#define FBSEG_CHECK(cond, ...)                                                           \
    do {                                                                                 \
        if (!(cond)) [[unlikely]] {                                                      \
            ::fbseg::detail::throw_error(__FILE__, __LINE__, ::fbseg::detail::str(__VA_ARGS__)); \
        }                                                                                \
    } while (0)

/// FBSEG_FAIL("message ", value) always throws.
#define FBSEG_FAIL(...) ::fbseg::detail::throw_error(__FILE__, __LINE__, ::fbseg::detail::str(__VA_ARGS__))
