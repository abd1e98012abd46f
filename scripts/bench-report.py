#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns one `make bench` result directory into results.json, summary.md
(records/s per backend, mode and thread count, ratios to classic and to
stock in the same environment, fault-path breakdown, submission paths,
microbenchmarks) and two plots: records_vs_threads.png and aborts.png."""
import glob
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load_runs(out):
    runs = []
    for path in sorted(glob.glob(f"{out}/*.json")):
        name = os.path.basename(path)[:-5]
        if name.startswith("micro-") or name == "results":
            continue
        doc = json.load(open(path))
        env = "vm" if name.startswith("vm-") else "native"
        for run in doc["runs"]:
            run["env"] = env
            run["source"] = name
            run["host"] = doc.get("host", {})
            runs.append(run)
    return runs


def machine_lines(out):
    try:
        return [line.rstrip() for line in open(f"{out}/machine.txt")]
    except OSError:
        return []


def env_label(env, lines):
    if env == "native":
        return "native"
    accel = next((line for line in lines if line.startswith("vm accel:")), "")
    return "VM, TCG (software emulation)" if "tcg" in accel else "VM, " + accel[9:].strip()


def ebizzy_tables(runs, lines):
    md = []
    eb = [r for r in runs if r["workload"] == "ebizzy"]
    for env in ("native", "vm"):
        rs = [r for r in eb if r["env"] == env]
        if not rs:
            continue
        threads = sorted({r["threads"] for r in rs})
        keys = sorted({(r["backend"], r["mode"]) for r in rs},
                      key=lambda k: (k[0] != "stock", k[0], k[1] != "classic", k[1]))
        by = {(r["backend"], r["mode"], r["threads"]): r for r in rs}
        md.append(f"### ebizzy -mTRp, records/s — {env_label(env, lines)}\n")
        md.append("| backend | mode | " + " | ".join(f"{t} thr" for t in threads) + " |")
        md.append("|---|---|" + "---:|" * len(threads))
        for b, m in keys:
            cells = [f"{by[(b, m, t)]['records_per_s']:,.0f}" if (b, m, t) in by else "-"
                     for t in threads]
            md.append(f"| {b} | {m} | " + " | ".join(cells) + " |")
        md.append("")
        md.append(f"ratio to classic (same backend) / to stock ({env_label(env, lines)}):\n")
        md.append("| backend | mode | " + " | ".join(f"{t} thr" for t in threads) + " |")
        md.append("|---|---|" + "---:|" * len(threads))
        for b, m in keys:
            if b == "stock":
                continue
            cells = []
            for t in threads:
                r, c = by.get((b, m, t)), by.get((b, "classic", t))
                s = next((by[k] for k in by if k[0] == "stock" and k[2] == t), None)
                if not r:
                    cells.append("-")
                    continue
                rc = r["records_per_s"] / c["records_per_s"] if c and c["records_per_s"] else 0
                rs_ = r["records_per_s"] / s["records_per_s"] if s and s["records_per_s"] else 0
                cells.append(f"{rc:.2f}x / {rs_:.2f}x")
            md.append(f"| {b} | {m} | " + " | ".join(cells) + " |")
        md.append("")
    return md


def fault_path_table(runs):
    md = ["### Fault paths (ebizzy, most threads of each run set)\n",
          "| env | backend | mode | threads | faults | lockless | aborts (excl. no_table) "
          "| abort reasons |", "|---|---|---|---:|---:|---:|---:|---|"]
    eb = [r for r in runs if r["workload"] == "ebizzy" and r["backend"] != "stock"]
    for env in ("native", "vm"):
        rs = [r for r in eb if r["env"] == env]
        if not rs:
            continue
        tmax = max(r["threads"] for r in rs)
        for r in sorted((r for r in rs if r["threads"] == tmax),
                        key=lambda r: (r["backend"], r["mode"])):
            fp, faults = r["fault_path"], r["faults"] or 1
            lockless = fp["successes"] / faults if r["mode"] != "classic" else 0
            reasons = ", ".join(f"{k} {v}" for k, v in fp.get("aborts", {}).items() if v)
            md.append(f"| {env} | {r['backend']} | {r['mode']} | {tmax} | {r['faults']:,} | "
                      f"{lockless:.1%} | {fp.get('abort_ratio_excl_no_table', 0):.2%} | "
                      f"{reasons or '-'} |")
    md.append("")
    return md


def submit_table(runs):
    rs = [r for r in runs if r["source"].startswith("vm-submit-")]
    if not rs:
        return []
    base = next((r for r in rs if r["submit"] == "ioctl"), None)
    md = ["### One-page faults by submission path (module, pft, 1 thread, VM)\n",
          "| submit | batch | faults/s | vs ioctl |", "|---|---:|---:|---:|"]
    for r in sorted(rs, key=lambda r: ["ioctl", "write", "uring"].index(r["submit"])):
        ratio = r["faults_per_s"] / base["faults_per_s"] if base and base["faults_per_s"] else 0
        md.append(f"| {r['submit']} | {r['batch'] if r['submit'] != 'ioctl' else 1} | "
                  f"{r['faults_per_s']:,.0f} | {ratio:.2f}x |")
    md.append("")
    return md


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


def plots(runs, out, lines):
    eb = [r for r in runs if r["workload"] == "ebizzy"]
    envs = [e for e in ("native", "vm") if any(r["env"] == e for r in eb)]
    if not envs:
        return
    fig, axes = plt.subplots(1, len(envs), figsize=(6.5 * len(envs), 4.5), squeeze=False)
    for ax, env in zip(axes[0], envs):
        rs = [r for r in eb if r["env"] == env]
        for b, m in sorted({(r["backend"], r["mode"]) for r in rs}):
            pts = sorted((r["threads"], r["records_per_s"]) for r in rs
                         if (r["backend"], r["mode"]) == (b, m))
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                    linestyle="--" if b == "stock" else "-", label=f"{b} {m}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("threads")
        ax.set_ylabel("records/s")
        ax.set_title(f"ebizzy -mTRp — {env_label(env, lines)}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f"{out}/records_vs_threads.png", dpi=110)
    plt.close(fig)

    rs = [r for r in eb if r["backend"] != "stock" and r["mode"] != "classic"]
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
    ax.set_title("Speculative / per-VMA-lock aborts by reason (ebizzy -mTRp)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(f"{out}/aborts.png", dpi=110)
    plt.close(fig)


def main(out):
    runs = load_runs(out)
    lines = machine_lines(out)
    md = ["## shadowmm bench results\n"] + [f"- {line}" for line in lines] + [""]
    md += ebizzy_tables(runs, lines) + fault_path_table(runs) + submit_table(runs)
    md += micro_table(out)
    md += ["![records/s vs threads](records_vs_threads.png)", "",
           "![aborts by reason](aborts.png)", ""]
    with open(f"{out}/summary.md", "w") as f:
        f.write("\n".join(md))
    with open(f"{out}/results.json", "w") as f:
        json.dump({"machine": lines, "runs": runs}, f, indent=1)
    plots(runs, out, lines)


if __name__ == "__main__":
    main(sys.argv[1])
