// The hypervisor as the engine sees it: a libvirt connection. Implemented over
// the libvirt C API (any URI, test:/// included) and by the dry-run recorder.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace iommuvm::virt {

class Hypervisor {
 public:
  virtual ~Hypervisor() = default;
  virtual const std::string& uri() const = 0;

  virtual void define(const std::string& domain_xml) = 0;
  virtual void undefine(const std::string& name) = 0;
  virtual void start(const std::string& name) = 0;
  // Graceful shutdown; false when the domain is still running after TIMEOUT.
  virtual bool shutdown(const std::string& name, std::chrono::seconds timeout) = 0;
  virtual void destroy(const std::string& name) = 0;
  virtual bool is_active(const std::string& name) = 0;
  // nullopt when no such domain.
  virtual std::optional<std::string> domain_xml(const std::string& name, bool inactive) = 0;

  virtual std::vector<std::string> node_devices(const std::string& capability) = 0;
  virtual std::string node_device_xml(const std::string& name) = 0;

  // "9.0.0"; empty when unknown (e.g. a recorder without a connection).
  virtual std::string library_version() { return {}; }
  // Version of the hypervisor behind the connection (QEMU for qemu:///); empty when unknown.
  virtual std::string hypervisor_version() { return {}; }
};

}  // namespace iommuvm::virt
