"""SOLA in PyTorch: a reference implementation of exactly the model sola's C++ code builds.

"Learning Second Order Local Anomaly for General Face Forgery Detection" (Fei et al., CVPR 2022).
Each class mirrors one file of src/model/ and has the same parameter and buffer names, so the
state dict of a `sola export` file loads with strict checking:

    import torch, sola_ref
    model = sola_ref.load_export("model.export.pt")      # built from the file's config, eval mode
    out = model(images)                                  # [B, 3, H, W] RGB in [0, 1]
    out.logit, out.first_order, out.second_order

The configuration is the C++ ModelOptions (src/model/options.h), the same JSON keys and defaults:
`build_model({"grid": 8, "input_size": 64})`. Tested against the C++ forward by
tests/interop_test.cpp through reference/parity.py.

The losses of Sec. 3.4 (src/loss/anomaly_loss.cpp, Eq. 9-12) are `compute_loss(out, labels, scores,
has_mask, mode)`, tested against the C++ compute_loss by tests/interop_test.cpp (Reference.Loss*).
"""
import json
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

# ---- configuration (src/model/options.h) ---------------------------------------------------------

DEFAULT_CONFIG = {
    "arch": "sola",                 # 'sola' (the paper) or 'resnet' (vanilla ResNet baseline)
    "backbone": "resnet18",         # ResNet depth of both branches: resnet18, resnet50, resnet101
    "input_size": 256,              # square input side in pixels (multiple of 16)
    "normalize": "imagenet",        # RGB-branch input normalisation: 'imagenet' or 'none'
    "noise": "asrm",                # noise branch first layer (Table 6): asrm, lsrm, srm, none
    "asrm_eps": 1e-2,               # ASRM projection: a neighbour sum below this fraction of the taps' L1 norm falls back to SRM
    "dcam": True,                   # Dual Channel Attention fusion after each block (False: plain sum)
    "dcam_fusion": "sum",           # fusion of the attended branches: 'sum' or 'concat'
    "dcam_reduction": 16,           # channel-attention MLP reduction ratio r (hidden = C / r)
    "lem": True,                    # Local Enhancement Module after each block (Table 7)
    "lem_key_reduction": 8,         # LEM theta/f embedding width = C / this
    "lem_pixel_patches": True,      # also an LEM where patches are one pixel (x + lambda * g(x))
    "grid": 16,                     # patch grid G: LEM cells and SOLA map size G x G
    "anomaly_channels": 64,         # kernels per first-order predictor delta (Eq. 7)
    "classifier_channels": 64,      # channels of the classifier convolution
    "classifier_kernel": 3,         # kernel size of the classifier convolution (odd)
    "classifier_input": "maps",     # the classifier reads 'maps' (sigmoid M') or 'logits'
    "classifier_cells": "valid",    # the classifier sees 'valid' cells only (others zeroed) or 'all'
}


def make_config(config=None) -> dict:
    """Defaults updated with `config` (a dict or a JSON string); unknown keys are an error."""
    if isinstance(config, str):
        config = json.loads(config)
    cfg = dict(DEFAULT_CONFIG)
    for key, value in (config or {}).items():
        if key not in cfg:
            raise KeyError(f"unknown model config key '{key}' (known: {', '.join(cfg)})")
        cfg[key] = value
    return cfg


# ---- ResNet trunks (src/model/resnet.cpp) --------------------------------------------------------

DEPTHS = {"resnet18": (BasicBlock, [2, 2, 2, 2]),
          "resnet50": (Bottleneck, [3, 4, 6, 3]),
          "resnet101": (Bottleneck, [3, 4, 23, 3])}


class ResNetTrunk(nn.Module):
    """torchvision's ResNet without avgpool/fc: conv1 bn1 relu maxpool, then layer1..layer`stages`.

    Built from torchvision's own blocks, so names and computation are torchvision's and its
    ImageNet weights load directly (stride on the 3x3 conv of a bottleneck, "v1.5").
    """

    def __init__(self, depth="resnet18", stages=4, in_channels=3):
        super().__init__()
        block, blocks = DEPTHS[depth]
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.in_planes = 64
        for s in range(stages):
            self.add_module(f"layer{s + 1}", self._make_layer(block, 64 * 2 ** s, blocks[s], 1 if s == 0 else 2))
        self.stages = stages
        self.expansion = block.expansion
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block, planes, n, stride):
        downsample = None
        if stride != 1 or self.in_planes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.in_planes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.in_planes, planes, stride, downsample)]
        self.in_planes = planes * block.expansion
        layers += [block(self.in_planes, planes) for _ in range(1, n)]
        return nn.Sequential(*layers)

    def stage_channels(self, index):
        """Output channels of layer`index` (1-based)."""
        return 64 * 2 ** (index - 1) * self.expansion

    def stem(self, x):
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def stage(self, index, x):
        return getattr(self, f"layer{index}")(x)

    def forward(self, x):
        x = self.stem(x)
        for s in range(1, self.stages + 1):
            x = self.stage(s, x)
        return x


