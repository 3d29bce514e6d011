#include "iommuvm/audit/kmsg.hpp"

#include <charconv>

#include <fmt/format.h>

#include "iommuvm/util/shell.hpp"
#include "iommuvm/util/text.hpp"

namespace iommuvm::audit {

const std::vector<Class>& classes() {
  // The needles are the fixed parts of the kernel's own format strings (drivers/iommu/intel/dmar.c,
  // drivers/iommu/amd/iommu.c, kernel/watchdog.c, kernel/hung_task.c, mm/oom_kill.c,
  // arch/x86/mm/fault.c, arch/x86/kernel/cpu/mce, the NIC drivers' link messages).
  static const std::vector<Class> k = {
      {"iommu_fault", "IOMMU fault", Action::fail,
       {"DMAR: [DMA Read", "DMAR: [DMA Write", "DMAR: [INTR-REMAP", "DMAR: DRHD: handling fault", "DMAR: [Page Request",
        "AMD-Vi: Event logged [", "io_page_fault", "Unhandled context fault"}},
      {"iommu_mode", "IOMMU mode change", Action::flag,
       {"IOMMU batching disallowed", "DMAR: Disabling", "iommu: Default domain type", "DMA domain TLB invalidation policy",
        "AMD-Vi: Lazy IO/TLB flushing", "iommu: Failed to", "DMAR: IOMMU disabled"}},
      {"link", "NIC link change", Action::flag,
       {"Link is Down", "Link is Up", "link down", "link up", "NIC Link is", "carrier lost", "Link down", "Link up",
        "link becomes ready", "entered disabled state", "entered forwarding state"}},
      {"lockup", "lockup or hung task", Action::flag,
       {"soft lockup", "hard LOCKUP", "blocked for more than", "rcu_sched self-detected stall", "detected stalls on CPUs",
        "rcu_preempt self-detected stall", "NETDEV WATCHDOG", "Watchdog detected hard LOCKUP"}},
      {"oom", "OOM kill", Action::flag, {"Out of memory: Killed process", "invoked oom-killer", "oom-kill:", "Memory cgroup out of memory"}},
      {"segfault", "segfault or trap", Action::flag, {" segfault at ", "general protection fault", "traps: ", "trap invalid opcode"}},
      {"mce", "machine-check error", Action::flag,
       {"mce: [Hardware Error]", "Machine check events logged", "Machine Check Exception", "EDAC MC", "[Hardware Error]:"}},
  };
  return k;
}

const Class* find_class(std::string_view name) {
  for (const auto& c : classes())
    if (c.name == name) return &c;
  return nullptr;
}

std::string_view to_string(Action a) {
  switch (a) {
    case Action::fail: return "fail";
    case Action::flag: return "flag";
    case Action::ignore: return "ignore";
  }
  return "ignore";
}

std::optional<Action> parse_action(std::string_view s) {
  if (s == "fail") return Action::fail;
  if (s == "flag") return Action::flag;
  if (s == "ignore") return Action::ignore;
  return std::nullopt;
}

Action Settings::action_of(const std::string& cls) const {
  if (auto it = actions.find(cls); it != actions.end()) return it->second;
  if (const auto* c = find_class(cls)) return c->default_action;
  return Action::ignore;
}

namespace {

template <typename T>
bool number(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// "PRI,SEQ,TS,FLAGS[,more];TEXT" -> Record; false for anything else.
bool parse_line(std::string_view line, Record& r) {
  auto semi = line.find(';');
  if (semi == std::string_view::npos) return false;
  std::string_view head = line.substr(0, semi);
  std::string_view f[4];
  for (int i = 0; i < 3; ++i) {
    auto c = head.find(',');
    if (c == std::string_view::npos) return false;
    f[i] = head.substr(0, c);
    head.remove_prefix(c + 1);
  }
  f[3] = head.substr(0, head.find(','));
  unsigned pri = 0;
  if (!number(f[0], pri) || !number(f[1], r.seq) || !number(f[2], r.ts_us)) return false;
  r.priority = static_cast<int>(pri & 7);
  r.facility = static_cast<int>(pri >> 3);
  r.text = std::string(line.substr(semi + 1));
  return true;
}

}  // namespace

std::vector<Record> parse(std::string_view kmsg) {
  std::vector<Record> out;
  while (!kmsg.empty()) {
    auto nl = kmsg.find('\n');
    std::string_view line = kmsg.substr(0, nl);
    kmsg = nl == std::string_view::npos ? std::string_view() : kmsg.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == ' ') continue;  // continuation (dictionary) lines
    Record r;
    if (parse_line(line, r)) out.push_back(std::move(r));
  }
  return out;
}

std::optional<std::string> classify(std::string_view text) {
  for (const auto& c : classes())
    for (const auto& n : c.needles)
      if (text.find(n) != std::string_view::npos) return c.name;
  return std::nullopt;
}

std::string read_command(const std::string& kmsg_path, std::optional<std::uint64_t> after) {
  // dd with iflag=nonblock reads record after record and stops at the end of the buffer
  // (EAGAIN) instead of waiting for new ones, as cat would. Its failure at that point is the
  // normal end; a missing file is told apart by the test -r.
  std::string dd = fmt::format("dd if={} iflag=nonblock bs=65536 2>/dev/null", shell::quote(kmsg_path));
  std::string check = fmt::format(
      "test -r {} || {{ echo {} >&2; exit 3; }}; "
      "dd if=/dev/null of=/dev/null iflag=nonblock count=0 2>/dev/null || "
      "{{ echo 'dd has no iflag=nonblock (GNU coreutils dd needed)' >&2; exit 3; }}; ",
      shell::quote(kmsg_path), shell::quote("cannot read " + kmsg_path));
  if (!after) return check + "{ " + dd + "; true; } | awk -F, '/^[0-9]+,[0-9]+,/ {n=$2} END {print n+0}'";
  return check + fmt::format("{{ {}; true; }} | awk -F, -v s={} '/^[0-9]+,[0-9]+,/ {{ k = ($2 + 0 > s) }} k'", dd, *after);
}

MachineLog since(const std::string& machine, std::uint64_t mark, std::string_view read) {
  MachineLog m;
  m.machine = machine;
  m.mark = mark;
  for (auto& r : parse(read))
    if (r.seq > mark) m.records.push_back(std::move(r));
  if (!m.records.empty() && m.records.front().seq > mark + 1) m.lost = m.records.front().seq - mark - 1;
  return m;
}

std::vector<Finding> findings(const std::vector<MachineLog>& logs, const Settings& settings) {
  std::vector<Finding> out;
  if (!settings.enabled) return out;
  for (const auto& l : logs)
    for (const auto& r : l.records)
      if (auto c = classify(r.text)) out.push_back({l.machine, *c, settings.action_of(*c), r});
  return out;
}

std::string printable(std::string_view t) {
  std::string out;
  out.reserve(t.size());
  for (std::size_t i = 0; i < t.size();) {
    auto c = static_cast<unsigned char>(t[i]);
    std::size_t n = text::utf8_length_at(t, i);
    if (n && (c >= 0x20 || c == '\t')) {
      out.append(t.substr(i, n));
      i += n;
    } else {
      out += fmt::format("\\x{:02x}", c);
      ++i;
    }
  }
  return out;
}

std::string failure_reason(const std::vector<Finding>& f) {
  for (const auto& x : f)
    if (x.action == Action::fail) {
      const auto* c = find_class(x.cls);
      std::string text = printable(x.record.text.size() > 300 ? x.record.text.substr(0, 300) + "..." : x.record.text);
      return fmt::format("kernel-log: {} on {}: {}", c ? c->title : x.cls, x.machine, text);
    }
  return "";
}

}  // namespace iommuvm::audit
