#!/usr/bin/env python3
"""Count the vIOMMU invalidations of each run of a campaign from QEMU's trace files.

  scripts/vtd-invalidations.py CAMPAIGN_DIR [--traces GLOB] [--json]

CAMPAIGN_DIR is results/<name>/<campaign>/ (holding runs/<id>/run.json). The trace files are
those the domain template configs/domains/tcg-viommu.xml makes QEMU write, one per guest boot:
/var/log/libvirt/qemu/iommuvm-vtd-*.log, lines "PID@EPOCH.USEC:EVENT ARGS". Every event whose
time falls in a run's measurement window (window_started_at .. window_ended_at in run.json) is
counted for that run; per request = IOTLB invalidation descriptors / requests measured
(redis-benchmark: requests x number of tests). Prints a table (or JSON with --json).
A stopgap until iommuvm collects these itself (see the realvm branch report).
"""
import argparse
import glob
import json
import os
import re
import sys
from datetime import datetime

LINE = re.compile(r"^(\d+)@(\d+\.\d+):(vtd_inv_\w+)")


def iso_to_epoch(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def load_runs(campaign):
    runs = []
    for f in sorted(glob.glob(os.path.join(campaign, "runs", "*", "run.json"))):
        with open(f) as fh:
            j = json.load(fh)
        if not j.get("window_started_at") or not j.get("window_ended_at"):
            runs.append((j, None, None))
            continue
        runs.append((j, iso_to_epoch(j["window_started_at"]), iso_to_epoch(j["window_ended_at"])))
    return runs


def requests_of(spec_text, run):
    # The measured requests: redis-benchmark -n N per test (-t a,b -> 2N).
    try:
        import yaml  # noqa: F401  (optional)
    except ImportError:
        pass
    n = None
    m = re.search(r"requests:\s*(\d+)", spec_text or "")
    if m:
        n = int(m.group(1))
    t = re.search(r"tests:\s*\[([^\]]*)\]", spec_text or "")
    tests = len([x for x in t.group(1).split(",") if x.strip()]) if t else 1
    return n * tests if n else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("campaign")
    ap.add_argument("--traces", default="/var/log/libvirt/qemu/iommuvm-vtd-*.log")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    runs = load_runs(a.campaign)
    if not runs:
        sys.exit(f"no runs/*/run.json under {a.campaign}")
    spec_text = None
    sp = os.path.join(a.campaign, "spec.yaml")
    if os.path.exists(sp):
        spec_text = open(sp).read()
    lo = min(s for _, s, _ in runs if s is not None)
    hi = max(e for _, _, e in runs if e is not None)
    counts = [dict() for _ in runs]
    for path in glob.glob(a.traces):
        try:
            if os.path.getmtime(path) < lo:
                continue  # ended before the campaign
        except OSError:
            continue
        with open(path, errors="replace") as fh:
            for line in fh:
                m = LINE.match(line)
                if not m:
                    continue
                t = float(m.group(2))
                if t < lo or t > hi:
                    continue
                for i, (_, s, e) in enumerate(runs):
                    if s is not None and s <= t <= e:
                        counts[i][m.group(3)] = counts[i].get(m.group(3), 0) + 1
                        break
    out = []
    for (j, s, e), c in zip(runs, counts):
        p = j.get("params", {})
        g = next(iter(j.get("policy", {}).get("guests", {}).values()), {})
        reqs = requests_of(spec_text, j)
        iotlb = sum(v for k, v in c.items() if k.startswith("vtd_inv_desc_iotlb"))
        out.append({
            "run": j.get("id"),
            "status": j.get("status"),
            "params": p,
            "effective": g.get("effective"),
            "throughput_ops": (j.get("metrics") or {}).get("throughput_ops"),
            "window_s": (e - s) if s is not None else None,
            "events": c,
            "iotlb_invalidations": iotlb if s is not None else None,
            "requests": reqs,
            "iotlb_per_request": (iotlb / reqs) if (reqs and s is not None) else None,
        })
    if a.json:
        json.dump(out, sys.stdout, indent=2)
        print()
        return
    print(f"{'run':45} {'status':7} {'effective':11} {'ops/s':>8} {'iotlb pages':>11} {'domain':>6} {'global':>6} {'per req':>8}")
    for r in out:
        c = r["events"]
        per = "-" if r["iotlb_per_request"] is None else f"{r['iotlb_per_request']:.2f}"
        ops = "-" if r["throughput_ops"] is None else f"{r['throughput_ops']:.0f}"
        print(f"{r['run']:45} {r['status']:7} {str(r['effective']):11} {ops:>8} "
              f"{c.get('vtd_inv_desc_iotlb_pages', 0):>11} {c.get('vtd_inv_desc_iotlb_domain', 0):>6} "
              f"{c.get('vtd_inv_desc_iotlb_global', 0):>6} {per:>8}")


if __name__ == "__main__":
    main()
