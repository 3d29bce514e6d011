#include <gtest/gtest.h>
#include <pugixml.hpp>

#include <string>
#include <vector>

#include "iommuvm/util/error.hpp"
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
const std::vector<ViommuModel> kModes = {ViommuModel::none, ViommuModel::intel, ViommuModel::nested,
                                         ViommuModel::virtio};

const char* mode_name(ViommuModel m) {
  switch (m) {
    case ViommuModel::none: return "none";
    case ViommuModel::intel: return "intel";
    case ViommuModel::nested: return "nested";
    case ViommuModel::virtio: return "virtio";
  }
  return "?";
}

std::string load(const std::string& name) { return fs::read_file(test::data_path("domains/" + name)); }

DomainSettings settings_for(ViommuModel mode, bool with_vf = true) {
  DomainSettings s;
  s.name = "iommuvm-guest";
  s.vcpus = 4;
  s.memory_mib = 2048;
  s.emulator = "/usr/bin/qemu-system-x86_64";
  s.kernel = "/var/lib/iommuvm/vmlinuz";
  s.initrd = "/var/lib/iommuvm/initrd.img";
  s.cmdline = "console=ttyS0 intel_iommu=on iommu.strict=0";
  s.viommu.model = mode;
  if (with_vf) {
    s.vf = PciAddress::parse("0000:ca:00.2");
    s.vf_mac = "52:54:00:AA:BB:02";
  }
  return s;
}

struct Parsed {
  pugi::xml_document doc;
  pugi::xml_node root;
  explicit Parsed(const std::string& xml) {
    auto r = doc.load_string(xml.c_str());
    EXPECT_TRUE(r) << r.description();
    root = doc.document_element();
  }
  std::size_t count(const char* xpath) const { return root.select_nodes(xpath).size(); }
  std::vector<std::string> qemu_args() const {
    std::vector<std::string> out;
    for (auto n : root.select_nodes("/domain/qemu:commandline/qemu:arg")) out.push_back(n.node().attribute("value").value());
    return out;
  }
};

std::size_t count_prefix(const std::vector<std::string>& args, const std::string& prefix) {
  std::size_t n = 0;
  for (const auto& a : args)
    if (a.rfind(prefix, 0) == 0) ++n;
  return n;
}

}  // namespace

class EveryTemplateAndMode : public ::testing::TestWithParam<std::tuple<std::string, ViommuModel>> {};

