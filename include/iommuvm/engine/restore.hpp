// Undoing what a campaign changed on its machines, from its undo log: what the engine does
// at a campaign's end and what `iommuvm restore` does (defined in src/engine/restore.cpp).
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "iommuvm/remote/remote.hpp"
#include "iommuvm/results/store.hpp"
#include "iommuvm/virt/hypervisor.hpp"

namespace iommuvm::engine {

// Undo what undo.jsonl records, newest first, through the machines' remotes: generated
// files removed, backed-up files put back, VF counts, MTU, governor and SMT restored.
// Entries already undone are marked in undo.jsonl so a second call does nothing.
// At the campaign's end (campaign_end), entries marked keep_at_end (nic.restore: false) are
// left and listed; `iommuvm restore` undoes them too.
// Returns what could not be undone or was left, one line each.
std::vector<std::string> restore_machines(results::CampaignStore& store,
                                          const std::map<std::string, remote::Remote*>& machines, std::ostream& out,
                                          virt::Hypervisor* hypervisor = nullptr, bool campaign_end = false);

}  // namespace iommuvm::engine
