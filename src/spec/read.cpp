// Type-checking a spec document into spec::Spec, collecting every problem.
#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include <fmt/format.h>

#include "iommuvm/spec/load.hpp"
#include "iommuvm/spec/step_kinds.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/names.hpp"
#include "iommuvm/util/regex.hpp"
#include "iommuvm/util/shell.hpp"
#include "iommuvm/workload/generators.hpp"
#include "iommuvm/workload/servers.hpp"

namespace iommuvm::spec {

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    std::size_t d = distance(word, c);
    if (d < best_d) best = c, best_d = d;
  }
  return best;
}

namespace {

struct Ctx {
  std::string file;
  Diagnostics& diag;
  bool collect_axes;
  std::vector<Axis> axes;
};

std::string join_path(const std::string& base, const std::string& key) {
  return base.empty() ? key : base + "." + key;
}

// Reads one mapping. Every key it is asked for is known; whatever is left at the end is
// reported as unknown, with the nearest known key suggested.
class Obj {
 public:
  Obj(Ctx& ctx, const Node* node, std::string path, const Mark& fallback)
      : ctx_(ctx), node_(node), path_(std::move(path)), mark_(node ? node->mark : fallback) {
    if (node_ && node_->kind == Node::Kind::null) node_ = nullptr;
    if (node_ && !node_->is_map()) {
      err(*node_, fmt::format("expected a mapping for '{}', got {}", display_path(), node_->kind_name()));
      node_ = nullptr;
    }
  }
  Obj(const Obj&) = delete;
  ~Obj() { finish(); }

  bool present() const { return node_ != nullptr; }
  const Mark& mark() const { return mark_; }
  const std::string& path() const { return path_; }
  Ctx& ctx() { return ctx_; }

  const Node* child(const std::string& key) {
    known_.push_back(key);
    return node_ ? node_->find(key) : nullptr;
  }

  void err(const Node& n, const std::string& msg) { ctx_.diag.error(n.mark, msg); }
  void err_here(const std::string& msg) { ctx_.diag.error(mark_, msg); }

  void require(const std::string& key) {
    known_.push_back(key);
    if (!node_ || !node_->find(key))
      ctx_.diag.error(mark_, fmt::format("missing required field '{}'", join_path(path_, key)));
  }

  void str(const std::string& key, std::string& out, bool required = false) {
    scalar(key, out, required, "a string", [](const Node& n, std::string& o) -> std::string {
      o = n.value;
      return "";
    });
  }

  void choice(const std::string& key, std::string& out, const std::vector<std::string>& allowed,
              bool required = false) {
    scalar(key, out, required, "a string", [&](const Node& n, std::string& o) -> std::string {
      if (std::find(allowed.begin(), allowed.end(), n.value) == allowed.end()) {
        std::string hint = nearest(n.value, allowed);
        return fmt::format("unknown value '{}' for '{}': expected one of {}{}", n.value,
                           join_path(path_, key), fmt::join(allowed, ", "),
                           hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint));
      }
      o = n.value;
      return "";
    });
  }

