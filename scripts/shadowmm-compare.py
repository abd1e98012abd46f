#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""shadowmm-compare A B: two runs (two kernels, machines or builds) point
by point, in the style of mmtests' compare-kernels.sh.

A and B are each a shadowmm-bench --json file, a make bench results.json,
or a make bench result directory.  For every point both have (workload,
backend, mode, submission, worker count and kind; the environment for make
bench results) it prints the harmonic mean of the repetitions' rates (Hmean,
the mean for rates), B's change relative to A, and mmtests' significance
mark: the change between stars when Welch's t-test says the two differ
(p < 0.05).  A last line gives the geometric mean of B/A over all points;
a plot of the changes with 95% bootstrap intervals goes to --plot.

It refuses, with one line and exit status 1, to compare runs whose workload
settings (ebizzy flags and random-number behaviour, sizes, touch chunking)
differ, or that have no point in common."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import benchstats as bs  # noqa: E402


def settings(runs):
    """{workload: the settings its runs were made with} (or a reason)."""
    out = {}
    for r in runs:
        s = dict(r.get("config", {}))
        s["touch_chunk_pages"] = r.get("touch_chunk_pages", 0)
        s["record_unit"] = r.get("record_unit")
        key = (r.get("env", "native"), bs.workload_label(r))
        out.setdefault(key, [])
        if s not in out[key]:
            out[key].append(s)
    return out


def describe(s):
    return ", ".join(f"{k}={v!r}" for k, v in sorted(s.items()) if v is not None)


def label(path, runs):
    host = runs[0].get("host", {}) if runs else {}
    return os.path.basename(os.path.normpath(path)), host.get("kernel", "")


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and status 1, as shadowmm-bench refuses
        print(f"shadowmm-compare: {message} (--help lists the flags)", file=sys.stderr)
        sys.exit(1)


def main(argv):
    ap = Parser(prog="shadowmm-compare", description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("a", metavar="A.json")
    ap.add_argument("b", metavar="B.json")
    ap.add_argument("--metric", default="records_per_s",
                    help="run field to compare (default records_per_s; e.g. faults_per_s)")
    ap.add_argument("--plot", default="shadowmm-compare.png",
                    help="where the plot goes (default ./shadowmm-compare.png)")
    ap.add_argument("--no-plot", action="store_true", help="no plot")
    args = ap.parse_args(argv)

    runs = []
    for path in (args.a, args.b):
        try:
            rs = bs.load_runs(path)
        except (OSError, ValueError, KeyError) as e:
            print(f"shadowmm-compare: cannot read {path}: {e}", file=sys.stderr)
            return 1
        if not rs:
            print(f"shadowmm-compare: {path} has no runs", file=sys.stderr)
            return 1
        runs.append(rs)
    sa, sb = settings(runs[0]), settings(runs[1])
    for key in sorted(set(sa) & set(sb)):
        if sa[key] != sb[key]:
            x, y = sa[key][0], sb[key][0]
            if x == y:  # one run mixes settings: name the other one
                x, y = (sa[key][-1], sb[key][0]) if len(sa[key]) > 1 else (x, sb[key][-1])
            diff = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
            print(f"shadowmm-compare: workload settings differ for {key[1]} ({key[0]}): "
                  f"{describe({k: x.get(k) for k in diff})} in {args.a}, "
                  f"{describe({k: y.get(k) for k in diff})} in {args.b}", file=sys.stderr)
            return 1
    pa, pb = bs.group(runs[0], args.metric), bs.group(runs[1], args.metric)
    common = [k for k in pa if k in pb]
    if not common:
        print(f"shadowmm-compare: {args.a} and {args.b} have no point in common "
              "(workload, backend, mode, workers)", file=sys.stderr)
        return 1

    envs = {k[0] for k in common}
    rows = []
    for k in common:
        a, b = pa[k], pb[k]
        r = bs.hmean_ratio(a, b)
        rows.append((bs.point_label(k, len(envs) > 1), a, b, r))
    name_w = max(len(row[0]) for row in rows) + 2
    la, lb = label(args.a, runs[0]), label(args.b, runs[1])
    print(f"{'':{name_w + 7}}{la[0]:>24}{lb[0]:>26}")
    print(f"{'':{name_w + 7}}{la[1]:>24}{lb[1]:>26}")
    for name, a, b, r in rows:
        ha, hb = bs.hmean(a), bs.hmean(b)
        change = (r["ratio"] - 1) * 100 if r["ratio"] else 0.0
        star = "*" if r["p"] is not None and r["p"] < 0.05 else " "
        close = "*" if star == "*" else ")"
        opening = "*" if star == "*" else "("
        print(f"Hmean  {name:<{name_w}}{ha:14,.2f} (   0.00%) {hb:14,.2f} {opening}"
              f"{change:7.2f}%{close}  n={len(a)}/{len(b)}")
    gm = bs.gmean([row[3]["ratio"] for row in rows])
    nsig = sum(1 for row in rows if row[3]["p"] is not None and row[3]["p"] < 0.05)
    print(f"Gmean  of B/A over {len(rows)} points: {gm:.4f} ({(gm - 1) * 100:+.2f}%), "
          f"{nsig} significant at 95% (Welch's t-test)")
    only = [k for k in list(pa) + list(pb) if k not in common]
    if only:
        print(f"(not compared: {len(only)} points present in one run only)")

    if not args.no_plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, max(2.5, 0.32 * len(rows) + 1)))
        ys = range(len(rows))
        vals = [((row[3]["ratio"] or 1) - 1) * 100 for row in rows]
        lo = [v - ((row[3]["ci95"] or (row[3]["ratio"] or 1,) * 2)[0] - 1) * 100
              for v, row in zip(vals, rows)]
        hi = [((row[3]["ci95"] or (row[3]["ratio"] or 1,) * 2)[1] - 1) * 100 - v
              for v, row in zip(vals, rows)]
        colors = ["tab:green" if v >= 0 else "tab:red" for v in vals]
        ax.barh(list(ys), vals, xerr=[lo, hi], color=colors, capsize=3)
        ax.set_yticks(list(ys))
        ax.set_yticklabels([row[0] + (" *" if row[3]["p"] is not None and row[3]["p"] < 0.05
                                      else "") for row in rows], fontsize=7)
        ax.invert_yaxis()
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel(f"{args.metric}: B vs A, % change of Hmean (95% bootstrap interval)")
        ax.set_title(f"{la[0]} → {lb[0]}: Gmean {(gm - 1) * 100:+.2f}%")
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        plt.close(fig)
        print(f"shadowmm-compare: plot in {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
