// tests/support/temp_dir.hpp - a fresh, empty folder for the files a test writes, under the
// system's temporary directory, removed when the test leaves its scope (also on failure). Names
// carry the process id and a counter, so parallel ctest runs and several folders in one test never
// meet.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>

namespace fbseg::test {

struct TempDir {
    std::filesystem::path path;

    explicit TempDir(const std::string& prefix = "fbseg_test") {
        static std::atomic<int> counter{0};
        path = std::filesystem::temp_directory_path() /
               (prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter.fetch_add(1)));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;  // never throw from a destructor
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    /// The path of `name` inside the folder.
    std::string operator/(const std::string& name) const { return (path / name).string(); }
    std::string string() const { return path.string(); }
};

}  // namespace fbseg::test
