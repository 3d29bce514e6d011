#include "iommuvm/engine/connect.hpp"

#include <fmt/format.h>

#include <cctype>

#include "iommuvm/remote/local.hpp"
#include "iommuvm/remote/ssh.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/virt/libvirt.hpp"

namespace iommuvm::engine {

namespace {

std::string expand_home(const std::string& p) {
  if (p.rfind("~/", 0) != 0) return p;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + p.substr(1);
}

remote::SshOptions ssh_options(const spec::Spec& spec, const spec::Machine& m, int depth = 0) {
  if (depth > 8) throw InputError(fmt::format("jump hosts of machine '{}' nest too deeply", m.name));
  remote::SshOptions o;
  o.name = m.name;
  o.host = m.ssh.host;
  o.port = m.ssh.port;
  o.user = m.ssh.user;
  for (const auto& f : m.ssh.identity_files) o.identity_files.push_back(expand_home(f));
  o.use_agent = m.ssh.agent;
  if (!m.ssh.known_hosts.empty()) o.known_hosts = expand_home(m.ssh.known_hosts);
  o.host_key_policy = remote::parse_host_key_policy(m.ssh.host_key_check);
  o.connect_timeout = std::chrono::seconds(static_cast<long long>(m.ssh.connect_timeout_s + 0.5));
  o.keepalive_interval = std::chrono::seconds(static_cast<long long>(m.ssh.keepalive_s + 0.5));
  if (!m.ssh.config_file.empty()) o.ssh_config = expand_home(m.ssh.config_file);
  o.sudo = m.sudo ? remote::SudoMode::automatic : remote::SudoMode::never;
  o.root = m.root;
  if (!m.ssh.jump.empty()) {
    const auto* j = spec.machine(m.ssh.jump);
    if (!j) throw InputError(fmt::format("machine '{}' jumps through unknown machine '{}'", m.name, m.ssh.jump));
    o.jump = std::make_shared<remote::SshOptions>(ssh_options(spec, *j, depth + 1));
  }
  return o;
}

class LazyRemote : public remote::Remote {
 public:
  LazyRemote(const spec::Spec& spec, const spec::Machine& m) : name_(m.name), root_(m.root), machine_(m) {
    if (!m.local) ssh_ = ssh_options(spec, m);
  }
  const std::string& name() const override { return name_; }
  remote::RunResult run(const remote::Command& cmd, const remote::RunOptions& opts) override { return get().run(cmd, opts); }
  remote::Process start(const remote::Command& cmd, const std::string& log) override { return get().start(cmd, log); }
  bool is_running(const remote::Process& p) override { return get().is_running(p); }
  bool stop(const remote::Process& p, int sig, std::chrono::milliseconds grace) override { return get().stop(p, sig, grace); }
  void upload(const std::filesystem::path& l, const std::string& r) override { get().upload(l, r); }
  void download(const std::string& r, const std::filesystem::path& l) override { get().download(r, l); }
  const std::filesystem::path& root() const override { return root_; }
  void set_keepalive(bool on) override {
    if (impl_) impl_->set_keepalive(on);
  }
  std::string read_file(const std::string& abs) override { return get().read_file(abs); }
  int free_ports(int count) override { return get().free_ports(count); }

 private:
  remote::Remote& get() {
    if (!impl_) {
      if (machine_.local) {
        remote::LocalOptions o;
        o.name = name_;
        o.root = root_;
        o.sudo = machine_.sudo ? remote::SudoMode::automatic : remote::SudoMode::never;
        impl_ = remote::make_local(o);
      } else {
        impl_ = remote::make_ssh(*ssh_);
      }
    }
    return *impl_;
  }
  std::string name_;
  std::filesystem::path root_;
  spec::Machine machine_;
  std::optional<remote::SshOptions> ssh_;
  std::unique_ptr<remote::Remote> impl_;
};

}  // namespace

std::unique_ptr<remote::Remote> lazy_remote(const spec::Spec& spec, const spec::Machine& m) {
  return std::make_unique<LazyRemote>(spec, m);
}

namespace {
// RFC 3986 percent-encoding of a query value (unreserved characters and '/' kept).
std::string uri_escape(const std::string& v) {
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') out += static_cast<char>(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}
}  // namespace

std::string hypervisor_uri(const spec::Spec& spec) {
  const std::string& uri = spec.hypervisor.uri;
  const spec::Machine* m = spec.hypervisor.machine.empty() ? nullptr : spec.machine(spec.hypervisor.machine);
  if (!m || m->local) return uri;
  // Local form: SCHEME:///PATH with a scheme without a transport ("qemu", not "qemu+ssh").
  auto colon = uri.find(":///");
  if (colon == std::string::npos) return uri;
  std::string scheme = uri.substr(0, colon), path = uri.substr(colon + 3);
  if (scheme.find('+') != std::string::npos || scheme == "test") return uri;
  if (!m->ssh.jump.empty())
    throw InputError(fmt::format("hypervisor.uri '{}' is local to the controller, but libvirt runs on '{}', reached through "
                                 "the jump host '{}': give hypervisor.uri in full (e.g. {}+ssh://{}/system with the jump "
                                 "host in ~/.ssh/config)",
                                 uri, m->name, m->ssh.jump, scheme, m->ssh.host));
  std::string auth = m->ssh.user.empty() ? "" : uri_escape(m->ssh.user) + "@";
  std::string host = m->ssh.host.find(':') != std::string::npos ? "[" + m->ssh.host + "]" : m->ssh.host;
  std::string port = m->ssh.port == 22 ? "" : fmt::format(":{}", m->ssh.port);
  std::vector<std::string> q;
  if (!m->ssh.identity_files.empty()) q.push_back("keyfile=" + uri_escape(expand_home(m->ssh.identity_files.front())));
  std::string kh = m->ssh.known_hosts.empty() ? "~/.ssh/known_hosts" : m->ssh.known_hosts;
  q.push_back("known_hosts=" + uri_escape(expand_home(kh)));
  const std::string& check = m->ssh.host_key_check;
  q.push_back(std::string("known_hosts_verify=") + (check == "off" ? "ignore" : check == "accept-new" ? "auto" : "normal"));
  q.push_back(std::string("sshauth=") + (m->ssh.agent ? "agent,privkey" : "privkey"));
  std::string query;
  for (const auto& x : q) query += (query.empty() ? "?" : "&") + x;
  return fmt::format("{}+libssh://{}{}{}{}{}", scheme, auth, host, port, path, query);
}

RealBackends connect_all(const spec::Spec& spec) {
  RealBackends b;
  for (const auto& m : spec.machines) b.machines[m.name] = lazy_remote(spec, m);
  if (!spec.guests.empty() && !spec.hypervisor.uri.empty()) b.hypervisor = virt::connect_libvirt(hypervisor_uri(spec));
  return b;
}

}  // namespace iommuvm::engine
