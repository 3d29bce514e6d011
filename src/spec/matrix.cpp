#include "iommuvm/spec/matrix.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "iommuvm/util/hash.hpp"

namespace iommuvm::spec {

std::string combo_hash(const nlohmann::json& params) { return hash::sha256_hex(params.dump()).substr(0, 8); }

std::string run_id(const nlohmann::json& params, int repetition) {
  std::string slug;
  auto add = [&](const nlohmann::json& v) {
    std::string s = v.is_string() ? v.get<std::string>() : v.dump();
    std::string clean;
    for (char c : s) {
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_') clean += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      else if (!clean.empty() && clean.back() != '_') clean += '_';
    }
    if (!clean.empty()) slug += (slug.empty() ? "" : "-") + clean;
  };
  if (params.contains("workload")) add(params["workload"]);
  for (const auto& [k, v] : params.items())
    if (k != "workload") add(v);
  if (slug.size() > 48) slug.resize(48);
  while (!slug.empty() && (slug.back() == '-' || slug.back() == '_')) slug.pop_back();
  return fmt::format("{}-{}-r{}", slug.empty() ? "run" : slug, combo_hash(params), repetition);
}

namespace {

// Set PATH (dotted) in TREE to VALUE, creating mappings on the way.
bool set_path(Node& tree, const std::string& path, const Node& value, std::string& problem) {
  Node* cur = &tree;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = path.find('.', start);
    std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (key.empty()) {
      problem = fmt::format("matrix axis '{}' is not a valid dotted path", path);
      return false;
    }
    if (cur->kind == Node::Kind::null) {
      cur->kind = Node::Kind::map;
      cur->mark = value.mark;
    }
    if (!cur->is_map()) {
      problem = fmt::format("matrix axis '{}' goes through '{}', which is {} rather than a mapping", path,
                            path.substr(0, start ? start - 1 : 0), cur->kind_name());
      return false;
    }
    Node* next = cur->find(key);
    if (!next) {
      cur->fields.push_back({key, value.mark, Node{}});
      next = &cur->fields.back().value;
      next->mark = value.mark;
    }
    if (dot == std::string::npos) {
      *next = value;
      return true;
    }
    cur = next;
    start = dot + 1;
  }
}

struct Dimension {
  std::vector<std::string> paths;                    // one, or a zip group
  std::vector<std::vector<std::string>> tuples;      // per value: one JSON text per path
};

bool applies_to(const std::string& path, const std::string& workload) {
  if (path.rfind("workloads.", 0) != 0) return true;
  return path.rfind("workloads." + workload + ".", 0) == 0;
}

}  // namespace

