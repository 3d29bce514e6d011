// The memaslap generator's own functions, for its tests (src/workload/generators/memaslap.cpp;
// everything else reaches it through the registry, workload/generators.hpp).
#pragma once

#include <string>
#include <string_view>

#include "iommuvm/workload/metrics.hpp"

namespace iommuvm::workload {

// memcaslap text output (libmemcached-tools).
Metrics parse_memaslap(std::string_view text);

// The --cfg_cmd file for a SET:GET ratio (e.g. "1:10"): key section (64-byte keys, its
// default), value section (DATA_SIZE bytes, 1024 when 0), cmd section with the set (type 0)
// and get (type 1) proportions rounded to its precision (0.001). InputError for a malformed ratio.
std::string memaslap_config(std::string_view ratio, int data_size);

}  // namespace iommuvm::workload