  template <class E>
  void enumeration(const std::string& key, E& out, const std::vector<std::pair<std::string, E>>& table,
                   bool required = false) {
    std::vector<std::string> names;
    for (const auto& [n, _] : table) names.push_back(n);
    scalar(key, out, required, "a string", [&](const Node& n, E& o) -> std::string {
      for (const auto& [name, v] : table)
        if (name == n.value) {
          o = v;
          return "";
        }
      std::string hint = nearest(n.value, names);
      return fmt::format("unknown value '{}' for '{}': expected one of {}{}", n.value, join_path(path_, key),
                         fmt::join(names, ", "), hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint));
    });
  }

  void integer(const std::string& key, int& out, long long lo, long long hi, bool required = false) {
    scalar(key, out, required, "an integer", [&](const Node& n, int& o) -> std::string {
      auto j = to_json(n);
      if (!j.is_number_integer())
        return fmt::format("expected an integer for '{}', got '{}'", join_path(path_, key), n.value);
      long long v = j.get<long long>();
      if (v < lo || v > hi)
        return fmt::format("'{}' must be between {} and {}, got {}", join_path(path_, key), lo, hi, v);
      o = static_cast<int>(v);
      return "";
    });
  }

  void opt_integer(const std::string& key, std::optional<int>& out, long long lo, long long hi) {
    const Node* n = node_ ? node_->find(key) : nullptr;
    if (!n || n->kind == Node::Kind::null) {
      known_.push_back(key);
      return;
    }
    int v = 0;
    integer(key, v, lo, hi);
    out = v;
  }

  // Seconds: a number, or a string with a unit (500ms, 30s, 2m, 1h).
  void seconds(const std::string& key, double& out, double lo, double hi, bool required = false) {
    scalar(key, out, required, "a duration", [&](const Node& n, double& o) -> std::string {
      auto v = parse_seconds(n);
      if (!v)
        return fmt::format("expected a duration for '{}' (a number of seconds or e.g. 500ms, 30s, 2m), got '{}'",
                           join_path(path_, key), n.value);
      if (*v < lo || *v > hi)
        return fmt::format("'{}' must be between {}s and {}s, got {}s", join_path(path_, key), lo, hi, *v);
      o = *v;
      return "";
    });
  }

  void number(const std::string& key, double& out, double lo, double hi) {
    scalar(key, out, false, "a number", [&](const Node& n, double& o) -> std::string {
      auto j = to_json(n);
      if (!j.is_number()) return fmt::format("expected a number for '{}', got '{}'", join_path(path_, key), n.value);
      double v = j.get<double>();
      if (!(v >= lo && v <= hi))
        return fmt::format("'{}' must be between {} and {}, got {}", join_path(path_, key), lo, hi, v);
      o = v;
      return "";
    });
  }

  void boolean(const std::string& key, bool& out) {
    scalar(key, out, false, "true or false", [&](const Node& n, bool& o) -> std::string {
      auto v = parse_bool(n);
      if (!v) return fmt::format("expected true or false for '{}', got '{}'", join_path(path_, key), n.value);
      o = *v;
      return "";
    });
  }

  void opt_boolean(const std::string& key, std::optional<bool>& out) {
    const Node* n = node_ ? node_->find(key) : nullptr;
    if (!n || n->kind == Node::Kind::null) {
      known_.push_back(key);
      return;
    }
    bool v = false;
    boolean(key, v);
    out = v;
  }

  // A list of strings; a single string is a one-element list.
  void strings(const std::string& key, std::vector<std::string>& out) {
    const Node* n = child(key);
    if (!n || n->kind == Node::Kind::null) return;
    if (n->is_scalar()) {
      out = {n->value};
      return;
    }
    if (!n->is_seq()) return err(*n, fmt::format("expected a list of strings for '{}'", join_path(path_, key)));
    out.clear();
    for (const auto& i : n->items) {
      if (!i.is_scalar()) {
        err(i, fmt::format("expected a string in '{}', got {}", join_path(path_, key), i.kind_name()));
        continue;
      }
      out.push_back(i.value);
    }
  }

  // A list of integers in [LO, HI]; a single integer is a one-element list.
  void integers(const std::string& key, std::vector<int>& out, long long lo, long long hi) {
    const Node* n = child(key);
    if (!n || n->kind == Node::Kind::null) return;
    std::vector<const Node*> items;
    if (n->is_scalar()) items.push_back(n);
    else if (n->is_seq())
      for (const auto& i : n->items) items.push_back(&i);
    else
      return err(*n, fmt::format("expected a list of integers for '{}'", join_path(path_, key)));
    out.clear();
    for (const Node* i : items) {
      auto j = i->is_scalar() ? to_json(*i) : nlohmann::json();
      if (!j.is_number_integer() || j.get<long long>() < lo || j.get<long long>() > hi) {
        err(*i, fmt::format("expected an integer between {} and {} in '{}', got '{}'", lo, hi, join_path(path_, key),
                            i->is_scalar() ? i->value : i->kind_name()));
        continue;
      }
      out.push_back(static_cast<int>(j.get<long long>()));
    }
  }

  // A command: a list of arguments, or one string split like sh does (no expansions).
  void argv(const std::string& key, std::vector<std::string>& out) {
    const Node* n = child(key);
    if (!n || n->kind == Node::Kind::null) return;
    if (n->is_scalar()) {
      try {
        out = shell::split(n->value);
      } catch (const InputError& e) {
        err(*n, e.what());
      }
      if (out.empty()) err(*n, fmt::format("'{}' is an empty command", join_path(path_, key)));
      return;
    }
    std::vector<std::string> v;
    strings_from(*n, key, v);
    out = v;
  }

  void string_map(const std::string& key, std::map<std::string, std::string>& out) {
    const Node* n = child(key);
    if (!n || n->kind == Node::Kind::null) return;
    if (!n->is_map()) return err(*n, fmt::format("expected a mapping for '{}'", join_path(path_, key)));
    for (const auto& f : n->fields) {
      if (!f.value.is_scalar()) {
        err(f.value, fmt::format("expected a string for '{}'", join_path(path_, key + "." + f.key)));
        continue;
      }
      out[f.key] = f.value.value;
    }
  }

  // Metric name -> regex: each must compile (RE2) and have one capture group.
  void pattern_map(const std::string& key, std::map<std::string, std::string>& out) {
    string_map(key, out);
    const Node* n = node_ ? node_->find(key) : nullptr;
    if (!n || !n->is_map()) return;
    for (const auto& f : n->fields) {
      if (!f.value.is_scalar()) continue;
      std::string error;
      if (!regex::compile_metric_pattern(f.value.value, error))
        err(f.value, fmt::format("'{}': {}", join_path(path_, key + "." + f.key), error));
    }
  }

  void bool_map(const std::string& key, std::map<std::string, bool>& out) {
    const Node* n = child(key);
    if (!n || n->kind == Node::Kind::null) return;
    if (!n->is_map()) return err(*n, fmt::format("expected a mapping for '{}'", join_path(path_, key)));
    for (const auto& f : n->fields) {
      auto v = f.value.is_scalar() ? parse_bool(f.value) : std::nullopt;
      if (!v) {
        err(f.value, fmt::format("expected on/off for '{}'", join_path(path_, key + "." + f.key)));
        continue;
      }
      out[f.key] = *v;
    }
  }

  static std::optional<bool> parse_bool(const Node& n) {
    if (n.quoted) return std::nullopt;
    static const std::set<std::string> yes = {"true", "True", "TRUE", "yes", "Yes", "on", "On", "ON"};
    static const std::set<std::string> no = {"false", "False", "FALSE", "no", "No", "off", "Off", "OFF"};
    if (yes.count(n.value)) return true;
    if (no.count(n.value)) return false;
    return std::nullopt;
  }

  static std::optional<double> parse_seconds(const Node& n) {
    auto j = to_json(n);
    if (j.is_number()) return j.get<double>();
    const std::string& s = n.value;
    std::size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == 0) return std::nullopt;
    double v = 0;
    try {
      v = std::stod(s.substr(0, i));
    } catch (...) {
      return std::nullopt;
    }
    std::string unit = s.substr(i);
    if (unit == "ms") return v / 1000;
    if (unit == "s") return v;
    if (unit == "m" || unit == "min") return v * 60;
    if (unit == "h") return v * 3600;
    return std::nullopt;
  }

  void finish() {
    if (finished_ || !node_) return;
    finished_ = true;
    for (const auto& f : node_->fields) {
      if (std::find(known_.begin(), known_.end(), f.key) != known_.end()) continue;
      std::string hint = nearest(f.key, known_);
      ctx_.diag.error(f.key_mark, fmt::format("unknown key '{}' in {}{}", f.key, display_path(),
                                              hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
    }
  }

 private:
  std::string display_path() const { return path_.empty() ? "the spec" : "'" + path_ + "'"; }

  void strings_from(const Node& n, const std::string& key, std::vector<std::string>& out) {
    if (!n.is_seq()) return err(n, fmt::format("expected a list of strings for '{}'", join_path(path_, key)));
    for (const auto& i : n.items) {
      if (!i.is_scalar()) {
        err(i, fmt::format("expected a string in '{}', got {}", join_path(path_, key), i.kind_name()));
        continue;
      }
      out.push_back(i.value);
    }
  }

  // The one place scalars are read. A list where a scalar is expected is a matrix axis.
  template <class T, class F>
  void scalar(const std::string& key, T& out, bool required, const char* what, F convert) {
    known_.push_back(key);
    const Node* n = node_ ? node_->find(key) : nullptr;
    if (!n || n->kind == Node::Kind::null) {
      if (required)
        ctx_.diag.error(n ? n->mark : mark_, fmt::format("missing required field '{}'", join_path(path_, key)));
      return;
    }
    if (n->is_seq()) {
      if (!ctx_.collect_axes) {
        err(*n, fmt::format("expected {} for '{}', got a list", what, join_path(path_, key)));
        return;
      }
      if (n->items.empty()) {
        err(*n, fmt::format("'{}' is an empty list: a matrix axis needs at least one value", join_path(path_, key)));
        return;
      }
      Axis axis{join_path(path_, key), {}, n->mark};
      bool first = true;
      for (const auto& item : n->items) {
        T tmp = out;
        if (!item.is_scalar()) {
          err(item, fmt::format("expected {} in '{}', got {}", what, join_path(path_, key), item.kind_name()));
          continue;
        }
        std::string problem = convert(item, tmp);
        if (!problem.empty()) {
          err(item, problem);
          continue;
        }
        axis.values.push_back(to_json(item).dump());
        if (first) out = tmp, first = false;
      }
      ctx_.axes.push_back(std::move(axis));
      return;
    }
    if (!n->is_scalar()) {
      err(*n, fmt::format("expected {} for '{}', got {}", what, join_path(path_, key), n->kind_name()));
      return;
    }
    std::string problem = convert(*n, out);
    if (!problem.empty()) err(*n, problem);
  }

  Ctx& ctx_;
  const Node* node_;
  std::string path_;
  Mark mark_;
  std::vector<std::string> known_;
  bool finished_ = false;
};

// A name that becomes part of a path (names::path_name_problem), reported at MARK.
void check_path_name(Ctx& ctx, const Mark& mark, const std::string& what, const std::string& name) {
  std::string why = names::path_name_problem(name);
  if (!why.empty())
    ctx.diag.error(mark, fmt::format("{} '{}' cannot be used: it becomes a file name, and {}", what, name, why));
}

// Iterate a mapping of named entries (machines, guests, workloads, collectors); every
// name is checked by the path-name rule (they name files and folders).
void each_named(Obj& parent, const std::string& key, const std::function<void(const std::string&, const Node&, const Mark&)>& fn) {
  const Node* n = parent.child(key);
  if (!n || n->kind == Node::Kind::null) return;
  if (!n->is_map()) {
    parent.err(*n, fmt::format("expected a mapping of named entries for '{}', got {}", key, n->kind_name()));
    return;
  }
  for (const auto& f : n->fields) {
    check_path_name(parent.ctx(), f.key_mark, fmt::format("the name in '{}'", key), f.key);
    fn(f.key, f.value, f.key_mark);
  }
}

const std::vector<std::pair<std::string, policy::Vendor>> kVendors = {{"intel", policy::Vendor::intel},
                                                                       {"amd", policy::Vendor::amd}};
const std::vector<std::pair<std::string, Role>> kRoles = {{"host", Role::host}, {"guest", Role::guest}, {"client", Role::client}};
const std::vector<std::pair<std::string, ViommuSpec::Model>> kViommu = {{"none", ViommuSpec::Model::none},
                                                                         {"intel", ViommuSpec::Model::intel},
                                                                         {"nested", ViommuSpec::Model::nested},
                                                                         {"virtio", ViommuSpec::Model::virtio}};
// The switching methods by name, from policy's one table.
const std::vector<std::pair<std::string, policy::Method>> kMethods = [] {
  std::vector<std::pair<std::string, policy::Method>> v;
  for (auto m : policy::all_methods()) v.emplace_back(std::string(policy::to_string(m)), m);
  return v;
}();

const std::vector<std::string> kCollectorKinds = [] {
  std::vector<std::string> names;
  for (const auto& k : collector_kinds()) names.emplace_back(k.name);
  return names;
}();
// The server kinds' names, from the registry (workload/servers.hpp).
const std::vector<std::string>& kWorkloadKinds = workload::server_kind_names();
// The load generators' names, from the registry (workload/generators.hpp).
const std::vector<std::string>& tool_names() { return workload::parser_names(); }

void read_ssh(Obj& m, SshSpec& ssh) {
  const Node* n = m.child("ssh");
  if (n && n->is_scalar()) {
    // Shorthand: [user@]host[:port]
    std::string s = n->value;
    auto at = s.find('@');
    if (at != std::string::npos) ssh.user = s.substr(0, at), s = s.substr(at + 1);
    auto colon = s.rfind(':');
    if (colon != std::string::npos && s.find(']') == std::string::npos && s.find(':') == colon) {
      try {
        ssh.port = std::stoi(s.substr(colon + 1));
      } catch (...) {
        m.err(*n, fmt::format("bad port in ssh address '{}'", n->value));
      }
      s = s.substr(0, colon);
    }
    ssh.host = s;
    if (ssh.host.empty()) m.err(*n, "ssh address has no host");
    return;
  }
  Obj o(m.ctx(), n, join_path(m.path(), "ssh"), m.mark());
  o.str("host", ssh.host, o.present());
  o.integer("port", ssh.port, 1, 65535);
  o.str("user", ssh.user);
  o.strings("identity_files", ssh.identity_files);
  std::string key;
  o.str("key", key);
  if (!key.empty()) ssh.identity_files.insert(ssh.identity_files.begin(), key);
  o.boolean("agent", ssh.agent);
  o.str("jump", ssh.jump);
  o.str("known_hosts", ssh.known_hosts);
  o.choice("host_key_check", ssh.host_key_check, {"strict", "accept-new", "off"});
  o.str("config_file", ssh.config_file);
  o.seconds("connect_timeout", ssh.connect_timeout_s, 0.1, 3600);
  o.seconds("keepalive", ssh.keepalive_s, 0, 3600);
}

void read_tuning(Ctx& ctx, const Node* n, const std::string& path, const Mark& mark, TuningSpec& t) {
  Obj o(ctx, n, path, mark);
  o.str("interface", t.interface);
  o.opt_integer("mtu", t.mtu, 68, 65536);
  o.opt_integer("rx_ring", t.rx_ring, 1, 1 << 20);
  o.opt_integer("tx_ring", t.tx_ring, 1, 1 << 20);
  o.bool_map("offloads", t.offloads);
  o.str("irq_affinity", t.irq_affinity);
  o.choice("governor", t.governor, {"", "performance", "powersave", "schedutil", "ondemand", "conservative", "userspace"});
  o.opt_boolean("smt", t.smt);
  o.strings("commands", t.commands);
  o.choice("profile", t.profile, {"", "quiet"});
  o.opt_boolean("turbo", t.turbo);
  o.opt_boolean("cstates", t.cstates);
  o.opt_boolean("numa_balancing", t.numa_balancing);
  o.opt_boolean("irqbalance", t.irqbalance);
  o.opt_boolean("pause_frames", t.pause_frames);
  o.string_map("coalesce", t.coalesce);
  for (const auto& [k, v] : t.coalesce) {
    bool word = !k.empty() && std::all_of(k.begin(), k.end(), [](char c) { return std::islower(static_cast<unsigned char>(c)) || c == '-'; });
    bool value = v == "on" || v == "off" || (!v.empty() && v.size() < 10 && std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }));
    if (!word || !value)
      o.err_here(fmt::format("'{}.coalesce.{}': expected an ethtool -C setting (adaptive-rx, rx-usecs, ...) with on, off or a number", path, k));
  }
  if ((t.pause_frames || !t.coalesce.empty()) && t.interface.empty())
    o.err_here(fmt::format("'{}': pause_frames and coalesce need 'interface'", path));
}

