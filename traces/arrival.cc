#include "traces/arrival.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sim/core/limits.h"

namespace kvsim::traces {

namespace {

// Seconds to a gap in ns; past ~292 years the stream ends rather than overflow.
std::optional<SimTime> advance(SimTime now_ns, double gap_s) {
  const SimTime gap_ns = gap_s < 9.2e9 ? seconds_to_ns(gap_s) : kSimTimeMax;
  if (gap_ns > kSimTimeMax - now_ns) return std::nullopt;
  return now_ns + gap_ns;
}

class Poisson final : public ArrivalProcess {
 public:
  Poisson(double rate, Rng rng) : rate_(rate), rng_(rng) {}
  std::optional<SimTime> next(SimTime now) override { return advance(now, rng_.exponential(rate_)); }

 private:
  double rate_;
  Rng rng_;
};

class GammaRenewal final : public ArrivalProcess {
 public:
  GammaRenewal(double rate, double cv, Rng rng) : shape_(1.0 / (cv * cv)), scale_(cv * cv / rate), rng_(rng) {}
  std::optional<SimTime> next(SimTime now) override { return advance(now, rng_.gamma(shape_, scale_)); }

 private:
  double shape_, scale_;
  Rng rng_;
};

class WeibullRenewal final : public ArrivalProcess {
 public:
  WeibullRenewal(double rate, double shape, Rng rng)
      : shape_(shape), scale_(1.0 / (rate * std::tgamma(1.0 + 1.0 / shape))), rng_(rng) {}
  std::optional<SimTime> next(SimTime now) override { return advance(now, rng_.weibull(shape_, scale_)); }

 private:
  double shape_, scale_;
  Rng rng_;
};

// Exact: within a period arrivals are Poisson at the period's rate; at a switch the memoryless gap is redrawn.
class OnOff final : public ArrivalProcess {
 public:
  OnOff(const ArrivalSpec& s, Rng rng) : spec_(s), rng_(rng) {}
  std::optional<SimTime> next(SimTime now) override {
    if (!switch_at_) switch_at_ = advance(now, rng_.exponential(1.0 / spec_.on_s));
    while (true) {
      const double rate = on_ ? spec_.rate_on : spec_.rate_off;
      const std::optional<SimTime> t = rate > 0 ? advance(now, rng_.exponential(rate)) : std::nullopt;
      if (!switch_at_) return t;  // the period outlasts the time range
      if (t && *t < *switch_at_) return t;
      now = *switch_at_;
      on_ = !on_;
      switch_at_ = advance(now, rng_.exponential(1.0 / (on_ ? spec_.on_s : spec_.off_s)));
    }
  }

 private:
  ArrivalSpec spec_;
  Rng rng_;
  bool on_ = true;
  std::optional<SimTime> switch_at_;
};

class Diurnal final : public ArrivalProcess {
 public:
  Diurnal(const ArrivalSpec& s, Rng rng)
      : rates_(s.rates),
        slot_ns_(std::max<SimTime>(1, seconds_to_ns(s.period_s) / static_cast<SimTime>(s.rates.size()))),
        max_rate_(*std::max_element(s.rates.begin(), s.rates.end())),
        rng_(rng) {}
  std::optional<SimTime> next(SimTime now) override {
    while (true) {
      const std::optional<SimTime> t = advance(now, rng_.exponential(max_rate_));
      if (!t) return t;
      now = *t;
      const auto slot = static_cast<size_t>((now / slot_ns_) % static_cast<SimTime>(rates_.size()));
      if (rng_.uniform() * max_rate_ < rates_[slot]) return now;
    }
  }

