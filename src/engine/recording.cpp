#include "iommuvm/engine/recording.hpp"

#include <csignal>
#include <cstring>

#include <fmt/format.h>

namespace iommuvm::engine {

RecordingRemote::RecordingRemote(std::string name, bool login_is_root, std::filesystem::path root, std::ostream& out)
    : name_(std::move(name)), login_is_root_(login_is_root), root_(std::move(root)), out_(out) {}

remote::RunResult RecordingRemote::run(const remote::Command& cmd, const remote::RunOptions& opts) {
  std::string extra;
  if (opts.timeout.count() > 0) extra += fmt::format("  # timeout {}s", opts.timeout.count() / 1000.0);
  if (!opts.stdout_file.empty()) extra += fmt::format("  # stdout > {}", opts.stdout_file.string());
  out_ << fmt::format("[{}] $ {}{}\n", name_, remote::render(cmd, !login_is_root_), extra);
  remote::RunResult r;
  r.exit_status = 0;
  std::string what = cmd.argv.empty() ? "output" : std::filesystem::path(cmd.argv.front()).filename().string();
  r.out = fmt::format("<{}:{}>", name_, what);
  return r;
}

remote::Process RecordingRemote::start(const remote::Command& cmd, const std::string& log_path) {
  long pid = next_pid_++;
  out_ << fmt::format("[{}] $ {} > {} 2>&1 &   # pid <{}:pid{}>\n", name_, remote::render(cmd, !login_is_root_),
                      log_path, name_, pid);
  return {pid, log_path};
}

bool RecordingRemote::is_running(const remote::Process&) { return true; }

bool RecordingRemote::stop(const remote::Process& p, int signal, std::chrono::milliseconds grace) {
  out_ << fmt::format("[{}] kill -{} <{}:pid{}>, then KILL after {} ms\n", name_, sigabbrev_np(signal) ? sigabbrev_np(signal) : "?",
                      name_, p.pid, grace.count());
  return true;
}

void RecordingRemote::upload(const std::filesystem::path& local, const std::string& remote_path) {
  out_ << fmt::format("[{}] copy {} -> {}:{}\n", name_, local.string(), name_, remote_path);
}

void RecordingRemote::download(const std::string& remote_path, const std::filesystem::path& local) {
  out_ << fmt::format("[{}] copy {}:{} -> {}\n", name_, name_, remote_path, local.string());
}

void RecordingRemote::set_keepalive(bool enabled) {
  out_ << fmt::format("[{}] keep-alive {}\n", name_, enabled ? "on" : "paused (measurement window)");
}

RecordingHypervisor::RecordingHypervisor(std::string uri, std::ostream& out) : uri_(std::move(uri)), out_(out) {}

void RecordingHypervisor::define(const std::string& domain_xml) {
  auto b = domain_xml.find("<name>");
  auto e = domain_xml.find("</name>");
  std::string name = b != std::string::npos && e != std::string::npos ? domain_xml.substr(b + 6, e - b - 6) : "?";
  out_ << fmt::format("[libvirt {}] virDomainDefineXML {} ({} bytes of XML)\n", uri_, name, domain_xml.size());
}
void RecordingHypervisor::undefine(const std::string& name) { out_ << fmt::format("[libvirt {}] virDomainUndefine {}\n", uri_, name); }
void RecordingHypervisor::start(const std::string& name) { out_ << fmt::format("[libvirt {}] virDomainCreate {}\n", uri_, name); }
bool RecordingHypervisor::shutdown(const std::string& name, std::chrono::seconds timeout) {
  out_ << fmt::format("[libvirt {}] virDomainShutdown {} (destroy after {} s)\n", uri_, name, timeout.count());
  return true;
}
void RecordingHypervisor::destroy(const std::string& name) { out_ << fmt::format("[libvirt {}] virDomainDestroy {}\n", uri_, name); }
bool RecordingHypervisor::is_active(const std::string&) { return false; }
std::optional<std::string> RecordingHypervisor::domain_xml(const std::string& name, bool inactive) {
  out_ << fmt::format("[libvirt {}] virDomainGetXMLDesc {}{}\n", uri_, name, inactive ? " (inactive)" : "");
  return std::nullopt;
}
std::vector<std::string> RecordingHypervisor::node_devices(const std::string& capability) {
  out_ << fmt::format("[libvirt {}] virConnectListAllNodeDevices cap={}\n", uri_, capability);
  return {};
}
std::string RecordingHypervisor::node_device_xml(const std::string& name) {
  out_ << fmt::format("[libvirt {}] virNodeDeviceGetXMLDesc {}\n", uri_, name);
  return fmt::format("<{}:xml>", name);
}

}  // namespace iommuvm::engine
