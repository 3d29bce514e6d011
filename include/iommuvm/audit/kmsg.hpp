// Kernel-log audit: what the kernel said on a machine between a run's start and its end.
// Records come from /dev/kmsg ("PRI,SEQ,TS_US,FLAGS;TEXT", continuation lines start with a
// space), read outside the measurement window, twice per run and machine: once for the last
// sequence number (the mark), once for the records after it. Sequence numbers make the read
// exact: nothing between the two reads is missed, nothing before the mark is counted, and a
// gap (the ring buffer overwrote records) is reported. Pure: parsing, classifying, deciding.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iommuvm::audit {

// What a line means for the run. fail: the run is failed with the line in its reason;
// flag: the run stays ok and is flagged (run.json, report); ignore: recorded, nothing else.
enum class Action { fail, flag, ignore };

// One class of kernel messages, described once: the spec's `audit:` keys, the classifier, the
// report's headings and the docs' table read this.
struct Class {
  std::string name;         // spec key and run.json value: iommu_fault, link, ...
  std::string title;        // for the report: "IOMMU fault"
  Action default_action;
  std::vector<std::string> needles;  // a line belongs to the class when it contains any of them
};

// Every class, in report order.
const std::vector<Class>& classes();
const Class* find_class(std::string_view name);
std::string_view to_string(Action a);
std::optional<Action> parse_action(std::string_view s);

// The spec's `audit:` section: on by default with each class's default action.
struct Settings {
  bool enabled = true;
  std::map<std::string, Action> actions;  // class name -> action; missing: the class default
  Action action_of(const std::string& cls) const;
};

struct Record {
  std::uint64_t seq = 0;
  int priority = 0;  // syslog level 0 (emerg) .. 7 (debug)
  int facility = 0;
  std::uint64_t ts_us = 0;  // microseconds since boot
  std::string text;
};

// The records of a /dev/kmsg read. Malformed lines and continuation lines are skipped; text is
// kept as it is (invalid UTF-8 is escaped by whoever writes it to JSON).
std::vector<Record> parse(std::string_view kmsg);

// The class name of TEXT, or nullopt for an unremarkable line.
std::optional<std::string> classify(std::string_view text);

// The shell command (for sh -c) that prints the records of KMSG_PATH (normally /dev/kmsg)
// with a sequence number above AFTER, without blocking at the end of the buffer. With AFTER
// unset it prints only the last record (the mark).
std::string read_command(const std::string& kmsg_path, std::optional<std::uint64_t> after);

// One machine's part of a run's audit.
struct Finding {
  std::string machine;
  std::string cls;  // class name
  Action action = Action::ignore;
  Record record;
};

struct MachineLog {
  std::string machine;
  std::optional<std::uint64_t> mark;  // last sequence number at the run's start
  std::vector<Record> records;        // every record after it
  std::uint64_t lost = 0;             // records overwritten before they could be read
  std::string unavailable;            // why the log could not be read (then nothing else is set)
};

// Findings of the logs under SETTINGS, in machine then sequence order.
std::vector<Finding> findings(const std::vector<MachineLog>& logs, const Settings& settings);

// The records of READ that follow MARK, and how many were lost between them (the first record
// after the mark has a sequence number above mark + 1).
MachineLog since(const std::string& machine, std::uint64_t mark, std::string_view read);

// TEXT with every byte that is not part of valid UTF-8 written as \xNN, so that kernel text
// (which may hold anything) can go into run.json.
std::string printable(std::string_view text);

// The run's failure reason from its findings (the first fail finding, quoting its line), or empty.
std::string failure_reason(const std::vector<Finding>& f);

}  // namespace iommuvm::audit
