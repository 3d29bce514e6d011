#include "iommuvm/util/net.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>

#include "iommuvm/util/error.hpp"

namespace iommuvm::net {

std::optional<Cidr> parse_cidr(const std::string& text) {
  Cidr c;
  std::string addr = text;
  int prefix = -1;
  auto slash = text.find('/');
  if (slash != std::string::npos) {
    addr = text.substr(0, slash);
    std::string p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) return std::nullopt;
    for (char ch : p)
      if (!std::isdigit(static_cast<unsigned char>(ch))) return std::nullopt;
    prefix = std::stoi(p);
  }
  if (inet_pton(AF_INET, addr.c_str(), c.addr) == 1) {
    c.family = AF_INET;
    if (prefix > 32) return std::nullopt;
    c.prefix = prefix < 0 ? 32 : prefix;
    return c;
  }
  if (inet_pton(AF_INET6, addr.c_str(), c.addr) == 1) {
    c.family = AF_INET6;
    if (prefix > 128) return std::nullopt;
    c.prefix = prefix < 0 ? 128 : prefix;
    return c;
  }
  return std::nullopt;
}

bool in_subnet(const Cidr& a, const Cidr& net) {
  if (a.family != net.family) return false;
  int bits = net.prefix;
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    unsigned char mask = bits >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - bits));
    if ((a.addr[i] & mask) != (net.addr[i] & mask)) return false;
  }
  return true;
}

bool valid_mac(const std::string& mac) {
  if (mac.size() != 17) return false;
  for (std::size_t i = 0; i < 17; ++i) {
    if (i % 3 == 2) {
      if (mac[i] != ':') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(mac[i]))) {
      return false;
    }
  }
  int first = std::stoi(mac.substr(0, 2), nullptr, 16);
  return (first & 1) == 0;  // not multicast
}

int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error("cannot create a socket to find a free port");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw Error("cannot find a free TCP port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

namespace {

bool port_free(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

int free_tcp_ports(int count) {
  if (count <= 1) return free_tcp_port();
  for (int attempt = 0; attempt < 50; ++attempt) {
    int base = free_tcp_port();
    if (base + count - 1 > 65535) continue;
    bool all = true;
    for (int i = 1; i < count && all; ++i) all = port_free(base + i);
    if (all) return base;
  }
  throw Error(fmt::format("cannot find {} consecutive free TCP ports", count));
}

}  // namespace iommuvm::net
