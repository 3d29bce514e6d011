// The dry-run backends: they print what would be done, in order, and touch nothing.
// Values only known at run time come back as named placeholders like <host:boot_id>.
#pragma once

#include <ostream>

#include "iommuvm/remote/remote.hpp"
#include "iommuvm/virt/hypervisor.hpp"

namespace iommuvm::engine {

class RecordingRemote : public remote::Remote {
 public:
  RecordingRemote(std::string name, bool login_is_root, std::filesystem::path root, std::ostream& out);
  const std::string& name() const override { return name_; }
  remote::RunResult run(const remote::Command& cmd, const remote::RunOptions& opts = {}) override;
  remote::Process start(const remote::Command& cmd, const std::string& log_path) override;
  bool is_running(const remote::Process& p) override;
  bool stop(const remote::Process& p, int signal, std::chrono::milliseconds grace) override;
  void upload(const std::filesystem::path& local, const std::string& remote_path) override;
  void download(const std::string& remote_path, const std::filesystem::path& local) override;
  const std::filesystem::path& root() const override { return root_; }
  void set_keepalive(bool enabled) override;

 private:
  std::string name_;
  bool login_is_root_;
  std::filesystem::path root_;
  std::ostream& out_;
  long next_pid_ = 1;
};

class RecordingHypervisor : public virt::Hypervisor {
 public:
  RecordingHypervisor(std::string uri, std::ostream& out);
  const std::string& uri() const override { return uri_; }
  void define(const std::string& domain_xml) override;
  void undefine(const std::string& name) override;
  void start(const std::string& name) override;
  bool shutdown(const std::string& name, std::chrono::seconds timeout) override;
  void destroy(const std::string& name) override;
  bool is_active(const std::string& name) override;
  std::optional<std::string> domain_xml(const std::string& name, bool inactive) override;
  std::vector<std::string> node_devices(const std::string& capability) override;
  std::string node_device_xml(const std::string& name) override;

 private:
  std::string uri_;
  std::ostream& out_;
};

}  // namespace iommuvm::engine