TEST_P(EveryTemplateAndMode, RendersExactlyWhatIsAsked) {
  auto [file, mode] = GetParam();
  auto s = settings_for(mode);
  auto out = render_domain(load(file), s);
  Parsed p(out);

  EXPECT_EQ(std::string(p.root.child("name").text().get()), "iommuvm-guest");
  EXPECT_FALSE(p.root.child("uuid"));
  EXPECT_EQ(std::string(p.root.child("vcpu").text().get()), "4");
  EXPECT_EQ(std::string(p.root.child("memory").text().get()), "2097152");
  EXPECT_EQ(std::string(p.root.child("memory").attribute("unit").value()), "KiB");
  EXPECT_EQ(std::string(p.root.child("currentMemory").text().get()), "2097152");
  EXPECT_EQ(p.count("/domain/cputune/vcpupin[@vcpu >= 4]"), 0u);
  EXPECT_EQ(std::string(p.root.child("devices").child("emulator").text().get()), s.emulator);
  EXPECT_EQ(p.count("/domain/devices/emulator"), 1u);
  auto os = p.root.child("os");
  EXPECT_EQ(std::string(os.child("kernel").text().get()), s.kernel);
  EXPECT_EQ(std::string(os.child("initrd").text().get()), s.initrd);
  EXPECT_EQ(std::string(os.child("cmdline").text().get()), s.cmdline);
  EXPECT_EQ(p.count("/domain/os/cmdline"), 1u);

  // Live state from `virsh dumpxml` is gone.
  EXPECT_FALSE(p.root.attribute("id"));
  EXPECT_EQ(p.count("//alias"), 0u);
  EXPECT_EQ(p.count("//@portid"), 0u);
  EXPECT_EQ(p.count("//seclabel"), 0u);
  EXPECT_EQ(out.find("/dev/pts/"), std::string::npos);
  EXPECT_EQ(out.find("vnet"), std::string::npos);
  EXPECT_EQ(out.find("domain-25-"), std::string::npos);
  EXPECT_EQ(out.find("<!--"), std::string::npos);

  // Exactly one VF, from the settings, never the template's (65:00.6, 17:00.0, ...).
  auto args = p.qemu_args();
  bool nested = mode == ViommuModel::nested;
  EXPECT_EQ(p.count("/domain/devices/hostdev"), 0u);
  EXPECT_EQ(p.count("/domain/devices/interface[@type='hostdev']"), nested ? 0u : 1u);
  EXPECT_EQ(count_prefix(args, "vfio-pci"), nested ? 1u : 0u);
  if (nested) {
    EXPECT_EQ(count_prefix(args, "vfio-pci,host=0000:ca:00.2,id=hostdev0,iommufd=iommufd0"), 1u);
  } else {
    auto itf = p.root.select_node("/domain/devices/interface[@type='hostdev']").node();
    EXPECT_EQ(std::string(itf.attribute("managed").value()), "yes");
    EXPECT_EQ(std::string(itf.child("mac").attribute("address").value()), "52:54:00:aa:bb:02");
    auto a = itf.child("source").child("address");
    EXPECT_EQ(std::string(a.attribute("domain").value()), "0x0000");
    EXPECT_EQ(std::string(a.attribute("bus").value()), "0xca");
    EXPECT_EQ(std::string(a.attribute("slot").value()), "0x00");
    EXPECT_EQ(std::string(a.attribute("function").value()), "0x2");
    EXPECT_FALSE(itf.child("alias"));
    EXPECT_FALSE(itf.child("address")) << "the guest-side address of the old VF must go";
  }
  EXPECT_EQ(out.find("0x65"), std::string::npos);
  EXPECT_EQ(out.find("17:00.0"), std::string::npos);
  EXPECT_EQ(p.count("/domain/memoryBacking/locked"), 1u);

  // Exactly one vIOMMU of the asked kind.
  EXPECT_EQ(p.count("/domain/devices/iommu"), (mode == ViommuModel::intel || mode == ViommuModel::virtio) ? 1u : 0u);
  EXPECT_EQ(count_prefix(args, "intel-iommu"), nested ? 1u : 0u);
  EXPECT_EQ(count_prefix(args, "iommufd"), nested ? 1u : 0u);
  EXPECT_EQ(count_prefix(args, "kernel_irqchip=split") + count_prefix(args, "kernel-irqchip=split"), nested ? 1u : 0u);
  if (mode == ViommuModel::intel) {
    auto d = p.root.select_node("/domain/devices/iommu[@model='intel']/driver").node();
    ASSERT_TRUE(d);
    EXPECT_EQ(std::string(d.attribute("intremap").value()), "on");
    EXPECT_EQ(std::string(d.attribute("caching_mode").value()), "on");
    EXPECT_EQ(std::string(d.attribute("iotlb").value()), "on");
    EXPECT_EQ(std::string(d.attribute("aw_bits").value()), "48");
  }
  if (mode == ViommuModel::intel || nested) {
    EXPECT_EQ(p.count("/domain/features/ioapic[@driver='qemu']"), 1u);
  }
  if (mode == ViommuModel::virtio) {
    EXPECT_EQ(p.count("/domain/devices/iommu[@model='virtio']"), 1u);
  }
  if (nested) {
    EXPECT_EQ(count_prefix(args, "intel-iommu,intremap=on,caching-mode=on"), 1u);
    EXPECT_NE(args.end(), std::find_if(args.begin(), args.end(), [](const std::string& a) {
                return a.find("x-scalable-mode=on") != std::string::npos && a.find("x-flts=on") != std::string::npos;
              }));
  }
  if (!args.empty()) {
    EXPECT_EQ(std::string(p.root.attribute("xmlns:qemu").value()), kQemuNamespace);
  }

  // Idempotent.
  EXPECT_EQ(render_domain(out, s), out);
}