# ---- ASRM (src/model/asrm.cpp) -------------------------------------------------------------------

def srm_kernels():
    """The 3 SRM kernels of RGB-N (KB /4, KV /12, 2nd-order horizontal /2): centre -1, rest sums to 1."""
    kb = [[0, 0, 0, 0, 0], [0, -1, 2, -1, 0], [0, 2, -4, 2, 0], [0, -1, 2, -1, 0], [0, 0, 0, 0, 0]]
    kv = [[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]]
    h2 = [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 1, -2, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    return torch.stack([torch.tensor(kb, dtype=torch.float32) / 4.0,
                        torch.tensor(kv, dtype=torch.float32) / 12.0,
                        torch.tensor(h2, dtype=torch.float32) / 2.0])


class Asrm(nn.Module):
    """Adaptive SRM (Sec. 3.1): a 5x5 conv, weight [3 out, 3 in, 5, 5] = SRM kernel `out` for every input.

    mode 'asrm' and 'lsrm': the weight is learnable ('asrm' is projected after each optimizer step,
    Eq. 4); 'srm': a fixed buffer. `initial` keeps the SRM weight (the projection's fallback).
    """

    def __init__(self, mode="asrm", eps=1e-2):
        super().__init__()
        self.mode, self.eps = mode, eps
        w = srm_kernels().unsqueeze(1).repeat(1, 3, 1, 1).contiguous()
        self.register_buffer("initial", w.clone())
        if mode == "srm":
            self.register_buffer("weight", w)
        else:
            self.weight = nn.Parameter(w)

    def forward(self, x):
        return F.conv2d(x, self.weight, padding=2)

    @torch.no_grad()
    def project(self):
        """Eq. 4: centre -1, the other 24 entries rescaled to sum 1 (SRM kernel if their sum ~ 0)."""
        if self.mode != "asrm":
            return
        w = self.weight.reshape(-1, 25)
        not_centre = torch.ones(25, dtype=w.dtype, device=w.device)
        not_centre[12] = 0
        rest = w * not_centre
        total = rest.sum(1, keepdim=True)
        ok = total.abs() > self.eps * rest.abs().sum(1, keepdim=True)
        projected = torch.where(ok, rest / torch.where(ok, total, torch.ones_like(total)),
                                self.initial.reshape(-1, 25).to(w.dtype) * not_centre)
        projected[:, 12] = -1.0
        self.weight.copy_(projected.view_as(self.weight))


# ---- DCAM (src/model/dcam.cpp) -------------------------------------------------------------------

class ChannelAttention(nn.Module):
    """CBAM channel attention: x * sigmoid(MLP(avgpool x) + MLP(maxpool x)), MLP C -> C/r -> C (1x1 convs)."""

    def __init__(self, channels, reduction):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False), nn.ReLU(),
                                 nn.Conv2d(hidden, channels, 1, bias=False))

    def forward(self, x):
        avg = F.adaptive_avg_pool2d(x, 1)
        mx = F.adaptive_max_pool2d(x, 1)
        return x * torch.sigmoid(self.mlp(avg) + self.mlp(mx))


