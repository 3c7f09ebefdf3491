#!/usr/bin/python3
"""PyTorch yardstick for Aced's joint learnability selection with the sigmoid loss (issue 12).

An independent PyTorch implementation of what Aced's ActiveBatchSampler does with its defaults (joint sampler,
learnability scoring, sigmoid loss, temperature 10, ScoreNormalization.Sum): a super-batch of B candidates, a
sub-batch of b drawn in n chunks (the first b mod n chunks one larger). Chunk 0 is drawn from the independent scores
    s(x) = softplus(-l_xx^student) - softplus(-l_xx^reference),   l_xy = a * <img_x, txt_y> + c,
every later chunk from the conditional score given the members M chosen so far (JEST/ACID, Evans et al. 2024):
    s(M u {x}) - s(M) = s(x) + sum_{model, weight} weight * sum_{m in M} (softplus(l_xm) + softplus(l_mx)),
weights +1 (student) and -1 (reference). Incremental: the per-candidate member sums are kept and each chunk adds only
its new members' terms, from four products per chunk (candidates x new members, image->text and text->image, both
models): O(B * b * d) time overall, O(B * b / n) extra memory; never a B x B matrix.
Draws: greedy top-k (--greedy) or Gumbel top-k of tau * score (the default, as Aced's benchmark), members masked.

Fast path choices (a fair yardstick, not a straw man): float32, no autograd (torch.inference_mode), the logit scale
folded into the c new member rows, the bias added by addmm into preallocated buffers, softplus and the row sums as
vectorised torch ops in place. --block R processes the candidates in blocks of R rows (the logit tiles then stay in
cache between the product and the element-wise passes); measured slower here (OpenBLAS is slower on short products),
so the default is one block of all B rows.

Usage (Debian's python, python3-torch 1.13.1 linked to OpenBLAS):
    /usr/bin/python3 joint_select.py select DIR b n [--greedy] [--reps 7] [--block 0] [--out idx.npy] [--stock-env]
    /usr/bin/python3 joint_select.py sgemm 1024 [--reps 20]
DIR holds si.npy, st.npy, ri.npy, rt.npy (student/reference image/text embeddings, B x d float32, L2-normalised rows),
as written by `AcedSelect gen DIR B d`. Both models use SigLIP's initial a = 10, c = -10 (Aced's SigmoidDefault).
"""
import argparse
import os
import sys
import time

# Two thread pools share the cores: OpenBLAS's pthreads (the products) and libgomp's (the element-wise ops). With
# their default spin-waits each pool's idle threads spin while the other works, which on a 2-core machine costs
# more than the element-wise ops themselves; the yardstick therefore lets idle threads sleep at once (measured:
# docs/PERFORMANCE.md, "Joint selection vs PyTorch + OpenBLAS on the same inputs"). --stock-env keeps the libraries' defaults (these and the capability below).
# PyTorch 1.13 ships AVX-512 element-wise kernels but runs its AVX2 ones unless ATEN_CPU_CAPABILITY=avx512 asks for
# them (it does not check the CPU then, so only on a CPU with the AVX-512 subsets they need); Aced uses AVX-512
# where the CPU has it, so the yardstick does too (softplus twice as fast on Zen 4).
AVX512_FLAGS = ("avx512f", "avx512bw", "avx512vl", "avx512dq")


def cpu_has_avx512():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return all(flag in flags for flag in AVX512_FLAGS)


if "--stock-env" not in sys.argv:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    if cpu_has_avx512():
        os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx512")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402


def chunk_size(b, n, k):
    """Aced's ActiveBatchSamplerOptions.ChunkSize: the first b mod n chunks take one extra example."""
    return b // n + (1 if k < b % n else 0)


