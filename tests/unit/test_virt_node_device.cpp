#include <gtest/gtest.h>

#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/virt/libvirt.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using namespace iommuvm::virt;

TEST(NodeDevice, ParsesTheUsersVfDump) {
  auto info = parse_pci_node_device(fs::read_file(test::data_path("domains/pci_0000_65_00_6.xml")));
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->name, "pci_0000_65_00_6");
  EXPECT_EQ(info->address.str(), "0000:65:00.6");
  EXPECT_EQ(info->driver, "mlx5_core");
  EXPECT_EQ(info->vendor_id, "0x15b3");
  EXPECT_EQ(info->product_id, "0x101a");
  EXPECT_NE(info->product.find("ConnectX-5 Ex Virtual Function"), std::string::npos);
  EXPECT_EQ(info->iommu_group, 310);
  ASSERT_TRUE(info->is_vf());
  EXPECT_EQ(info->phys_function->str(), "0000:65:00.1");
  EXPECT_TRUE(info->virt_functions.empty());
}

TEST(NodeDevice, NonPciAndBrokenXml) {
  EXPECT_FALSE(parse_pci_node_device("<device><name>computer</name><capability type='system'/></device>"));
  EXPECT_THROW(parse_pci_node_device("<device"), InputError);
}

TEST(NodeDevice, VersionFormatting) {
  EXPECT_EQ(format_version(9000000), "9.0.0");
  EXPECT_EQ(format_version(7002001), "7.2.1");
  EXPECT_EQ(format_version(0), "0.0.0");
}
