#!/usr/bin/env python3
"""Keeps at most LIMIT files of a corpus, chosen greedily by new coverage.

libFuzzer's merge keeps every file that adds a feature, which for a target
with a long tail of rare edges (admin_request: about 1 000 files for its
last few per cent) is more than a corpus committed to the repository
should hold. This reads the per-file features ("FT" lines) of a merge
control file and prints the files that cover the most, best first, until
LIMIT files or everything is covered.

    ./target/x86_64-unknown-linux-gnu/release/admin_request -merge=1 \
        -use_counters=0 -merge_control_file=/tmp/ctl /tmp/empty corpus/admin_request
    python3 trim_corpus.py /tmp/ctl 500 > /tmp/keep
"""

import sys


def main() -> None:
    control, limit = sys.argv[1], int(sys.argv[2])
    lines = open(control).read().splitlines()
    count = int(lines[0])
    files = lines[2 : 2 + count]
    features: dict[int, set[int]] = {}
    current = None
    for line in lines[2 + count :]:
        parts = line.split()
        if parts[0] == "STARTED":
            current = int(parts[1])
        elif parts[0] == "FT" and current is not None:
            features[current] = set(map(int, parts[2:]))
    everything = set().union(*features.values()) if features else set()
    covered: set[int] = set()
    chosen = 0
    while features and chosen < limit:
        best = max(features, key=lambda i: (len(features[i] - covered), -len(files[i])))
        if not features[best] - covered:
            break
        covered |= features.pop(best)
        chosen += 1
        print(files[best])
    share = len(covered) / len(everything) if everything else 1.0
    print(f"{chosen} files cover {share:.1%} of {len(everything)} features", file=sys.stderr)


if __name__ == "__main__":
    main()