INSTANTIATE_TEST_SUITE_P(DomainXml, EveryTemplateAndMode,
                         ::testing::Combine(::testing::ValuesIn(kTemplates), ::testing::ValuesIn(kModes)),
                         [](const auto& info) {
                           std::string n = std::get<0>(info.param);
                           n = n.substr(0, n.find('.'));
                           for (auto& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n + "_" + mode_name(std::get<1>(info.param));
                         });

TEST(DomainXml, KeepsTheTemplatesOtherQemuArguments) {
  auto out = render_domain(load("server_vIOMMU_qemu9_debug.xml"), settings_for(ViommuModel::none));
  Parsed p(out);
  auto args = p.qemu_args();
  EXPECT_EQ(count_prefix(args, "intel-iommu"), 0u);
  EXPECT_EQ(count_prefix(args, "--trace"), 4u);
  EXPECT_EQ(count_prefix(args, "vtd*"), 1u);
  EXPECT_EQ(args.front(), "--trace");
}

TEST(DomainXml, DropsAnEmptiedQemuCommandline) {
  auto out = render_domain(load("server_vIOMMU.xml"), settings_for(ViommuModel::intel));
  EXPECT_EQ(out.find("qemu:commandline"), std::string::npos);
}

TEST(DomainXml, SwitchingModesLeavesNoTrace) {
  auto t = load("server_iommufd_nested.xml");
  auto nested = render_domain(t, settings_for(ViommuModel::nested));
  auto intel = render_domain(nested, settings_for(ViommuModel::intel));
  EXPECT_EQ(intel, render_domain(t, settings_for(ViommuModel::intel)));
  auto none = render_domain(intel, settings_for(ViommuModel::none));
  EXPECT_EQ(none, render_domain(t, settings_for(ViommuModel::none)));
  EXPECT_EQ(none.find("iommu model"), std::string::npos);
}

TEST(DomainXml, WithoutVfNoPassthroughAndNoLockedMemory) {
  auto out = render_domain(load("server_vIOMMU.xml"), settings_for(ViommuModel::intel, false));
  Parsed p(out);
  EXPECT_EQ(p.count("/domain/devices/interface[@type='hostdev']"), 0u);
  EXPECT_EQ(p.count("/domain/memoryBacking"), 0u);
  auto nested = render_domain(load("server_iommufd_nested.xml"), settings_for(ViommuModel::nested, false));
  EXPECT_EQ(count_prefix(Parsed(nested).qemu_args(), "vfio-pci"), 0u);
}

TEST(DomainXml, ExplicitMemoryLockWins) {
  auto s = settings_for(ViommuModel::intel);
  s.lock_memory = false;
  Parsed p(render_domain(load("server.xml"), s));
  EXPECT_EQ(p.count("/domain/memoryBacking"), 0u);
}

TEST(DomainXml, IntelOptionsFollowTheSpec) {
  auto s = settings_for(ViommuModel::intel, false);
  s.viommu.caching_mode = false;
  s.viommu.iotlb = false;
  s.viommu.intremap = false;
  s.viommu.aw_bits = 39;
  Parsed p(render_domain(load("server.xml"), s));
  auto d = p.root.select_node("/domain/devices/iommu/driver").node();
  EXPECT_EQ(std::string(d.attribute("caching_mode").value()), "off");
  EXPECT_EQ(std::string(d.attribute("iotlb").value()), "off");
  EXPECT_EQ(std::string(d.attribute("intremap").value()), "off");
  EXPECT_EQ(std::string(d.attribute("aw_bits").value()), "39");
}

TEST(DomainXml, ZeroAndEmptyKeepTheTemplate) {
  DomainSettings s;
  s.name = "keep";
  auto out = render_domain(load("server_iommufd_nested.xml"), s);
  Parsed p(out);
  EXPECT_EQ(std::string(p.root.child("vcpu").text().get()), "16");
  EXPECT_EQ(std::string(p.root.child("memory").text().get()), "10485760");
  EXPECT_EQ(std::string(p.root.child("os").child("kernel").text().get()), "/boot/vmlinuz-6.12.9-iommufd-cdev");
  EXPECT_NE(std::string(p.root.child("os").child("cmdline").text().get()).find("iommu.strict=1"), std::string::npos);
  EXPECT_EQ(p.count("/domain/cputune/vcpupin"), 16u);
}

TEST(DomainXml, DropsOutOfRangeVcpuPinsOfTheTemplate) {
  DomainSettings s;
  s.name = "keep";
  Parsed p(render_domain(load("network-server-pt.xml"), s));
  EXPECT_EQ(std::string(p.root.child("vcpu").text().get()), "60");
  EXPECT_EQ(p.count("/domain/cputune/vcpupin"), 60u);
}

TEST(DomainXml, CreatesMissingElements) {
  DomainSettings s = settings_for(ViommuModel::intel);
  s.domain_type = "qemu";
  s.uuid = "11111111-2222-3333-4444-000000000009";
  auto out = render_domain("<domain type='kvm'><name>x</name><os><type>hvm</type></os></domain>", s);
  Parsed p(out);
  EXPECT_EQ(std::string(p.root.attribute("type").value()), "qemu");
  EXPECT_EQ(std::string(p.root.child("uuid").text().get()), s.uuid);
  EXPECT_EQ(std::string(p.root.child("os").first_child().name()), "type");
  EXPECT_EQ(std::string(p.root.child("os").child("cmdline").text().get()), s.cmdline);
  EXPECT_EQ(p.count("/domain/features/ioapic"), 1u);
  EXPECT_EQ(p.count("/domain/devices/iommu"), 1u);
  EXPECT_EQ(render_domain(out, s), out);
}

TEST(DomainXml, QemuNamespaceDeclaredWhenAdded) {
  auto out = render_domain(load("server.xml"), settings_for(ViommuModel::nested));
  EXPECT_NE(out.find(std::string("xmlns:qemu=\"") + kQemuNamespace + "\""), std::string::npos);
}

TEST(DomainXml, RejectsBadInput) {
  EXPECT_THROW(render_domain("<device/>", settings_for(ViommuModel::none)), InputError);
  EXPECT_THROW(render_domain("<domain", settings_for(ViommuModel::none)), InputError);
  auto s = settings_for(ViommuModel::none);
  s.vf_mac = "01:00:00:00:00:01";  // multicast
  EXPECT_THROW(render_domain(load("server.xml"), s), InputError);
  s = settings_for(ViommuModel::intel);
  s.viommu.caching_mode = false;  // QEMU refuses a VF behind intel-iommu without caching mode
  EXPECT_THROW(render_domain(load("server.xml"), s), InputError);
  s.vf.reset();
  EXPECT_NO_THROW(render_domain(load("server.xml"), s));
  s = settings_for(ViommuModel::none);
  s.name = "";
  EXPECT_THROW(render_domain(load("server.xml"), s), InputError);
}

TEST(DomainXml, NormalisedComparisonIgnoresLiveState) {
  auto live = load("server_vIOMMU.xml");
  auto stripped = render_domain(live, [] {
    DomainSettings s;
    s.name = "server-vIOMMU";
    s.viommu.model = ViommuModel::none;
    return s;
  }());
  EXPECT_TRUE(same_domain_xml(stripped, render_domain(stripped, [] {
    DomainSettings s;
    s.name = "server-vIOMMU";
    return s;
  }())));
  EXPECT_FALSE(same_domain_xml(live, stripped));
  EXPECT_TRUE(same_domain_xml("<domain id='3'><name>a</name><devices><alias name='x'/></devices></domain>",
                              "<domain>\n  <name>a</name>\n  <devices/>\n</domain>"));
}

TEST(DomainXml, ContentHashStamp) {
  auto xml = render_domain(load("server.xml"), settings_for(ViommuModel::intel));
  auto stamped = stamp_content_hash(xml);
  ASSERT_TRUE(stamped_hash(stamped).has_value());
  EXPECT_EQ(*stamped_hash(stamped), content_hash(xml));
  EXPECT_EQ(content_hash(stamped), content_hash(xml));
  EXPECT_EQ(content_hash(with_uuid(xml, "11111111-2222-3333-4444-000000000001")), content_hash(xml));
  EXPECT_FALSE(stamped_hash(xml).has_value());
  auto other = render_domain(load("server.xml"), settings_for(ViommuModel::virtio));
  EXPECT_NE(content_hash(other), content_hash(xml));
  // Rendering a stamped domain drops the stamp.
  EXPECT_EQ(render_domain(stamped, settings_for(ViommuModel::intel)), xml);
  EXPECT_EQ(*domain_name(xml), "iommuvm-guest");
}

TEST(DomainXml, IntelThroughIommufdIsTheUsersShadowForm) {
  auto s = settings_for(ViommuModel::intel);
  s.iommufd = true;
  auto out = render_domain(load("server_iommufd_shadow.xml"), s);
  Parsed p(out);
  EXPECT_EQ(p.qemu_args(), (std::vector<std::string>{
                               "-M", "kernel_irqchip=split", "-object", "iommufd,id=iommufd0", "-device",
                               "intel-iommu,intremap=on,caching-mode=on,device-iotlb=on,aw-bits=48", "-device",
                               "vfio-pci,host=0000:ca:00.2,id=hostdev0,iommufd=iommufd0"}));
  EXPECT_EQ(p.count("/domain/devices/iommu"), 0u);
  EXPECT_EQ(p.count("/domain/devices/interface[@type='hostdev']"), 0u);
  EXPECT_EQ(p.count("/domain/memoryBacking/locked"), 1u);
  EXPECT_EQ(render_domain(out, s), out);
  // From a libvirt-<iommu> guest to the shadow form and back.
  auto plain = render_domain(load("server_vIOMMU.xml"), settings_for(ViommuModel::intel));
  EXPECT_EQ(render_domain(render_domain(plain, s), settings_for(ViommuModel::intel)), plain);
}

TEST(DomainXml, IommufdWithoutVIommuOrWithVirtio) {
  auto s = settings_for(ViommuModel::none);
  s.iommufd = true;
  Parsed none(render_domain(load("server_iommufd_iommu_off.xml"), s));
  EXPECT_EQ(none.qemu_args(), (std::vector<std::string>{"-object", "iommufd,id=iommufd0", "-device",
                                                        "vfio-pci,host=0000:ca:00.2,id=hostdev0,iommufd=iommufd0"}));
  s.viommu.model = ViommuModel::virtio;
  Parsed virtio(render_domain(load("server.xml"), s));
  EXPECT_EQ(virtio.count("/domain/devices/iommu[@model='virtio']"), 1u);
  EXPECT_EQ(count_prefix(virtio.qemu_args(), "vfio-pci"), 1u);
  EXPECT_EQ(virtio.count("/domain/devices/interface[@type='hostdev']"), 0u);
  // No VF: no iommufd object either.
  auto novf = settings_for(ViommuModel::none, false);
  novf.iommufd = true;
  EXPECT_EQ(render_domain(load("server_iommufd_iommu_off.xml"), novf).find("qemu:commandline"), std::string::npos);
}
