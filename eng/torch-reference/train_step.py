#!/usr/bin/python3
"""PyTorch yardstick for Aced's training step (issue 12: "training step, batch 256, reference config >= 0.8 of the
OpenBLAS SGEMM peak").

The reference configuration of bench/Aced.Benchmarks' TrainingStepBenchmarks in plain PyTorch, op for op as
Aced.TorchSharp's towers (src/Aced.TorchSharp/Models/TowerFunctions.cs): ViT on 32x32x3 images with 4x4 patches
(64 tokens) and a text tower (vocabulary 4096, 32 tokens), each width 128, depth 4, 4 heads, MLP 512, pre-LN blocks
(layer norm eps 1e-6, tanh GELU, attention scaled by 1/sqrt(32)), final norm, pooling (image: mean, text: first
token), a 128 x 128 projection, L2-normalised embeddings, the SigLIP sigmoid loss with a learnable log-scale and bias.
One step: forward, loss, autograd backward, global gradient-norm clip at 1, AdamW (betas 0.9/0.95, eps 1e-8, decay
only on the weight matrices, as Aced's AdamW), log-scale clamp. Weights are random (Xavier-uniform matrices,
N(0, 1/d) embeddings), not Aced's: this measures speed; eng/torch-step-probe checks the numerics on libtorch.

Model FLOPs per step are the benchmark's convention: 3x the towers' forward FLOPs (Aced's ForwardFlops, mirrored in
forward_flops), 124.67 GFLOP at batch 256. The yardstick is torch.mm of two 1024 x 1024 float32 matrices in the same
process, which Debian's python3-torch runs on the system OpenBLAS (BLAS_INFO=generic through libblas.so.3), i.e. the
"OpenBLAS SGEMM peak" of the issue.

Usage (Debian's python, python3-torch 1.13.1): /usr/bin/python3 train_step.py [--batches 256 61] [--rounds 5]
[--steps 3] [--stock-env]. Threads: 2 (torch.set_num_threads, OMP_NUM_THREADS, OPENBLAS_NUM_THREADS); unless
--stock-env, idle pool threads sleep at once (OMP_WAIT_POLICY=PASSIVE, OPENBLAS_THREAD_TIMEOUT=4) as in
joint_select.py (two pools on two cores otherwise spin against each other).
"""
import argparse
import math
import os
import sys
import time

if "--stock-env" not in sys.argv:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

