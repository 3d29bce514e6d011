// `iommuvm import`: a folder (or list) of raw load-generator logs from users' own scripts
// becomes a results folder that `iommuvm report` reads like a campaign: one ok run per log,
// its parameters from --param options and from the file name (a pattern with {key} fields).
// docs/results.md, "Imported results".
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace iommuvm::results {

// The fields of FILE_NAME by PATTERN: literal text matches itself, {key} matches one or more
// characters (the shortest that lets the rest match), {*} anything (not kept). nullopt when
// FILE_NAME does not match. A malformed pattern ({ without }, {}) is an InputError.
std::optional<std::map<std::string, std::string>> match_file_name(const std::string& pattern,
                                                                  const std::string& file_name);

// A parameter's value from its text: whole or decimal numbers, true/false, else the string.
nlohmann::json param_value(const std::string& text);

struct ImportOptions {
  std::string tool;      // a parser_names() tool
  std::string workload;  // "" = from the tool (the first kind the generator drives: redis-benchmark -> redis, wrk -> nginx)
  std::map<std::string, std::string> params;  // --param k=v, for every log
  std::string pattern;   // "" = no parameters from file names
  std::string primary;   // the operation whose figures are the top-level ones (e.g. get)
  std::uint64_t requests_per_test = 0;  // redis-benchmark -n, which its --csv/-q output omits
  std::string name = "imported";        // the experiment name (folder under the output)
  std::string baseline = "passthrough";
  nlohmann::json figures = nlohmann::json::array();  // the `figures:` of a spec, for the report
};

struct ImportResult {
  std::filesystem::path dir;  // the new campaign folder
  std::size_t runs = 0;
};

// The logs: each FILE, and every regular file directly in each folder, sorted by name.
std::vector<std::filesystem::path> import_inputs(const std::vector<std::filesystem::path>& paths);

// Parse every log (a ParseError names the file: InputError), then write OUTPUT/<name>/<id>/
// with campaign.json, spec.json and runs/<run>/run.json (+ raw/<log>). Runs with equal
// parameters are repetitions, numbered in file-name order unless the pattern has {rep}.
// Nothing is written when a log does not parse or does not match the pattern.
ImportResult import_logs(const std::vector<std::filesystem::path>& files, const std::filesystem::path& output,
                         const ImportOptions& opts);

}  // namespace iommuvm::results
