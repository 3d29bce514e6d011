// Parsers and generators behind the collectors: pure functions over the text the
// tools print (captured samples in tests/data/collect/, formats in docs/collectors.md).
// Unparsable text throws ParseError (an InputError) naming the tool; the collectors
// turn that into an "error" entry of their metrics, never into zeros.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "iommuvm/util/error.hpp"

namespace iommuvm::collect {

class ParseError : public InputError {
 public:
  // "TOOL output: MESSAGE"
  ParseError(std::string_view tool, std::string_view message);
};

// ---------------------------------------------------------------- mpstat
// `LC_ALL=C mpstat -P ALL N` stopped with SIGINT: the "Average:" block becomes
// {"cpu_total": {"usr": %, "nice", "sys", "iowait", "irq", "soft", "steal", "guest",
// "gnice", "idle", "busy"}, "cpu": {"0": {...}, ...}, "cpus": N}. Columns are taken
// from the Average header, so older/newer sysstat column sets work. Throws when there
// is no Average block (mpstat killed before it printed one).
nlohmann::json parse_mpstat(std::string_view text);

// ---------------------------------------------------------------- /proc/interrupts
struct InterruptLine {
  std::string irq;                   // "36", "LOC", "ERR"
  std::map<int, std::uint64_t> cpu;  // CPU number -> count (only online CPUs have columns)
  std::uint64_t total = 0;           // sum over CPUs (or the single count of ERR:/MIS:)
  std::string chip;                  // "PCI-MSIX-0000:00:02.0", "IO-APIC" ("" for named lines)
  std::string device;                // "virtio1-req.0"; named lines: their description
};
struct InterruptTable {
  std::vector<int> cpus;  // CPU numbers of the columns, from the header (hotplug leaves gaps)
  std::vector<InterruptLine> lines;
};
InterruptTable parse_interrupts(std::string_view text);
// The IRQs (numbers, in table order) of network interface IFNAME: an action named exactly
// IFNAME, IFNAME-<queue> (eth1-TxRx-0, eth1-rx-1), IFNAME@... or <driver>-IFNAME[-<queue>]
// (i40e-eth1-TxRx-0, iavf-eth1-TxRx-0); and, when PCI (0000:ca:00.0, the interface's
// device) is given, actions ending in @pci:PCI (mlx5_comp0@pci:0000:ca:00.0) and lines
// whose MSI chip names PCI. Never a prefix match: eth1 does not select eth10 or eth11.
std::vector<std::string> interface_irqs(const InterruptTable& table, std::string_view ifname, std::string_view pci);
// Deltas AFTER - BEFORE over WINDOW_S seconds: {"total", "per_s", "window_s",
// "irq": {"36": {"count", "per_s"}}, "device": {"virtio1-req.0": count},
// "pci": {"0000:00:02.0": count}, "cpu": {"0": count}}. Only lines with a non-zero
// delta are listed; a counter that went down (IRQ re-registered) counts from 0.
nlohmann::json interrupt_deltas(const InterruptTable& before, const InterruptTable& after,
                                double window_s);

// ---------------------------------------------------------------- /proc/PID/stat
struct ProcStat {
  long pid = 0;
  std::string comm;
  std::uint64_t utime = 0;      // clock ticks
  std::uint64_t stime = 0;      // clock ticks
  std::uint64_t starttime = 0;  // clock ticks after boot; tells a reused PID apart
};
// One or more concatenated /proc/PID/stat lines (comm may hold spaces and parentheses).
std::vector<ProcStat> parse_proc_stat(std::string_view text);

// ---------------------------------------------------------------- perf stat -x
// perf stat CSV (-x SEP). {"events": {"cycles": n, "task-clock_msec": x}, "not_counted":
// {"cycles": "<not supported>"}, "multiplexed_pct": {"cycles": 50.0}}. "#" comments
// and blank lines are skipped; counted events keep their unit in the name.
nlohmann::json parse_perf_stat(std::string_view text, char sep = ',');

// ---------------------------------------------------------------- key: value counters
// `grep -H . DIR/*` output ("/sys/kernel/debug/kvm/exits:123") -> basename -> value.
// Lines whose value is not an integer are skipped.
std::map<std::string, std::int64_t> parse_counter_files(std::string_view text);
// AFTER - BEFORE for every name in both.
std::map<std::string, std::int64_t> counter_deltas(
    const std::map<std::string, std::int64_t>& before,
    const std::map<std::string, std::int64_t>& after);

// ---------------------------------------------------------------- bpftrace
inline const std::vector<std::string> kDefaultIommuFunctions = {
    "iommu_map",      "__iommu_map",          "iommu_unmap",
    "__iommu_unmap",  "intel_iommu_tlb_sync", "intel_iommu_iotlb_sync_map",
    "qi_submit_sync", "cache_tag_flush_range"};
// QEMU functions (uprobes) are named with a "qemu:" prefix or start with vtd_ / vfio_.
bool is_qemu_function(std::string_view name);
// "qemu:vtd_iommu_translate" -> "vtd_iommu_translate"
std::string qemu_symbol(std::string_view name);
// Throws InputError unless NAME is a plain symbol ([A-Za-z0-9_.], optional "qemu:").
void check_function_name(std::string_view name);

struct BpftraceTargets {
  std::vector<std::string> kernel;  // kprobe + kretprobe each
  std::vector<std::string> qemu;    // uprobe + uretprobe on QEMU_BINARY, filtered on QEMU_PID
  std::string qemu_binary;
  long qemu_pid = 0;
};
// A script that counts calls and sums time per function; at exit (SIGINT) it prints
// "iommuvm-bpftrace-summary" then print(@calls) and print(@ns). Keys: the kernel
// function name, or "qemu:NAME".
std::string bpftrace_script(const BpftraceTargets& targets);
// The summary block of that script's output: {"functions": {NAME: {"calls", "total_ns",
// "avg_ns"}}, "calls_total", "total_ns"}. Throws when the marker is missing.
nlohmann::json parse_bpftrace_summary(std::string_view text);

// ---------------------------------------------------------------- QEMU trace (log backend)
// Shell-style glob: * and ? only.
bool glob_match(std::string_view pattern, std::string_view name);
// Lines "NAME args" or "PID@SEC.USEC:NAME args" (-msg timestamp=on). Counts complete
// lines whose event matches one of PATTERNS (all when empty): {"events": {name: n},
// "total": n, "inv_desc_types": {"iotlb": n}, "other_lines": n}, and "iotlb_invalidations":
// the vtd_inv_desc_iotlb_* lines (one per IOTLB descriptor, by granularity), when PATTERNS
// select those events. A trailing line without
// newline is not counted (QEMU is still writing it).
nlohmann::json count_qemu_trace(std::string_view text, const std::vector<std::string>& patterns);

// ---------------------------------------------------------------- tracefs hist triggers
// A tracepoint "subsystem:event" as tracefs names it (events/SUBSYSTEM/EVENT): letters,
// digits and '_' on both sides. Throws InputError otherwise.
void check_tracepoint_name(std::string_view name);
// The hist trigger the tracepoints collector attaches to EVENT: keyed on the field that
// tells the counts apart (qi_submit: qw0, whose low bits are the descriptor type; map and
// unmap: size, so bytes are known), else on common_pid. "hist:keys=FIELD".
std::string hist_trigger(std::string_view event);
// The tracepoints collector's listing of the trigger files that exist (sh -c SCRIPT sh FILE...):
// it prints each FILE that exists. Shared with the dry run's model of a machine.
inline constexpr const char* kTracefsListScript = "for f; do [ -e \"$f\" ] && echo \"$f\"; done; true";
struct HistTable {
  bool found = false;                 // a table of that trigger was in the text
  std::uint64_t hits = 0;             // "Totals: Hits:"
  std::uint64_t dropped = 0;          // "Dropped:" (table full)
  std::vector<std::pair<std::uint64_t, std::uint64_t>> entries;  // key value, hitcount
};
// The table of TRIGGER ("hist:keys=size") in a tracefs `hist` file (several triggers print
// several tables, each after its "# trigger info: hist:keys=...:..." line). Key values are
// decimal or 0x-hex. Throws ParseError for a malformed entry line.
HistTable parse_hist(std::string_view text, std::string_view trigger);
// The VT-d invalidation descriptor type of a queued-invalidation qw0 (bits 3:0, and 11:9 as
// bits 6:4), by QEMU's names for them (its vtd_inv_desc trace event): "context-cache",
// "iotlb", "device", "iec", "wait", "p-iotlb", "pasid-cache", "device-piotlb", else "type-N".
std::string vtd_desc_type(std::uint64_t qw0);
// The tracepoints collector's metrics from one table per event: {"events": {EVENT: {"count",
// "dropped"?, "bytes" (map/unmap), "by_type" (qi_submit)}}, and the figures the report
// reads: "maps", "unmaps", "map_bytes", "unmap_bytes", "iotlb_invalidations" (iotlb +
// p-iotlb descriptors), "devtlb_invalidations" (device + device-piotlb), "descriptors"
// (every qi_submit), each only when its event was counted.
nlohmann::json tracepoint_counts(const std::map<std::string, HistTable>& tables);

// ---------------------------------------------------------------- custom
// Metric name -> regex with one capture group; the LAST match of each wins.
// {name: number, ..., "missing": [names that never matched]} ("missing" is reserved). Throws
// InputError for a regex that does not compile or has no group.
nlohmann::json parse_custom(std::string_view text,
                            const std::map<std::string, std::string>& metrics);

}  // namespace iommuvm::collect
