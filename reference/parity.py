#!/usr/bin/python3
"""Runs the PyTorch reference on a `sola export` file and saves what it computes (for tests/interop_test.cpp).

    parity.py --export MODEL.export.pt [--input INPUT.pt] [--images a.png b.jpg ...] --out OUT.pt

--input  a torch.save / torch::pickle_save file holding a float tensor [B, 3, H, W] in [0, 1], or a dict
         with it under "images": the model runs on exactly this tensor.
--images image files, decoded as sola's load_image does (RGB, [0, 1], resized to the model's
         input_size with OpenCV's rules: INTER_AREA when both sides shrink, else 8-bit bilinear);
         the decoded batch is saved as "decoded", and it is the model input when --input is absent.
OUT.pt is torch.save(dict) of the outputs: logit, features and, for SOLA, first_order, second_order,
first_order_logits, second_order_logits (float32, CPU).

Exit code 77 when torch cannot be imported (the caller skips), 1 on other errors.
"""
import argparse
import math
import os
import sys

try:
    import torch
    from PIL import Image, ImageOps
except ImportError as e:  # not a usable Python for the reference
    print(f"parity.py: {e}", file=sys.stderr)
    sys.exit(77)

sys.dont_write_bytecode = True  # run from tests: leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sola_ref  # noqa: E402


# ---- decoding like src/data/image.cpp (cv::imread + cv::resize) -----------------------------------

def area_weights(src, dst):
    """[dst, src] weights of OpenCV's INTER_AREA (computeResizeAreaTab) for shrinking src -> dst."""
    scale = 1.0 / (dst / src)  # as OpenCV: 1 / inv_scale
    w = torch.zeros(dst, src, dtype=torch.float64)
    for d in range(dst):
        f1 = d * scale
        f2 = f1 + scale
        cell = min(scale, src - f1)
        s1, s2 = math.ceil(f1), math.floor(f2)
        s2 = min(s2, src - 1)
        s1 = min(s1, s2)
        if s1 - f1 > 1e-3:
            w[d, s1 - 1] = (s1 - f1) / cell
        for s in range(s1, s2):
            w[d, s] = 1.0 / cell
        if f2 - s2 > 1e-3:
            w[d, s2] = min(min(f2 - s2, 1.0), cell) / cell
    return w


def resize_area(img, size):
    """img: uint8 [H, W, 3] -> uint8 [size, size, 3], float math then round half to even (cvRound)."""
    wy = area_weights(img.shape[0], size)
    wx = area_weights(img.shape[1], size)
    out = torch.einsum("yh,hwc,xw->yxc", wy, img.to(torch.float64), wx)
    return torch.round(out).clamp(0, 255).to(torch.uint8)


def linear_taps(src, dst):
    """Source index and 11-bit fixed-point weights (OpenCV INTER_LINEAR, half-pixel centres, clamped)."""
    scale = 1.0 / (dst / src)
    index, w0, w1 = [], [], []
    for d in range(dst):
        f = float(torch.tensor((d + 0.5) * scale - 0.5, dtype=torch.float32))  # OpenCV computes fx in float
        s = math.floor(f)
        f -= s
        if s < 0:
            f, s = 0.0, 0
        if s >= src - 1:
            f, s = 0.0, src - 1
        index.append(s)
        w0.append(int(torch.round(torch.tensor((1.0 - f) * 2048.0, dtype=torch.float32))))
        w1.append(int(torch.round(torch.tensor(f * 2048.0, dtype=torch.float32))))
    return torch.tensor(index), torch.tensor(w0, dtype=torch.int64), torch.tensor(w1, dtype=torch.int64)


def resize_linear(img, size):
    """OpenCV's 8-bit bilinear: integer horizontal pass, then the vertical pass as its SIMD code rounds."""
    h, w, _ = img.shape
    x = img.to(torch.int64)
    xi, xa, xb = linear_taps(w, size)
    xn = (xi + 1).clamp(max=w - 1)
    rows = x[:, xi, :] * xa.view(1, -1, 1) + x[:, xn, :] * xb.view(1, -1, 1)  # [H, size, 3], scaled by 2048
    yi, ya, yb = linear_taps(h, size)
    yn = (yi + 1).clamp(max=h - 1)
    s0, s1 = rows[yi] >> 4, rows[yn] >> 4
    out = ((s0 * ya.view(-1, 1, 1)) >> 16) + ((s1 * yb.view(-1, 1, 1)) >> 16)
    return ((out + 2) >> 2).clamp(0, 255).to(torch.uint8)


def load_image(path, size):
    """RGB float [3, size, size] in [0, 1], as sola::load_image(path, size)."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")  # cv::imread applies the EXIF orientation
        img = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(im.height, im.width, 3)
    if size > 0 and (img.shape[0] != size or img.shape[1] != size):
        shrink = img.shape[0] > size and img.shape[1] > size
        img = resize_area(img, size) if shrink else resize_linear(img, size)
    return img.permute(2, 0, 1).to(torch.float32).div(255.0).contiguous()


# ---- main -----------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--export", required=True, help="file written by `sola export`")
    ap.add_argument("--input", help="tensor [B, 3, H, W] to run the model on (torch.load-able)")
    ap.add_argument("--images", nargs="*", default=[], help="image files to decode (and run when --input is absent)")
    ap.add_argument("--out", required=True, help="where to torch.save the outputs (a dict)")
    args = ap.parse_args()

    model = sola_ref.load_export(args.export)
    result = {}
    if args.images:
        size = model.config["input_size"]
        result["decoded"] = torch.stack([load_image(p, size) for p in args.images])
    if args.input:
        images = torch.load(args.input, weights_only=False)  # the caller's own file (torch::pickle_save tags its dicts)
        if isinstance(images, dict):
            images = images["images"]
    elif args.images:
        images = result["decoded"]
    else:
        ap.error("give --input or --images")

    with torch.no_grad():
        out = model(images.to(torch.float32))
    for name in ("logit", "features", "first_order", "second_order", "first_order_logits", "second_order_logits"):
        value = getattr(out, name)
        if value is not None:
            result[name] = value.contiguous()
    torch.save(result, args.out)


if __name__ == "__main__":
    main()
