// Every template x every vIOMMU mode renders to XML that libvirt's schema accepts.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "iommuvm/util/fs.hpp"
#include "iommuvm/virt/domain_xml.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using namespace iommuvm::virt;

namespace {

const std::vector<std::string> kTemplates = {
    "network-server-pt.xml",        "network-server-strict.xml",    "network-server.xml",
    "server.xml",                   "server_custom_vanilla_qemu.xml", "server_iommufd_iommu_off.xml",
    "server_iommufd_nested.xml",    "server_iommufd_shadow.xml",    "server_no_vIOMMU_qemu9.xml",
    "server_vIOMMU.xml",            "server_vIOMMU_qemu9_debug.xml",
};

}  // namespace

TEST(DomainXmlValidate, EveryTemplateTimesEveryModeValidates) {
  if (!test::have_program("virt-xml-validate")) GTEST_SKIP() << "virt-xml-validate not installed (libvirt-clients)";
  test::TempDir dir;
  int checked = 0;
  for (const auto& file : kTemplates) {
    auto t = fs::read_file(test::data_path("domains/" + file));
    for (auto mode : {ViommuModel::none, ViommuModel::intel, ViommuModel::nested, ViommuModel::virtio}) {
      for (int variant = 0; variant < 3; ++variant) {
        bool with_vf = variant != 1;
        bool iommufd = variant == 2;
        DomainSettings s;
        s.name = "guest";
        s.vcpus = 2;
        s.memory_mib = 1024;
        s.cmdline = "console=ttyS0 intel_iommu=on iommu.strict=1";
        s.viommu.model = mode;
        s.iommufd = iommufd;
        if (with_vf) {
          s.vf = PciAddress::parse("0000:ca:00.3");
          s.vf_mac = "52:54:00:12:34:03";
        }
        auto path = dir / "domain.xml";
        fs::atomic_write(path, render_domain(t, s));
        auto r = test::run_process({"virt-xml-validate", path.string(), "domain"});
        EXPECT_EQ(r.exit_code, 0) << file << " mode " << static_cast<int>(mode) << " vf " << with_vf << " iommufd " << iommufd << ":\n"
                                  << r.out << r.err;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 132);
}
