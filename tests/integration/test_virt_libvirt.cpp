// The libvirt Hypervisor against libvirt's own test driver (test:///node.xml). Each scenario
// uses one connection: the driver re-reads the file, so state lives as long as a connection.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>

#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/virt/domain_xml.hpp"
#include "iommuvm/virt/libvirt.hpp"
#include "iommuvm/virt/sriov.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using namespace iommuvm::virt;

namespace {

std::string test_uri() { return "test://" + test::data_path("libvirt/libvirt-test-node.xml").string(); }

class LibvirtTestDriver : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      hv_ = connect_libvirt(test_uri());
    } catch (const Error& e) {
      GTEST_SKIP() << "libvirt test driver unavailable: " << e.what();
    }
  }
  std::unique_ptr<Hypervisor> hv_;
};

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string guest_xml(const PciAddress& vf, int vcpus) {
  DomainSettings s;
  s.name = "iommuvm-it";
  s.vcpus = vcpus;
  s.memory_mib = 1024;
  s.kernel = "/var/lib/iommuvm/vmlinuz";
  s.initrd = "/var/lib/iommuvm/initrd.img";
  s.cmdline = "console=ttyS0 intel_iommu=on iommu.strict=1";
  s.viommu.model = ViommuModel::intel;
  s.vf = vf;
  s.vf_mac = sriov::generate_vf_mac("test/enp202s0f0np0", 0);
  return render_domain(fs::read_file(test::data_path("domains/server_vIOMMU.xml")), s);
}

}  // namespace

TEST_F(LibvirtTestDriver, Versions) {
  auto lib = hv_->library_version();
  EXPECT_FALSE(lib.empty());
  EXPECT_EQ(std::count(lib.begin(), lib.end(), '.'), 2);
  EXPECT_FALSE(hv_->hypervisor_version().empty());
  EXPECT_EQ(hv_->uri(), test_uri());
  EXPECT_EQ(format_version(9000000), "9.0.0");
  EXPECT_EQ(format_version(7002001), "7.2.1");
}

TEST_F(LibvirtTestDriver, NodeDevicesByCapabilityFindThePfAndItsVfs) {
  auto pci = hv_->node_devices("pci");
  EXPECT_TRUE(contains(pci, "pci_0000_ca_00_0"));
  EXPECT_FALSE(contains(pci, "computer"));
  auto net = hv_->node_devices("net");
  ASSERT_EQ(net.size(), 1u);
  EXPECT_NE(net[0].find("enp202s0f0np0"), std::string::npos);
  EXPECT_TRUE(contains(hv_->node_devices(""), "computer"));

  auto pf_addr = *PciAddress::parse("0000:ca:00.0");
  auto devices = pci_devices(*hv_);
  auto pf = std::find_if(devices.begin(), devices.end(), [&](const auto& d) { return d.address == pf_addr; });
  ASSERT_NE(pf, devices.end());
  EXPECT_FALSE(pf->is_vf());
  EXPECT_EQ(pf->max_vfs, 8);
  EXPECT_EQ(pf->virt_functions.size(), 4u);
  EXPECT_EQ(pf->vendor_id, "0x15b3");
  EXPECT_EQ(pf->iommu_group, 40);

  auto vfs = vfs_of(*hv_, pf_addr);
  ASSERT_EQ(vfs.size(), 4u);
  for (std::size_t i = 0; i < vfs.size(); ++i) {
    EXPECT_EQ(vfs[i].phys_function, pf_addr);
    EXPECT_EQ(vfs[i].address.function, i + 2);
    EXPECT_EQ(vfs[i].name, vfs[i].address.node_device_name());
    EXPECT_EQ(vfs[i].iommu_group, static_cast<int>(41 + i));
    EXPECT_EQ(pf->virt_functions[i], vfs[i].address);
  }
  EXPECT_NE(hv_->node_device_xml("pci_0000_ca_00_3").find("phys_function"), std::string::npos);
}

