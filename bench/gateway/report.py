"""Turns raw.jsonl into the markdown report: medians over rounds, ratios to
nginx from the same run, CPU time per request, admitted counts in the
flood against the exact expectation, and memory per idle connection."""
import json, statistics, sys
from collections import defaultdict

rows = [json.loads(l) for l in open(sys.argv[1])]
dur = float(sys.argv[2])
runs = defaultdict(list)
for r in rows:
    runs[(r["target"], r["scenario"])].append(r)

def med(target, scenario, f):
    vals = [f(r) for r in runs.get((target, scenario), []) if f(r) is not None]
    return statistics.median(vals) if vals else None

def fmt(v, spec=".0f"):
    return "-" if v is None else format(v, spec)

targets = ["turnout", "nginx", "haproxy", "upstream"]
out = ["## Gateway benchmark", "",
       f"Medians over {len(runs.get(('nginx', 'hot_key'), []))} rounds of {dur:.0f} s; each gateway on CPU 0, wrk/loadgen and the upstream on CPU 1.", ""]

for scenario, title in [("hot_key", "One hot key under its limit"), ("rotating_10k", "10,000 keys rotating")]:
    out += [f"### {title} (wrk -t1 -c64)", "", "| target | req/s | × nginx | p99 ms | × nginx | CPU µs/req |", "|---|---|---|---|---|---|"]
    n_rps = med("nginx", scenario, lambda r: r["rps"])
    n_p99 = med("nginx", scenario, lambda r: r["p99_ms"])
    for t in targets:
        rps = med(t, scenario, lambda r: r["rps"])
        p99 = med(t, scenario, lambda r: r["p99_ms"])
        cpu = med(t, scenario, lambda r: r["cpu_us_per_req"])
        out.append(f"| {t} | {fmt(rps)} | {fmt(rps / n_rps if rps and n_rps else None, '.2f')} | {fmt(p99, '.2f')} | {fmt(p99 / n_p99 if p99 and n_p99 else None, '.2f')} | {fmt(cpu, '.1f')} |")
    out.append("")

out += ["### One key flooded far over its limit (100/s, burst 100; wrk -t1 -c64)", "",
        "| target | req/s (mostly 429) | × nginx | CPU µs/req | admitted | expected | admitted / expected |", "|---|---|---|---|---|---|---|"]
n_rps = med("nginx", "flood", lambda r: r["rps"])
# GCRA admits burst + rate × elapsed; nginx's limit_req admits one more than
# its burst at once; HAProxy's sliding 1 s window has no exact figure, so it
# is held to Turnout's.
expect = {"turnout": 100 + 100 * dur, "nginx": 101 + 100 * dur, "haproxy": 100 + 100 * dur}
for t in ["turnout", "nginx", "haproxy"]:
    rps = med(t, "flood", lambda r: r["rps"])
    adm = med(t, "flood", lambda r: r["admitted"])
    cpu = med(t, "flood", lambda r: r["cpu_us_per_req"])
    out.append(f"| {t} | {fmt(rps)} | {fmt(rps / n_rps if rps and n_rps else None, '.2f')} | {fmt(cpu, '.1f')} | {fmt(adm)} | {expect[t]:.0f} | {fmt(adm / expect[t] if adm else None, '.3f')} |")
out.append("")

out += ["### Fixed rate (open loop, 64 connections, 10,000 keys rotating; latency from the scheduled send time)", "",
        "| target | achieved req/s | p50 ms | p99 ms | p99 × nginx | p99.9 ms |", "|---|---|---|---|---|---|"]
n_p99 = med("nginx", "fixed_rate", lambda r: r["loadgen"]["p99_ms"])
for t in targets:
    g = lambda k: med(t, "fixed_rate", lambda r: r["loadgen"][k])
    p99 = g("p99_ms")
    out.append(f"| {t} | {fmt(g('achieved_rate'))} | {fmt(g('p50_ms'), '.3f')} | {fmt(p99, '.3f')} | {fmt(p99 / n_p99 if p99 and n_p99 else None, '.2f')} | {fmt(g('p999_ms'), '.3f')} |")
out.append("")

out += ["### Memory per idle keep-alive connection", "", "| target | connections | RSS before MiB | RSS after MiB | KiB per connection |", "|---|---|---|---|---|"]
for t in ["turnout", "nginx", "haproxy"]:
    for r in runs.get((t, "idle"), []):
        per = (r["rss_after_kib"] - r["rss_before_kib"]) / r["connections"]
        out.append(f"| {t} | {r['connections']} | {r['rss_before_kib'] / 1024:.1f} | {r['rss_after_kib'] / 1024:.1f} | {per:.1f} |")
print("\n".join(out))