WIDTH, DEPTH, HEADS, MLP, EMBED = 128, 4, 4, 512, 128
IMAGE, PATCH, CHANNELS = 32, 4, 3
VOCAB, CONTEXT = 4096, 32
IMAGE_TOKENS = (IMAGE // PATCH) ** 2
GELU_C, GELU_A = 0.7978845608028654, 0.044715


def forward_flops(tokens, patch_inputs):
    """Aced's VisionTransformerConfig/TextTransformerConfig.ForwardFlops for one example (2 x multiply-adds)."""
    stack = DEPTH * (tokens * (4.0 * WIDTH * WIDTH + 2.0 * WIDTH * MLP) + 2.0 * tokens * tokens * WIDTH)
    return 2.0 * (tokens * patch_inputs * WIDTH + stack + WIDTH * EMBED)


STEP_FLOPS_PER_EXAMPLE = 3 * (forward_flops(IMAGE_TOKENS, PATCH * PATCH * CHANNELS) + forward_flops(CONTEXT, 0))


def xavier(rows, columns):
    bound = math.sqrt(6.0 / (rows + columns))
    return torch.empty(rows, columns).uniform_(-bound, bound)


class Tower(torch.nn.Module):
    """One tower's parameters in Aced's layout (weights input-major, y = x W + b) and its forward."""

    def __init__(self, tokens, first):
        super().__init__()
        d = WIDTH
        self.position = torch.nn.Parameter(torch.randn(tokens, d) / math.sqrt(d))
        self.first = first
        self.blocks = torch.nn.ParameterList()
        self.matrices = []
        for _ in range(DEPTH):
            for shape in ((d,), (d,), (d, 3 * d), (3 * d,), (d, d), (d,), (d,), (d,), (d, MLP), (MLP,), (MLP, d), (d,)):
                p = torch.nn.Parameter(xavier(*shape) if len(shape) == 2 else torch.zeros(shape))
                self.blocks.append(p)
                if len(shape) == 2:
                    self.matrices.append(p)
        for i in range(DEPTH):  # layer-norm scales start at 1
            self.blocks[12 * i].data.fill_(1.0)
            self.blocks[12 * i + 6].data.fill_(1.0)
        self.norm_scale = torch.nn.Parameter(torch.ones(d))
        self.norm_bias = torch.nn.Parameter(torch.zeros(d))
        self.head = torch.nn.Parameter(xavier(d, EMBED))
        self.head_bias = torch.nn.Parameter(torch.zeros(EMBED))
        self.matrices.append(self.head)

    def encode(self, x):
        b, t, d = x.shape
        hd = d // HEADS
        for i in range(DEPTH):
            ln1s, ln1b, wqkv, bqkv, wo, bo, ln2s, ln2b, w1, b1, w2, b2 = self.blocks[12 * i:12 * i + 12]
            h = F.layer_norm(x, (d,), ln1s, ln1b, 1e-6)
            qkv = h.matmul(wqkv).add(bqkv)
            q = qkv.narrow(2, 0, d).reshape(b, t, HEADS, hd).transpose(1, 2)
            k = qkv.narrow(2, d, d).reshape(b, t, HEADS, hd).transpose(1, 2)
            v = qkv.narrow(2, 2 * d, d).reshape(b, t, HEADS, hd).transpose(1, 2)
            scores = q.matmul(k.transpose(2, 3)).mul(1.0 / math.sqrt(hd))
            attended = scores.softmax(-1).matmul(v).transpose(1, 2).reshape(b, t, d)
            x = x.add(attended.matmul(wo).add(bo))
            h2 = F.layer_norm(x, (d,), ln2s, ln2b, 1e-6)
            u = h2.matmul(w1).add(b1)
            g = u.mul(0.5).mul(u.add(u.pow(3).mul(GELU_A)).mul(GELU_C).tanh().add(1.0))
            x = x.add(g.matmul(w2).add(b2))
        x = F.layer_norm(x, (d,), self.norm_scale, self.norm_bias, 1e-6)
        pooled = x.select(1, 0) if self.first else x.mean(1)
        return pooled.matmul(self.head).add(self.head_bias)


class TwoTower(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.image = Tower(IMAGE_TOKENS, first=False)
        self.patch = torch.nn.Parameter(xavier(PATCH * PATCH * CHANNELS, WIDTH))
        self.patch_bias = torch.nn.Parameter(torch.zeros(WIDTH))
        self.text = Tower(CONTEXT, first=True)
        self.token = torch.nn.Parameter(torch.randn(VOCAB, WIDTH) / math.sqrt(WIDTH))
        self.log_scale = torch.nn.Parameter(torch.tensor([math.log(10.0)]))
        self.bias = torch.nn.Parameter(torch.tensor([-10.0]))

    def matrices(self):
        return self.image.matrices + self.text.matrices + [self.patch]

    def forward(self, images, tokens):
        b = images.shape[0]
        g = IMAGE // PATCH
        patches = images.reshape(b, g, PATCH, g, PATCH, CHANNELS).permute(0, 1, 3, 2, 4, 5).reshape(b, IMAGE_TOKENS, -1)
        zi = self.image.encode(patches.matmul(self.patch).add(self.patch_bias).add(self.image.position))
        x = self.token.index_select(0, tokens.reshape(-1)).reshape(b, CONTEXT, WIDTH).add(self.text.position)
        zt = self.text.encode(x)
        return (zi / zi.norm(dim=1, keepdim=True).clamp_min(1e-12), zt / zt.norm(dim=1, keepdim=True).clamp_min(1e-12))


def sigmoid_loss(zi, zt, log_scale, bias):
    """SigLIP: (1/b) sum_ij softplus(-y_ij l_ij), l = exp(t) zi zt^T + c, y = 2 I - 1 (TorchLosses.SigmoidContrastive)."""
    b = zi.shape[0]
    logits = zi.matmul(zt.t()).mul(log_scale.exp()).add(bias)
    signs = torch.eye(b).mul_(2.0).sub_(1.0)
    return F.softplus(logits.mul(signs).neg()).sum().div(b)


class Step:
    def __init__(self, batch, learning_rate=1e-4, weight_decay=1e-4):
        torch.manual_seed(1)
        self.model = TwoTower()
        matrices = {id(p) for p in self.model.matrices()}
        decayed = [p for p in self.model.parameters() if id(p) in matrices]
        others = [p for p in self.model.parameters() if id(p) not in matrices]
        # Aced decays p -= wd * p (not scaled by the learning rate); torch's AdamW p *= 1 - lr * wd'.
        self.optimizer = torch.optim.AdamW(
            [{"params": decayed, "weight_decay": weight_decay / learning_rate}, {"params": others, "weight_decay": 0.0}],
            lr=learning_rate, betas=(0.9, 0.95), eps=1e-8)
        self.images = torch.rand(batch, IMAGE * IMAGE * CHANNELS)
        self.tokens = torch.zeros(batch, CONTEXT, dtype=torch.int64)
        for e in range(batch):
            length = 4 + int(torch.randint(28, ()))
            self.tokens[e, 0] = 1
            self.tokens[e, 1:length] = torch.randint(3, VOCAB, (length - 1,))
            self.tokens[e, length] = 2
        self.phases = [0.0, 0.0, 0.0]

    def __call__(self):
        t0 = time.perf_counter()
        self.optimizer.zero_grad()
        zi, zt = self.model(self.images, self.tokens)
        loss = sigmoid_loss(zi, zt, self.model.log_scale, self.model.bias)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        with torch.no_grad():
            self.model.log_scale.clamp_(0.0, math.log(100.0))
        t3 = time.perf_counter()
        for i, seconds in enumerate((t1 - t0, t2 - t1, t3 - t2)):
            self.phases[i] += seconds
        return float(loss)


def timed(call, calls):
    """Mean wall and process CPU seconds per call (CPU: every thread of the process)."""
    time.sleep(0.02)
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - w0) / calls, (time.process_time() - c0) / calls


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 61])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--stock-env", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"train_step.py: {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, load {load}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, interop {torch.get_num_interop_threads()}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    print(torch.__config__.parallel_info().strip())
    a = torch.full((1024, 1024), 0.5)
    bm = torch.full((1024, 1024), 0.25)
    sgemm_flops = 2.0 * 1024 ** 3
    for batch in args.batches:
        step = Step(batch)
        count = sum(p.numel() for p in step.model.parameters())
        flops = STEP_FLOPS_PER_EXAMPLE * batch
        print(f"batch {batch}: {flops / 1e9:.2f} GFLOP/step (3x forward), {count:,} parameters (Aced: 2,162,562), first loss {step():.4f}")
        for _ in range(3):  # warm-up: the allocator's and OpenMP's first steps
            step()
            torch.mm(a, bm)
        ratios = []
        for r in range(args.rounds):
            before, _ = timed(lambda: torch.mm(a, bm), 5)  # the SGEMM brackets the steps in time
            step.phases = [0.0, 0.0, 0.0]
            wall, cpu = timed(step, args.steps)
            after, _ = timed(lambda: torch.mm(a, bm), 5)
            sgemm = (before + after) / 2
            peak, rate = sgemm_flops / sgemm, flops / wall
            ratios.append(rate / peak)
            fwd, bwd, upd = (p / args.steps * 1e3 for p in step.phases)
            print(f"  round {r} {time.strftime('%H:%M:%S', time.gmtime())}: SGEMM (OpenBLAS via torch.mm) {peak / 1e9:.1f} GFLOP/s | "
                  f"step {wall * 1e3:.0f} ms wall, {cpu * 1e3:.0f} ms CPU, {rate / 1e9:.1f} GFLOP/s = {rate / peak:.3f} of the SGEMM; "
                  f"forward + loss {fwd:.0f} ms, backward {bwd:.0f} ms, clip + AdamW + clamp {upd:.0f} ms")
        ratios.sort()
        print(f"batch {batch}: median step/SGEMM {ratios[len(ratios) // 2]:.3f} over {args.rounds} rounds")


if __name__ == "__main__":
    main()