Machine read_machine(Ctx& ctx, const std::string& name, const Node& n, const Mark& key_mark) {
  Machine m;
  m.name = name;
  m.mark = key_mark;
  Obj o(ctx, &n, "machines." + name, key_mark);
  if (name == "guest" || name.rfind("guest", 0) == 0) m.role = Role::guest;
  else if (name == "client" || name.rfind("client", 0) == 0) m.role = Role::client;
  o.enumeration("role", m.role, kRoles);
  o.boolean("local", m.local);
  m.controller = m.local;
  o.boolean("controller", m.controller);
  const Node* ssh = n.is_map() ? n.find("ssh") : nullptr;
  read_ssh(o, m.ssh);
  if (!m.local && !ssh && o.present())
    o.err_here(fmt::format("machine '{}' needs either 'local: true' or an 'ssh' address", name));
  if (m.local && ssh) o.err(*ssh, fmt::format("machine '{}' is local: it takes no 'ssh' section", name));
  o.boolean("sudo", m.sudo);
  o.str("root", m.root);
  if (!m.root.empty() && m.root[0] != '/') o.err_here(fmt::format("'machines.{}.root' must be an absolute path", name));
  o.enumeration("vendor", m.vendor, kVendors);
  o.str("grub_file", m.grub_file);
  o.argv("grub_update", m.grub_update);
  {
    Obj r(ctx, o.child("reboot"), "machines." + name + ".reboot", key_mark);
    r.argv("command", m.reboot.command);
    r.seconds("timeout", m.reboot.timeout_s, 1, 24 * 3600);
    r.seconds("expected", m.reboot.expected_s, 0, 24 * 3600);
    r.strings("before", m.reboot.before);
    r.strings("after", m.reboot.after);
  }
  {
    Obj k(ctx, o.child("kexec"), "machines." + name + ".kexec", key_mark);
    k.argv("command", m.kexec.command);
    k.argv("exec", m.kexec.exec);
  }
  read_tuning(ctx, o.child("tuning"), "machines." + name + ".tuning", key_mark, m.tuning);
  return m;
}