class Dcam(nn.Module):
    """Dual Channel Attention: CA on each branch, fuse (sum, or concat -> 1x1 conv -> BN), CA on the result.

    With attention=False it is a plain sum and has no parameters; without a noise branch the RGB
    features alone pass through ca_rgb and ca_fused.
    """

    def __init__(self, channels, reduction=16, fusion="sum", attention=True, has_noise=True):
        super().__init__()
        self.attention = attention
        self.fuse = None
        if not attention:
            return
        self.ca_rgb = ChannelAttention(channels, reduction)
        if has_noise:
            self.ca_noise = ChannelAttention(channels, reduction)
            if fusion == "concat":
                self.fuse = nn.Conv2d(2 * channels, channels, 1, bias=False)
                self.fuse_bn = nn.BatchNorm2d(channels)
            elif fusion != "sum":
                raise ValueError(f"dcam_fusion must be 'sum' or 'concat', got '{fusion}'")
        self.ca_fused = ChannelAttention(channels, reduction)

    def forward(self, rgb, noise: Optional[torch.Tensor]):
        if not self.attention:
            return rgb + noise if noise is not None else rgb
        fused = self.ca_rgb(rgb)
        if noise is not None:
            n = self.ca_noise(noise)
            fused = self.fuse_bn(self.fuse(torch.cat([fused, n], 1))) if self.fuse is not None else fused + n
        return self.ca_fused(fused)


# ---- LEM (src/model/lem.cpp) ---------------------------------------------------------------------

