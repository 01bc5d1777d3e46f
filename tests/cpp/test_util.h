#pragma once
// Helpers shared by the C++ tests: a temporary folder, small files, error messages, running the CLI.
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <sys/mount.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace skipzoo::test {

// A fresh folder under the system temp dir, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "skipzoo_data_XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // The path of `rel` inside the folder, with its parent folders created.
  std::string file(const std::string& rel) const {
    const auto p = std::filesystem::path(path_) / rel;
    std::filesystem::create_directories(p.parent_path());
    return p.string();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A real full disk: a tmpfs of `bytes` mounted on a fresh folder, unmounted at the end. Needs
// mount(2) (root with CAP_SYS_ADMIN, as in CI); elsewhere mounted() is false and `why` says why.
class SmallDisk {
 public:
  explicit SmallDisk(size_t bytes) {
    const auto options = "size=" + std::to_string(bytes);
    if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, options.c_str()) == 0) mounted_ = true;
    else why = std::string("cannot mount a tmpfs: ") + std::strerror(errno);
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  std::string file(const std::string& rel) const { return dir_.file(rel); }
  // Fills the disk up to `left` free bytes with a ballast file.
  void fill_leaving(size_t left) const;
  std::string why;

 private:
  TempDir dir_;
  bool mounted_ = false;
};

inline void SmallDisk::fill_leaving(size_t left) const {
  const auto space = std::filesystem::space(dir_.path());
  if (space.available > left) {
    std::ofstream(file("ballast"), std::ios::binary) << std::string(space.available - left, '\0');
  }
}

// The message of the `E` that f() throws, or "(no error)".
template <typename E = std::exception>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no error)";
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Writes with OpenCV directly (BGR order), independent of skipzoo's writer.
inline void cv_write(const std::string& path, const cv::Mat& bgr) {
  ASSERT_TRUE(cv::imwrite(path, bgr)) << path;
}

struct CliResult {
  int code = -1;
  std::string output;  // stdout and stderr together
};

// Runs the skipzoo CLI with `args` (already shell-quoted as needed); `env`: "NAME=value ..."
// assignments for its environment.
inline CliResult run_cli(const std::string& args, const std::string& env = "") {
  const std::string cli = SKIPZOO_CLI;
  CliResult r;
  FILE* pipe = popen(((env.empty() ? "" : env + " ") + cli + " " + args + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) r.output.append(buffer, n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace skipzoo::test
