#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns one `make bench` result directory into results.json (every run,
every sample, and one entry per point with its median, 95% interval and
ratios), summary.md (records/s per backend, mode and thread count as
median [95% interval] over the repetitions; ratios to classic and to stock
in the same environment with their intervals and Welch t-test marks; the
kernel's own counters of stock runs; fault-path breakdown; submission
paths; the swap workload per strategy and swap policy; ebizzy with and
without the shadow TLB; mapbench with shootdowns per unmap;
microbenchmarks) and plots with error bars: records_vs_threads.png,
aborts.png, swap.png and tlb.png.  Statistics: scripts/benchstats.py (SciPy)."""
import glob
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchstats as bs  # noqa: E402


def load_runs(out):
    runs = []
    for path in sorted(glob.glob(f"{out}/*.json")):
        name = os.path.basename(path)[:-5]
        if name.startswith("micro-") or name in ("results", "icount"):
            continue
        doc = json.load(open(path))
        env = ("vm-ppc64le" if name.startswith("vm_ppc64le-")
               else "vm-pvl-on" if name.startswith("vm_pvl_on-")
               else "vm-pvl-off" if name.startswith("vm_pvl_off-")
               else "vm" if name.startswith("vm-") else "native")
        for run in doc["runs"]:
            run["env"] = env
            run["source"] = name
            run["host"] = doc.get("host", {})
            # A vmalock swap run is one point per swap policy.
            run["mode"] = bs.mode_label(run)
            # The fork workload's other threads' rate, for the fix-cost table.
            # (Measured values are in "results"; runs before 2026-12 had
            # them in "config".)
            measured = {**run.get("config", {}), **(run.get("results") or {})}
            rate = measured.get("faulters_faults_per_s")
            if rate is not None:
                run["faulters_faults_per_s"] = float(rate)
            # The uffd workload's wait per fault, for uffd_wait_table().
            for q in ("p50", "p99"):
                ns = measured.get(f"wait_ns_{q}")
                if ns is not None:
                    run[f"uffd_wait_us_{q}"] = float(ns) / 1e3
            # CPUs a shootdown interrupted per record, for tlb_table().
            c = run.get("counters") or {}
            if run.get("records") and "tlb_ipi" in c:
                run["ipis_per_record"] = c["tlb_ipi"] / run["records"]
            # mapbench's per-unmap TLB figures, for mapbench_table().
            for k in ("shootdowns_per_unmap", "ipis_per_unmap"):
                v = (run.get("results") or {}).get(k)
                if v is not None:
                    run[k] = float(v)
            runs.append(run)
    return runs


def machine_lines(out):
    try:
        return [line.rstrip() for line in open(f"{out}/machine.txt")]
    except OSError:
        return []


def env_label(env, lines, runs=()):
    """The environment's label; @runs give a ppc64le guest's page size."""
    if env == "native":
        return "native"
    prefix = env.replace("-", "_") + " "
    accel = next((line for line in lines if line.startswith(prefix + "accel:")), "")
    label = ("VM, TCG (software emulation)" if "tcg" in accel
             else "VM, " + accel[len(prefix) + 6:].strip())
    if env == "vm-ppc64le":
        sizes = {r.get("page_size") for r in runs if r.get("env") == env} - {None}
        pages = "".join(f", {size // 1024} KiB pages" for size in sorted(sizes))
        label = label.replace("VM, TCG", "VM, TCG, ppc64le" + pages, 1)
    return label


def workload_title(run):
    if run["workload"] == "ebizzy":
        return "ebizzy " + run.get("config", {}).get("ebizzy", "")
    if run["workload"] == "mapbench":
        c = run.get("config", {})
        return f"mapbench {c.get('mapbench', '?')}, {c.get('pages', '?')} page(s) per region"
    return run["workload"]


def default_tlb(run):
    """A run with the TLB policy every other table assumes (rcu, or none
    reported: stock and older runs)."""
    return run.get("tlb_policy") in (None, "rcu")


def tlb_suffix(mode):
    """'+tlb:none' of 'spf+tlb:none', '' of 'spf' or 'vmalock/fallback'."""
    i = mode.find("+tlb:")
    return mode[i:].split("+bug:")[0] if i >= 0 else ""


def mode_order(k):
    backend, mode = k
    return (backend != "stock", backend, mode != "classic", mode)


def points(runs):
    """{key: {"samples", "summary", "vs_classic", "vs_stock"}} for every point."""
    out = {}
    samples = bs.group(runs)
    for key, xs in samples.items():
        env, workload, backend, mode, submit, batch, tcp, processes, threads = key
        entry = {"samples": xs, "summary": bs.summary(xs), "vs_classic": None, "vs_stock": None}
        # Against classic under the same TLB policy.
        classic = (env, workload, backend, "classic" + tlb_suffix(mode), submit, batch, tcp,
                   processes, threads)
        if backend != "stock" and key != classic and classic in samples:
            entry["vs_classic"] = bs.ratio(xs, samples[classic])
        stock = next((k for k in samples if k[0] == env and k[1] == workload and k[2] == "stock"
                      and k[7] == processes and k[8] == threads), None)
        if backend != "stock" and stock:
            entry["vs_stock"] = bs.ratio(xs, samples[stock])
        out[key] = entry
    return out


def ratio_cell(r):
    if not r or r["ratio"] is None:
        return "-"
    ci = bs.fmt_interval(r["ci95"], "{:.2f}") if r["ci95"] else ""
    return f"{r['ratio']:.2f}x {ci} {bs.mark(r['p'])}".rstrip()


def rate_cell(xs):
    """Samples as 'median [95% interval]', '-' without any."""
    if not xs:
        return "-"
    s = bs.summary(xs)
    return f"{s['median']:,.0f} {bs.fmt_interval(s['ci95'])}"


def median_cell(groups, key, fmt):
    """The median of @groups[@key] in @fmt, '-' if it has none."""
    return fmt.format(bs.summary(groups[key])["median"]) if key in groups else "-"


def rate_tables(runs, pts, lines):
    md = []
    # Points that are not the submission-path runs, by environment and workload.
    rs = [r for r in runs if not r["source"].startswith("vm-submit-")]
    groups = {}
    for r in rs:
        groups.setdefault((r["env"], workload_title(r), r.get("processes", False)), []).append(r)
    for (env, title, processes), grs in sorted(groups.items(), key=lambda g: (g[0][0] != "native",
                                                                               g[0][1], g[0][2])):
        threads = sorted({r["threads"] for r in grs})
        keys = sorted({(r["backend"], r["mode"]) for r in grs}, key=mode_order)
        unit = grs[0].get("record_unit", "records")
        by = {}
        for r in grs:
            by[(r["backend"], r["mode"], r["threads"])] = bs.point_key(r)
        n = max(pts[k]["summary"]["n"] for k in by.values())
        kind = "processes" if processes else "threads"
        md.append(f"### {title}, {unit}/s — {env_label(env, lines, grs)}, {kind}\n")
        md.append(f"median [95% bootstrap interval of the median] over {n} repetitions"
                  " (interleaved across modes):\n")
        head = "| backend | mode | " + " | ".join(f"{t} {kind[:3]}" for t in threads) + " |"
        rule = "|---|---|" + "---:|" * len(threads)
        md += [head, rule]
        for b, m in keys:
            cells = []
            for t in threads:
                k = by.get((b, m, t))
                if not k:
                    cells.append("-")
                    continue
                s = pts[k]["summary"]
                cells.append(f"{s['median']:,.0f} {bs.fmt_interval(s['ci95'])}")
            md.append(f"| {b} | {m} | " + " | ".join(cells) + " |")
        md.append("")
        for which, label in (("vs_classic", "classic (same backend)"),
                             ("vs_stock", f"stock ({env_label(env, lines, grs)})")):
            rows = []
            for b, m in keys:
                cells = [ratio_cell(pts[by[(b, m, t)]][which]) if (b, m, t) in by else "-"
                         for t in threads]
                if any(c != "-" for c in cells):
                    rows.append(f"| {b} | {m} | " + " | ".join(cells) + " |")
            if rows:
                md.append(f"ratio of medians to {label} [95% bootstrap interval]; "
                          "Welch's t-test: * p < 0.05, ** p < 0.01\n")
                md += [head, rule] + rows + [""]
    return md


def fix_cost_table(runs, lines):
    """What write-locking the parent's VMAs during FORK costs (the 6.4.x fix),
    per strategy: the fork workload fixed against the same run with the
    fork_no_vma_lock knob on (bench.sh's only runs with a bug on)."""
    bug = "+bug:fork_no_vma_lock"
    forks = [r for r in runs if r["workload"] == "fork" and r["backend"] != "stock"]
    buggy = [r for r in forks if r["mode"].endswith(bug)]
    if not buggy:
        return []
    md = ["### fork: what locking the parent's VMAs costs (the 6.4.x fix against its bug)\n",
          "The fork workload with every VMA write-locked for the copy (fixed, the default) "
          "and the same run with the knob `fork_no_vma_lock` on (the 6.4 bug; runs "
          "interleaved, never a result of their own).  Ratio fixed / bug of the medians "
          "[95% bootstrap interval]; below 1 is the fix's cost.  Mainline measured about "
          "0.95 on a fork-heavy test.\n"]
    for env in sorted({r["env"] for r in buggy}):
        env_runs = [r for r in forks if r["env"] == env]
        md.append(f"{env_label(env, lines, env_runs)}:\n")
        md += ["| backend | mode | threads | forks/s fixed | forks/s bug | fixed/bug "
               "| faulters' faults/s fixed/bug |", "|---|---|---:|---:|---:|---:|---:|"]
        fixed_pts = {k: v for k, v in bs.group(env_runs).items() if not k[3].endswith(bug)}
        buggy_pts = {k: v for k, v in bs.group(env_runs).items() if k[3].endswith(bug)}
        faults = bs.group(env_runs, "faulters_faults_per_s")
        for k, xs in sorted(buggy_pts.items()):
            base = k[:3] + (k[3][:-len(bug)],) + k[4:]
            if base not in fixed_pts:
                continue
            fixed, r = bs.summary(fixed_pts[base]), bs.ratio(fixed_pts[base], xs)
            fr = bs.ratio(faults.get(base, []), faults.get(k, [])) if base in faults else None
            md.append(f"| {k[2]} | {base[3]} | {k[8]} | {fixed['median']:,.1f} "
                      f"{bs.fmt_interval(fixed['ci95'], '{:,.1f}')} | "
                      f"{bs.summary(xs)['median']:,.1f} | {ratio_cell(r)} | {ratio_cell(fr)} |")
        md.append("")
    return md


def uffd_wait_table(runs, lines):
    """How long a userfault waited (the read that faulted, to its return),
    per backend and strategy: the medians over the repetitions of each
    run's own median and p99."""
    uffd = [r for r in runs if r["workload"] == "uffd" and "uffd_wait_us_p50" in r]
    if not uffd:
        return []
    md = ["### uffd: how long a fault waited for its resolver\n",
          "Each run's median and p99 wait, from the faulting read to its return; "
          "the median of those over the repetitions [95% bootstrap interval].\n"]
    for env in sorted({r["env"] for r in uffd}):
        env_runs = [r for r in uffd if r["env"] == env]
        md.append(f"{env_label(env, lines, env_runs)}:\n")
        md += ["| backend | mode | threads | wait p50, us | wait p99, us | n |",
               "|---|---|---:|---:|---:|---:|"]
        p50 = bs.group(env_runs, "uffd_wait_us_p50")
        p99 = bs.group(env_runs, "uffd_wait_us_p99")
        for k in sorted(p50, key=lambda k: (mode_order((k[2], k[3])), k[8])):
            a, b = bs.summary(p50[k]), bs.summary(p99.get(k, p50[k]))
            md.append(f"| {k[2]} | {k[3]} | {k[8]} | {a['median']:,.1f} "
                      f"{bs.fmt_interval(a['ci95'], '{:,.1f}')} | {b['median']:,.1f} "
                      f"{bs.fmt_interval(b['ci95'], '{:,.1f}')} | {a['n']} |")
        md.append("")
    return md


def tlb_table(runs, lines):
    """ebizzy per shadow backend, mode and thread count under each TLB
    policy: none (no TLB model, the old PTE-locked access), rcu (the
    default) and ipi; the model's cost as rcu/none and ipi/none, and what
    it does to the gap to stock (module or inproc / stock with and without
    it)."""
    eb = [r for r in runs if r["workload"] == "ebizzy" and not r.get("processes")
          and not r["source"].startswith("vm-submit-")]
    if not any(r.get("tlb_policy") == "none" for r in eb):
        return []
    md = ["### ebizzy with and without the shadow TLB\n",
          "records/s, median [95% bootstrap interval] over the repetitions, each TLB policy "
          "run in the same repetition loop: *none* no TLB model (every access walks under "
          "the PTE lock, as before the model), *rcu* the TLB with page tables freed after "
          "an RCU grace period (the default, every other table), *ipi* freed after an IPI "
          "round with the speculative walk's interrupts off.  *rcu/none*, *ipi/none*: the "
          "model's cost (ratio of medians [95% interval], Welch marks); */stock*: the "
          "shadow backend against the same environment's kernel without and with the "
          "model, the gap the model was to narrow; *IPIs/record*: CPUs interrupted by "
          "shootdowns per record under rcu (`tlb_ipi`; in-process a CPU is a thread, and "
          "a thread stays in the mask of a space it used).\n"]
    for env in ("native", "vm", "vm-ppc64le"):
        rs = [r for r in eb if r["env"] == env]
        if not any(r.get("tlb_policy") == "none" for r in rs):
            continue
        samples = bs.group(rs)
        md.append(f"#### {env_label(env, lines, rs)}\n")
        md += ["| backend | mode | threads | none | rcu | ipi | rcu/none | ipi/none "
               "| /stock, none | /stock, rcu | IPIs/record |",
               "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        per_record = bs.group(rs, "ipis_per_record")
        bases = sorted({k for k in samples if k[2] != "stock" and not tlb_suffix(k[3])},
                       key=lambda k: (mode_order((k[2], k[3])), k[8]))
        for k in bases:
            none = samples.get(k[:3] + (k[3] + "+tlb:none",) + k[4:])
            ipi = samples.get(k[:3] + (k[3] + "+tlb:ipi",) + k[4:])
            stock = next((v for sk, v in samples.items() if sk[2] == "stock"
                          and sk[8] == k[8]), None)
            md.append(f"| {k[2]} | {k[3]} | {k[8]} | {rate_cell(none)} | "
                      f"{rate_cell(samples[k])} | {rate_cell(ipi)} | "
                      f"{ratio_cell(bs.ratio(samples[k], none)) if none else '-'} | "
                      f"{ratio_cell(bs.ratio(ipi, none)) if none and ipi else '-'} | "
                      f"{ratio_cell(bs.ratio(none, stock)) if none and stock else '-'} | "
                      f"{ratio_cell(bs.ratio(samples[k], stock)) if stock else '-'} | "
                      f"{median_cell(per_record, k, '{:.2f}')} |")
        md.append("")
    md += ["![ebizzy with and without the TLB model](tlb.png)", ""]
    return md


def tlb_plot(runs, out, lines):
    eb = [r for r in runs if r["workload"] == "ebizzy" and not r.get("processes")
          and not r["source"].startswith("vm-submit-")]
    envs = [e for e in ("native", "vm", "vm-ppc64le")
            if any(r["env"] == e and r.get("tlb_policy") == "none" for r in eb)]
    if not envs:
        return
    fig, axes = plt.subplots(1, len(envs), figsize=(7 * len(envs), 4.8), squeeze=False)
    for ax, env in zip(axes[0], envs):
        rs = [r for r in eb if r["env"] == env]
        samples = bs.group(rs)
        for k in sorted({k[:8] for k in samples}, key=lambda k: mode_order((k[2], k[3]))):
            if k[2] != "stock" and k[3].split("+")[0] not in ("classic", "spf", "vmalock"):
                continue
            keys = sorted((sk for sk in samples if sk[:8] == k), key=lambda sk: sk[8])
            meds = [bs.summary(samples[sk]) for sk in keys]
            cis = [m["ci95"] or (m["median"],) * 2 for m in meds]
            err = [[m["median"] - c[0] for m, c in zip(meds, cis)],
                   [c[1] - m["median"] for m, c in zip(meds, cis)]]
            style = "--" if k[2] == "stock" else ":" if "+tlb:none" in k[3] else "-"
            ax.errorbar([sk[8] for sk in keys], [m["median"] for m in meds], yerr=err,
                        marker="o", capsize=3, linestyle=style, label=f"{k[2]} {k[3]}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("threads")
        ax.set_ylabel("records/s (median, 95% interval)")
        ax.set_title(f"ebizzy, TLB model none (dotted) vs rcu/ipi — {env_label(env, lines, rs)}",
                     fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(f"{out}/tlb.png", dpi=110)
    plt.close(fig)


def mapbench_table(runs, lines):
    """mapbench per variant, backend, mode and thread count: touches/s and
    the TLB shootdowns (flushes that interrupted another CPU) and CPUs
    interrupted per unmap; on stock, the machine's TLB shootdown
    interrupts per unmap."""
    mb = [r for r in runs if r["workload"] == "mapbench"]
    if not mb:
        return []
    md = ["### mapbench (after RadixVM's): page touches/s and shootdowns per unmap\n",
          "*local*: each thread maps, writes and unmaps its own regions; *pipeline*: "
          "each region is mapped and written by one thread and written and unmapped by the "
          "next, so an unmap must reach the other CPU; *global*: every thread writes a "
          "shared region between barriers, one thread unmaps and remaps it.  touches/s "
          "median [95% bootstrap interval]; per unmap: medians over the repetitions of each "
          "run's shootdowns (flushes that interrupted another CPU: `tlb_shootdown`) and "
          "CPUs interrupted (`tlb_ipi`); stock: the `TLB:` line of `/proc/interrupts` "
          "(every CPU's TLB shootdown interrupts, machine-wide).\n"]
    for env in ("native", "vm", "vm-ppc64le"):
        rs = [r for r in mb if r["env"] == env]
        if not rs:
            continue
        rate = bs.group(rs)
        shoot = bs.group(rs, "shootdowns_per_unmap")
        ipis = bs.group(rs, "ipis_per_unmap")
        md.append(f"#### {env_label(env, lines, rs)}\n")
        md += ["| variant | backend | mode | threads | touches/s | vs stock | shootdowns/unmap "
               "| CPUs interrupted/unmap |", "|---|---|---|---:|---:|---:|---:|---:|"]
        for k in sorted(rate, key=lambda k: (k[1], k[8], mode_order((k[2], k[3])))):
            stock = next((v for sk, v in rate.items() if sk[1] == k[1] and sk[2] == "stock"
                          and sk[8] == k[8]), None)
            vs = ratio_cell(bs.ratio(rate[k], stock)) if stock and k[2] != "stock" else "-"
            md.append(f"| {k[1].split('/', 1)[-1]} | {k[2]} | {k[3]} | {k[8]} | "
                      f"{rate_cell(rate[k])} | {vs} | {median_cell(shoot, k, '{:.3f}')} | "
                      f"{median_cell(ipis, k, '{:.3f}')} |")
        md.append("")
    return md


# SET_MODEL's choices as make bench runs them (--model): Linux's, each
# put back alone, and both (the model before the A/B).
PVL_MODELS = ("", "unmap_write", "tlb_waiters_stay", "unmap_write,tlb_waiters_stay")


def pvl_points(runs):
    """{(workload, threads): {"stock_off", "stock_on", ("classic" | "vmalock",
    model)}: [records/s]} of the per-VMA-lock A/B; the module's from the off
    kernel."""
    out = {}
    for r in runs:
        if r["env"] not in ("vm-pvl-on", "vm-pvl-off"):
            continue
        on = r["env"] == "vm-pvl-on"
        base, _, model = r["mode"].partition("+model:")
        if r["backend"] == "stock":
            which = "stock_on" if on else "stock_off"
        elif not on and base in ("classic", "vmalock"):
            which = (base, model)
        else:
            continue
        out.setdefault((workload_title(r), r["threads"]), {}).setdefault(which, []).append(
            r["records_per_s"])
    return {k: v for k, v in out.items()
            if {"stock_off", "stock_on", ("classic", ""), ("vmalock", "")} <= v.keys()}


def pvl_table(runs, lines):
    """The model's prediction of what per-VMA locks buy against what they
    buy a real kernel: stock on 6.12 built with them over the same 6.12
    built without them (the real gain), module vmalock over module classic
    on the kernel without them (the prediction), their ratio (the model
    error), and module classic against the real mmap_lock path; then the
    error and the level for each modelling choice put back."""
    pts = pvl_points(runs)
    if not pts:
        return []
    envs = [r for r in runs if r["env"] in ("vm-pvl-on", "vm-pvl-off")]
    kernels = [line for line in lines if line.startswith("pvl-")]
    md = ["### Predicted against real: what per-VMA locks buy\n",
          f"{env_label('vm-pvl-off', lines, envs)}; " + "; ".join(kernels) + ".  "
          "*real*: stock with per-VMA locks over stock without (the same 6.12 source and "
          "config, `scripts/pvl-kernel.sh`); *predicted*: the module's vmalock over its "
          "classic on the kernel without them, every modelling choice as Linux makes it "
          "(`--model=none`); *error*: predicted / real (1.00x: the model is right; +60-75% "
          "before the TLB model, issue 15); *level*: module classic over stock without "
          "per-VMA locks, the model's mmap_lock path against the real one.  Medians [95% "
          "bootstrap intervals]; each repetition boots each kernel once, alternating.\n",
          "| workload | threads | stock off | stock on | real | classic | vmalock | predicted "
          "| error | level |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def pred(p, model):
        c, v = ("classic", model), ("vmalock", model)
        if c not in p or v not in p:
            return None
        return (bs.ratio(p[v], p[c]),
                bs.ratio_of_ratios(p[v], p[c], p["stock_on"], p["stock_off"]),
                bs.ratio(p[c], p["stock_off"]))

    # Each bootstrap once: the second table repeats the first's model.
    preds = {k: {m: pred(p, m) for m in PVL_MODELS} for k, p in pts.items()}
    for (title, t), p in sorted(pts.items()):
        real = bs.ratio(p["stock_on"], p["stock_off"])
        gain, err, level = preds[(title, t)][""]
        md.append(f"| {title} | {t} | {rate_cell(p['stock_off'])} | {rate_cell(p['stock_on'])} | "
                  f"{ratio_cell(real)} | {rate_cell(p[('classic', '')])} | "
                  f"{rate_cell(p[('vmalock', '')])} | {ratio_cell(gain)} | {ratio_cell(err)} | "
                  f"{ratio_cell(level)} |")
    md += ["", "![predicted against real gain of per-VMA locks](pvl.png)", ""]
    models = [m for m in PVL_MODELS if any(ps[m] for ps in preds.values())]
    if len(models) > 1:
        names = ["as Linux" if not m else f"`{m}`" for m in models]
        md += ["Each modelling choice put back (`--model`, SET_MODEL; the last column is the "
               "model before this A/B): the model error, then the level (module classic / "
               "stock off), medians [95% intervals].\n",
               "| workload | threads | " + " | ".join(f"error, {n}" for n in names) + " | "
               + " | ".join(f"level, {n}" for n in names) + " |",
               "|---|---:|" + "---:|" * (2 * len(models))]
        for title, t in sorted(pts):
            ps = [preds[(title, t)][m] for m in models]
            md.append(f"| {title} | {t} | "
                      + " | ".join(ratio_cell(x[1]) if x else "-" for x in ps) + " | "
                      + " | ".join(ratio_cell(x[2]) if x else "-" for x in ps) + " |")
        md.append("")
    return md


def pvl_plot(runs, out):
    pts = pvl_points(runs)
    if not pts:
        return
    titles = sorted({k[0] for k in pts})
    fig, axes = plt.subplots(1, len(titles), figsize=(6.5 * len(titles), 4.5), squeeze=False)
    for ax, title in zip(axes[0], titles):
        keys = sorted((k for k in pts if k[0] == title), key=lambda k: k[1])
        xs = [k[1] for k in keys]
        for label, num, den in (("real (stock, pvl on / off)", "stock_on", "stock_off"),
                                ("predicted (module, vmalock / classic, as Linux)",
                                 ("vmalock", ""), ("classic", "")),
                                ("predicted by the model before (unmap_write, "
                                 "tlb_waiters_stay)", ("vmalock", PVL_MODELS[-1]),
                                 ("classic", PVL_MODELS[-1]))):
            if not all(num in pts[k] and den in pts[k] for k in keys):
                continue
            rs = [bs.ratio(pts[k][num], pts[k][den]) for k in keys]
            meds = [r["ratio"] for r in rs]
            cis = [r["ci95"] or (r["ratio"],) * 2 for r in rs]
            ax.errorbar(xs, meds, yerr=[[m - c[0] for m, c in zip(meds, cis)],
                                        [c[1] - m for m, c in zip(meds, cis)]],
                        marker="o", capsize=3, label=label)
        ax.axhline(1, color="grey", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("threads")
        ax.set_ylabel("gain of per-VMA locks (ratio of medians, 95% interval)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f"{out}/pvl.png", dpi=110)
    plt.close(fig)


def kernel_table(runs):
    rs = [r for r in runs if r.get("kernel")]
    if not rs:
        return []
    names = sorted({n for r in rs for n in r["kernel"]})
    md = ["### The kernel's own counters around stock runs (per second, median)\n",
          "`perf_page_faults`: the page-faults software event of the benchmark and its workers; "
          "the rest: `/proc/vmstat` deltas (whole machine).\n",
          "| env | workload | workers | " + " | ".join(names) + " |",
          "|---|---|---:|" + "---:|" * len(names)]
    groups = {}
    for r in rs:
        groups.setdefault(bs.point_key(r), []).append(r)
    for key, grs in groups.items():
        cells = []
        for n in names:
            vals = [r["kernel"][n] / (r.get("run_seconds") or r["seconds"]) for r in grs
                    if n in r["kernel"]]
            cells.append(f"{bs.summary(vals)['median']:,.0f}" if vals else "-")
        workers = f"{key[8]}{'p' if key[7] else 't'}"
        md.append(f"| {key[0]} | {workload_title(grs[0])} | {workers} | " + " | ".join(cells)
                  + " |")
    md.append("")
    return md


def fault_path_table(runs):
    md = ["### Fault paths (ebizzy, most threads of each run set, all repetitions summed)\n",
          "| env | backend | mode | threads | faults | lockless | aborts (excl. no_table) "
          "| abort reasons |", "|---|---|---|---:|---:|---:|---:|---|"]
    eb = [r for r in runs if r["workload"] == "ebizzy" and r["backend"] != "stock"]
    for env in ("native", "vm", "vm-ppc64le"):
        rs = [r for r in eb if r["env"] == env]
        if not rs:
            continue
        tmax = max(r["threads"] for r in rs)
        groups = {}
        for r in rs:
            if r["threads"] == tmax:
                groups.setdefault((r["backend"], r["mode"], r.get("processes", False)), []).append(r)
        for (backend, mode, processes), grs in sorted(groups.items()):
            faults = sum(r["faults"] for r in grs) or 1
            successes = sum(r["fault_path"]["successes"] for r in grs)
            attempts = sum(r["fault_path"]["attempts"] for r in grs) or 1
            aborts = {}
            for r in grs:
                for k, v in r["fault_path"].get("aborts", {}).items():
                    aborts[k] = aborts.get(k, 0) + v
            excl = sum(v for k, v in aborts.items() if k not in ("no_table", "miss"))
            lockless = successes / faults if mode.split("+")[0] != "classic" else 0
            reasons = ", ".join(f"{k} {v}" for k, v in aborts.items() if v)
            workers = f"{tmax}{'p' if processes else ''}"
            md.append(f"| {env} | {backend} | {mode} | {workers} | {faults:,} | "
                      f"{lockless:.1%} | {excl / attempts:.2%} | {reasons or '-'} |")
    md.append("")
    return md


def submit_table(runs):
    rs = [r for r in runs if r["source"].startswith("vm-submit-")]
    if not rs:
        return []
    by = {}
    for r in rs:
        by.setdefault(r["submit"], []).append(r["faults_per_s"])
    base = by.get("ioctl")
    md = ["### One-page faults by submission path (module, pft, 1 thread, VM)\n",
          "| submit | batch | faults/s, median [95%] | vs ioctl |", "|---|---:|---:|---:|"]
    for sub in [s for s in ("ioctl", "write", "uring") if s in by]:
        r = next(x for x in rs if x["submit"] == sub)
        s = bs.summary(by[sub])
        cell = ratio_cell(bs.ratio(by[sub], base)) if base and sub != "ioctl" else "1.00x"
        md.append(f"| {sub} | {r['batch'] if sub != 'ioctl' else 1} | "
                  f"{s['median']:,.0f} {bs.fmt_interval(s['ci95'])} | {cell} |")
    md.append("")
    return md


def swap_points(runs):
    """{(env, backend, mode, threads): [runs]} of the swap workload."""
    groups = {}
    for r in runs:
        if r["workload"] == "swap":
            groups.setdefault((r["env"], r["backend"], r["mode"], r["threads"]), []).append(r)
    return groups


def swap_table(runs, lines):
    groups = swap_points(runs)
    if not groups:
        return []
    md = ["### Swap: what faults that sleep cost each strategy\n",
          "The swap workload: threads load (3 in 4) and store random pages of a working set "
          "twice the resident budget; every load checks the page's contents. Medians "
          "[95% bootstrap interval] over the repetitions; *slept*: major faults (those that "
          "waited for a swap-in) as a share of all faults; *retries/major*: how often a "
          "swap-in sent its fault round again (classic's mmap_lock drop and retry, spf/mmseq "
          "aborts, vmalock's fallbacks and retries). Stock: the kernel under a memory cgroup "
          "limit with zram swap; it counts no retries for a process.\n"]
    for env in ("native", "vm", "vm-ppc64le"):
        keys = sorted((k for k in groups if k[0] == env),
                      key=lambda k: (k[3], mode_order((k[1], k[2]))))
        if not keys:
            continue
        first = groups[keys[0]][0]
        # The shadow spaces' latency; stock's device has its own.
        shadow = next((groups[k][0] for k in keys if k[1] != "stock"), None)
        latency = ((shadow.get("memory") or {}).get("swap_latency_us") if shadow else None)
        ratio = first.get("config", {}).get("ratio", "?")
        md.append(f"#### {env_label(env, lines, groups[keys[0]])}: pages of "
                  f"{first.get('page_size')} bytes, working set {ratio} x the budget, shadow "
                  f"swap latency {latency if latency is not None else '-'} µs per page\n")
        md += ["| backend | mode | threads | budget (pages) | accesses/s | major faults/s | slept "
               "| retries/major |", "|---|---|---:|---:|---:|---:|---:|---:|"]
        for k in keys:
            grs = groups[k]
            acc = bs.summary([r["records_per_s"] for r in grs])
            maj = bs.summary([r["swap"]["majfaults_per_s"] for r in grs])
            slept = bs.summary([r["swap"]["slept_share"] or 0 for r in grs])["median"]
            retries = ("-" if k[1] == "stock" else
                       f"{bs.summary([r['swap']['retries_per_majfault'] or 0 for r in grs])['median']:.2f}")
            budget = (grs[0].get("memory") or {}).get("max_pages", "-")
            md.append(f"| {k[1]} | {k[2]} | {k[3]} | {budget} | {acc['median']:,.0f} "
                      f"{bs.fmt_interval(acc['ci95'])} | {maj['median']:,.0f} "
                      f"{bs.fmt_interval(maj['ci95'])} | {slept:.1%} | {retries} |")
        md.append("")
        # The issue's question: does dropping the VMA lock and retrying pay?
        rows = []
        for backend in sorted({k[1] for k in keys}):
            for threads in sorted({k[3] for k in keys}):
                def rates(mode):
                    g = groups.get((env, backend, mode, threads))
                    return [r["records_per_s"] for r in g] if g else None
                for a, b in (("vmalock/drop-retry", "vmalock/fallback"),
                             ("vmalock/vma-retry", "vmalock/fallback"),
                             ("vmalock/vma-retry", "vmalock/drop-retry")):
                    ra, rb = rates(a), rates(b)
                    if ra and rb:
                        rows.append(f"| {backend} | {threads} | {a} vs {b} | "
                                    f"{ratio_cell(bs.ratio(ra, rb))} |")
        if rows:
            md += ["ratio of medians of accesses/s [95% bootstrap interval]; Welch's t-test: "
                   "* p < 0.05, ** p < 0.01\n", "| backend | threads | policies | ratio |",
                   "|---|---:|---|---:|"] + rows + [""]
    md += ["![swap: accesses/s and major faults/s](swap.png)", ""]
    return md


def swap_plot(runs, out, lines):
    groups = swap_points(runs)
    envs = [e for e in ("native", "vm", "vm-ppc64le") if any(k[0] == e for k in groups)]
    if not envs:
        return
    fig, axes = plt.subplots(1, len(envs), figsize=(7 * len(envs), 4.8), squeeze=False)
    for ax, env in zip(axes[0], envs):
        keys = sorted((k for k in groups if k[0] == env),
                      key=lambda k: (k[3], mode_order((k[1], k[2]))))
        xs = range(len(keys))
        for offset, metric, label in ((-0.2, "records_per_s", "accesses/s"),
                                      (0.2, "majfaults_per_s", "major faults/s")):
            meds, lo, hi = [], [], []
            for k in keys:
                vals = [r[metric] if metric == "records_per_s" else r["swap"][metric]
                        for r in groups[k]]
                s = bs.summary(vals)
                ci = s["ci95"] or (s["median"], s["median"])
                meds.append(s["median"])
                lo.append(s["median"] - ci[0])
                hi.append(ci[1] - s["median"])
            ax.bar([x + offset for x in xs], meds, width=0.4, yerr=[lo, hi], capsize=3,
                   label=label)
        ax.set_xticks(list(xs))
        ax.set_xticklabels([f"{k[1]}\n{k[2].replace('/', chr(10))}\n{k[3]}t" for k in keys],
                           fontsize=7)
        ax.set_ylabel("per second (median, 95% interval)")
        ax.set_title(f"swap, working set 2x budget — {env_label(env, lines, groups[keys[0]])}",
                     fontsize=9)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f"{out}/swap.png", dpi=110)
    plt.close(fig)


def micro_table(out):
    md = []
    for path in sorted(glob.glob(f"{out}/micro-*.json")):
        doc = json.load(open(path))
        md.append(f"### {os.path.basename(path)[6:-5]} (Google Benchmark, native)\n")
        md.append("| benchmark | time | label |")
        md.append("|---|---:|---|")
        for b in doc.get("benchmarks", []):
            if b.get("error_occurred"):
                md.append(f"| {b['name']} | skipped | {b.get('error_message', '')} |")
                continue
            md.append(f"| {b['name']} | {b['real_time']:.0f} {b['time_unit']} | "
                      f"{b.get('label', '')} |")
        md.append("")
    return md


def plots(runs, out, lines, pts):
    eb = [r for r in runs if r["workload"] == "ebizzy" and not r.get("processes")
          and not r["source"].startswith("vm-submit-")]
    envs = [e for e in ("native", "vm", "vm-ppc64le") if any(r["env"] == e for r in eb)]
    if not envs:
        return
    fig, axes = plt.subplots(1, len(envs), figsize=(6.5 * len(envs), 4.5), squeeze=False)
    for ax, env in zip(axes[0], envs):
        rs = [r for r in eb if r["env"] == env]
        for b, m in sorted({(r["backend"], r["mode"]) for r in rs}, key=mode_order):
            keys = sorted({bs.point_key(r) for r in rs if (r["backend"], r["mode"]) == (b, m)},
                          key=lambda k: k[8])
            xs = [k[8] for k in keys]
            meds = [pts[k]["summary"]["median"] for k in keys]
            cis = [pts[k]["summary"]["ci95"] or (pts[k]["summary"]["median"],) * 2 for k in keys]
            err = [[md - ci[0] for md, ci in zip(meds, cis)], [ci[1] - md for md, ci in zip(meds, cis)]]
            ax.errorbar(xs, meds, yerr=err, marker="o", capsize=3,
                        linestyle="--" if b == "stock" else "-", label=f"{b} {m}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("threads")
        ax.set_ylabel("records/s (median, 95% interval)")
        ax.set_title(f"{workload_title(rs[0])} — {env_label(env, lines, rs)}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f"{out}/records_vs_threads.png", dpi=110)
    plt.close(fig)

    rs = [r for r in eb if r["backend"] != "stock" and r["mode"] != "classic"
          and r.get("repetition", 1) == 1]
    if not rs:
        return
    labels, stacks = [], {}
    for r in sorted(rs, key=lambda r: (r["env"], r["backend"], r["mode"], r["threads"])):
        labels.append(f"{r['env']}\n{r['backend']}\n{r['mode']}\n{r['threads']}t")
        faults = r["faults"] or 1
        for reason, n in r["fault_path"].get("aborts", {}).items():
            stacks.setdefault(reason, []).append(0)
        for reason in stacks:
            n = r["fault_path"].get("aborts", {}).get(reason, 0)
            stacks[reason] += [0] * (len(labels) - len(stacks[reason]))
            stacks[reason][-1] = 100.0 * n / faults
    fig, ax = plt.subplots(figsize=(max(8, 0.55 * len(labels)), 4.5))
    bottom = [0.0] * len(labels)
    for reason, vals in sorted(stacks.items()):
        vals += [0] * (len(labels) - len(vals))
        if not any(vals):
            continue
        ax.bar(range(len(labels)), vals, bottom=bottom, label=reason)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=6)
    ax.set_ylabel("aborts, % of faults")
    ax.set_title("Speculative / per-VMA-lock aborts by reason (ebizzy, first repetition)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(f"{out}/aborts.png", dpi=110)
    plt.close(fig)


def main(out):
    all_runs = load_runs(out)
    lines = machine_lines(out)
    # Runs with a known bug on exist only for fix_cost_table(); runs under
    # another TLB policy than the default only for tlb_table(), mapbench
    # runs only for mapbench_table().
    runs = [r for r in all_runs if not r.get("bugs")]
    main_runs = [r for r in runs if default_tlb(r) and r["workload"] != "mapbench"]
    pts = points([r for r in runs if not r["source"].startswith("vm-submit-")])
    md = ["## shadowmm bench results\n"] + [f"- {line}" for line in lines] + [""]
    md += pvl_table(runs, lines)
    md += rate_tables(main_runs, pts, lines) + tlb_table(runs, lines)
    md += mapbench_table(runs, lines) + fix_cost_table(all_runs, lines)
    md += swap_table(runs, lines) + uffd_wait_table(runs, lines) + kernel_table(main_runs)
    md += fault_path_table(runs) + submit_table(runs) + micro_table(out)
    md += ["![records/s vs threads](records_vs_threads.png)", "",
           "![aborts by reason](aborts.png)", ""]
    with open(f"{out}/summary.md", "w") as f:
        f.write("\n".join(md))
    summary = []
    for key, p in pts.items():
        env, workload, backend, mode, submit, batch, tcp, processes, threads = key
        summary.append({"env": env, "workload": workload, "backend": backend, "mode": mode,
                        "submit": submit, "batch": batch, "touch_chunk_pages": tcp,
                        "processes": processes, "threads": threads, "metric": "records_per_s",
                        "samples": p["samples"], **p["summary"],
                        "vs_classic": p["vs_classic"], "vs_stock": p["vs_stock"]})
    with open(f"{out}/results.json", "w") as f:
        json.dump({"schema": "shadowmm-bench-results/2", "machine": lines, "points": summary,
                   "runs": all_runs}, f, indent=1)
    plots(main_runs, out, lines, pts)
    swap_plot(runs, out, lines)
    tlb_plot(runs, out, lines)
    pvl_plot(runs, out)


if __name__ == "__main__":
    main(sys.argv[1])
