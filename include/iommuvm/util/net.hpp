#pragma once

#include <optional>
#include <string>

namespace iommuvm::net {

struct Cidr {
  int family = 0;  // AF_INET or AF_INET6
  unsigned char addr[16] = {};
  int prefix = 0;
};

// "10.10.1.100/24", "fd00::5/64". A bare address gets the full prefix.
std::optional<Cidr> parse_cidr(const std::string& text);
// True when ADDR's address lies in NET's subnet (NET's prefix is used).
bool in_subnet(const Cidr& addr, const Cidr& net);
// True for a unicast MAC written as six colon-separated hex pairs.
bool valid_mac(const std::string& mac);

// A TCP port on 127.0.0.1 that is free right now (the kernel's choice). Throws Error.
int free_tcp_port();
// The first of COUNT consecutive TCP ports on 127.0.0.1 that are all free right now
// (COUNT 1: free_tcp_port()). Throws Error after a few attempts.
int free_tcp_ports(int count);

}  // namespace iommuvm::net
