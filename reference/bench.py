#!/usr/bin/python3
"""Speed of the PyTorch reference (sola_ref.py), to compare with sola's C++ benchmarks.

    bench.py infer  --batch 1 --dtype fp32 [--size 256] [--threads 2] [--repeats 7] [--channels-last]
    bench.py train  --batch 8 [--size 256] [--threads 2] [--repeats 5] [--channels-last] [--dtype bf16]
                    [--profile TRACE.json]
    bench.py detect --export MODEL.export.pt --dir DIR [--limit 200] [--batch 16] [--decode pil|parity]

Each prints one JSON line on stdout (median and min of the timed runs in ms, images/s, peak resident
memory of the process from getrusage) so that benchmarks/compare_reference.sh can put it next to
the sola figure measured the same way.

infer   the model as a PyTorch user runs it: eval(), torch.inference_mode(), NCHW input, fp32 or
        bf16 under torch.autocast("cpu", dtype=torch.bfloat16); the default sola-r18 config at
        --size with random weights and batch-norm statistics (as sola_bench_forward --mode one).
        --channels-last converts the model and input (the lever sola's prepare_for_inference uses;
        also for train).
train   one Adam step (lr 1e-3) per timed run: forward in train mode, the supervised loss of
        src/loss/anomaly_loss.cpp (Eq. 9-11, sola_ref.compute_loss), backward, step, ASRM projection;
        random images, half fakes with random rectangular masks (as benchmarks/train_bench.cpp).
        --dtype bf16 runs the forward pass under torch.autocast("cpu", dtype=torch.bfloat16) and the
        loss on its float() outputs: what a PyTorch user writes (the best configuration with
        --channels-last).
detect  the first --limit images of --dir (sorted), decoded, scored in batches, one JSON line per
        image written to stdout when --print; the figure is images/s of the whole loop. --decode pil
        decodes with Pillow and resizes with Image.BOX (area averaging: what a Python user writes);
        --decode parity uses parity.py's exact re-implementation of sola's OpenCV decoding, so the
        scores equal sola's (the check in compare_reference.sh).
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sola_ref  # noqa: E402


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def random_model(size, seed=0):
    torch.manual_seed(seed)
    model = sola_ref.build_model({"input_size": size})
    with torch.no_grad():  # non-trivial BN statistics, as in a trained model
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model


def timed(fn, repeats, warmup):
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1000.0)
    return ms


def report(fields, ms, batch):
    med = statistics.median(ms)
    fields.update({"median_ms": med, "min_ms": min(ms), "img_s": 1000.0 * batch / med,
                   "peak_rss_mib": peak_rss_mib(), "repeats": len(ms)})
    print(json.dumps(fields), flush=True)


# ---- inference ----------------------------------------------------------------------------------

def bench_infer(args):
    model = random_model(args.size).eval().to(args.device)
    torch.manual_seed(1)
    x = torch.rand(args.batch, 3, args.size, args.size).to(args.device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    bf16 = args.dtype == "bf16"

    def step():
        with torch.inference_mode(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            float(model(x).logit.sum())

    ms = timed(step, args.repeats, args.warmup)
    report({"bench": "infer", "impl": "reference", "config": "channels_last" if args.channels_last else "eager",
            "device": str(x.device), "dtype": args.dtype, "batch": args.batch, "size": args.size, "threads": torch.get_num_threads()},
           ms, args.batch)


# ---- training (the losses are sola_ref.compute_loss, as src/loss/anomaly_loss.cpp) -------------

def random_batch(batch, size, grid, seed=3):
    """Images, labels (half fakes), [B, G, G] patch scores of random rectangular masks, has_mask."""
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, size, size, generator=g)
    labels = (torch.arange(batch) % 2).float()
    masks = torch.zeros(batch, size, size)
    for i in range(batch):
        if labels[i] > 0.5:
            y0, x0 = [int(v) for v in torch.randint(0, size // 2, (2,), generator=g)]
            masks[i, y0:y0 + size // 3, x0:x0 + size // 3] = 1
    scores = sola_ref.patch_scores(masks, grid)
    return images, labels, scores, labels > 0.5


def bench_train(args):
    model = random_model(args.size).train().to(args.device)
    images, labels, scores, has_mask = (t.to(args.device) for t in random_batch(args.batch, args.size, model.config["grid"]))
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    bf16 = args.dtype == "bf16"

    def step():
        optimizer.zero_grad()
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(images)
        for field in ("logit", "first_order", "second_order", "first_order_logits", "second_order_logits"):
            if getattr(out, field) is not None:
                setattr(out, field, getattr(out, field).float())
        loss = sola_ref.compute_loss(out, labels, scores, has_mask).total
        loss.backward()
        optimizer.step()
        model.after_optimizer_step()
        float(loss)

    ms = timed(step, args.repeats, args.warmup)
    if args.profile:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            step()
        prof.export_chrome_trace(args.profile)
    report({"bench": "train", "impl": "reference", "config": "channels_last" if args.channels_last else "eager",
            "dtype": args.dtype, "batch": args.batch, "size": args.size,
            "threads": torch.get_num_threads()}, ms, args.batch)


# ---- end to end ---------------------------------------------------------------------------------

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def decode_pil(path, size):
    from PIL import Image
    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.size != (size, size):
            im = im.resize((size, size), Image.BOX if im.width > size and im.height > size else Image.BILINEAR)
        img = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(size, size, 3)
    return img.permute(2, 0, 1).to(torch.float32).div(255.0)


def bench_detect(args):
    t_start = time.perf_counter()
    model = sola_ref.load_export(args.export)
    size = model.config["input_size"]
    if args.decode == "parity":
        import parity
        decode = parity.load_image
    else:
        decode = decode_pil
    files = sorted(os.path.join(args.dir, f) for f in os.listdir(args.dir)
                   if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))[: args.limit]
    out = sys.stdout if args.print else open(os.devnull, "w")
    t0 = time.perf_counter()
    for begin in range(0, len(files), args.batch):
        chunk = files[begin:begin + args.batch]
        images = torch.stack([decode(f, size) for f in chunk])
        with torch.inference_mode():
            probs = torch.sigmoid(model(images).logit.float())
        for f, p in zip(chunk, probs.tolist()):
            out.write(json.dumps({"path": f, "score": round(p, 6)}) + "\n")
    seconds = time.perf_counter() - t0
    result = {"bench": "detect", "impl": "reference", "decode": args.decode, "images": len(files),
              "batch": args.batch, "threads": torch.get_num_threads(), "loop_s": seconds,
              "img_s": len(files) / seconds, "total_s": time.perf_counter() - t_start,
              "peak_rss_mib": peak_rss_mib()}
    print(json.dumps(result), file=sys.stderr if args.print else sys.stdout, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["infer", "train", "detect"])
    ap.add_argument("--batch", type=int, default=None, help="images per forward pass / step")
    ap.add_argument("--size", type=int, default=256, help="input side (infer, train)")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="infer, train: bf16 = autocast")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: one per available core)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--channels-last", action="store_true", help="infer, train: channels-last model and input")
    ap.add_argument("--device", default="cpu", help="infer, train: cpu or cuda (float() of the result synchronises)")
    ap.add_argument("--profile", help="train: one more step under torch.profiler, its chrome trace written here "
                    "(benchmarks/profile_ops.py sums it per operator)")
    ap.add_argument("--export", help="detect: model file written by `sola export`")
    ap.add_argument("--dir", help="detect: folder of face crops")
    ap.add_argument("--limit", type=int, default=200, help="detect: number of images")
    ap.add_argument("--decode", choices=["pil", "parity"], default="pil")
    ap.add_argument("--print", action="store_true", help="detect: per-image JSON lines on stdout, the figure on stderr")
    args = ap.parse_args()
    torch.set_num_threads(args.threads if args.threads > 0 else len(os.sched_getaffinity(0)))
    if args.batch is None:
        args.batch = {"infer": 1, "train": 8, "detect": 16}[args.mode]
    if args.mode == "detect" and not (args.export and args.dir):
        ap.error("detect needs --export and --dir")
    {"infer": bench_infer, "train": bench_train, "detect": bench_detect}[args.mode](args)


if __name__ == "__main__":
    main()
