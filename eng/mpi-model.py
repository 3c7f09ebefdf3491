#!/usr/bin/env python3
"""Time model of one sharded selection (docs/PERFORMANCE.md, "Sharded selection").

Learnability scoring (two models), joint sampler, B candidates over W ranks, b = B (1 - f) chosen in n chunks
of c = b / n. Per rank: compute = flops / F; communication per chunk with ring collectives over a network of
latency alpha and bandwidth beta: the all-reduce of 2 doubles (2 log2 W alpha), the all-gather of the W x c
proposals (3 doubles each) and the all-gather of the c new members' rows (c x 4d floats: image + text of two
models); softmax adds the all-gather of the members' log-sum-exps and O(k^2 d / W) flops for them.
Usage: python3 eng/mpi-model.py [B] [d]
"""
import math
import sys

B = int(sys.argv[1]) if len(sys.argv) > 1 else 163840
d = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
f, n = 0.8, 16
b = round(B * (1 - f))
c = b // n
alpha, beta = 5e-6, 100e9 / 8  # 5 us per message, 100 Gb/s


def ring_allgather(total_bytes, w):
    return (w - 1) * alpha + (w - 1) / w * total_bytes / beta


def model(w, flops_per_second, loss):
    rows = B / w
    if loss == "sigmoid":
        flops = 8 * rows * c * d * (n - 1)  # 4 products of (B/W x d) x (d x c) per chunk after the first
    else:
        # candidates against all k members each chunk, plus the members' own log-sum-exps split over the ranks
        flops = sum(8 * rows * (k * c) * d + 4 * (k * c) ** 2 * d / w for k in range(1, n))
    flops += 4 * rows * d  # independent scores
    compute = flops / flops_per_second
    comm = 0.0
    for k in range(n):
        comm += 2 * math.log2(max(w, 2)) * alpha if w > 1 else 0
        comm += ring_allgather(w * c * 24, w) if w > 1 else 0
        if k < n - 1 and w > 1:
            comm += ring_allgather(c * 4 * d * 4, w)
            if loss == "softmax":
                comm += 2 * ring_allgather((k + 1) * c * 2 * 4, w)
    return compute, comm


print(f"B = {B}, d = {d}, b = {b}, n = {n}, c = {c}; alpha = {alpha * 1e6:.0f} us, beta = {beta / 1e9:.1f} GB/s")
print(f"bytes per chunk: proposals {c * 24 / 1e3:.0f} kB per rank, member rows {c * 4 * d * 4 / 1e6:.1f} MB")
for name, rate in (("CPU node, 2.7 TFLOP/s", 2.7e12), ("GPU-class, 50 TFLOP/s", 50e12)):
    for loss in ("sigmoid", "softmax"):
        print(f"\n{name}, {loss}")
        print("| W | compute | communication | total | communication share |")
        print("|---:|---:|---:|---:|---:|")
        for w in (1, 8, 16, 32, 64, 128, 256):
            comp, comm = model(w, rate, loss)
            print(f"| {w} | {comp:.3f} s | {comm * 1e3:.1f} ms | {comp + comm:.3f} s | {comm / (comp + comm):.0%} |")