class Lem(nn.Module):
    """Local Enhancement Module (Eq. 5-6): non-local attention inside each cell of a G x G patch grid.

    out = x + lambda * concat_k(softmax(theta(p_k)^T f(p_k)) g(p_k)); theta, f: 1x1 C -> C/key_reduction,
    g: 1x1 C -> C (with bias), lambda a scalar initialised to 0. A map smaller than G uses one cell
    per pixel. With pixel_patches (every patch one pixel) it is x + lambda * g(x) without theta and f.
    """

    def __init__(self, channels, grid=16, key_reduction=8, pixel_patches=False):
        super().__init__()
        ck = max(1, channels // key_reduction)
        self.grid = grid
        if not pixel_patches:  # one-pixel patches: x + lambda * g(x), no theta / f
            self.theta = nn.Conv2d(channels, ck, 1)
            self.f = nn.Conv2d(channels, ck, 1)
        self.g = nn.Conv2d(channels, channels, 1)
        self.register_parameter("lambda", nn.Parameter(torch.zeros(1)))  # `lambda` is a Python keyword

    def forward(self, x):
        b, _, h, w = x.shape
        ch, cw = min(self.grid, h), min(self.grid, w)
        assert h % ch == 0 and w % cw == 0, f"LEM: {h}x{w} does not split into a {ch}x{cw} grid"
        ph, pw = h // ch, w // cw
        v = self.g(x)
        if ph * pw == 1:
            enhanced = v  # softmax over one position is 1
        else:
            def to_patches(t):  # [B, c, H, W] -> [B * cells, c, L]
                return (t.reshape(b, t.shape[1], ch, ph, cw, pw).permute(0, 2, 4, 1, 3, 5)
                        .reshape(b * ch * cw, t.shape[1], ph * pw))

            q, k = to_patches(self.theta(x)), to_patches(self.f(x))
            attn = torch.softmax(torch.bmm(q.transpose(1, 2), k), -1)  # [N, L, L], rows sum to 1
            out = torch.bmm(to_patches(v), attn.transpose(1, 2))        # [N, C, L]
            enhanced = (out.reshape(b, ch, cw, v.shape[1], ph, pw).permute(0, 3, 1, 4, 2, 5)
                        .reshape(b, v.shape[1], h, w))
        return x + getattr(self, "lambda") * enhanced


# ---- SOLA head (src/model/sola_head.cpp) ---------------------------------------------------------

NEIGHBOURS = ("v1", "v2", "h1", "h2")  # v*: neighbour on the left, h*: above; *1 distance 1, *2 distance 2


def neighbour_distance(k):
    return 1 if k % 2 == 0 else 2


def neighbour_in_row(k):
    return k < 2


def neighbour_conv(k, cin, cout):
    """1x2 (v*) or 2x1 (h*) conv, dilation d: its first tap reads the neighbour at distance d."""
    d = neighbour_distance(k)
    if neighbour_in_row(k):
        return nn.Conv2d(cin, cout, (1, 2), dilation=(1, d))
    return nn.Conv2d(cin, cout, (2, 1), dilation=(d, 1))


def apply_neighbour_conv(k, conv, x):
    """Zero-pad d on the left (v*) or top (h*) so output (i, j) compares (i, j) with its neighbour; G x G kept."""
    d = neighbour_distance(k)
    return conv(F.pad(x, (d, 0, 0, 0) if neighbour_in_row(k) else (0, 0, d, 0)))


def valid_mask(grid, order):
    """[4, G, G]: 1 where a map of that order has its neighbour(s) inside the grid (the losses' mask)."""
    mask = torch.ones(4, grid, grid)
    for k in range(4):
        skip = min(grid, neighbour_distance(k) * order)
        if neighbour_in_row(k):
            mask[k, :, :skip] = 0
        else:
            mask[k, :skip, :] = 0
    return mask


@dataclass
class Output:
    logit: torch.Tensor                                  # [B]
    features: torch.Tensor                               # SOLA: [B, C, G, G] head input; ResNet: last stage
    first_order: Optional[torch.Tensor] = None           # [B, 4, K, G, G] in (0, 1), order v1 v2 h1 h2
    second_order: Optional[torch.Tensor] = None          # [B, 4, G, G] in (0, 1)
    first_order_logits: Optional[torch.Tensor] = None    # before the sigmoid
    second_order_logits: Optional[torch.Tensor] = None


class SolaHead(nn.Module):
    """Eq. 7-8 and the classifier: delta_* (C -> K) -> sigmoid = M_*; phi_* (K -> 1) -> M'_* (logits);
    classifier: conv(k x k, 4 -> channels) on sigmoid(M') (or on its logits) -> ReLU -> GAP -> fc -> logit."""

    def __init__(self, in_channels, anomaly_channels=64, classifier_channels=64, classifier_kernel=3,
                 classifier_on_logits=False, classifier_valid_cells=True):
        super().__init__()
        for k, name in enumerate(NEIGHBOURS):
            self.add_module(f"delta_{name}", neighbour_conv(k, in_channels, anomaly_channels))
            self.add_module(f"phi_{name}", neighbour_conv(k, anomaly_channels, 1))
        self.classifier_conv = nn.Conv2d(4, classifier_channels, classifier_kernel, padding=classifier_kernel // 2)
        self.fc = nn.Linear(classifier_channels, 1)
        self.classifier_on_logits = classifier_on_logits
        self.classifier_valid_cells = classifier_valid_cells

    def forward(self, features):
        first_logits, first, second_logits = [], [], []
        for k, name in enumerate(NEIGHBOURS):
            m_logit = apply_neighbour_conv(k, getattr(self, f"delta_{name}"), features)  # Eq. 7
            m = torch.sigmoid(m_logit)
            second_logits.append(apply_neighbour_conv(k, getattr(self, f"phi_{name}"), m))  # Eq. 8
            first_logits.append(m_logit)
            first.append(m)
        first_order_logits = torch.stack(first_logits, 1)
        second_order_logits = torch.cat(second_logits, 1)
        second_order = torch.sigmoid(second_order_logits)
        seen = second_order_logits if self.classifier_on_logits else second_order
        if self.classifier_valid_cells:
            seen = seen * valid_mask(seen.shape[-1], 2).to(seen).unsqueeze(0)
        h = F.relu(self.classifier_conv(seen))
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return Output(logit=self.fc(h).squeeze(1), features=features, first_order=torch.stack(first, 1),
                      second_order=second_order, first_order_logits=first_order_logits,
                      second_order_logits=second_order_logits)


# ---- the detectors (src/model/sola_net.cpp) ------------------------------------------------------

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Detector(nn.Module):
    """Common part: the configuration and the RGB input normalisation."""

    def __init__(self, config):
        super().__init__()
        self.config = make_config(config)

    def normalize_input(self, image):
        assert image.dim() == 4 and image.shape[1] == 3, f"expected an RGB batch [B, 3, H, W], got {tuple(image.shape)}"
        if self.config["normalize"] == "none":
            return image
        mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1).to(image)
        std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1).to(image)
        return (image - mean) / std


