// The experiment spec as typed structs. Loaded from YAML or JSON (same schema,
// documented in docs/spec.md) by spec::load(); a matrix expands one Spec into
// RunPoints, each holding a fully resolved Spec for one run.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "iommuvm/audit/kmsg.hpp"
#include "iommuvm/policy/types.hpp"
#include "iommuvm/util/diagnostic.hpp"

namespace iommuvm::spec {

enum class Role { host, guest, client };

struct SshSpec {
  std::string host;  // address or ~/.ssh/config alias
  int port = 22;
  std::string user;                         // empty: from ssh config or the local user
  std::vector<std::string> identity_files;  // empty: ssh-agent and the default keys
  bool agent = true;
  std::string jump;            // name of another machine to tunnel through
  std::string known_hosts;     // empty: ~/.ssh/known_hosts
  std::string host_key_check = "strict";  // strict | accept-new | off
  std::string config_file;     // empty: ~/.ssh/config
  double connect_timeout_s = 10;
  double keepalive_s = 30;
};

struct RebootSpec {
  std::vector<std::string> command = {"systemctl", "reboot"};  // argv
  double timeout_s = 900;   // how long to wait for the machine to come back
  double expected_s = 240;  // for plan estimates
  std::vector<std::string> before;  // shell command lines run before rebooting
  std::vector<std::string> after;   // ... and after the machine is back
};

// kexec on a machine: the program that loads a kernel (its arguments -l KERNEL --initrd=...
// --command-line=... are appended) and the command that then jumps into it.
struct KexecSpec {
  std::vector<std::string> command = {"kexec"};
  std::vector<std::string> exec = {"systemctl", "kexec"};  // clean shutdown, then the loaded kernel; or: kexec -e
};

struct TuningSpec {
  std::string interface;  // NIC the settings apply to (default: the spec's PF on the host)
  std::optional<int> mtu;
  std::optional<int> rx_ring;
  std::optional<int> tx_ring;
  std::map<std::string, bool> offloads;  // ethtool -K names: tso, gro, lro, ...
  std::string irq_affinity;              // cpu list for the NIC's IRQs, e.g. "0-7"
  std::string governor;                  // cpufreq governor
  std::optional<bool> smt;
  // The quiet-machine settings (docs/spec.md, "Tuning"): `profile: quiet` fills every one the
  // spec does not set (tune::apply_profile); each is undone at the end.
  std::string profile;                   // "" or "quiet"
  std::optional<bool> turbo;             // turbo/boost
  std::optional<bool> cstates;           // deep C-states (state1 and beyond) enabled
  std::optional<bool> numa_balancing;
  std::optional<bool> irqbalance;        // the irqbalance service running
  std::optional<bool> pause_frames;      // ethtool -A IF rx/tx
  std::map<std::string, std::string> coalesce;  // ethtool -C IF KEY VALUE
  std::vector<std::string> commands;  // custom shell command lines, run as root
  bool empty() const;
};

struct Machine {
  std::string name;
  Role role = Role::host;
  bool local = false;  // the controller itself: no SSH
  // iommuvm runs on this machine: rebooting it stops the campaign, which resumes from a
  // one-shot systemd unit after the boot (docs/policy.md). Default: the value of 'local'.
  bool controller = false;
  SshSpec ssh;
  bool sudo = true;        // privileged commands through sudo -n when the user is not root
  std::string root = "/";  // prefix for /proc, /sys, /etc (tests point it at a fake tree)
  policy::Vendor vendor = policy::Vendor::intel;
  std::string grub_file = "/etc/default/grub";
  std::vector<std::string> grub_update = {"update-grub"};
  RebootSpec reboot;
  KexecSpec kexec;
  TuningSpec tuning;
  Mark mark;
};

struct HypervisorSpec {
  std::string uri;      // qemu:///system, qemu+ssh://host/system, test:///path/node.xml
  std::string machine;  // the machine libvirt runs on (the host)
};

struct ViommuSpec {
  enum class Model { none, intel, nested, virtio };
  Model model = Model::none;
  bool caching_mode = true;  // VF passthrough needs it; Linux then refuses lazy
  bool intremap = true;
  bool iotlb = true;
  int aw_bits = 48;
};

struct GuestSpec {
  std::string name;     // key in the spec
  std::string domain;   // libvirt domain name (default: name)
  std::string machine;  // machine entry through which the guest is reached over SSH
  std::string template_path;  // domain XML template, relative to the spec file
  int vcpus = 0;              // 0: keep the template's
  int memory_mib = 0;         // 0: keep the template's
  std::string kernel;         // direct boot (empty: the template's)
  std::string initrd;
  std::string cmdline;  // base direct-boot command line; IOMMU parameters are added per policy
  std::string emulator;
  std::string domain_type;  // kvm | qemu (TCG); empty: the template's
  ViommuSpec viommu;
  std::string data_ip;  // CIDR, e.g. 10.10.1.100/24, given to the VF inside the guest
  std::string net_method = "ip";  // ip | netplan
  std::optional<int> vf;          // VF index passed to this guest (none: no VF)
  std::string mac;                // VF MAC (default: nic.vf_macs[vf] or generated)
  double boot_timeout_s = 300;
  double expected_boot_s = 60;
  Mark mark;
};

struct NicSpec {
  std::string machine;  // where the NIC is (default: the host)
  std::string pf;       // PF net interface, e.g. enp202s0f0np0
  std::string pci;      // PF PCI address, e.g. 0000:ca:00.0
  int num_vfs = 0;
  std::vector<std::string> vf_macs;
  std::string host_ip;  // PF address with prefix, e.g. 10.10.1.1/24 (the data subnet)
  bool restore = true;  // put VF count and MACs back at the end
  Mark mark;
  bool present() const { return !pf.empty() || !pci.empty(); }
};

struct LayerPolicy {
  std::optional<policy::Policy> policy;  // nullopt: as-is (measured and recorded, not switched)
  policy::Method method = policy::Method::automatic;
};

struct PolicySpec {
  LayerPolicy host;
  LayerPolicy guest;
  bool accept_effective = false;  // run anyway when the effective policy differs, recording both
};

struct SoftwareSpec {
  std::string host_kernel;  // GRUB menu entry title / kernel version (empty: as booted)
  std::string host_kexec_kernel;
  std::string host_kexec_initrd;
  std::string guest_kernel;  // overrides guests' kernel (direct boot)
  std::string guest_initrd;
  std::string qemu;  // overrides guests' emulator
};

struct ServerSpec {
  std::string machine;  // where the server runs (default: first guest's machine, else host)
  std::string bind;     // listen address (default 127.0.0.1 for local machines, else 0.0.0.0)
  int port = 0;         // 0: the kind's default port
  int threads = 0;      // redis io-threads / memcached -t / nginx worker_processes
  int instances = 1;    // redis, iperf3: this many servers, on ports port, port+1, ...
  std::vector<int> cpus;  // instance i pinned to cpus[i % size] (taskset -c); empty: not pinned
  int memory_mib = 0;   // memcached -m
  int max_connections = 0;
  std::string file_size;  // nginx: size of the served file, e.g. 4KiB, 1MiB
  bool sendfile = true;
  bool keepalive = true;
  std::vector<std::string> command;  // custom server argv
  std::string ready;                 // custom: readiness check ("tcp" default)
  double ready_timeout_s = 20;
};

struct ClientSpec {
  std::string machine;  // where the load generator runs (default: the client machine, else host)
  std::vector<std::string> machines;  // several client machines, started together (instead of machine)
  int processes = 0;    // generator processes per client machine (0: enough to drive every instance)
  std::string tool;     // a load generator's name (workload/generators.hpp)
  std::string target;   // address the client connects to (default: guest data_ip or server bind)
  int threads = 0;
  int connections = 0;
  int pipeline = 1;
  int requests = 0;
  int data_size = 0;
  int key_space = 0;
  std::string ratio;  // set:get for the memcached/redis generators, e.g. 1:10
  std::vector<std::string> tests;  // redis-benchmark -t
  std::string primary;             // the operation whose figures are the run's (e.g. get)
  double duration_s = 0;
  double warmup_s = 0;
  int rate = 0;  // wrk2 -R
  int streams = 1;
  std::string congestion;
  std::string bitrate;
  std::string path = "/";  // http path
  std::vector<std::string> command;            // custom client argv
  std::map<std::string, std::string> metrics;  // custom: metric name -> regex with one group
  double max_error_ratio = 0.01;
};

struct Workload {
  std::string name;
  std::string kind;  // redis | memcached | nginx | iperf3 | custom
  ServerSpec server;
  ClientSpec client;
  Mark mark;
};

// The matrix axis that runs a combination with (`on`) and without (`off`) the spec's
// collectors, to measure their overhead (docs/collectors.md). It is not a path into the
// spec: an `off` run's configuration simply has no collectors.
inline constexpr const char* kCollectorsAxis = "collectors";

// One dimension of the matrix: a dotted path into the spec and its values (as JSON text).
struct Axis {
  std::string path;                 // e.g. policy.host, workloads.redis.client.pipeline, workload
  std::vector<std::string> values;  // each value as canonical JSON
  Mark mark;
};

// A profiler or counter around the measurement window (docs/collectors.md).
struct CollectorSpec {
  std::string name;     // key in the spec; names its metrics in run.json (collectors.<name>.*)
  std::string kind;     // mpstat | pidstat | interrupts | perf-stat | kvm-exits | bpftrace-iommu | qemu-trace | dmar-pmu | custom
  std::string machine;  // where it runs (default: the host)
  std::vector<std::string> command;            // custom: argv, stopped with SIGINT after the window
  std::map<std::string, std::string> metrics;  // custom: metric name -> regex with one group
  std::vector<std::string> events;    // perf-stat events, qemu-trace event patterns
  std::vector<std::string> functions; // bpftrace-iommu kernel functions
  std::string process;   // pidstat: process name or "qemu" (the guest's QEMU, found through libvirt)
  std::string trace_file;  // qemu-trace: the trace file QEMU writes (-trace file=...)
  double interval_s = 1;
  Mark mark;
};

// What each collector kind is and which of its fields it cannot run without: the one
// description `validate` checks a spec against (docs/collectors.md lists the same kinds).
// A per-request figure of a kind that the report shows as a breakdown column.
struct CollectorColumn {
  std::string_view field;    // in the collector's result: "total", "events.cycles"
  std::string_view label;    // column label; "{machine}" is the collector's machine
  std::string_view meaning;  // axis label of the per-request figure ("{machine}" likewise)
};
struct CollectorKind {
  std::string_view name;
  std::vector<std::string_view> required;  // CollectorSpec fields: process, trace_file, command, ...
  std::string_view what;                   // one line, for error messages
  std::string_view program;                // the tool doctor looks for ("" none; custom: its command)
  bool needs_root = false;                 // doctor: root (or sudo) on the collector's machine
  std::vector<CollectorColumn> columns;    // the report's breakdown columns (bpftrace and pidstat: their own)
};
const std::vector<CollectorKind>& collector_kinds();
// A tracepoint as tracefs names it, "subsystem:event" (events/SUBSYSTEM/EVENT): letters,
// digits and '_' on both sides, at most 128 each. The tracepoints collector's `events`.
bool is_tracepoint_name(std::string_view name);
// A column's label or meaning with "{machine}" replaced by MACHINE ("" = the host).
std::string column_text(std::string_view text, const std::string& machine);
const CollectorKind* collector_kind(std::string_view name);
// The required fields of C's kind that C lacks (empty: none, or an unknown kind).
std::vector<std::string_view> missing_collector_fields(const CollectorSpec& c);

enum class Order { grouped, interleaved };
enum class Cleanup { keep, shutdown, restore };

struct MatrixSpec {
  std::vector<Axis> axes;  // explicit (matrix.axes) and inline lists, in spec order
  std::vector<std::vector<std::string>> zip;  // groups of axis paths that vary together
  std::vector<std::map<std::string, std::string>> exclude;  // path -> canonical JSON value
  int repetitions = 1;
  int max_repetitions = 0;  // > repetitions: keep repeating until the CV of the primary metric is below max_cv
  double max_cv = 0.10;     // a fraction; above 1 it is a percent (10 = 10 %)
  bool collector_overhead = false;  // adds the axis `collectors: [on, off]`
  Order order = Order::grouped;
  double cooldown_s = 0;
};

struct FigureSpec {  // docs/report.md, "Spec figures"
  std::string name;
  std::string kind;    // bars | lines | degradation | breakdown; "" = chosen from what varies
  std::string x;       // axis path on the x axis (lines: numeric; bars: the first group)
  std::string series;  // axis path giving one colour (bar or line) per value; default the policy
  std::vector<std::string> groups;  // axis paths grouping bars on the x axis
  std::vector<std::string> panels;  // axis paths giving one panel per value (or "workload")
  std::string metric;  // e.g. throughput_ops, latency_us.p99; default the throughput
  std::string workload;
  std::string baseline;  // degradation: the policy compared against; default the spec's baseline
  std::string width;     // single (3.3 in) | double (7 in); default from the content
  Mark mark;
  std::map<std::string, Mark> marks;  // field -> where it is written (for the axis checks)
};

struct Spec {
  std::string name;
  std::string description;
  std::string output = "results";
  std::vector<Machine> machines;  // in spec order
  HypervisorSpec hypervisor;
  std::vector<GuestSpec> guests;
  NicSpec nic;
  PolicySpec policy;
  SoftwareSpec software;
  std::vector<Workload> workloads;
  MatrixSpec matrix;
  Cleanup cleanup = Cleanup::restore;
  std::string baseline = "passthrough";
  std::vector<FigureSpec> figures;
  std::vector<CollectorSpec> collectors;
  // timeouts: step kind (plan::kind, e.g. server.start, host.reboot) -> seconds. A step that
  // runs longer fails with reason "timeout: ...".
  std::map<std::string, double> timeouts;
  int switch_retries = 1;  // retries.switch: retries of a failed step between runs (reboot, guest start, ...)
  // audit: what the kernel log of each machine between a run's start and end does to the run.
  audit::Settings audit;
  // canary: a short run of each workload at the start of the campaign and after each host
  // reboot or guest restart, compared with the previous canary of the same configuration.
  struct Canary {
    bool enabled = false;   // on when the spec has a canary: mapping
    double seconds = 5;     // duration-based clients: their duration is cut to this
    int requests = 2000;    // request-count clients (redis-benchmark -n, ab, ...): cut to this
    double max_drop = 0.10;  // fraction (or percent when > 1): a larger drop flags the runs that follow
  } canary;

  // Where it came from.
  std::string source_path;
  std::string source_text;
  std::string format;  // yaml | json
  std::string hash;    // sha256 of the canonical JSON form: comments and layout do not count

  const Machine* machine(const std::string& name) const;
  const Machine* first_with_role(Role r) const;
  const GuestSpec* guest(const std::string& name) const;
  const Workload* workload(const std::string& name) const;
};

std::string_view to_string(Role r);
std::string_view to_string(ViommuSpec::Model m);

}  // namespace iommuvm::spec
