// The on-disk layout of a campaign (docs/results.md):
//   OUTPUT/<experiment>/<campaign-id>/
//     campaign.json   name, spec hash, status (running | finished | interrupted), times
//     spec.yaml|json  the spec as given
//     plan.json       the expanded plan
//     journal.jsonl   one line per finished step
//     undo.jsonl      every change made to a machine, written before it is made
//     resume.json     only while the controller's own machine reboots (docs/policy.md)
//     runs/<run-id>/run.json, runs/<run-id>/raw/...
// Every file is written atomically (temporary file, then rename); journals are appended and fsynced.
#pragma once

#include <filesystem>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "iommuvm/plan/plan.hpp"

namespace iommuvm::results {

inline constexpr const char* kRunSchema = "iommuvm.run/1";

struct OpenOptions {
  bool fresh = false;  // start a new campaign folder even when one could be resumed
};

class CampaignStore {
 public:
  // Resume the latest unfinished campaign of SPEC with the same hash, or create a new one.
  // Refuses (InputError) when the latest unfinished campaign has a different spec hash,
  // unless opts.fresh.
  static CampaignStore open(const std::filesystem::path& output_root, const spec::Spec& spec, const plan::Plan& plan,
                            const OpenOptions& opts);
  // Open an existing campaign folder (for report, restore).
  static CampaignStore at(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  bool resumed() const { return resumed_; }
  std::string campaign_id() const { return dir_.filename().string(); }
  // Name of this campaign's private folder on the machines (/tmp/iommuvm/<work_id>/...):
  // experiment, campaign id and a hash of the folder, so that concurrent campaigns never share it.
  std::string work_id() const;

  // Runs with a run.json whose status is final (ok, failed, skipped).
  std::set<std::string> finished_runs() const;
  std::filesystem::path run_dir(const std::string& run_id) const;
  std::filesystem::path raw_dir(const std::string& run_id) const;

  // runs/<id>/run.json, or null when there is none (or it is not valid JSON).
  nlohmann::json read_run(const std::string& run_id) const;
  void write_run(const nlohmann::json& run);  // atomically, to runs/<id>/run.json
  void journal(const nlohmann::json& entry);  // one line in journal.jsonl
  void undo(const nlohmann::json& entry);     // one line in undo.jsonl
  std::vector<nlohmann::json> undo_entries() const;
  void set_status(const std::string& status);

  // The controller reboots its own machine: what the next start needs to go on (the step
  // that rebooted, the boot id before it, the resume unit to remove). Written atomically;
  // resume_state() is null when there is none.
  void set_resume_state(const nlohmann::json& state);
  nlohmann::json resume_state() const;
  void clear_resume_state();
  // fsync every file of the campaign folder that a resume reads (campaign.json, journals,
  // resume.json, run.json files) and the folders holding them: they survive a reboot.
  void make_durable() const;
  nlohmann::json campaign() const;

 private:
  explicit CampaignStore(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
  bool resumed_ = false;
};

// The current UTC time as 2026-11-25T12:00:00.123Z.
std::string now_iso8601();

}  // namespace iommuvm::results
