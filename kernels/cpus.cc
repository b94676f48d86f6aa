// How many CPUs this process may use (kernels/suite.h): the affinity mask, bounded by the container's CPU quota.
#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include "kernels/suite.h"

namespace kvsim::kernels {

namespace {

std::string first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

double cpu_quota_from_cgroup(const std::string& cpu_max) {
  std::istringstream in(cpu_max);
  std::string quota;
  double period = 0;
  if (!(in >> quota >> period) || quota == "max" || period <= 0) return 0;
  try {
    size_t used = 0;
    const double q = std::stod(quota, &used);
    return used == quota.size() && q > 0 ? q / period : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

int usable_cpu_count() {
  int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = std::max(1, CPU_COUNT(&set));
  // cgroup v2 ("200000 100000": two CPUs' worth), else v1's quota and period files.
  double quota = cpu_quota_from_cgroup(first_line("/sys/fs/cgroup/cpu.max"));
  if (quota <= 0) {
    const std::string v1 =
        first_line("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") + " " + first_line("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
    if (v1.rfind("-1", 0) != 0) quota = cpu_quota_from_cgroup(v1);
  }
  if (quota > 0) cpus = std::min(cpus, std::max(1, static_cast<int>(std::ceil(quota))));
  return cpus;
}

}  // namespace kvsim::kernels
