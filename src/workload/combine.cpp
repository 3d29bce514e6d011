#include "iommuvm/workload/combine.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "iommuvm/util/error.hpp"

namespace iommuvm::workload {

namespace {

bool is_percentile_key(const std::string& k) { return k.size() > 1 && k[0] == 'p'; }

// "p99.9" -> 99.9
double percentile_of(const std::string& key) { return std::stod(key.substr(1)); }

// Extras that add up across clients running at the same time.
bool additive_extra(const std::string& k) {
  static const char* const kAdditive[] = {"bytes_read",   "bytes_received", "bytes_sent",     "retransmits",
                                          "sender_gbps",  "lost_packets",   "packets",        "get_misses",
                                          "written_bytes", "read_bytes",    "object_bytes",   "kbytes_per_s",
                                          "net_rate_mib_per_s", "transfer_bytes_per_s"};
  if (k.rfind("errors_", 0) == 0) return true;
  return std::find(std::begin(kAdditive), std::end(kAdditive), k) != std::end(kAdditive);
}

template <class T, class Get>
std::optional<T> sum_all(const std::vector<Metrics>& parts, Get get) {
  T total{};
  for (const auto& p : parts) {
    auto v = get(p);
    if (!v) return std::nullopt;
    total += *v;
  }
  return total;
}

// Latency without histograms: exact extremes, a request-weighted mean, percentiles as maxima.
void combine_latency(const std::vector<const std::map<std::string, double>*>& lat,
                     const std::vector<std::optional<std::uint64_t>>& requests, std::map<std::string, double>& out,
                     std::map<std::string, double>& max_of_clients) {
  auto all_have = [&](const std::string& k) {
    for (const auto* l : lat)
      if (!l->count(k)) return false;
    return true;
  };
  if (lat.empty()) return;
  for (const auto& [k, v0] : *lat.front()) {
    if (!all_have(k)) continue;
    if (k == "min" || k == "max") {
      double v = v0;
      for (const auto* l : lat) v = k == "min" ? std::min(v, l->at(k)) : std::max(v, l->at(k));
      out[k] = v;
    } else if (k == "avg") {
      double weighted = 0, n = 0;
      bool ok = true;
      for (std::size_t i = 0; i < lat.size(); ++i) {
        if (!requests[i]) ok = false;
        else {
          weighted += lat[i]->at(k) * static_cast<double>(*requests[i]);
          n += static_cast<double>(*requests[i]);
        }
      }
      if (ok && n > 0) out[k] = weighted / n;
    } else if (is_percentile_key(k)) {
      double v = v0;
      for (const auto* l : lat) v = std::max(v, l->at(k));
      max_of_clients[k] = v;
    }
    // stdev: not derivable without the means and counts of every part; absent.
  }
}

}  // namespace

double histogram_percentile(const Histogram& h, double p) {
  if (h.empty()) throw Error("percentile of an empty histogram");
  std::uint64_t n = 0;
  for (const auto& [v, c] : h) n += c;
  const auto rank = static_cast<std::uint64_t>(std::llround(p / 100.0 * static_cast<double>(n) + 0.5));
  std::uint64_t cum = 0;
  for (const auto& [v, c] : h) {
    cum += c;
    if (cum >= rank) return static_cast<double>(v);
  }
  return static_cast<double>(h.back().first);
}

Histogram merge_histograms(const std::vector<const Histogram*>& parts) {
  std::map<std::uint64_t, std::uint64_t> sum;
  for (const auto* h : parts)
    for (const auto& [v, c] : *h) sum[v] += c;
  Histogram out;
  for (const auto& [v, c] : sum)
    if (c > 0) out.emplace_back(v, c);
  return out;
}

std::map<std::string, double> histogram_latency(const Histogram& h, const std::vector<std::string>& keys) {
  std::map<std::string, double> out;
  if (h.empty()) return out;
  long double n = 0, sum = 0;
  for (const auto& [v, c] : h) {
    n += c;
    sum += static_cast<long double>(v) * c;
  }
  const long double mean = sum / n;
  long double sq = 0;
  for (const auto& [v, c] : h) sq += c * (static_cast<long double>(v) - mean) * (static_cast<long double>(v) - mean);
  out["min"] = static_cast<double>(h.front().first);
  out["max"] = static_cast<double>(h.back().first);
  out["avg"] = static_cast<double>(mean);
  if (n > 1) out["stdev"] = static_cast<double>(std::sqrt(sq / (n - 1)));
  for (const auto& k : keys)
    if (is_percentile_key(k)) out[k] = histogram_percentile(h, percentile_of(k));
  return out;
}

Metrics combine(const std::vector<Metrics>& parts) {
  if (parts.empty()) throw Error("nothing to combine");
  if (parts.size() == 1) return parts.front();
  Metrics m;
  m.tool = parts.front().tool;
  m.primary = parts.front().primary;
  m.throughput_ops = sum_all<double>(parts, [](const Metrics& p) { return p.throughput_ops; });
  m.throughput_gbps = sum_all<double>(parts, [](const Metrics& p) { return p.throughput_gbps; });
  m.requests = sum_all<std::uint64_t>(parts, [](const Metrics& p) { return p.requests; });
  m.errors = sum_all<std::uint64_t>(parts, [](const Metrics& p) { return p.errors; });
  for (const auto& p : parts) {
    if (!p.duration_s) {
      m.duration_s.reset();
      break;
    }
    m.duration_s = std::max(m.duration_s.value_or(0), *p.duration_s);
  }

  bool histograms = std::all_of(parts.begin(), parts.end(), [](const Metrics& p) { return !p.latency_histogram_us.empty(); });
  if (histograms) {
    std::vector<const Histogram*> hs;
    std::vector<std::string> keys;
    for (const auto& p : parts) {
      hs.push_back(&p.latency_histogram_us);
      for (const auto& [k, v] : p.latency_us)
        if (is_percentile_key(k) && std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    }
    m.latency_histogram_us = merge_histograms(hs);
    m.latency_us = histogram_latency(m.latency_histogram_us, keys);
  } else {
    std::vector<const std::map<std::string, double>*> lat;
    std::vector<std::optional<std::uint64_t>> req;
    for (const auto& p : parts) {
      lat.push_back(&p.latency_us);
      req.push_back(p.requests);
    }
    combine_latency(lat, req, m.latency_us, m.latency_us_max_of_clients);
  }

  for (const auto& [name, op0] : parts.front().ops) {
    std::vector<const OpMetrics*> ops;
    for (const auto& p : parts)
      if (auto it = p.ops.find(name); it != p.ops.end()) ops.push_back(&it->second);
    if (ops.size() != parts.size()) continue;
    OpMetrics o;
    std::vector<const std::map<std::string, double>*> lat;
    std::vector<std::optional<std::uint64_t>> req;
    bool tp = true, rq = true;
    double tsum = 0;
    std::uint64_t rsum = 0;
    for (const auto* op : ops) {
      if (op->throughput_ops) tsum += *op->throughput_ops;
      else tp = false;
      if (op->requests) rsum += *op->requests;
      else rq = false;
      lat.push_back(&op->latency_us);
      req.push_back(op->requests);
    }
    if (tp) o.throughput_ops = tsum;
    if (rq) o.requests = rsum;
    combine_latency(lat, req, o.latency_us, o.latency_us_max_of_clients);
    m.ops[name] = o;
  }

  for (const auto& [k, v0] : parts.front().extra) {
    if (!additive_extra(k)) continue;
    double total = 0;
    bool all = true;
    for (const auto& p : parts) {
      auto it = p.extra.find(k);
      if (it == p.extra.end()) all = false;
      else total += it->second;
    }
    if (all) m.extra[k] = total;
  }
  return m;
}

}  // namespace iommuvm::workload
