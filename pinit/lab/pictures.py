"""Weights as pictures: RGB conv filters as an image grid, any weight matrix as a pooled heatmap."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..checks import whole_number
from ..setup import Setup

__all__ = ["MAX_HEATMAP", "downsample", "filter_grid", "first_rgb_conv", "weight_matrix", "weight_pictures"]


MAX_HEATMAP = 128


def first_rgb_conv(model: nn.Module) -> str | None:
    """The name of the first Conv2d weight that reads 3 input channels (the RGB filters), or None."""
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d) and m.in_channels == 3 and m.groups == 1:
            return f"{name}.weight"
    return None


def filter_grid(
    weight: np.ndarray | torch.Tensor, normalize: str = "filter", cols: int = 8, pad: int = 1, zoom: int = 1
) -> tuple[np.ndarray, list[float]]:
    """Tile RGB conv filters (out, 3, kh, kw) into one uint8 image (H, W, 3); 0 is mid-grey.

    normalize "filter": each filter divided by its own largest |w| (shapes comparable,
    sizes not); "global": all divided by the largest |w| of the whole tensor (sizes
    comparable). Either way w = 0 maps to grey 128, +max to 255 and -max to 0 in each
    channel. NaN/Inf entries are drawn as magenta. A white `pad` separates filters.
    Returns (image, scales): the |w| that maps to full brightness, per filter.
    """
    if normalize not in ("filter", "global"):
        raise ValueError(f"normalize must be 'filter' or 'global', got {normalize!r}")
    w = torch.as_tensor(np.asarray(weight, dtype=np.float64) if not isinstance(weight, torch.Tensor) else weight)
    w = w.detach().double()
    if w.dim() != 4 or w.shape[1] != 3:
        raise ValueError(f"filter_grid needs RGB conv filters of shape (out, 3, kh, kw), got {tuple(w.shape)}")
    bad = ~torch.isfinite(w)
    w = torch.where(bad, torch.zeros_like(w), w)
    out, _, kh, kw = w.shape
    per = w.abs().flatten(1).amax(dim=1)
    scales = per if normalize == "filter" else torch.full_like(per, float(per.max()) if out else 0.0)
    safe = torch.where(scales > 0, scales, torch.ones_like(scales))
    img = (w / safe[:, None, None, None] * 127.5 + 127.5).clamp(0, 255).round()
    pixel_bad = bad.any(dim=1, keepdim=True).expand_as(img)  # a pixel with any non-finite channel
    img = torch.where(
        pixel_bad, torch.tensor([255.0, 0.0, 255.0], dtype=torch.float64)[None, :, None, None].expand_as(img), img
    )
    cols = max(1, min(cols, out))
    rows = math.ceil(out / cols)
    ch, cw = kh * zoom, kw * zoom
    grid = np.full((rows * (ch + pad) + pad, cols * (cw + pad) + pad, 3), 255, dtype=np.uint8)
    tiles = img.permute(0, 2, 3, 1).numpy().astype(np.uint8)  # (out, kh, kw, 3)
    for i in range(out):
        r, c = divmod(i, cols)
        tile = np.kron(tiles[i], np.ones((zoom, zoom, 1), dtype=np.uint8)) if zoom > 1 else tiles[i]
        y0, x0 = pad + r * (ch + pad), pad + c * (cw + pad)
        grid[y0 : y0 + ch, x0 : x0 + cw] = tile
    return grid, scales.tolist()


def weight_matrix(weight: torch.Tensor) -> torch.Tensor:
    """A weight as a (size(0), numel / size(0)) matrix: rows are output units, columns fan-in."""
    if weight.dim() < 2:
        raise ValueError(f"a weight matrix needs >= 2 dims, got shape {tuple(weight.shape)}")
    return weight.detach().reshape(weight.shape[0], -1)


def downsample(
    matrix: torch.Tensor | np.ndarray, max_size: int = MAX_HEATMAP, how: str = "mean"
) -> tuple[np.ndarray, tuple[float, float]]:
    """Average-pool a 2-D matrix to at most max_size x max_size; returns (array, block size).

    how "mean": each cell is the mean of its block (structure: eye, constant, row/column
    patterns; the mean of b iid weights has std sigma/sqrt(b), so the colours are not the
    weights' own scale). how "rms": sqrt(mean of squares) per block (the scale; NaN/Inf
    blocks stay NaN/Inf). Blocks are equal when the size divides, else adaptive pooling's
    near-equal blocks; the returned block size is rows/out_rows, cols/out_cols.
    """
    if how not in ("mean", "rms"):
        raise ValueError(f"how must be 'mean' or 'rms', got {how!r}")
    m = torch.as_tensor(np.asarray(matrix)) if not isinstance(matrix, torch.Tensor) else matrix
    m = m.detach().double()
    if m.dim() != 2:
        raise ValueError(f"downsample needs a 2-D matrix, got shape {tuple(m.shape)}")
    max_size = whole_number("max_size", max_size, 1, 4096)
    r, c = m.shape
    out = (min(r, max_size), min(c, max_size))
    src = m * m if how == "rms" else m
    pooled = F.adaptive_avg_pool2d(src[None, None], out)[0, 0] if out != (r, c) else src
    if how == "rms":
        pooled = pooled.sqrt()
    return pooled.numpy(), (r / out[0], c / out[1])


def weight_pictures(setup: Setup, max_size: int = MAX_HEATMAP) -> dict[str, Any]:
    """Everything the weight pictures need, as plain values, for the setup's weights.

    Returns {"rgb_conv": name or None, "rgb_weight": (out, 3, kh, kw) array or None,
    "matrices": {name: {"shape", "block", "mean", "rms"}}} for every weight with >= 2
    dims, each downsampled to at most max_size x max_size (see `downsample`).
    """
    model = setup.build()
    params = dict(model.named_parameters())
    rgb = first_rgb_conv(model)
    mats = {}
    for name, p in params.items():
        if p.dim() < 2:
            continue
        m = weight_matrix(p)
        mean, block = downsample(m, max_size, "mean")
        rms, _ = downsample(m, max_size, "rms")
        mats[name] = {
            "shape": tuple(p.shape),
            "block": block,
            "mean": mean.astype(np.float32),
            "rms": rms.astype(np.float32),
        }
    return {"rgb_conv": rgb, "rgb_weight": params[rgb].detach().numpy().copy() if rgb else None, "matrices": mats}
