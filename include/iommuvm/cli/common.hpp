#pragma once

#include <filesystem>

#include "iommuvm/plan/plan.hpp"

#include <string>
#include <vector>

#include "iommuvm/spec/matrix.hpp"

namespace iommuvm::cli {

struct Campaign {
  spec::Loaded loaded;
  std::vector<spec::RunPoint> points;
};

// Load, type-check and expand SPEC_PATH; print every diagnostic (errors and warnings)
// to stderr as FILE:LINE:COL: ...; throw InputError (exit 2) when there are errors.
Campaign load_campaign(const std::string& spec_path);

// The switch times measured by earlier campaigns of an experiment (EXPERIMENT_DIR =
// OUTPUT/NAME): per campaign folder, journal.jsonl's ok host.reboot and guest.start steps, the
// method and guest from that campaign's plan.json; medians. Unreadable folders are skipped.
plan::Measured measured_switch_times(const std::filesystem::path& experiment_dir);

}  // namespace iommuvm::cli
