#include <gtest/gtest.h>

#include "iommuvm/remote/remote.hpp"
#include "iommuvm/remote/ssh.hpp"
#include "iommuvm/util/error.hpp"

using namespace iommuvm;

TEST(Sudo, RecognisesPasswordPrompts) {
  EXPECT_TRUE(remote::sudo_needs_password("sudo: a password is required\n"));
  EXPECT_TRUE(remote::sudo_needs_password("sudo: a terminal is required to read the password; either use the -S "
                                          "option to read from standard input or configure an askpass helper\n"));
  EXPECT_FALSE(remote::sudo_needs_password(""));
  EXPECT_FALSE(remote::sudo_needs_password("sudo: modprobe: command not found\n"));
  EXPECT_FALSE(remote::sudo_needs_password("cat: /etc/shadow: Permission denied\n"));
}

TEST(Sudo, MessageNamesMachineAndUser) {
  auto m = remote::sudo_password_message("guest", "alice");
  EXPECT_NE(m.find("sudo on guest needs a password"), std::string::npos) << m;
  EXPECT_NE(m.find("NOPASSWD for alice"), std::string::npos) << m;
}

TEST(HostKeyPolicy, Parses) {
  EXPECT_EQ(remote::parse_host_key_policy("strict"), remote::HostKeyPolicy::strict);
  EXPECT_EQ(remote::parse_host_key_policy("accept-new"), remote::HostKeyPolicy::accept_new);
  EXPECT_EQ(remote::parse_host_key_policy("off"), remote::HostKeyPolicy::off);
  EXPECT_THROW(remote::parse_host_key_policy("yes"), InputError);
}

TEST(SshOptions, MissingHostIsAnInputError) {
  remote::SshOptions o;
  o.name = "client";
  EXPECT_THROW(remote::make_ssh(o), InputError);
  o.host = "127.0.0.1";
  o.port = 70000;
  EXPECT_THROW(remote::make_ssh(o), InputError);
}
