// The quiet-machine profile and its knobs (pure): what the profile fills in, what an
// explicit key overrides, what is written where, and ethtool's pause/coalesce output.
#include <gtest/gtest.h>

#include "iommuvm/tune/knobs.hpp"

using namespace iommuvm;

TEST(TuneProfile, QuietFillsWhatTheSpecDoesNotSet) {
  spec::TuningSpec t;
  t.profile = "quiet";
  t.smt = true;  // the user keeps SMT on
  tune::apply_profile(t);
  EXPECT_EQ(t.governor, "performance");
  EXPECT_EQ(t.turbo, false);
  EXPECT_EQ(t.cstates, false);
  EXPECT_EQ(t.smt, true) << "an explicit key wins over the profile";
  EXPECT_EQ(t.numa_balancing, false);
  EXPECT_EQ(t.irqbalance, false);
  EXPECT_FALSE(t.pause_frames) << "no interface: no NIC settings";
  EXPECT_TRUE(t.coalesce.empty());

  spec::TuningSpec n;
  n.profile = "quiet";
  n.interface = "eth1";
  n.governor = "schedutil";
  n.coalesce["adaptive-rx"] = "on";
  tune::apply_profile(n);
  EXPECT_EQ(n.governor, "schedutil");
  EXPECT_EQ(n.pause_frames, false);
  EXPECT_EQ(n.coalesce, (std::map<std::string, std::string>{{"adaptive-rx", "on"}, {"adaptive-tx", "off"}}));

  spec::TuningSpec none;
  tune::apply_profile(none);
  EXPECT_TRUE(none.empty()) << "no profile: nothing is added";
}

TEST(TuneKnobs, WhatIsWrittenWhere) {
  spec::TuningSpec t;
  t.turbo = false;
  t.cstates = false;
  t.numa_balancing = true;
  const auto* turbo = tune::find_knob("turbo");
  ASSERT_NE(turbo, nullptr);
  ASSERT_EQ(turbo->where.size(), 2u);
  EXPECT_EQ(turbo->where[0].glob, "/sys/devices/system/cpu/intel_pstate/no_turbo");
  EXPECT_EQ(tune::wanted(t, *turbo, turbo->where[0]), "1") << "no_turbo is inverted";
  EXPECT_EQ(tune::wanted(t, *turbo, turbo->where[1]), "0") << "cpufreq/boost is not";
  const auto* cstates = tune::find_knob("cstates");
  ASSERT_NE(cstates, nullptr);
  EXPECT_NE(cstates->where[0].glob.find("state[1-9]*"), std::string::npos) << "state0 (POLL) is never disabled";
  EXPECT_EQ(tune::wanted(t, *cstates, cstates->where[0]), "1");
  EXPECT_EQ(tune::wanted(t, *tune::find_knob("numa_balancing"), tune::find_knob("numa_balancing")->where[0]), "1");
  EXPECT_EQ(tune::wanted(t, *tune::find_knob("smt"), tune::find_knob("smt")->where[0]), std::nullopt);
  EXPECT_EQ(tune::find_knob("nothing"), nullptr);
}

// ethtool 6.1's output formats (ethtool.c: dump_pause, dump_coalesce); made up values.
TEST(TuneEthtool, PauseAndCoalesceSettings) {
  auto pause = tune::ethtool_pause_settings(
      "Pause parameters for enp202s0f0np0:\nAutonegotiate:\ton\nRX:\t\ton\nTX:\t\toff\nRX negotiated: on\n");
  EXPECT_EQ(pause, (std::vector<std::pair<std::string, std::string>>{{"autoneg", "on"}, {"rx", "on"}, {"tx", "off"}}));
  auto co = tune::ethtool_coalesce_settings(
      "Coalesce parameters for enp202s0f0np0:\nAdaptive RX: on  TX: off\nstats-block-usecs: n/a\n"
      "sample-interval: n/a\npkt-rate-low: n/a\n\nrx-usecs: 8\nrx-frames: 128\nrx-usecs-irq: n/a\n\ntx-usecs: 16\n"
      "tx-frames: n/a\n");
  EXPECT_EQ(co, (std::vector<std::pair<std::string, std::string>>{
                    {"adaptive-rx", "on"}, {"adaptive-tx", "off"}, {"rx-frames", "128"}, {"rx-usecs", "8"}, {"tx-usecs", "16"}}));
  EXPECT_TRUE(tune::ethtool_pause_settings("Cannot get device pause settings: Operation not supported\n").empty());
}
