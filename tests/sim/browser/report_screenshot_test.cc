// kvsim report pages as a browser draws them: headless Chromium renders a run page and a sweep page to PNG, and the
// pixels show the plots (a floor of drawn pixels, the series and SLO colours present) while --dump-dom shows one
// chart per panel. Skips when no Chromium is installed (Debian: apt-get install chromium; KVSIM_CHROMIUM names
// another binary). Labelled `browser`.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "sim/core/atomic_file.h"
#include "sim/planning/report.h"
#include "sim/planning/sweep.h"
#include "sim/run.h"
#include "tests/sim/browser/png_pixels.h"
#include "tests/sim/test_util.h"

namespace kvsim::sim {
namespace {

namespace fs = std::filesystem;

std::string find_chromium() {
  if (const char* env = std::getenv("KVSIM_CHROMIUM"); env && *env) return fs::exists(env) ? env : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
      const fs::path p = fs::path(dirs.substr(start, end - start)) / name;
      if (!p.parent_path().empty() && fs::exists(p)) return p.string();
    }
    start = end + 1;
  }
  return "";
}

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

struct Rendered {
  testing::Pixels png;
  std::string dom;
};

// Renders `html` at 1000 x `height` CSS pixels: the screenshot and the DOM after layout.
Rendered render(const std::string& chromium, const std::string& dir, const std::string& html, int height) {
  const std::string page = dir + "/page.html", shot = dir + "/page.png", dom = dir + "/dom.html";
  write_file_atomic(page, html);
  const std::string common = fmt::format(
      "timeout 180 '{}' --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run "
      "--user-data-dir='{}/profile' --window-size=1000,{}",
      chromium, dir, height);
  const int a =
      std::system(fmt::format("{} --screenshot='{}' 'file://{}' > '{}/log' 2>&1", common, shot, page, dir).c_str());
  const int b =
      std::system(fmt::format("{} --dump-dom 'file://{}' > '{}' 2>> '{}/log'", common, page, dom, dir).c_str());
  EXPECT_EQ(a, 0) << testing::read_file(dir + "/log");
  EXPECT_EQ(b, 0) << testing::read_file(dir + "/log");
  return {testing::read_png(shot), testing::read_file(dom)};
}

struct Counts {
  double drawn_share = 0;  // pixels not (near) white
  int64_t blue = 0, red = 0, slo = 0;
};

Counts colours(const testing::Pixels& p) {
  Counts c;
  int64_t drawn = 0;
  const auto near = [](const uint8_t* px, int r, int g, int b) {
    return std::abs(px[0] - r) + std::abs(px[1] - g) + std::abs(px[2] - b) < 60;
  };
  for (size_t i = 0; i + 2 < p.rgb.size(); i += 3) {
    const uint8_t* px = &p.rgb[i];
    if (px[0] < 235 || px[1] < 235 || px[2] < 235) ++drawn;
    if (near(px, 0x1f, 0x77, 0xb4)) ++c.blue;  // the first series (sim/planning/report_svg.cc)
    if (near(px, 0xd6, 0x27, 0x28)) ++c.red;   // the second
    if (near(px, 0xbb, 0x00, 0x00)) ++c.slo;   // SLO lines
  }
  c.drawn_share = static_cast<double>(drawn) / static_cast<double>(p.width * p.height);
  return c;
}

TEST(ReportScreenshot, RunAndSweepPagesDrawTheirPlots) {
  const std::string chromium = find_chromium();
  if (chromium.empty()) GTEST_SKIP() << "no chromium on PATH (apt-get install chromium, or set KVSIM_CHROMIUM)";
  const std::string dir = testing::temp_dir("report_screenshot");
  fs::create_directories(dir);
  const char* const yaml = R"(
model: llama-3.1-8b
hardware: h100-sxm5-80gb
cluster: {replicas: 3}
slo: {ttft_ms: 300, tpot_ms: 40}
workload: {requests: 200, arrival: {rate: 12}, dataset: sharegpt}
)";
  run_scenario(testing::scenario_from(yaml), dir + "/run");
  const Rendered run = render(chromium, dir, render_report(dir + "/run"), 1800);
  ASSERT_TRUE(run.png.error.empty()) << run.png.error;
  EXPECT_EQ(run.png.width, 1000);
  EXPECT_EQ(run.png.height, 1800);
  const Counts rc = colours(run.png);
  // A blank or unstyled page draws next to nothing; a page of only solid blocks would be far above the ceiling.
  EXPECT_GT(rc.drawn_share, 0.02);
  EXPECT_LT(rc.drawn_share, 0.5);
  EXPECT_GT(rc.blue, 1000);  // four CDF curves and three KV panels
  EXPECT_GT(rc.slo, 100);    // three dashed SLO lines (TTFT; TPOT on the TPOT and ITL panels), each the plot's height
  EXPECT_EQ(count(run.dom, "<svg class=\"chart\""), 4 + 3);
  EXPECT_EQ(count(run.dom, "<path class=\"series\""), 4 + 3);
  EXPECT_EQ(count(run.dom, "<line class=\"ref\""), 3);

  {
    std::ofstream g(dir + "/grid.yaml");
    g << yaml << "sweep:\n  cluster.replicas: [1, 2]\n  workload.arrival.rate: [4, 12]\n";
  }
  SweepOptions o;
  o.out_dir = dir + "/sweep";
  run_sweep(load_sweep(dir + "/grid.yaml"), o);
  const Rendered sweep = render(chromium, dir, render_report(o.out_dir), 1800);
  ASSERT_TRUE(sweep.png.error.empty()) << sweep.png.error;
  const Counts sc = colours(sweep.png);
  EXPECT_GT(sc.drawn_share, 0.02);
  EXPECT_GT(sc.blue, 500);  // the first configuration's lines and the front
  EXPECT_GT(sc.red, 500);   // the second configuration's lines
  EXPECT_EQ(count(sweep.dom, "<svg class=\"chart\""), 3 + 1);
  EXPECT_EQ(count(sweep.dom, "class=\"point-label\""), 2);  // one per configuration at the highest rate
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kvsim::sim
