# SPDX-License-Identifier: GPL-2.0
"""Statistics shared by bench-report.py and shadowmm-compare: grouping runs
into points (one point = one workload, backend, mode, submission, worker
count and kind; its repetitions are its samples), the median with a 95%
bootstrap interval, ratios of two points with their interval, harmonic
means, and Welch's t-test for significance marks.  SciPy does the
statistics (Debian's python3-scipy); run with /usr/bin/python3."""
import json
import math
import os
import warnings

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 4000
SEED = 20260601  # fixed: the same samples always give the same intervals


def load_runs(path):
    """Runs of one shadowmm-bench JSON file, one make bench results.json, or
    every run JSON of one make bench result directory."""
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "results.json")):
            path = os.path.join(path, "results.json")
        else:
            runs = []
            for name in sorted(os.listdir(path)):
                if name.endswith(".json") and not name.startswith("micro-"):
                    runs += load_runs(os.path.join(path, name))
            return runs
    with open(path) as f:
        doc = json.load(f)
    runs = doc.get("runs", [])
    for run in runs:
        run.setdefault("env", "native")
        run.setdefault("host", doc.get("host", {}))
    return runs


def mode_label(run):
    """The run's mode, with its swap policy for vmalock ("vmalock/drop-retry"),
    a TLB policy other than rcu ("spf+tlb:none") and modelling choices set
    (SET_MODEL, "classic+model:unmap_write"): each is a point of its own."""
    mode = run["mode"]
    if mode == "vmalock" and run.get("swap_policy"):
        mode = f"vmalock/{run['swap_policy']}"
    # A TLB policy other than the default is a point of its own too.
    if run.get("tlb_policy") not in (None, "rcu") and "+tlb:" not in mode:
        mode += f"+tlb:{run['tlb_policy']}"
    # So is a model with choices put back as they were before the A/B.
    if run.get("model") and "+model:" not in mode:
        mode += f"+model:{run['model']}"
    # A run with a known bug switched on (--bugs) is never the mode's point.
    if run.get("bugs") and "+bug:" not in mode:
        mode += "+bug:" + run["bugs"]
    return mode


def workload_label(run):
    """The workload, with the mapbench variant ("mapbench/pipeline"): the
    variants share a name but not a shape, so each is a point of its own."""
    variant = run.get("config", {}).get("mapbench") if run["workload"] == "mapbench" else None
    return f"{run['workload']}/{variant}" if variant else run["workload"]


def point_key(run):
    return (run.get("env", "native"), workload_label(run), run["backend"], mode_label(run),
            run.get("submit"), run.get("batch"), run.get("touch_chunk_pages", 0),
            run.get("processes", False), run["threads"])


def point_label(key, with_env=True):
    env, workload, backend, mode, submit, batch, tcp, processes, threads = key
    parts = [env] if with_env else []
    parts += [workload, backend, mode]
    if submit and submit != "ioctl":
        parts.append(f"{submit}x{batch}")
    elif submit:
        parts.append(submit)
    if tcp:
        parts.append(f"chunk{tcp}")
    parts.append(f"{threads}{'p' if processes else 't'}")
    return "/".join(parts)


def group(runs, metric="records_per_s"):
    """{point key: [metric of each repetition]} in first-seen order."""
    points = {}
    for run in runs:
        value = run.get(metric)
        if value is None:
            continue
        points.setdefault(point_key(run), []).append(float(value))
    return points


def _bootstrap(samples, statistic):
    data = tuple(np.asarray(s, dtype=float) for s in samples)
    if any(len(d) < 2 for d in data):
        return None
    if all(np.ptp(d) == 0 for d in data):
        v = float(statistic(*data, axis=-1))
        return (v, v)
    res = stats.bootstrap(data, statistic, confidence_level=CONFIDENCE, n_resamples=RESAMPLES,
                          method="percentile", vectorized=True, paired=False,
                          random_state=np.random.default_rng(SEED))
    lo, hi = res.confidence_interval
    return (float(lo), float(hi))


def _median(x, axis=-1):
    return np.median(x, axis=axis)


def _median_ratio(x, y, axis=-1):
    return np.median(x, axis=axis) / np.median(y, axis=axis)


def _hmean(x, axis=-1):
    return stats.hmean(x, axis=axis)


def _hmean_ratio(x, y, axis=-1):
    return stats.hmean(x, axis=axis) / stats.hmean(y, axis=axis)


def summary(samples):
    """n, median, 95% interval of the median (None below 2 samples)."""
    x = np.asarray(samples, dtype=float)
    return {"n": len(x), "median": float(np.median(x)), "ci95": _bootstrap([x], _median),
            "mean": float(np.mean(x)), "stdev": float(np.std(x, ddof=1)) if len(x) > 1 else 0.0}


def welch_p(a, b):
    """Two-sided p of Welch's t-test, or None when it cannot be computed."""
    if len(a) < 2 or len(b) < 2:
        return None
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 0.0 if a[0] != b[0] else 1.0
    with warnings.catch_warnings():  # nearly equal samples: the p is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        p = stats.ttest_ind(a, b, equal_var=False).pvalue
    return None if math.isnan(p) else float(p)


def mark(p):
    """'**' at 99%, '*' at 95%, '' otherwise (or untestable)."""
    if p is None:
        return ""
    return "**" if p < 0.01 else "*" if p < 0.05 else ""


def ratio(a, b):
    """median(a) / median(b), its 95% bootstrap interval and Welch's p."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    mb = float(np.median(b))
    return {"ratio": float(np.median(a)) / mb if mb else None,
            "ci95": _bootstrap([a, b], _median_ratio) if mb else None, "p": welch_p(a, b)}


def _ratio_of_ratios(a, b, c, d, axis=-1):
    return (np.median(a, axis=axis) / np.median(b, axis=axis)) / (
        np.median(c, axis=axis) / np.median(d, axis=axis))


def ratio_of_ratios(a, b, c, d):
    """(median(a) / median(b)) / (median(c) / median(d)), e.g. a predicted
    gain over a real one, with its 95% bootstrap interval (the four
    samples resampled independently)."""
    a, b, c, d = (np.asarray(x, dtype=float) for x in (a, b, c, d))
    mb, mc, md = float(np.median(b)), float(np.median(c)), float(np.median(d))
    if not (mb and mc and md):
        return {"ratio": None, "ci95": None, "p": None}
    # No significance mark: a ratio of ratios has no two-sample test here.
    return {"ratio": (float(np.median(a)) / mb) / (mc / md),
            "ci95": _bootstrap([a, b, c, d], _ratio_of_ratios), "p": None}


def hmean(x):
    x = np.asarray(x, dtype=float)
    return float(stats.hmean(x)) if len(x) and np.all(x > 0) else 0.0


def hmean_ratio(a, b):
    """hmean(b) / hmean(a) (B relative to A), its interval and Welch's p."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ha, hb = hmean(a), hmean(b)
    ok = ha > 0 and hb > 0
    return {"ratio": hb / ha if ok else None,
            "ci95": _bootstrap([b, a], _hmean_ratio) if ok else None, "p": welch_p(a, b)}


def gmean(values):
    v = [x for x in values if x and x > 0]
    return float(stats.gmean(v)) if v else None


def fmt_interval(ci, fmt="{:,.0f}"):
    if not ci:
        return "n=1"
    return "[" + fmt.format(ci[0]) + "–" + fmt.format(ci[1]) + "]"