GuestSpec read_guest(Ctx& ctx, const std::string& name, const Node& n, const Mark& key_mark) {
  GuestSpec g;
  g.name = name;
  g.mark = key_mark;
  std::string path = "guests." + name;
  Obj o(ctx, &n, path, key_mark);
  o.str("domain", g.domain);
  if (g.domain.empty()) g.domain = name;
  o.str("machine", g.machine);
  o.str("template", g.template_path, true);
  o.integer("vcpus", g.vcpus, 1, 1024);
  o.integer("memory_mib", g.memory_mib, 64, 16 << 20);
  o.str("kernel", g.kernel);
  o.str("initrd", g.initrd);
  o.str("cmdline", g.cmdline);
  o.str("emulator", g.emulator);
  o.choice("domain_type", g.domain_type, {"kvm", "qemu"});
  {
    const Node* v = o.child("viommu");
    if (v && (v->is_scalar() || v->is_seq())) {
      // Shorthand: viommu: intel   or   viommu: [none, intel]
      Node tmp;
      tmp.kind = Node::Kind::map;
      tmp.mark = v->mark;
      tmp.fields.push_back({"model", v->mark, *v});
      std::size_t before = ctx.axes.size();
      Obj vo(ctx, &tmp, path + ".viommu", v->mark);
      vo.enumeration("model", g.viommu.model, kViommu);
      for (std::size_t i = before; i < ctx.axes.size(); ++i) ctx.axes[i].path = path + ".viommu";
    } else {
      Obj vo(ctx, v, path + ".viommu", key_mark);
      vo.enumeration("model", g.viommu.model, kViommu);
      vo.boolean("caching_mode", g.viommu.caching_mode);
      vo.boolean("intremap", g.viommu.intremap);
      vo.boolean("iotlb", g.viommu.iotlb);
      vo.integer("aw_bits", g.viommu.aw_bits, 39, 64);
      if (g.viommu.aw_bits != 39 && g.viommu.aw_bits != 48 && g.viommu.aw_bits != 52 && g.viommu.aw_bits != 64)
        vo.err_here(fmt::format("'{}.viommu.aw_bits' must be 39 or 48 (QEMU's intel-iommu), got {}", path, g.viommu.aw_bits));
    }
  }
  o.str("data_ip", g.data_ip);
  o.choice("net_method", g.net_method, {"ip", "netplan"});
  o.opt_integer("vf", g.vf, 0, 255);
  o.str("mac", g.mac);
  o.seconds("boot_timeout", g.boot_timeout_s, 1, 24 * 3600);
  o.seconds("expected_boot", g.expected_boot_s, 0, 24 * 3600);
  return g;
}

