#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Pulls the JSON documents a guest printed between SHADOWMM-JSON-BEGIN <name>
and SHADOWMM-JSON-END out of a QEMU console log into <dir>/<name>.json."""
import json
import re
import sys


def main(log_path, out_dir):
    name, lines, found = None, [], 0
    with open(log_path, errors="replace") as log:
        for raw in log:
            line = raw.rstrip("\r\n").replace("\r", "")
            m = re.search(r"SHADOWMM-JSON-BEGIN (\S+)", line)
            if m:
                name, lines = m.group(1), []
            elif "SHADOWMM-JSON-END" in line and name:
                doc = json.loads("\n".join(lines))
                with open(f"{out_dir}/{name}.json", "w") as f:
                    json.dump(doc, f, indent=1)
                name, found = None, found + 1
            elif name:
                lines.append(line)
    if not found:
        sys.exit(f"bench-extract: no JSON found in {log_path}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