class SolaNet(Detector):
    """Fig. 2. For stage s = 1..3:
        rgb_s = layer_s^rgb(x_{s-1}),  noise_s = layer_s^noise(noise_{s-1}),  x_s = LEM_s(DCAM_s(rgb_s, noise_s))
    with x_0 = stem^rgb(normalize(image)), noise_0 = stem^noise(ASRM(image)): the fused features continue
    in the RGB stream, the noise stream stays a pure noise path. Then F = adaptive_avg_pool(x_3, G x G)
    and the SOLA head. An LEM exists only on stages whose patches hold more than one pixel."""

    def __init__(self, config=None):
        super().__init__(config)
        c = self.config
        self.rgb = ResNetTrunk(c["backbone"], stages=3)
        has_noise = c["noise"] != "none"
        if has_noise:
            self.asrm = Asrm(c["noise"], c["asrm_eps"])
            self.noise = ResNetTrunk(c["backbone"], stages=3)
        else:
            self.asrm = self.noise = None
        self.dcam = nn.ModuleList()
        self.lem = nn.ModuleList()
        self.lem_stages = []
        for s in (1, 2, 3):
            ch = self.rgb.stage_channels(s)
            self.dcam.append(Dcam(ch, c["dcam_reduction"], c["dcam_fusion"], c["dcam"], has_noise))
            side = c["input_size"] // (4 * 2 ** (s - 1))  # stage s has stride 4 * 2^(s-1)
            if c["lem"] and (side > c["grid"] or c["lem_pixel_patches"]):
                self.lem.append(Lem(ch, c["grid"], c["lem_key_reduction"], side <= c["grid"]))
                self.lem_stages.append(s)
        self.head = SolaHead(self.rgb.stage_channels(3), c["anomaly_channels"], c["classifier_channels"],
                             c["classifier_kernel"], c["classifier_input"] == "logits",
                             c["classifier_cells"] == "valid")

    def forward(self, image) -> Output:
        x = self.rgb.stem(self.normalize_input(image))
        n = self.noise.stem(self.asrm(image)) if self.noise is not None else None
        lems = dict(zip(self.lem_stages, self.lem))
        for s in (1, 2, 3):
            r = self.rgb.stage(s, x)
            if n is not None:
                n = self.noise.stage(s, n)
            x = self.dcam[s - 1](r, n)
            if s in lems:
                x = lems[s](x)
        g = self.config["grid"]
        return self.head(F.adaptive_avg_pool2d(x, (g, g)))  # a map smaller than G is replicated

    def after_optimizer_step(self):
        if self.asrm is not None:
            self.asrm.project()


class ResNetClassifier(Detector):
    """The paper's baseline: a full torchvision-layout ResNet with a one-logit fc."""

    def __init__(self, config=None):
        super().__init__(config)
        self.trunk = ResNetTrunk(self.config["backbone"], stages=4)
        self.fc = nn.Linear(self.trunk.stage_channels(4), 1)

    def forward(self, image) -> Output:
        features = self.trunk(self.normalize_input(image))
        return Output(logit=self.fc(F.adaptive_avg_pool2d(features, 1).flatten(1)).squeeze(1), features=features)

    def after_optimizer_step(self):
        pass


def build_model(config=None) -> Detector:
    """The detector a config (dict or JSON string of ModelOptions keys) describes."""
    cfg = make_config(config)
    return ResNetClassifier(cfg) if cfg["arch"] == "resnet" else SolaNet(cfg)


EXPORT_FORMAT = "sola-export-v1"


def load_export(path, map_location="cpu") -> Detector:
    """A model from a `sola export` file: built from its config, weights loaded strictly, in eval mode."""
    # An export holds only dicts, strings and tensors, so the restricted unpickler reads it.
    export = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(export, dict) or export.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{path}: not a sola export (expected format '{EXPORT_FORMAT}')")
    model = build_model(export["config"])
    model.load_state_dict(export["state_dict"], strict=True)
    return model.eval()


# ---- losses of Sec. 3.4 (src/loss/anomaly_loss.cpp) ----------------------------------------------

def neighbour_of(x, k):
    """x shifted so that cell (i, j) holds its neighbour of type k (zero where none)."""
    d = neighbour_distance(k)
    if neighbour_in_row(k):
        return F.pad(x, (d, 0, 0, 0))[..., :, : x.shape[-1]]
    return F.pad(x, (0, 0, d, 0))[..., : x.shape[-2], :]


