// The on-disk layout of a campaign (docs/results.md):
//   OUTPUT/<experiment>/<campaign-id>/
//     campaign.json   name, spec hash, status (running | finished | interrupted), times
//     spec.yaml|json  the spec as given
//     plan.json       the expanded plan
//     journal.jsonl   one line per finished step
//     undo.jsonl      every change made to a machine, written before it is made
//     resume.json     only while the controller's own machine reboots (docs/policy.md)
//     campaign.lock   flock(2)ed by the run or restore using the folder (it holds their PID)
//     runs/<run-id>/run.json, runs/<run-id>/raw/...
// Every file is written atomically (temporary file, then rename); journals are appended and fsynced.
#pragma once

#include <filesystem>
#include <memory>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "iommuvm/spec/spec.hpp"


namespace iommuvm::results {

inline constexpr const char* kRunSchema = "iommuvm.run/1";

struct OpenOptions {
  bool fresh = false;  // start a new campaign folder even when one could be resumed
};

// An exclusive flock(2) on DIR/campaign.lock for as long as the object lives. The kernel
// drops it when the process ends however it ends, so a lock left by a dead process is
// simply taken. Held by someone else: Error with ExitCode::busy naming the holder's PID.
class CampaignLock {
 public:
  explicit CampaignLock(const std::filesystem::path& dir, const std::string& what);
  ~CampaignLock();
  CampaignLock(const CampaignLock&) = delete;
  CampaignLock& operator=(const CampaignLock&) = delete;

 private:
  int fd_ = -1;
};

class CampaignStore {
 public:
  // Resume the latest unfinished campaign of SPEC with the same hash, or create a new one.
  // Refuses (InputError) when the latest unfinished campaign has a different spec hash,
  // unless opts.fresh.
  // PLAN: the plan as plan.json holds it (plan::Plan::to_json(); results does not include plan).
  static CampaignStore open(const std::filesystem::path& output_root, const spec::Spec& spec, const nlohmann::json& plan,
                            const OpenOptions& opts);
  // open() locks the folder it returns (CampaignLock) before it changes anything in it.
  // Open an existing campaign folder (for report, restore); LOCK_FOR non-empty ("restore"):
  // lock it too, so that it is not changed under a running campaign.
  static CampaignStore at(const std::filesystem::path& dir, const std::string& lock_for = "");

  const std::filesystem::path& dir() const { return dir_; }
  bool resumed() const { return resumed_; }
  std::string campaign_id() const { return dir_.filename().string(); }
  // What the names of this campaign's private work folders on the machines start with
  // (iommuvm-<work_id>.XXXXXXXX, made by mktemp -d on each machine; campaign.json work_dir):
  // experiment, campaign id and a hash of the folder, so that a campaign's processes can be told apart.
  std::string work_id() const;

  // Runs with a run.json whose status is final (ok, failed, skipped).
  std::set<std::string> finished_runs() const;
  // Both through contained_path: a run id that leaves the campaign folder is refused.
  std::filesystem::path run_dir(const std::string& run_id) const;
  std::filesystem::path raw_dir(const std::string& run_id) const;

  // runs/<id>/run.json, or null when there is none (or it is not valid JSON).
  nlohmann::json read_run(const std::string& run_id) const;
  void write_run(const nlohmann::json& run);  // atomically, to runs/<id>/run.json
  void journal(const nlohmann::json& entry);  // one line in journal.jsonl
  void undo(const nlohmann::json& entry);     // one line in undo.jsonl
  // Canaries (spec canary:): canaries/<id>/raw for their raw output, and one line each in
  // canaries.jsonl ({id, combo, workload, status, throughput_ops, ...}); read back in order,
  // a torn or damaged line skipped with a warning (a canary only flags, it never loses data).
  std::filesystem::path canary_raw_dir(const std::string& canary_id) const;
  void append_canary(const nlohmann::json& entry);
  std::vector<nlohmann::json> canaries() const;
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
  std::shared_ptr<CampaignLock> lock_;
};

// FOLDER / REL when it resolves inside FOLDER (symlinks that exist followed, "." and ".."
// applied); throws Error (exit 2) naming both otherwise, and for an absolute REL. Creates
// nothing: call it before writing, so that no parent folder is made on the way outside.
// The second line of defence behind names::path_name_problem, checked by `validate`.
std::filesystem::path contained_path(const std::filesystem::path& folder, const std::filesystem::path& rel);

// The current UTC time as 2026-11-25T12:00:00.123Z.
std::string now_iso8601();

}  // namespace iommuvm::results