void read_policy_layer(Obj& parent, const std::string& key, LayerPolicy& layer) {
  const Node* n = parent.child(key);
  std::string path = join_path(parent.path(), key);
  auto read_value = [&](Obj& o, const std::string& k) {
    std::string v;
    o.choice(k, v, {"strict", "lazy", "passthrough", "off", "as-is"});
    if (!v.empty()) layer.policy = v == "as-is" ? std::nullopt : policy::parse_policy(v);
  };
  if (n && (n->is_scalar() || n->is_seq())) {
    // Shorthand: host: strict   or   host: [strict, lazy]
    Node tmp;
    tmp.kind = Node::Kind::map;
    tmp.mark = n->mark;
    tmp.fields.push_back({"policy", n->mark, *n});
    Obj o(parent.ctx(), &tmp, path, n->mark);
    // Axes found here are named after the layer, not layer.policy: same path the user wrote.
    std::size_t before = parent.ctx().axes.size();
    read_value(o, "policy");
    for (std::size_t i = before; i < parent.ctx().axes.size(); ++i) parent.ctx().axes[i].path = path;
    return;
  }
  Obj o(parent.ctx(), n, path, parent.mark());
  read_value(o, "policy");
  o.enumeration("method", layer.method, kMethods);
}

void read_server(Ctx& ctx, const Node* n, const std::string& path, const Mark& mark, ServerSpec& s) {
  Obj o(ctx, n, path, mark);
  o.str("machine", s.machine);
  o.str("bind", s.bind);
  o.integer("port", s.port, 1, 65535);
  o.integer("threads", s.threads, 1, 4096);
  o.integer("instances", s.instances, 1, 1024);
  o.integers("cpus", s.cpus, 0, 65535);
  o.integer("memory_mib", s.memory_mib, 1, 1 << 24);
  o.integer("max_connections", s.max_connections, 1, 1 << 24);
  o.str("file_size", s.file_size);
  o.boolean("sendfile", s.sendfile);
  o.boolean("keepalive", s.keepalive);
  o.argv("command", s.command);
  o.str("ready", s.ready);  // tcp (default), none, or a command that exits 0 when the server is ready
  o.seconds("ready_timeout", s.ready_timeout_s, 0.1, 3600);
}