def patch_scores(masks, grid):
    """[B, H, W] masks in [0, 1] -> [B, G, G] mean per non-overlapping patch (AVG(m_ij) of Eq. 9)."""
    return F.avg_pool2d(masks.unsqueeze(1), (masks.shape[1] // grid, masks.shape[2] // grid)).squeeze(1)


def anomaly_targets(scores, tolerance=1e-6):
    """Eq. 9a/9b: [B, 4, G, G] first- and second-order targets from [B, G, G] patch scores, and the
    [4, G, G] masks of the cells that have the neighbour(s) (first_valid, second_valid)."""
    g = scores.shape[1]
    first_valid, second_valid = valid_mask(g, 1).to(scores.device), valid_mask(g, 2).to(scores.device)
    first, second = [], []
    for k in range(4):
        a = ((scores - neighbour_of(scores, k)).abs() > tolerance).to(scores.dtype) * first_valid[k]  # Eq. 9a
        a2 = ((a - neighbour_of(a, k)).abs() > 0.5).to(scores.dtype) * second_valid[k]              # Eq. 9b
        first.append(a)
        second.append(a2)
    return torch.stack(first, 1), torch.stack(second, 1), first_valid, second_valid


def masked_mean_sum(per_cell, valid):
    """Mean of per_cell [N, 4, (K,) G, G] over valid cells (and channels) per neighbour type, summed over the types."""
    v = valid.unsqueeze(1) if per_cell.dim() == 5 else valid
    dims = (0, 2, 3, 4) if per_cell.dim() == 5 else (0, 2, 3)
    count = v.to(per_cell.dtype).expand_as(per_cell).sum(dims).clamp_min(1.0)
    return ((per_cell * v.to(per_cell.dtype)).sum(dims) / count).sum()


@dataclass
class LossTerms:
    total: torch.Tensor        # what is minimised
    classifier: torch.Tensor   # BCE of the logit (before alpha)
    first: torch.Tensor        # summed first-order term (before beta); 0 when not applicable
    second: torch.Tensor       # summed second-order term (before gamma)


def compute_loss(out, labels, scores, has_mask, mode="supervised", alpha=1.0, beta=1.0, gamma=1.0) -> LossTerms:
    """The C++ compute_loss. labels [B] (0/1), scores [B, G, G] patch scores, has_mask [B] bool.

    supervised (Eq. 10-11): alpha * BCE(logit) + beta * sum_* BCE(M_*, target_*) + gamma * sum_* BCE(M'_*, target'_*)
        over real images (zero targets) and fakes with a mask; a fake without one gives its classifier term only.
    weak (Eq. 12): alpha * BCE(logit) + beta * sum_* |M_*|_1 + gamma * sum_* |M'_*|_1 over real images only.
    classifier: alpha * BCE(logit)."""
    if mode not in ("supervised", "weak", "classifier"):
        raise ValueError(f"loss mode must be supervised, weak or classifier, got '{mode}'")
    classifier = F.binary_cross_entropy_with_logits(out.logit, labels.to(out.logit.dtype))
    first = second = torch.zeros((), dtype=out.logit.dtype, device=out.logit.device)
    if mode != "classifier":
        if out.second_order is None:
            raise ValueError(f"loss mode '{mode}' needs a model with anomaly maps (arch sola)")
        is_real = labels < 0.5
        if mode == "supervised":
            use = is_real | (has_mask.bool() & ~is_real)
            if bool(use.any()):
                idx = use.nonzero().squeeze(1)
                # Real images: zero targets whatever their mask column says.
                s = scores.index_select(0, idx) * (~is_real).index_select(0, idx).to(scores.dtype).view(-1, 1, 1)
                t1, t2, v1, v2 = anomaly_targets(s.float())
                fl = out.first_order_logits.index_select(0, idx)
                sl = out.second_order_logits.index_select(0, idx)
                bce1 = F.binary_cross_entropy_with_logits(fl, t1.unsqueeze(2).expand_as(fl).to(fl.dtype), reduction="none")
                bce2 = F.binary_cross_entropy_with_logits(sl, t2.to(sl.dtype), reduction="none")
                first, second = masked_mean_sum(bce1, v1), masked_mean_sum(bce2, v2)
        elif bool(is_real.any()):  # weak: single-side L1 on real images (targets all zero)
            idx = is_real.nonzero().squeeze(1)
            g = out.second_order.shape[-1]
            v1, v2 = valid_mask(g, 1).to(out.second_order.device), valid_mask(g, 2).to(out.second_order.device)
            first = masked_mean_sum(out.first_order.index_select(0, idx).abs(), v1)
            second = masked_mean_sum(out.second_order.index_select(0, idx).abs(), v2)
    return LossTerms(alpha * classifier + beta * first + gamma * second, classifier, first, second)
