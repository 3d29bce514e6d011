// timeouts: and retries: in the spec.
#include <gtest/gtest.h>

#include "iommuvm/spec/load.hpp"
#include "iommuvm/spec/step_kinds.hpp"

using namespace iommuvm;

namespace {

const char* kBase = "name: t\nmachines: {local: {local: true}}\nworkloads: {redis: {}}\n";

std::string errors(const spec::Loaded& l) {
  std::string out;
  for (const auto& d : l.diag.sorted()) out += d.format() + "\n";
  return out;
}

}  // namespace

TEST(SpecTimeouts, PerStepKindDurationsAndSwitchRetries) {
  auto l = spec::load_text(std::string(kBase) + "timeouts: {server.start: 2s, host.reboot: 10m, client.measure: 90}\nretries: {switch: 3}\n",
                           "t.yaml");
  ASSERT_FALSE(l.diag.has_errors()) << errors(l);
  EXPECT_EQ(l.spec.timeouts.size(), 3u);
  EXPECT_DOUBLE_EQ(l.spec.timeouts.at("server.start"), 2);
  EXPECT_DOUBLE_EQ(l.spec.timeouts.at("host.reboot"), 600);
  EXPECT_DOUBLE_EQ(l.spec.timeouts.at("client.measure"), 90);
  EXPECT_EQ(l.spec.switch_retries, 3);

  auto none = spec::load_text(kBase, "t.yaml");
  EXPECT_TRUE(none.spec.timeouts.empty());
  EXPECT_EQ(none.spec.switch_retries, 1) << "the default: one retry of a failed switch";
}

TEST(SpecTimeouts, BadValuesAreFileLineColErrors) {
  auto l = spec::load_text(std::string(kBase) + "timeouts:\n  server.strat: 2s\n  host.reboot: soon\n  guest.start: -1\nretries: {switch: many, run: 2}\n",
                           "t.yaml");
  std::string e = errors(l);
  EXPECT_NE(e.find("t.yaml:5:3: error: unknown key 'server.strat' in 'timeouts' (did you mean 'server.start'?)"), std::string::npos) << e;
  EXPECT_NE(e.find("t.yaml:6:16: error: expected a duration for 'timeouts.host.reboot'"), std::string::npos) << e;
  EXPECT_NE(e.find("t.yaml:7:16: error: 'timeouts.guest.start' must be between"), std::string::npos) << e;
  EXPECT_NE(e.find("t.yaml:8:19: error: expected an integer for 'retries.switch', got 'many'"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'run' in 'retries'"), std::string::npos) << e;
}

TEST(SpecTimeouts, EveryStepKindThatWaitsTakesATimeoutAndTheOthersAreRefused) {
  // The kinds come from the one table (spec/step_kinds.hpp, plan::kind); the spec reads it.
  std::string limited, bookkeeping;
  int n = 0;
  for (const auto& [name, timeout] : spec::step_kind::all) {
    if (timeout) {
      limited += std::string(limited.empty() ? "" : ", ") + name + ": 5s";
      ++n;
    } else {
      bookkeeping = name;
    }
  }
  auto l = spec::load_text(std::string(kBase) + "timeouts: {" + limited + "}\n", "t.yaml");
  ASSERT_FALSE(l.diag.has_errors()) << errors(l);
  EXPECT_EQ(static_cast<int>(l.spec.timeouts.size()), n);
  EXPECT_EQ(n, 15) << "every step kind but campaign.begin/end and run.begin/end";
  auto refused = spec::load_text(std::string(kBase) + "timeouts: {" + bookkeeping + ": 5s}\n", "t.yaml");
  EXPECT_NE(errors(refused).find("unknown key '" + bookkeeping + "' in 'timeouts'"), std::string::npos) << errors(refused);
}
