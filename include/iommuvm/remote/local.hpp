// The controller machine itself: commands run through fork/exec of /bin/sh -c.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "iommuvm/remote/remote.hpp"

namespace iommuvm::remote {

struct LocalOptions {
  std::string name = "local";
  std::filesystem::path root = "/";  // root prefix for /proc, /sys, /etc
  SudoMode sudo = SudoMode::automatic;
};

std::unique_ptr<Remote> make_local(LocalOptions opts = {});

}  // namespace iommuvm::remote
