// What the C++ benchmarks share: wall time of a piece of work, and the CPU the figures come from.
#pragma once

#include <chrono>
#include <fstream>
#include <functional>
#include <string>

namespace genbox::bench {

inline double seconds(const std::function<void()>& work) {
  const auto start = std::chrono::steady_clock::now();
  work();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// /proc/cpuinfo's model name: every published figure names its CPU.
inline std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

}  // namespace genbox::bench