std::vector<RunPoint> expand(const Loaded& loaded, Diagnostics& diag) {
  const Spec& base = loaded.spec;
  const auto& m = base.matrix;
  std::map<std::string, const Axis*> by_path;
  for (const auto& a : m.axes) by_path[a.path] = &a;
  Mark top{base.source_path, 1, 1};

  // Zip groups.
  std::set<std::string> zipped;
  for (const auto& group : m.zip) {
    std::size_t len = 0;
    for (const auto& p : group) {
      auto it = by_path.find(p);
      if (it == by_path.end()) {
        diag.error(top, fmt::format("'matrix.zip' names '{}', which is not a matrix axis", p));
        return {};
      }
      if (!zipped.insert(p).second) {
        diag.error(it->second->mark, fmt::format("axis '{}' appears in two 'matrix.zip' groups", p));
        return {};
      }
      if (len && it->second->values.size() != len) {
        diag.error(it->second->mark, fmt::format("zipped axes must have the same number of values: '{}' has {}, '{}' has {}",
                                                 p, it->second->values.size(), group.front(), len));
        return {};
      }
      len = it->second->values.size();
    }
  }
  for (const auto& rule : m.exclude)
    for (const auto& [k, v] : rule)
      if (k != "workload" && !by_path.count(k)) {
        diag.error(top, fmt::format("'matrix.exclude' names '{}', which is not a matrix axis", k));
        return {};
      }
  for (const auto& a : m.axes)
    if (a.path.rfind("workloads.", 0) == 0) {
      auto rest = a.path.substr(10);
      auto name = rest.substr(0, rest.find('.'));
      if (!base.workload(name)) {
        diag.error(a.mark, fmt::format("matrix axis '{}' names workload '{}', which is not defined", a.path, name));
        return {};
      }
    }

  // Axes that do not apply to a workload (another workload's parameters) keep their
  // first value, so that every point's document holds single values only.
  Node first_tree = loaded.tree;
  for (const auto& a : m.axes) {
    std::string problem;
    if (a.values.empty() || a.path == kCollectorsAxis) continue;
    if (!set_path(first_tree, a.path, from_json(nlohmann::json::parse(a.values.front()), a.mark), problem)) {
      diag.error(a.mark, problem);
      return {};
    }
  }

  // Each point's document holds only its own workload: a point costs the size of the spec
  // without the other workloads, so expansion is linear in the spec (docs/plan.md), not
  // workloads x spec. The skeleton is the document without any workload.
  Node skeleton = first_tree;
  std::vector<Node::Field> workload_fields;
  if (Node* ws = skeleton.find("workloads"); ws && ws->is_map()) {
    workload_fields = std::move(ws->fields);
    ws->fields.clear();
  }

  std::vector<RunPoint> points;
  for (const auto& w : base.workloads) {
    Node w_tree = skeleton;
    if (Node* ws = w_tree.find("workloads"); ws && ws->is_map())
      for (const auto& f : workload_fields)
        if (f.key == w.name) ws->fields.push_back(f);
    std::vector<Dimension> dims;
    std::set<std::string> done;
    for (const auto& a : m.axes) {
      if (!applies_to(a.path, w.name) || done.count(a.path)) continue;
      Dimension d;
      const std::vector<std::string>* group = nullptr;
      for (const auto& g : m.zip)
        if (std::find(g.begin(), g.end(), a.path) != g.end()) group = &g;
      if (group) {
        for (const auto& p : *group)
          if (applies_to(p, w.name)) d.paths.push_back(p), done.insert(p);
      } else {
        d.paths.push_back(a.path);
        done.insert(a.path);
      }
      std::size_t n = by_path[d.paths.front()]->values.size();
      for (std::size_t i = 0; i < n; ++i) {
        std::vector<std::string> t;
        for (const auto& p : d.paths) t.push_back(by_path[p]->values[i]);
        d.tuples.push_back(t);
      }
      dims.push_back(std::move(d));
    }
    std::size_t total = 1;
    for (const auto& d : dims) {
      total *= std::max<std::size_t>(1, d.tuples.size());
      if (total * static_cast<std::size_t>(std::max(m.repetitions, m.max_repetitions)) * base.workloads.size() > kMaxRuns) {
        diag.error(top, fmt::format("the matrix expands to more than {} runs; split the campaign", kMaxRuns));
        return {};
      }
    }
    std::vector<std::size_t> idx(dims.size(), 0);
    for (std::size_t n = 0; n < total; ++n) {
      // Odometer: the first axis varies slowest.
      std::size_t rem = n;
      for (std::size_t d = dims.size(); d-- > 0;) {
        idx[d] = rem % dims[d].tuples.size();
        rem /= dims[d].tuples.size();
      }
      nlohmann::json params = nlohmann::json::object();
      params["workload"] = w.name;
      Node tree = w_tree;
      bool ok = true;
      for (std::size_t d = 0; d < dims.size(); ++d) {
        for (std::size_t k = 0; k < dims[d].paths.size(); ++k) {
          const auto& path = dims[d].paths[k];
          auto value = nlohmann::json::parse(dims[d].tuples[idx[d]][k]);
          params[path] = value;
          if (path == kCollectorsAxis) continue;  // not a path into the spec: applied below
          std::string problem;
          if (!set_path(tree, path, from_json(value, by_path[path]->mark), problem)) {
            diag.error(by_path[path]->mark, problem);
            ok = false;
          }
        }
      }
      if (!ok) return {};
      bool excluded = false;
      for (const auto& rule : m.exclude) {
        bool all = true;
        for (const auto& [k, v] : rule) all = all && params.contains(k) && params[k] == nlohmann::json::parse(v);
        excluded = excluded || all;
      }
      if (excluded) continue;

      Diagnostics point_diag;
      Spec cfg = read_spec(tree, base.source_path, point_diag, false);
      cfg.source_path = base.source_path;
      cfg.format = base.format;
      cfg.hash = base.hash;
      cfg.matrix = base.matrix;
      check_semantics(cfg, point_diag);
      if (params.contains(kCollectorsAxis) && params[kCollectorsAxis] == "off") cfg.collectors.clear();
      for (const auto& d : point_diag.all()) {
        if (d.severity == Diagnostic::Severity::error) diag.error(d.mark, d.message);
        else diag.warning(d.mark, d.message);
      }
      // Repetitions past `repetitions` (up to `max_repetitions`) are extra: the engine runs
      // them only while the combination's CV is above `max_cv` (docs/spec.md).
      for (int r = 1; r <= std::max(m.repetitions, m.max_repetitions); ++r) {
        RunPoint p;
        p.params = params;
        p.repetition = r;
        p.extra = r > m.repetitions;
        p.workload = w.name;
        p.combo = combo_hash(params);
        p.id = run_id(params, r);
        p.config = cfg;
        points.push_back(std::move(p));
      }
    }
  }
  if (points.empty() && !diag.has_errors())
    diag.error(top, "'matrix.exclude' removes every run: nothing would be measured");
  return points;
}

}  // namespace iommuvm::spec