class JointSigmoidSelector:
    """Reusable selector: buffers sized for (B, b, d, n) are allocated once."""

    def __init__(self, B, b, d, n, block=0):
        self.B, self.b, self.d, self.n = B, b, d, n
        self.block = B if block <= 0 else min(block, B)
        cmax = chunk_size(b, n, 0)
        self.logits = torch.empty(4, self.block, cmax, dtype=torch.float32)
        self.rowsums = torch.empty(4, self.block, dtype=torch.float32)
        self.members = torch.empty(4, cmax, d, dtype=torch.float32)  # a * [st, si, rt, ri] of the new members
        self.bias = torch.empty(4, 1, cmax, dtype=torch.float32)
        self.acc = torch.empty(B, dtype=torch.float64)
        self.score = torch.empty(B, dtype=torch.float64)
        self.chunk_logits = torch.empty(B, dtype=torch.float32)
        self.noise = torch.empty(B, dtype=torch.float64)
        self.is_member = torch.zeros(B, dtype=torch.bool)
        self.weights = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64)
        self.phases = None  # {phase: seconds} when timing the phases (--breakdown), else None

    def _mark(self, phase, t0):
        """Adds the time since t0 to phase (only with --breakdown); returns the new start."""
        if self.phases is None:
            return t0
        t1 = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + (t1 - t0)
        return t1

    @torch.inference_mode()
    def select(self, si, st, ri, rt, scale_s=10.0, bias_s=-10.0, scale_r=10.0, bias_r=-10.0,
               greedy=False, tau=10.0, generator=None):
        B, b, n = self.B, self.b, self.n
        queries = (si, st, ri, rt)              # candidate rows: x as image, x as text, per model
        keys = (st, si, rt, ri)                 # their partners among the new members
        scales = (scale_s, scale_s, scale_r, scale_r)
        biases = (bias_s, bias_s, bias_r, bias_r)

        # Independent scores: softplus(-l_xx) student minus reference, in float64 like Aced's accumulator.
        pos_s = torch.nn.functional.softplus(-(scale_s * (si * st).sum(1) + bias_s)).double()
        pos_r = torch.nn.functional.softplus(-(scale_r * (ri * rt).sum(1) + bias_r)).double()
        independent = pos_s - pos_r
        self.acc.zero_()
        self.is_member.zero_()
        chosen = torch.empty(b, dtype=torch.int64)
        filled = 0
        for k in range(n):
            size = chunk_size(b, n, k)
            torch.add(independent, self.acc, out=self.score)
            torch.mul(self.score, tau, out=self.noise)          # tau * score in double, then float32 as Aced
            self.chunk_logits.copy_(self.noise)
            self.chunk_logits.masked_fill_(self.is_member, float("-inf"))
            if greedy:
                idx = torch.topk(self.chunk_logits, size, sorted=True).indices
            else:
                # Gumbel top-k: argmax-k of logit + Gumbel(0, 1) draws k without replacement ~ exp(logit).
                self.noise.uniform_(generator=generator)
                self.noise.log_().neg_().log_().neg_()
                idx = torch.topk(self.chunk_logits.double().add_(self.noise), size, sorted=True).indices
            chosen[filled:filled + size] = idx
            self.is_member[idx] = True
            filled += size
            if k < n - 1:
                self._add_members(idx, queries, keys, scales, biases)
        return chosen

    def _add_members(self, idx, queries, keys, scales, biases):
        t0 = time.perf_counter() if self.phases is not None else 0.0
        c = idx.numel()
        members = self.members[:, :c]
        bias = self.bias[:, :, :c]
        for p in range(4):
            torch.index_select(keys[p], 0, idx, out=members[p])
            members[p].mul_(scales[p])
            bias[p].fill_(biases[p])
        for r0 in range(0, self.B, self.block):
            rows = min(self.block, self.B - r0)
            logits = self.logits[:, :rows, :c]
            t0 = self._mark("gather", t0)
            for p in range(4):
                # l = a * q m^T + c for the block's candidates against the c new members.
                torch.addmm(bias[p], queries[p][r0:r0 + rows], members[p].t(), out=logits[p])
            t0 = self._mark("products", t0)
            torch._C._nn.softplus(logits, 1, 20, out=logits)
            t0 = self._mark("softplus", t0)
            sums = self.rowsums[:, :rows]
            torch.sum(logits, dim=2, out=sums)
            # acc += student (image + text) - reference (image + text), in float64.
            self.acc[r0:r0 + rows].add_(torch.matmul(self.weights, sums.double()))
            t0 = self._mark("row sums", t0)


