// Test networks: load and failure tests reach only 127.0.0.0/8, ::1, or test hosts inside a
// network namespace that the test (or a project script such as scripts/libvirtd.sh) created.
// These helpers run a command inside such a namespace and read the root namespace's addresses,
// so a test can refuse to run when its target would be reachable from the root namespace and
// can assert that it left no address there.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace iommuvm::test {

// The namespace of the real-VM tests: $IOMMUVM_NETNS, else "iommuvm" (scripts/libvirtd.sh's).
std::string test_netns();

// True when /run/netns/NAME exists (ip netns add NAME).
bool netns_exists(const std::string& name);

// ARGV run inside namespace NAME: {"ip", "netns", "exec", NAME, ARGV...}.
std::vector<std::string> in_netns(const std::string& name, const std::vector<std::string>& argv);

// FN on a thread of its own that has joined namespace NAME (setns(2): a thread's network
// namespace is its own), so the sockets FN opens (a libvirt connection, say) live there; the
// calling thread stays where it is. Rethrows what FN throws; throws when NAME cannot be joined.
void run_in_netns(const std::string& name, const std::function<void()>& fn);

// The addresses of the root (this process's) namespace outside 127.0.0.0/8, ::1 and IPv6
// link-local, as "IFACE ADDR/PREFIX", sorted; from `ip -o addr show`.
std::vector<std::string> non_loopback_addresses();

// Empty when TARGET (an IPv4 address) is no address of the root namespace's subnets, i.e. the
// root namespace has no route of its own to it and traffic to it can only flow inside a
// namespace; else why the test must not send to it.
std::string root_namespace_reaches(const std::string& target);

}  // namespace iommuvm::test