TEST_F(LibvirtTestDriver, GuestLifecycleWithAVfInterface) {
  auto vf = vfs_of(*hv_, *PciAddress::parse("0000:ca:00.0")).at(0);
  auto xml = guest_xml(vf.address, 2);

  EXPECT_FALSE(hv_->domain_xml("iommuvm-it", true).has_value());
  EXPECT_TRUE(define_if_changed(*hv_, xml));
  EXPECT_FALSE(define_if_changed(*hv_, xml)) << "same XML: no redefinition";
  auto inactive = *hv_->domain_xml("iommuvm-it", true);
  auto uuid = domain_uuid(inactive);
  ASSERT_TRUE(uuid.has_value());
  EXPECT_EQ(stamped_hash(inactive), content_hash(xml));
  EXPECT_NE(inactive.find("<iommu model='intel'>"), std::string::npos) << inactive;

  EXPECT_FALSE(hv_->is_active("iommuvm-it"));
  hv_->start("iommuvm-it");
  EXPECT_TRUE(hv_->is_active("iommuvm-it"));
  auto live = *hv_->domain_xml("iommuvm-it", false);
  EXPECT_NE(live.find("<interface type='hostdev' managed='yes'>"), std::string::npos) << live;
  EXPECT_NE(live.find("bus='0xca' slot='0x00' function='0x2'"), std::string::npos) << live;
  EXPECT_NE(live.find(sriov::generate_vf_mac("test/enp202s0f0np0", 0)), std::string::npos);
  EXPECT_NE(live.find("iommu.strict=1"), std::string::npos);

  // A changed XML is redefined (the persistent config; the running guest keeps its own), same UUID.
  auto changed = guest_xml(vf.address, 1);
  EXPECT_TRUE(define_if_changed(*hv_, changed));
  auto inactive2 = *hv_->domain_xml("iommuvm-it", true);
  EXPECT_NE(inactive2.find(">1</vcpu>"), std::string::npos) << inactive2;
  EXPECT_EQ(domain_uuid(inactive2), uuid);
  EXPECT_NE(hv_->domain_xml("iommuvm-it", false)->find(">2</vcpu>"), std::string::npos);

  // A live dumpxml rendered again gives back the same definition.
  DomainSettings again;
  again.name = "iommuvm-it";
  again.viommu.model = ViommuModel::intel;
  again.vf = vf.address;
  again.vf_mac = sriov::generate_vf_mac("test/enp202s0f0np0", 0);
  EXPECT_EQ(render_domain(render_domain(live, again), again), render_domain(live, again));

  EXPECT_TRUE(hv_->shutdown("iommuvm-it", std::chrono::seconds(5)));
  EXPECT_FALSE(hv_->is_active("iommuvm-it"));
  EXPECT_TRUE(hv_->shutdown("iommuvm-it", std::chrono::seconds(1))) << "already off";
  hv_->start("iommuvm-it");
  EXPECT_NE(hv_->domain_xml("iommuvm-it", false)->find(">1</vcpu>"), std::string::npos);
  hv_->destroy("iommuvm-it");
  EXPECT_FALSE(hv_->is_active("iommuvm-it"));
  hv_->destroy("iommuvm-it");  // no-op when off
  hv_->start("iommuvm-it");
  EXPECT_TRUE(stop_domain(*hv_, "iommuvm-it", std::chrono::seconds(5)));
  hv_->undefine("iommuvm-it");
  EXPECT_FALSE(hv_->domain_xml("iommuvm-it", true).has_value());
  EXPECT_FALSE(hv_->is_active("iommuvm-it"));
  hv_->undefine("iommuvm-it");  // no-op when missing
}

TEST_F(LibvirtTestDriver, TheNodeFilesGuestIsThereAndOff) {
  EXPECT_TRUE(hv_->domain_xml("guest0", true).has_value());
  EXPECT_FALSE(hv_->is_active("guest0"));
}

TEST_F(LibvirtTestDriver, ErrorsNameTheObjectAndCarryLibvirtsMessage) {
  testing::internal::CaptureStderr();
  try {
    hv_->start("no-such-guest");
    ADD_FAILURE() << "start of a missing domain succeeded";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("'no-such-guest'"), std::string::npos) << what;
    EXPECT_NE(what.find("Domain not found"), std::string::npos) << what;
  }
  try {
    hv_->node_device_xml("pci_0000_ff_00_0");
    ADD_FAILURE();
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("pci_0000_ff_00_0"), std::string::npos) << what;
    EXPECT_NE(what.find("ode device not found"), std::string::npos) << what;
  }
  try {
    hv_->define("<domain type='test'><name>broken</name><memory>x</memory></domain>");
    ADD_FAILURE();
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("'broken'"), std::string::npos) << what;
    EXPECT_GT(what.size(), std::string("cannot define domain 'broken': ").size() + 5) << what;
  }
  auto err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "") << "libvirt must not print errors itself";
}

TEST(LibvirtConnect, BadUriIsAnErrorWithLibvirtsMessage) {
  try {
    connect_libvirt("test:///nonexistent/iommuvm/node.xml");
    FAIL() << "connected to a missing file";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("test:///nonexistent/iommuvm/node.xml"), std::string::npos) << what;
    EXPECT_NE(what.find(": "), std::string::npos) << what;
  }
}
