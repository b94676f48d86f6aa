// Arrival processes of synthetic workloads (`workload.arrival.process`), each a named implementation with its
// parameters declared once (arrival_processes()):
//  poisson      exponential inter-arrivals at `rate` req/s (vLLM benchmark_serving's request_rate; CV 1)
//  gamma        renewal process, Gamma inter-arrivals of mean 1 / `rate` and coefficient of variation `cv`
//               (burstiness: cv > 1 is burstier than Poisson; the gamma process of vLLM's --burstiness = 1 / cv^2)
//  weibull      renewal process, Weibull inter-arrivals of mean 1 / `rate` and `shape` (< 1 bursty, > 1 regular)
//  onoff        two-state Markov-modulated Poisson: `rate_on` while on, `rate_off` while off, exponential periods of
//               mean `on_s` and `off_s`, starting on
//  diurnal      Poisson with a rate curve: `rates` (req/s) in equal slots over `period_s` (default a day, 86400 s),
//               repeating; sampled by thinning (Lewis and Shedler, 1979)
//  all-at-once  every request at t = 0 (offline batch)
// Times are integer nanoseconds; a process ends (nullopt) rather than pass the int64 range.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sim/core/rng.h"
#include "sim/core/time.h"
#include "sim/core/yaml.h"

namespace kvsim::traces {

struct ArrivalSpec {
  std::string process = "poisson";
  double rate = 1.0;                                      // poisson, gamma, weibull: mean req/s
  double cv = 1.0;                                        // gamma
  double shape = 1.0;                                     // weibull
  double rate_on = 0, rate_off = 0, on_s = 0, off_s = 0;  // onoff
  std::vector<double> rates;                              // diurnal, req/s per slot
  double period_s = 86400;                                // diurnal

  bool operator==(const ArrivalSpec&) const = default;
  // The long-run mean rate (req/s); infinity for all-at-once.
  double mean_rate() const;
};

struct ArrivalInfo {
  std::string name;
  std::string description;
  std::vector<std::string> keys;  // parameters besides `process`
};
const std::vector<ArrivalInfo>& arrival_processes();
std::vector<std::string> arrival_process_names();

// Reads `workload.arrival` (calls finish()); keys a process does not take are errors naming it.
ArrivalSpec parse_arrival(const yaml::Map& arrival);
YAML::Node arrival_to_yaml(const ArrivalSpec& spec);
std::string describe_arrival(const ArrivalSpec& spec);

class ArrivalProcess {
 public:
  virtual ~ArrivalProcess() = default;
  // The next arrival at or after `now_ns` (the previous one), or nullopt past the int64 time range.
  virtual std::optional<SimTime> next(SimTime now_ns) = 0;
};

// Throws kvsim::Error for parameters parse_arrival() would reject.
std::unique_ptr<ArrivalProcess> make_arrival_process(const ArrivalSpec& spec, Rng rng);

}  // namespace kvsim::traces
