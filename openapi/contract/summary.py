"""Counts what a contract run did, per operation, from Schemathesis's
NDJSON event reports: generated cases (positive and negative) and check
outcomes. Exits non-zero when an operation that takes input got fewer
cases than asked for, or when any check failed.

Usage: summary.py MIN_CASES REPORT.ndjson [REPORT.ndjson ...]
"""

import collections
import json
import sys


def main() -> int:
    minimum = int(sys.argv[1])
    cases = collections.defaultdict(lambda: collections.Counter())
    checks = collections.defaultdict(collections.Counter)
    for path in sys.argv[2:]:
        with open(path) as f:
            for line in f:
                event = json.loads(line)
                done = event.get("ScenarioFinished")
                if not done:
                    continue
                recorder = done["recorder"]
                label = recorder["label"]
                for case in recorder.get("cases", {}).values():
                    mode = case["value"]["meta"]["generation"]["mode"]
                    cases[label][mode] += 1
                for results in recorder.get("checks", {}).values():
                    for result in results:
                        checks[result["name"]][result["status"]] += 1
    width = max(len(label) for label in cases) if cases else 10
    print(f"{'operation':<{width}}  positive  negative  total")
    short = []
    for label in sorted(cases, key=lambda l: (l.split(" ", 1)[1], l)):
        c = cases[label]
        total = c["positive"] + c["negative"]
        print(f"{label:<{width}}  {c['positive']:>8}  {c['negative']:>8}  {total:>5}")
        if total < minimum:
            short.append((label, total))
    print(f"\n{len(cases)} operations, {sum(sum(c.values()) for c in cases.values())} cases")
    print("\ncheck                               passed  failed")
    failed = 0
    for name in sorted(checks):
        c = checks[name]
        failed += c["failure"]
        print(f"{name:<34}  {c['success']:>6}  {c['failure']:>6}")
    if short:
        print(f"\noperations with fewer than {minimum} cases (only so many distinct requests exist):")
        for label, total in short:
            print(f"  {label}: {total}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
