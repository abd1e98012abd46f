#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Tests of scripts/benchstats.py, scripts/shadowmm-compare.py and
scripts/bench-report.py on made-up runs with known samples: no benchmark
runs here, so nothing depends on timing.  ctest runs it as
harness.stats_and_compare with Debian's /usr/bin/python3 (SciPy)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "scripts")
sys.path.insert(0, SCRIPTS)
import benchstats as bs  # noqa: E402

COMPARE = os.path.join(SCRIPTS, "shadowmm-compare.py")
REPORT = os.path.join(SCRIPTS, "bench-report.py")


def run(workload="ebizzy", backend="inproc", mode="classic", threads=1, rate=1000.0, rep=1,
        config=None, **extra):
    r = {"workload": workload, "backend": backend, "mode": mode, "submit": None, "batch": None,
         "touch_chunk_pages": 0, "threads": threads, "processes": False, "repetition": rep,
         "seconds": 1.0, "run_seconds": 1.0, "record_unit": "records", "records": int(rate),
         "records_per_s": rate, "faults": int(rate), "faults_per_s": rate,
         "fault_path": {"attempts": int(rate), "successes": int(rate), "aborts": {}},
         "config": config if config is not None else {"ebizzy": "-mTRp"}, "kernel": None}
    r.update(extra)
    return r


def doc(runs):
    return {"schema": "shadowmm-bench/2", "host": {"kernel": "6.1.0-test"}, "runs": runs}


def write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


class Stats(unittest.TestCase):
    def test_summary_median_and_interval(self):
        s = bs.summary([10, 11, 12, 13, 14])
        self.assertEqual(s["n"], 5)
        self.assertEqual(s["median"], 12)
        lo, hi = s["ci95"]
        self.assertTrue(10 <= lo <= 12 <= hi <= 14)
        # Fixed seed: the same samples give the same interval.
        self.assertEqual(bs.summary([10, 11, 12, 13, 14])["ci95"], (lo, hi))

    def test_one_sample_has_no_interval(self):
        self.assertIsNone(bs.summary([5])["ci95"])
        self.assertEqual(bs.fmt_interval(None), "n=1")

    def test_identical_samples(self):
        self.assertEqual(bs.summary([7, 7, 7])["ci95"], (7.0, 7.0))

    def test_ratio_and_significance(self):
        a = [200, 202, 198, 201, 199]
        b = [100, 101, 99, 100, 100]
        r = bs.ratio(a, b)
        self.assertAlmostEqual(r["ratio"], 2.0)
        self.assertTrue(r["ci95"][0] <= 2.0 <= r["ci95"][1])
        self.assertLess(r["p"], 0.01)
        self.assertEqual(bs.mark(r["p"]), "**")
        same = bs.ratio([100, 103, 98], [101, 99, 102])
        self.assertEqual(bs.mark(same["p"]), "")
        self.assertEqual(bs.mark(None), "")

    def test_hmean_and_gmean(self):
        self.assertAlmostEqual(bs.hmean([1, 4, 4]), 2.0)
        self.assertAlmostEqual(bs.gmean([2.0, 0.5]), 1.0)
        r = bs.hmean_ratio([100, 100, 100], [110, 111, 109])
        self.assertAlmostEqual(r["ratio"], bs.hmean([110, 111, 109]) / 100)


class Compare(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.a = os.path.join(self.dir.name, "a.json")
        self.b = os.path.join(self.dir.name, "b.json")
        self.plot = os.path.join(self.dir.name, "cmp.png")

    def tearDown(self):
        self.dir.cleanup()

    def compare(self, *args):
        return subprocess.run(["/usr/bin/python3", COMPARE, *args], capture_output=True,
                              text=True)

    def test_point_by_point(self):
        noise = [0.99, 1.0, 1.01]
        a, b = [], []
        for rep, n in enumerate(noise, 1):
            for mode, base in (("classic", 1000.0), ("spf", 2000.0)):
                a.append(run(mode=mode, rate=base * n, rep=rep))
                # spf 20% faster in B, classic the same.
                b.append(run(mode=mode, rate=base * n * (1.2 if mode == "spf" else 1.0),
                             rep=rep))
        write(self.a, doc(a))
        write(self.b, doc(b))
        r = self.compare(self.a, self.b, "--plot", self.plot)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        spf = next(line for line in lines if "spf" in line)
        classic = next(line for line in lines if "classic" in line)
        self.assertTrue(spf.startswith("Hmean"))
        self.assertIn("*  20.00%*", spf)  # significant: between stars
        self.assertIn("(   0.00%)", classic)
        self.assertNotIn("%*", classic)
        gm = next(line for line in lines if line.startswith("Gmean"))
        self.assertIn("1.0954", gm)  # sqrt(1.2 x 1.0)
        self.assertTrue(os.path.getsize(self.plot) > 0)

    def test_refuses_different_settings(self):
        write(self.a, doc([run(config={"ebizzy": "-mTRp"})]))
        write(self.b, doc([run(config={"ebizzy": "-mRp"})]))
        r = self.compare(self.a, self.b, "--no-plot")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        self.assertIn("settings differ", r.stderr)
        self.assertIn("-mRp", r.stderr)

    def test_refuses_nothing_in_common(self):
        write(self.a, doc([run(threads=1)]))
        write(self.b, doc([run(threads=2)]))
        r = self.compare(self.a, self.b, "--no-plot")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)

    def test_bad_flag_is_one_line(self):
        r = self.compare("--frobnicate", self.a, self.b)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)


