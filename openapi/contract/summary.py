"""Counts what a contract run did, per operation, from Schemathesis's
NDJSON event reports: generated cases (positive and negative) and check
outcomes. Exits non-zero when any check failed, when an operation of the
document was not run, or when an operation that takes input (parameters
or a body) got fewer cases than asked for. Operations without input have
only a handful of distinct requests, and are listed as such.

Usage: summary.py MIN_CASES OPENAPI.json REPORT.ndjson [REPORT.ndjson ...]
"""

import collections
import json
import sys


def main() -> int:
    minimum = int(sys.argv[1])
    with open(sys.argv[2]) as f:
        document = json.load(f)
    takes_input = {}
    for path, item in document["paths"].items():
        for method, op in item.items():
            label = f"{method.upper()} {path}"
            takes_input[label] = bool(op.get("parameters") or op.get("requestBody"))
    cases = collections.defaultdict(lambda: collections.Counter())
    checks = collections.defaultdict(collections.Counter)
    for path in sys.argv[3:]:
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
    missing = sorted(set(takes_input) - set(cases))
    if missing:
        print(f"\noperations of the document that were not run: {missing}")
    few = [(label, total) for label, total in short if takes_input.get(label, True)]
    if few:
        print(f"\noperations that take input but got fewer than {minimum} cases:")
        for label, total in few:
            print(f"  {label}: {total}")
    bare = [(label, total) for label, total in short if not takes_input.get(label, True)]
    if bare:
        print(f"\noperations without parameters or body (only so many distinct requests exist):")
        for label, total in bare:
            print(f"  {label}: {total}")
    return 1 if failed or missing or few else 0


if __name__ == "__main__":
    sys.exit(main())