 private:
  std::vector<double> rates_;
  SimTime slot_ns_;
  double max_rate_;
  Rng rng_;
};

class AllAtOnce final : public ArrivalProcess {
 public:
  std::optional<SimTime> next(SimTime) override { return 0; }
};

void check(bool ok, const std::string& message) {
  if (!ok) throw Error("workload.arrival: " + message);
}
}  // namespace

double ArrivalSpec::mean_rate() const {
  if (process == "all-at-once") return std::numeric_limits<double>::infinity();
  if (process == "onoff") return (rate_on * on_s + rate_off * off_s) / (on_s + off_s);
  if (process == "diurnal") {
    double sum = 0;
    for (double r : rates) sum += r;
    return rates.empty() ? 0 : sum / static_cast<double>(rates.size());
  }
  return rate;
}

const std::vector<ArrivalInfo>& arrival_processes() {
  static const std::vector<ArrivalInfo> kProcesses = {
      {"poisson", "exponential inter-arrivals at `rate` req/s", {"rate"}},
      {"gamma", "Gamma inter-arrivals: mean 1 / `rate`, coefficient of variation `cv`", {"rate", "cv"}},
      {"weibull", "Weibull inter-arrivals: mean 1 / `rate`, `shape`", {"rate", "shape"}},
      {"onoff",
       "Poisson at `rate_on` / `rate_off` in exponential periods of mean `on_s` / `off_s`",
       {"rate_on", "rate_off", "on_s", "off_s"}},
      {"diurnal",
       "Poisson following `rates` (req/s) in equal slots over `period_s` (default 86400)",
       {"rates", "period_s"}},
      {"all-at-once", "every request at t = 0", {}},
  };
  return kProcesses;
}

std::vector<std::string> arrival_process_names() {
  std::vector<std::string> out;
  for (const auto& p : arrival_processes()) out.push_back(p.name);
  return out;
}

ArrivalSpec parse_arrival(const yaml::Map& m) {
  ArrivalSpec s;
  s.process = m.get_choice("process", "poisson", arrival_process_names());
  const auto& info = *std::find_if(arrival_processes().begin(), arrival_processes().end(),
                                   [&](const ArrivalInfo& i) { return i.name == s.process; });
  for (const std::string& key : m.keys()) {
    const bool all_keys = key == "process";
    const bool takes = std::find(info.keys.begin(), info.keys.end(), key) != info.keys.end();
    bool known = false;
    for (const auto& p : arrival_processes()) known = known || std::count(p.keys.begin(), p.keys.end(), key) > 0;
    if (!all_keys && !takes && known) {
      m.fail(key, s.process == "all-at-once"
                      ? fmt::format("not used by process 'all-at-once' (every request arrives at t = 0)")
                      : fmt::format("not used by process '{}' (it takes {})", s.process, join(info.keys)));
    }
  }
  if (s.process == "poisson" || s.process == "gamma" || s.process == "weibull") {
    s.rate = m.get_double("rate", 1.0, limits::kMinRate, limits::kMaxRate);
  }
  if (s.process == "gamma") s.cv = m.get_double("cv", 1.0, 0.01, 100);
  if (s.process == "weibull") s.shape = m.get_double("shape", 1.0, 0.05, 100);
  if (s.process == "onoff") {
    s.rate_on = m.req_double("rate_on", 0, limits::kMaxRate);
    s.rate_off = m.req_double("rate_off", 0, limits::kMaxRate);
    s.on_s = m.req_double("on_s", 1e-6, limits::kMaxSeconds);
    s.off_s = m.req_double("off_s", 1e-6, limits::kMaxSeconds);
    if (s.rate_on + s.rate_off <= 0) m.fail("rate_on", "rate_on and rate_off are both 0: no request would arrive");
    // The generator walks the periods between arrivals one by one: at fewer than 1e-4 arrivals per on/off cycle it
    // would walk 10^4 periods per request. Such a process is Poisson at its mean rate for any practical purpose.
    const double per_cycle = s.rate_on * s.on_s + s.rate_off * s.off_s;
    if (per_cycle < 1e-4) {
      m.fail("on_s", fmt::format("on/off periods ({} s / {} s) so short that a cycle holds {:.3g} arrivals (< 1e-4): "
                                 "use process: poisson at the mean rate, {:.6g} req/s",
                                 s.on_s, s.off_s, per_cycle, per_cycle / (s.on_s + s.off_s)));
    }
  }
  if (s.process == "diurnal") {
    if (!m.has("rates")) m.fail("rates", "required key is missing (expected a list of rates in req/s, one per slot)");
    s.rates = m.get_double_list("rates", {}, 0, limits::kMaxRate);
    s.period_s = m.get_double("period_s", 86400, 1e-3, limits::kMaxSeconds);
    if (*std::max_element(s.rates.begin(), s.rates.end()) <= 0) m.fail("rates", "every rate is 0");
  }
  m.finish();
  return s;
}

YAML::Node arrival_to_yaml(const ArrivalSpec& s) {
  YAML::Node n(YAML::NodeType::Map);
  n["process"] = s.process;
  if (s.process == "poisson" || s.process == "gamma" || s.process == "weibull") n["rate"] = yaml::number(s.rate);
  if (s.process == "gamma") n["cv"] = yaml::number(s.cv);
  if (s.process == "weibull") n["shape"] = yaml::number(s.shape);
  if (s.process == "onoff") {
    n["rate_on"] = yaml::number(s.rate_on);
    n["rate_off"] = yaml::number(s.rate_off);
    n["on_s"] = yaml::number(s.on_s);
    n["off_s"] = yaml::number(s.off_s);
  }
  if (s.process == "diurnal") {
    YAML::Node rates;
    for (double r : s.rates) rates.push_back(yaml::number(r));
    rates.SetStyle(YAML::EmitterStyle::Flow);
    n["rates"] = rates;
    n["period_s"] = yaml::number(s.period_s);
  }
  return n;
}

std::string describe_arrival(const ArrivalSpec& s) {
  if (s.process == "poisson") return fmt::format("poisson {} req/s", s.rate);
  if (s.process == "gamma") return fmt::format("gamma {} req/s cv {}", s.rate, s.cv);
  if (s.process == "weibull") return fmt::format("weibull {} req/s shape {}", s.rate, s.shape);
  if (s.process == "onoff") {
    return fmt::format("on-off {} / {} req/s, periods {} / {} s", s.rate_on, s.rate_off, s.on_s, s.off_s);
  }
  if (s.process == "diurnal") {
    return fmt::format("diurnal {} slots over {} s, mean {:.3g} req/s", s.rates.size(), s.period_s, s.mean_rate());
  }
  return "all-at-once";
}

std::unique_ptr<ArrivalProcess> make_arrival_process(const ArrivalSpec& s, Rng rng) {
  const auto positive = [](double v) { return v > 0 && std::isfinite(v); };
  if (s.process == "poisson") {
    check(positive(s.rate), fmt::format("poisson rate must be a finite number > 0 req/s, found {}", s.rate));
    return std::make_unique<Poisson>(s.rate, rng);
  }
  if (s.process == "gamma") {
    check(positive(s.rate) && positive(s.cv),
          fmt::format("gamma needs rate > 0 and cv > 0, found {} and {}", s.rate, s.cv));
    return std::make_unique<GammaRenewal>(s.rate, s.cv, rng);
  }
  if (s.process == "weibull") {
    check(positive(s.rate) && positive(s.shape),
          fmt::format("weibull needs rate > 0 and shape > 0, found {} and {}", s.rate, s.shape));
    return std::make_unique<WeibullRenewal>(s.rate, s.shape, rng);
  }
  if (s.process == "onoff") {
    check(positive(s.on_s) && positive(s.off_s) && s.rate_on >= 0 && s.rate_off >= 0 && s.rate_on + s.rate_off > 0,
          "onoff needs on_s, off_s > 0 and rates >= 0, not both 0");
    return std::make_unique<OnOff>(s, rng);
  }
  if (s.process == "diurnal") {
    check(!s.rates.empty() && positive(s.period_s) &&
              std::all_of(s.rates.begin(), s.rates.end(), [](double r) { return r >= 0 && std::isfinite(r); }) &&
              *std::max_element(s.rates.begin(), s.rates.end()) > 0,
          "diurnal needs rates >= 0 (not all 0) and period_s > 0");
    return std::make_unique<Diurnal>(s, rng);
  }
  if (s.process == "all-at-once") return std::make_unique<AllAtOnce>();
  throw Error(fmt::format("workload.arrival.process: expected one of {}, found '{}'{}", join(arrival_process_names()),
                          s.process, did_you_mean(s.process, arrival_process_names())));
}

}  // namespace kvsim::traces
