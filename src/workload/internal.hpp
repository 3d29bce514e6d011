// Internal to src/workload: the helpers that the output parsers (parsers.cpp) and the
// load generators (generators/*.cpp) share. Not a public header.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "iommuvm/spec/spec.hpp"
#include "iommuvm/util/text.hpp"
#include "iommuvm/workload/metrics.hpp"

namespace iommuvm::workload::detail {

using json = nlohmann::json;
using text::split_lines;
using text::trim;

// ---- text and numbers (parsers.cpp)
bool starts_with(std::string_view s, std::string_view p);
std::vector<std::string_view> split_ws(std::string_view s);
std::string lower(std::string_view s);
std::string upper(std::string_view s);
// The decimal number S times 10^EXP10, correctly rounded; nullopt when S is not a plain decimal.
std::optional<double> scaled(std::string_view s, int exp10);
std::optional<double> number(std::string_view s);
std::optional<std::uint64_t> integer(std::string_view s);
std::optional<double> try_duration_us(std::string_view text);
std::optional<double> try_si_count(std::string_view text);
std::optional<double> try_binary_bytes(std::string_view text);
bool is_latency_key(std::string_view k);
// "50.000" -> "p50", "99.90" -> "p99.9"; empty when not a known percentile.
std::string percentile_key(std::string_view num);
std::string shorten(std::string_view line);

// ---- JSON (parsers.cpp)
std::optional<double> json_scaled(const json& j, int exp10, std::string_view tool, std::string_view what);
std::optional<std::uint64_t> json_count(const json& j, std::string_view tool, std::string_view what);
const json& member(const json& j, const char* key);
// TEXT as JSON, with bare nan/inf words as null; ParseError naming TOOL otherwise.
json parse_json(std::string_view text, std::string_view tool);
// "a","b" with "" escapes; nullopt on an unterminated quote or junk after a field.
std::optional<std::vector<std::string>> parse_csv_row(std::string_view line);
bool same_op(std::string_view name, std::string_view wanted);
std::string op_names(const std::map<std::string, OpMetrics>& ops);

// ---- command lines (commands.cpp)
std::string str(long v);
// Whole seconds for tools that take integers, at least 1.
long whole_seconds(double s);
// An address as the host part of a URL ([v6]).
std::string host_for_url(const std::string& a);
// The URL path of the served file, checked: it becomes a file name under the nginx prefix.
std::string http_path(const spec::Workload& w);
// An empty or wildcard listen address (0.0.0.0, ::).
bool wildcard(const std::string& a);
// The server's port: PORT when given, else server.port, else the kind's default (InputError when none).
int resolve_port(const spec::Workload& w, int port);
// The listen address: ADDRESS when given, else server.bind, else 0.0.0.0.
std::string resolve_address(const spec::Workload& w, const std::string& address);
// A bash -c script that opens a TCP connection to $1:$2 on fd 3, then runs BODY.
std::string bash_tcp_script(const char* body);

}  // namespace iommuvm::workload::detail

namespace iommuvm::workload {
struct ClientArgs;
struct ClientPlan;
}  // namespace iommuvm::workload

namespace iommuvm::workload::detail {
// wrk's and wrk2's shared command (generators/wrk.cpp); WRK2: -R from client.rate, no Lua script.
void build_wrk_like(const ClientArgs& a, ClientPlan& plan, bool wrk2);
}  // namespace iommuvm::workload::detail
