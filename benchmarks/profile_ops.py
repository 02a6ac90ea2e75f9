#!/usr/bin/env python3
"""Sums a training-step trace per operator: self time (an operator's time less that of the operators it
called), calls and share of the step, largest first. Reads the chrome-trace JSON of
`sola_bench_train --profile FILE` (LibTorch's autograd profiler) or of `reference/bench.py train
--profile FILE` (torch.profiler), so that the two steps can be compared operator by operator.

    benchmarks/profile_ops.py TRACE.json [--top 25] [--compare OTHER_TRACE.json]
"""
import argparse
import collections
import json
import sys


def self_times(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"profile_ops.py: cannot read {path}: {e}")
    events = data["traceEvents"] if isinstance(data, dict) else data
    by_thread = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and "dur" in e and e.get("cat", "cpu_op") in ("cpu_op", "Operator"):
            by_thread[(e.get("pid"), e.get("tid"))].append((float(e["ts"]), float(e["dur"]), e["name"]))
    total = collections.Counter()
    calls = collections.Counter()
    step_us = 0.0
    for evs in by_thread.values():
        evs.sort(key=lambda t: (t[0], -t[1]))
        stack = []  # [end, name, child time]
        def close(item):
            end, name, child, dur = item
            total[name] += dur - child
        for ts, dur, name in evs:
            while stack and stack[-1][0] <= ts:
                close(stack.pop())
            if stack:
                stack[-1][2] += dur
            else:
                step_us += dur
            stack.append([ts + dur, name, 0.0, dur])
            calls[name] += 1
        while stack:
            close(stack.pop())
    # LibTorch's legacy profiler records each op twice (aten::x around x): count an op's name once.
    merged = collections.Counter()
    merged_calls = collections.Counter()
    for name, us in total.items():
        key = name if name.startswith("aten::") or "::" in name or "aten::" + name not in total else "aten::" + name
        merged[key] += us
        merged_calls[key] = max(merged_calls[key], calls[name])
    return merged, merged_calls, step_us


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--compare", help="a second trace: its self time per operator in a second column")
    args = ap.parse_args()
    ops, calls, step = self_times(args.trace)
    other = self_times(args.compare) if args.compare else None
    header = f"{'operator':44s} {'ms':>9s} {'share':>6s} {'calls':>6s}"
    if other:
        header += f" | {'other ms':>9s} {'calls':>6s}"
    print(header)
    names = sorted(set(ops) | (set(other[0]) if other else set()), key=lambda n: -max(ops[n], other[0][n] if other else 0))
    for name in names[:args.top]:
        line = f"{name[:44]:44s} {ops[name] / 1e3:9.1f} {100 * ops[name] / max(step, 1):5.1f}% {calls[name]:6d}"
        if other:
            line += f" | {other[0][name] / 1e3:9.1f} {other[1][name]:6d}"
        print(line)
    line = f"{'the step (top-level operators)':44s} {step / 1e3:9.1f}"
    if other:
        line += f" | {other[2] / 1e3:9.1f}"
    print(line)


if __name__ == "__main__":
    main()