class Report(unittest.TestCase):
    def test_medians_intervals_marks_samples_plots(self):
        with tempfile.TemporaryDirectory() as out:
            for rep, n in enumerate([0.98, 1.0, 1.02], 1):
                kernel = {"pgfault": 1000, "pgmajfault": 0, "perf_page_faults": 900}
                write(os.path.join(out, f"native-stock.r{rep}.json"),
                      doc([run(backend="stock", mode="stock", threads=t, rate=500 * n, rep=1,
                               kernel=kernel) for t in (1, 2)]))
                write(os.path.join(out, f"native-inproc.r{rep}.json"),
                      doc([run(mode=m, threads=t, rate=f * 1000 * n * t, rep=1)
                           for t in (1, 2) for m, f in (("classic", 1), ("spf", 2))]))
            r = subprocess.run(["/usr/bin/python3", REPORT, out], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(out, "summary.md")) as f:
                md = f.read()
            self.assertIn("| inproc | spf | 2,000 [", md)  # median [interval]
            self.assertIn("2.00x [", md)
            self.assertIn("**", md)  # spf vs classic, 2x with 2% noise
            self.assertIn("perf_page_faults", md)
            with open(os.path.join(out, "results.json")) as f:
                res = json.load(f)
            self.assertEqual(len(res["runs"]), 18)
            spf1 = next(p for p in res["points"] if p["mode"] == "spf" and p["threads"] == 1)
            self.assertEqual(sorted(spf1["samples"]), [1960.0, 2000.0, 2040.0])
            self.assertEqual(spf1["n"], 3)
            self.assertAlmostEqual(spf1["vs_classic"]["ratio"], 2.0)
            self.assertTrue(os.path.getsize(os.path.join(out, "records_vs_threads.png")) > 0)

    def test_swap_policies_are_points_of_their_own(self):
        with tempfile.TemporaryDirectory() as out:
            policies = (("fallback", 1.0), ("drop-retry", 1.5), ("vma-retry", 2.0))
            for rep, n in enumerate([0.98, 1.0, 1.02], 1):
                runs = []
                for mode, policy, f in [("classic", "fallback", 0.5)] + [
                        ("vmalock", p, f) for p, f in policies]:
                    rate = 1000 * f * n
                    runs.append(run(workload="swap", mode=mode, threads=4, rate=rate, rep=rep,
                                    record_unit="accesses", swap_policy=policy,
                                    memory={"max_pages": 4096, "swap_latency_us": 100},
                                    config={"working_set_pages": "8192"},
                                    swap={"majfaults_per_s": rate / 2, "slept_share": 0.5,
                                          "retries_per_majfault": 1.0}))
                write(os.path.join(out, f"native-swap-inproc.r{rep}.json"), doc(runs))
            r = subprocess.run(["/usr/bin/python3", REPORT, out], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(out, "summary.md")) as f:
                md = f.read()
            self.assertIn("| inproc | vmalock/drop-retry | 4 | 4096 | 1,500 [", md)
            self.assertIn("| inproc | vmalock/vma-retry | 4 | 4096 | 2,000 [", md)
            self.assertIn("| inproc | 4 | vmalock/drop-retry vs vmalock/fallback | 1.50x [", md)
            self.assertIn("| inproc | 4 | vmalock/vma-retry vs vmalock/drop-retry | 1.33x [", md)
            self.assertIn("| 50.0% | 1.00 |", md)
            self.assertTrue(os.path.getsize(os.path.join(out, "swap.png")) > 0)
            # shadowmm-compare's points tell the policies apart too.
            keys = {bs.point_key(x) for x in bs.load_runs(os.path.join(out, "results.json"))}
            self.assertEqual(len(keys), 4)


if __name__ == "__main__":
    unittest.main()