def load(directory):
    arrays = [np.load(os.path.join(directory, name + ".npy")) for name in ("si", "st", "ri", "rt")]
    return [torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in arrays]


def warm_up(call):
    """Calls `call` until the steady state, by AcedSelect's rule: at least 3 calls and ACED_WARMUP_SECONDS (default 3)
    seconds. Returns the number of calls and the first call's seconds."""
    seconds = float(os.environ.get("ACED_WARMUP_SECONDS", "3"))
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    calls = 1
    while calls < 3 or time.perf_counter() - start < seconds:
        call()
        calls += 1
    return calls, first


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("select")
    s.add_argument("dir")
    s.add_argument("b", type=int)
    s.add_argument("n", type=int)
    s.add_argument("--greedy", action="store_true")
    s.add_argument("--reps", type=int, default=7)
    s.add_argument("--block", type=int, default=0)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--out")
    s.add_argument("--breakdown", action="store_true", help="also print the time of each phase (products, softplus, ...)")
    s.add_argument("--stock-env", action="store_true", help="keep the default OpenMP/OpenBLAS spin-waits")
    g = sub.add_parser("sgemm")
    g.add_argument("size", type=int)
    g.add_argument("--reps", type=int, default=20)
    g.add_argument("--threads", type=int, default=2)
    g.add_argument("--stock-env", action="store_true", help="keep the default OpenMP/OpenBLAS spin-waits")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.command == "sgemm":
        gen = torch.Generator().manual_seed(3)
        a = torch.randn(args.size, args.size, generator=gen)
        out = torch.empty_like(a)
        warm_up(lambda: torch.mm(a, a, out=out))
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            torch.mm(a, a, out=out)
            times.append(time.perf_counter() - t0)
        med = sorted(times)[len(times) // 2]
        print(f"torch sgemm {args.size}^3 threads={torch.get_num_threads()}: median {med:.5f} s "
              f"({2.0 * args.size ** 3 / med / 1e9:.1f} GFLOP/s)")
        return 0

    si, st, ri, rt = load(args.dir)
    B, d = si.shape
    selector = JointSigmoidSelector(B, args.b, d, args.n, args.block)
    gen = torch.Generator().manual_seed(1)
    warmup_calls, first_call = warm_up(lambda: selector.select(si, st, ri, rt, greedy=args.greedy, generator=gen))
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        chosen = selector.select(si, st, ri, rt, greedy=args.greedy, generator=gen)
        times.append(time.perf_counter() - t0)
    if args.breakdown:
        selector.phases = {}
        t0 = time.perf_counter()
        selector.select(si, st, ri, rt, greedy=args.greedy, generator=gen)
        total = time.perf_counter() - t0
        parts = selector.phases
        parts["sampling + independent"] = total - sum(parts.values())
        print("breakdown of one selection: " + ", ".join(f"{k} {v:.4f} s ({v / total:.0%})" for k, v in parts.items()))
    if args.out:
        np.save(args.out, chosen.numpy().astype(np.int32))
    times.sort()
    print(f"torch select B={B} b={args.b} d={d} n={args.n} {'greedy' if args.greedy else 'gumbel'} "
          f"threads={torch.get_num_threads()} block={selector.block} aten={os.environ.get('ATEN_CPU_CAPABILITY', 'default')}{' stock-env' if args.stock_env else ''}: median {times[len(times) // 2]:.4f} s "
          f"min {times[0]:.4f} s (after {warmup_calls} warm-up calls; first call {first_call:.4f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
