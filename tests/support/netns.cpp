#include "netns.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <thread>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "test_support.hpp"

namespace iommuvm::test {

std::string test_netns() {
  const char* n = std::getenv("IOMMUVM_NETNS");
  return (n && *n) ? n : "iommuvm";
}

bool netns_exists(const std::string& name) { return std::filesystem::exists(std::filesystem::path("/run/netns") / name); }

std::vector<std::string> in_netns(const std::string& name, const std::vector<std::string>& argv) {
  std::vector<std::string> r{"ip", "netns", "exec", name};
  r.insert(r.end(), argv.begin(), argv.end());
  return r;
}

void run_in_netns(const std::string& name, const std::function<void()>& fn) {
  std::exception_ptr failure;
  std::thread t([&] {
    try {
      std::string path = "/run/netns/" + name;
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw std::runtime_error(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
      int rc = ::setns(fd, CLONE_NEWNET);
      int err = errno;
      ::close(fd);
      if (rc != 0) throw std::runtime_error(fmt::format("setns({}): {}", path, std::strerror(err)));
      fn();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  t.join();
  if (failure) std::rethrow_exception(failure);
}

namespace {

struct Address {
  std::string iface, family, cidr;
};

std::vector<Address> root_addresses() {
  std::vector<Address> out;
  auto r = run_process({"ip", "-o", "addr", "show"});
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    // "2: eth0    inet 192.0.2.2/24 brd ... scope global eth0\ ..."
    std::istringstream w(line);
    std::string idx, iface, family, cidr;
    if (!(w >> idx >> iface >> family >> cidr)) continue;
    if (family != "inet" && family != "inet6") continue;
    out.push_back({iface, family, cidr});
  }
  return out;
}

bool loopback_or_link_local(const Address& a) {
  if (a.family == "inet") return a.cidr.rfind("127.", 0) == 0;
  return a.cidr.rfind("::1/", 0) == 0 || a.cidr.rfind("fe80:", 0) == 0;
}

}  // namespace

std::vector<std::string> non_loopback_addresses() {
  std::vector<std::string> out;
  for (const auto& a : root_addresses())
    if (!loopback_or_link_local(a)) out.push_back(a.iface + " " + a.cidr);
  std::sort(out.begin(), out.end());
  return out;
}

std::string root_namespace_reaches(const std::string& target) {
  in_addr t{};
  if (inet_pton(AF_INET, target.c_str(), &t) != 1) return fmt::format("'{}' is not an IPv4 address", target);
  for (const auto& a : root_addresses()) {
    if (a.family != "inet" || loopback_or_link_local(a)) continue;
    auto slash = a.cidr.find('/');
    in_addr n{};
    if (slash == std::string::npos || inet_pton(AF_INET, a.cidr.substr(0, slash).c_str(), &n) != 1) continue;
    int prefix = std::atoi(a.cidr.c_str() + slash + 1);
    uint32_t mask = prefix <= 0 ? 0 : (prefix >= 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1));
    if ((ntohl(n.s_addr) & mask) == (ntohl(t.s_addr) & mask))
      return fmt::format("the root network namespace has {} on {}, in the subnet of {}: traffic to it would leave "
                         "the namespace; the test only sends to test hosts inside a namespace it created "
                         "(scripts/libvirtd.sh stop && scripts/libvirtd.sh start puts the tap there)",
                         a.cidr, a.iface, target);
  }
  return "";
}

}  // namespace iommuvm::test
