// The kinds of plan steps, named once: the plan lays them out (plan::kind is this namespace),
// the engine has a handler per kind, and the spec's timeouts: section is keyed by them. The
// values are in journals on disk (journal.jsonl): they never change.
#pragma once

#include <string_view>

namespace iommuvm::spec::step_kind {

inline constexpr const char* campaign_begin = "campaign.begin";
inline constexpr const char* host_set_policy = "host.set_policy";
inline constexpr const char* host_reboot = "host.reboot";
inline constexpr const char* host_verify_policy = "host.verify_policy";
inline constexpr const char* nic_setup_vfs = "nic.setup_vfs";
inline constexpr const char* machine_tune = "machine.tune";
inline constexpr const char* guest_shutdown = "guest.shutdown";
inline constexpr const char* guest_define = "guest.define";
inline constexpr const char* guest_start = "guest.start";
inline constexpr const char* guest_verify_policy = "guest.verify_policy";
inline constexpr const char* guest_network = "guest.network";
inline constexpr const char* run_begin = "run.begin";
inline constexpr const char* server_start = "server.start";
inline constexpr const char* client_warmup = "client.warmup";
inline constexpr const char* client_measure = "client.measure";
inline constexpr const char* server_stop = "server.stop";
inline constexpr const char* run_end = "run.end";
inline constexpr const char* cooldown = "cooldown";
inline constexpr const char* campaign_end = "campaign.end";

struct Kind {
  const char* name;
  bool timeout;  // timeouts: may limit it (the engine's own bookkeeping steps wait on nothing)
};

// Every kind, in the order a plan has them.
inline constexpr Kind all[] = {
    {campaign_begin, false}, {host_set_policy, true}, {host_reboot, true},   {host_verify_policy, true},
    {nic_setup_vfs, true},   {machine_tune, true},    {guest_shutdown, true}, {guest_define, true},
    {guest_start, true},     {guest_verify_policy, true}, {guest_network, true}, {run_begin, false},
    {server_start, true},    {client_warmup, true},   {client_measure, true}, {server_stop, true},
    {run_end, false},        {cooldown, true},        {campaign_end, false},
};

}  // namespace iommuvm::spec::step_kind