void read_client(Ctx& ctx, const Node* n, const std::string& path, const Mark& mark, ClientSpec& c) {
  Obj o(ctx, n, path, mark);
  o.str("machine", c.machine);
  o.strings("machines", c.machines);
  o.integer("processes", c.processes, 1, 1024);
  o.choice("tool", c.tool, tool_names());
  o.str("target", c.target);
  o.integer("threads", c.threads, 1, 4096);
  o.integer("connections", c.connections, 1, 1 << 20);
  o.integer("pipeline", c.pipeline, 1, 1 << 16);
  o.integer("requests", c.requests, 1, 2'000'000'000);
  o.integer("data_size", c.data_size, 1, 1 << 30);
  o.integer("key_space", c.key_space, 1, 2'000'000'000);
  o.str("ratio", c.ratio);
  o.strings("tests", c.tests);
  o.str("primary", c.primary);
  o.seconds("duration", c.duration_s, 0.1, 7 * 24 * 3600);
  o.seconds("warmup", c.warmup_s, 0, 24 * 3600);
  o.integer("rate", c.rate, 1, 2'000'000'000);
  o.integer("streams", c.streams, 1, 128);
  o.str("congestion", c.congestion);
  o.str("bitrate", c.bitrate);
  o.str("path", c.path);
  o.argv("command", c.command);
  o.pattern_map("metrics", c.metrics);
  o.number("max_error_ratio", c.max_error_ratio, 0, 1);
}

Workload read_workload(Ctx& ctx, const std::string& name, const Node& n, const Mark& key_mark) {
  Workload w;
  w.name = name;
  w.mark = key_mark;
  std::string path = "workloads." + name;
  Obj o(ctx, &n, path, key_mark);
  if (std::find(kWorkloadKinds.begin(), kWorkloadKinds.end(), name) != kWorkloadKinds.end()) w.kind = name;
  o.choice("kind", w.kind, kWorkloadKinds, w.kind.empty());
  read_server(ctx, o.child("server"), path + ".server", key_mark, w.server);
  read_client(ctx, o.child("client"), path + ".client", key_mark, w.client);
  // Defaults that depend on the kind.
  auto& c = w.client;
  if (c.tool.empty()) c.tool = workload::default_tool(w.kind);
  return w;
}

// `matrix.axes.collectors`: on and/or off (true/false are taken too), stored as "on"/"off".
void read_collectors_axis(Obj& o, const Node& value, Axis& a) {
  std::vector<const Node*> items;
  if (value.is_seq())
    for (const auto& i : value.items) items.push_back(&i);
  else if (value.is_scalar())
    items.push_back(&value);
  else
    return o.err(value, fmt::format("expected a list of on/off for matrix axis '{}'", kCollectorsAxis));
  if (items.empty()) o.err(value, fmt::format("matrix axis '{}' has no values", kCollectorsAxis));
  for (const Node* i : items) {
    // Quoted too: a JSON spec writes "on".
    std::optional<bool> v;
    if (i->is_scalar() && (i->value == "on" || i->value == "true" || i->value == "On" || i->value == "True")) v = true;
    if (i->is_scalar() && (i->value == "off" || i->value == "false" || i->value == "Off" || i->value == "False")) v = false;
    if (!v) {
      o.err(*i, fmt::format("values of matrix axis '{}' are on or off (with or without the spec's collectors), got '{}'",
                            kCollectorsAxis, i->is_scalar() ? i->value : i->kind_name()));
      continue;
    }
    std::string text = nlohmann::json(*v ? "on" : "off").dump();
    if (std::find(a.values.begin(), a.values.end(), text) != a.values.end())
      o.err(*i, fmt::format("matrix axis '{}' names '{}' twice", kCollectorsAxis, *v ? "on" : "off"));
    else
      a.values.push_back(text);
  }
}

void read_matrix(Ctx& ctx, Obj& top, MatrixSpec& m) {
  Obj o(ctx, top.child("matrix"), "matrix", top.mark());
  o.integer("repetitions", m.repetitions, 1, 10000);
  o.integer("max_repetitions", m.max_repetitions, 1, 10000);
  o.number("max_cv", m.max_cv, 0, 10);
  o.boolean("collector_overhead", m.collector_overhead);
  std::string order = "grouped";
  o.choice("order", order, {"grouped", "interleaved"});
  m.order = order == "interleaved" ? Order::interleaved : Order::grouped;
  o.seconds("cooldown", m.cooldown_s, 0, 24 * 3600);
  if (const Node* axes = o.child("axes"); axes && axes->kind != Node::Kind::null) {
    if (!axes->is_map()) {
      o.err(*axes, "expected a mapping of axis paths to lists of values for 'matrix.axes'");
    } else {
      for (const auto& f : axes->fields) {
        Axis a{f.key, {}, f.key_mark};
        if (f.key == kCollectorsAxis) {
          read_collectors_axis(o, f.value, a);
          ctx.axes.push_back(std::move(a));
          continue;
        }
        if (f.value.is_seq()) {
          if (f.value.items.empty()) o.err(f.value, fmt::format("matrix axis '{}' has no values", f.key));
          for (const auto& item : f.value.items) {
            if (!item.is_scalar()) {
              o.err(item, fmt::format("values of matrix axis '{}' must be scalars, got {}", f.key, item.kind_name()));
              continue;
            }
            a.values.push_back(to_json(item).dump());
          }
        } else if (f.value.is_scalar()) {
          a.values.push_back(to_json(f.value).dump());
        } else {
          o.err(f.value, fmt::format("expected a list of values for matrix axis '{}'", f.key));
          continue;
        }
        ctx.axes.push_back(std::move(a));
      }
    }
  }
  if (const Node* zip = o.child("zip"); zip && zip->kind != Node::Kind::null) {
    if (!zip->is_seq()) {
      o.err(*zip, "expected a list of lists of axis paths for 'matrix.zip'");
    } else {
      for (const auto& group : zip->items) {
        std::vector<std::string> g;
        if (!group.is_seq()) {
          o.err(group, "each 'matrix.zip' entry must be a list of axis paths");
          continue;
        }
        for (const auto& p : group.items)
          if (p.is_scalar()) g.push_back(p.value);
          else o.err(p, "axis paths in 'matrix.zip' must be strings");
        m.zip.push_back(g);
      }
    }
  }
  if (const Node* ex = o.child("exclude"); ex && ex->kind != Node::Kind::null) {
    if (!ex->is_seq()) {
      o.err(*ex, "expected a list of mappings for 'matrix.exclude'");
    } else {
      for (const auto& e : ex->items) {
        if (!e.is_map()) {
          o.err(e, "each 'matrix.exclude' entry must map axis paths to values");
          continue;
        }
        std::map<std::string, std::string> rule;
        for (const auto& f : e.fields) {
          if (!f.value.is_scalar()) {
            o.err(f.value, fmt::format("the value of '{}' in 'matrix.exclude' must be a scalar", f.key));
            continue;
          }
          rule[f.key] = to_json(f.value).dump();
        }
        m.exclude.push_back(rule);
      }
    }
  }
}


// The axes a figure names must be the matrix's (or the policies, the workload, the collectors
// axis); its workload one of the spec's. Names of files come from `name`: unique.
void check_figures(const Spec& s, Diagnostics& diag) {
  std::vector<std::string> known = {"policy", "policy.host", "policy.guest", "workload", kCollectorsAxis};
  for (const auto& a : s.matrix.axes) known.push_back(a.path);
  auto is_known = [&](const std::string& p) {
    return std::any_of(known.begin(), known.end(), [&](const std::string& k) { return k == p || k == p + ".policy"; });
  };
  std::set<std::string> names;
  for (std::size_t i = 0; i < s.figures.size(); ++i) {
    const auto& f = s.figures[i];
    auto at = [&](const char* field) {
      auto it = f.marks.find(field);
      return it == f.marks.end() ? f.mark : it->second;
    };
    if (!f.name.empty() && !names.insert(f.name).second)
      diag.error(at("name"), fmt::format("figures[{}].name: '{}' is the name of an earlier figure", i, f.name));
    auto check = [&](const char* field, const std::string& path) {
      if (path.empty() || is_known(path)) return;
      std::string hint = nearest(path, known);
      diag.error(at(field), fmt::format("figures[{}].{}: '{}' is not a matrix axis, a policy or 'workload'{}", i, field,
                                        path, hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
    };
    check("x", f.x);
    check("series", f.series);
    for (const auto& g : f.groups) check("groups", g);
    for (const auto& p : f.panels) check("panels", p);
    if (!f.workload.empty() && std::none_of(s.workloads.begin(), s.workloads.end(),
                                            [&](const Workload& w) { return w.name == f.workload; }))
      diag.error(at("workload"), fmt::format("figures[{}].workload: no workload named '{}'", i, f.workload));
    std::vector<std::string> used;
    for (const auto* p : {&f.x, &f.series}) if (!p->empty()) used.push_back(*p);
    used.insert(used.end(), f.groups.begin(), f.groups.end());
    used.insert(used.end(), f.panels.begin(), f.panels.end());
    std::set<std::string> seen;
    for (const auto& u : used)
      if (!seen.insert(u).second)
        diag.error(f.mark, fmt::format("figures[{}]: '{}' is given two roles (x, series, groups, panels)", i, u));
  }
}

}  // namespace

Spec read_spec(const Node& tree, const std::string& file, Diagnostics& diag, bool collect_axes) {
  Spec s;
  Ctx ctx{file, diag, collect_axes, {}};
  if (tree.kind == Node::Kind::null) {
    diag.error({file, 1, 1}, "the spec is empty: expected a mapping with at least 'name', 'machines' and 'workloads'");
    return s;
  }
  if (!tree.is_map()) {
    diag.error(tree.mark, fmt::format("expected a mapping at the top of the spec, got {}", tree.kind_name()));
    return s;
  }
  Obj top(ctx, &tree, "", tree.mark);
  top.str("name", s.name, true);
  if (const Node* n = tree.find("name"); n && n->is_scalar()) check_path_name(ctx, n->mark, "'name'", s.name);
  top.str("description", s.description);
  top.str("output", s.output);

  top.require("machines");
  each_named(top, "machines", [&](const std::string& n, const Node& v, const Mark& m) {
    s.machines.push_back(read_machine(ctx, n, v, m));
  });
  {
    Obj h(ctx, top.child("hypervisor"), "hypervisor", tree.mark);
    h.str("uri", s.hypervisor.uri, h.present());
    h.str("machine", s.hypervisor.machine);
  }
  each_named(top, "guests", [&](const std::string& n, const Node& v, const Mark& m) {
    s.guests.push_back(read_guest(ctx, n, v, m));
  });
  {
    Obj nic(ctx, top.child("nic"), "nic", tree.mark);
    s.nic.mark = nic.mark();
    nic.str("machine", s.nic.machine);
    nic.str("pf", s.nic.pf);
    nic.str("pci", s.nic.pci);
    nic.integer("num_vfs", s.nic.num_vfs, 0, 4096);
    nic.strings("vf_macs", s.nic.vf_macs);
    nic.str("host_ip", s.nic.host_ip);
    nic.boolean("restore", s.nic.restore);
  }
  {
    Obj p(ctx, top.child("policy"), "policy", tree.mark);
    read_policy_layer(p, "host", s.policy.host);
    read_policy_layer(p, "guest", s.policy.guest);
    p.boolean("accept_effective", s.policy.accept_effective);
  }
  {
    Obj sw(ctx, top.child("software"), "software", tree.mark);
    sw.str("host_kernel", s.software.host_kernel);
    sw.str("host_kexec_kernel", s.software.host_kexec_kernel);
    sw.str("host_kexec_initrd", s.software.host_kexec_initrd);
    sw.str("guest_kernel", s.software.guest_kernel);
    sw.str("guest_initrd", s.software.guest_initrd);
    sw.str("qemu", s.software.qemu);
  }
  top.require("workloads");
  each_named(top, "workloads", [&](const std::string& n, const Node& v, const Mark& m) {
    s.workloads.push_back(read_workload(ctx, n, v, m));
  });
  read_matrix(ctx, top, s.matrix);
  std::string cleanup = "restore";
  top.choice("cleanup", cleanup, {"keep", "shutdown", "restore"});
  s.cleanup = cleanup == "keep" ? Cleanup::keep : cleanup == "shutdown" ? Cleanup::shutdown : Cleanup::restore;
  top.choice("baseline", s.baseline, {"strict", "lazy", "passthrough", "off"});
  if (const Node* figs = top.child("figures"); figs && figs->kind != Node::Kind::null) {
    if (!figs->is_seq()) {
      top.err(*figs, "expected a list of figures for 'figures'");
    } else {
      for (std::size_t i = 0; i < figs->items.size(); ++i) {
        FigureSpec f;
        const Node& item = figs->items[i];
        f.mark = item.mark;
        Obj fo(ctx, &item, fmt::format("figures[{}]", i), item.mark);
        fo.str("name", f.name, true);
        if (const Node* n = item.is_map() ? item.find("name") : nullptr; n && n->is_scalar())
          check_path_name(ctx, n->mark, fmt::format("'figures[{}].name'", i), f.name);
        fo.choice("kind", f.kind, {"bars", "lines", "degradation", "breakdown"});
        fo.str("x", f.x);
        fo.str("series", f.series);
        fo.strings("groups", f.groups);
        fo.strings("panels", f.panels);
        fo.str("metric", f.metric);
        fo.str("workload", f.workload);
        fo.choice("baseline", f.baseline, {"strict", "lazy", "passthrough", "off"});
        fo.choice("width", f.width, {"single", "double"});
        if (item.is_map())
          for (const char* k : {"x", "series", "groups", "panels", "workload", "name"})
            if (const Node* n = item.find(k)) f.marks[k] = n->mark;
        s.figures.push_back(f);
      }
    }
  }
  {
    // Per step kind; unknown kinds are refused by finish() with the nearest one suggested.
    Obj t(ctx, top.child("timeouts"), "timeouts", tree.mark);
    // The step kinds a timeout can be given for (docs/plan.md names them).
    for (const auto& [k, limited] : step_kind::all) {
      if (!limited) continue;
      double v = -1;
      t.seconds(k, v, 0.1, 7 * 24 * 3600);
      if (v > 0) s.timeouts[k] = v;
    }
    Obj r(ctx, top.child("retries"), "retries", tree.mark);
    r.integer("switch", s.switch_retries, 0, 100);
  }
  {
    // audit: enabled, and per class of kernel message (audit::classes()) fail | flag | ignore.
    Obj a(ctx, top.child("audit"), "audit", tree.mark);
    a.boolean("enabled", s.audit.enabled);
    for (const auto& c : audit::classes()) {
      std::string v;
      a.choice(c.name, v, {"fail", "flag", "ignore"});
      if (auto act = audit::parse_action(v)) s.audit.actions[c.name] = *act;
    }
  }
  {
    // canary: present (a mapping, even empty) = on, unless enabled: false.
    Obj c(ctx, top.child("canary"), "canary", tree.mark);
    s.canary.enabled = c.present();
    c.boolean("enabled", s.canary.enabled);
    c.seconds("seconds", s.canary.seconds, 0.5, 3600);
    c.integer("requests", s.canary.requests, 1, 100000000);
    c.number("max_drop", s.canary.max_drop, 0.001, 99.9);
  }
  each_named(top, "collectors", [&](const std::string& n, const Node& v, const Mark& m) {
    CollectorSpec c;
    c.name = n;
    c.mark = m;
    Obj co(ctx, &v, "collectors." + n, m);
    co.choice("kind", c.kind, kCollectorKinds, true);
    co.str("machine", c.machine);
    co.argv("command", c.command);
    co.pattern_map("metrics", c.metrics);
    co.strings("events", c.events);
    co.strings("functions", c.functions);
    co.str("process", c.process);
    co.str("trace_file", c.trace_file);
    co.seconds("interval", c.interval_s, 0.01, 3600);
    s.collectors.push_back(c);
  });
  top.finish();

  if (collect_axes) {
    // Inline axes first come in document order; explicit matrix.axes after. An axis
    // named twice is an error.
    std::set<std::string> seen;
    for (auto& a : ctx.axes) {
      if (!seen.insert(a.path).second) {
        diag.error(a.mark, fmt::format("'{}' is given as a list in two places: make it one matrix axis", a.path));
        continue;
      }
      s.matrix.axes.push_back(a);
    }
    check_figures(s, diag);
    // `collector_overhead: true` is the axis `collectors: [on, off]`, last, so that the two
    // variants of a combination run one after the other.
    if (s.matrix.collector_overhead && !seen.count(kCollectorsAxis))
      s.matrix.axes.push_back({kCollectorsAxis, {"\"on\"", "\"off\""}, top.mark()});
  }
  return s;
}

}  // namespace iommuvm::spec
