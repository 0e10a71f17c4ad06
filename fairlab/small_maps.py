"""An exact fast path for convolutions on tiny feature maps (the CPU at mini resolution).

At 32 px, ResNet-18's ``layer3`` runs on 2 × 2 maps and ``layer4`` on 1 × 1 (DenseNet-121's last
blocks likewise), and oneDNN handles those shapes badly: the backward pass of layer4's three
3 × 3 convolutions alone was 38.5 % of a training step on the 2-core CPU.

On an ``H × W`` input a convolution is a linear map from the ``C·H·W`` input values to the
``O·H'·W'`` output values, so it is exactly one matrix product. With the pixels outermost (the
memory order of a channels-last tensor, so neither the input nor the output is copied)

    y[n, (q, o)] = Σ_(p, c) x[n, (p, c)] · M[(q, o), (p, c)],   M[(q, o), (p, c)] = K[o, c, tap(p, q)]

where ``tap(p, q)`` is the kernel tap through which output pixel ``q`` reads input pixel ``p``
(no tap: zero). ``M`` is gathered from the kernel ``K`` by one matrix product with a fixed 0/1
tensor ``T[tap, p, q]`` — ``G = K.reshape(O·C, taps) @ T`` — whose every column holds at most one
1, so every entry of ``M`` is one kernel value or zero and building it is exact; the gradient
flows back to ``K`` through the same product (``dK = dG @ Tᵀ``), already in the kernel's layout.
For maps of at most :data:`MAX_PIXELS` pixels ``M`` is small (layer3: 1,024 × 1,024; layer4 on
1 × 1 maps: the kernel's centre tap, 512 × 512) and the product is much faster than the
convolution. Larger maps (every map at 224 px) and non-CPU tensors take the stock kernel, so the
path is a no-op wherever it would not help.
"""

from __future__ import annotations

import torch
from torch import nn

#: largest map (H × W) that takes the matrix-product path
MAX_PIXELS = 4


def _taps(kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int], height: int, width: int,
          dtype: torch.dtype) -> torch.Tensor:
    """``T[a·b, h·w, i·j]`` = 1 where tap (a, b) of output pixel (i, j) reads input pixel (h, w)."""
    kh, kw = kernel
    out_h = (height + 2 * padding[0] - kh) // stride[0] + 1
    out_w = (width + 2 * padding[1] - kw) // stride[1] + 1
    taps = torch.zeros(kh, kw, height, width, out_h, out_w, dtype=dtype)
    for i in range(out_h):
        for j in range(out_w):
            for a in range(kh):
                h = i * stride[0] - padding[0] + a
                if not 0 <= h < height:
                    continue
                for b in range(kw):
                    w = j * stride[1] - padding[1] + b
                    if 0 <= w < width:
                        taps[a, b, h, w, i, j] = 1
    return taps.reshape(kh * kw, height * width, out_h * out_w)


class SmallMapConv2d(nn.Conv2d):
    """``nn.Conv2d`` that computes maps of at most :data:`MAX_PIXELS` pixels on the CPU as one matrix product.

    Same parameters, names and state dict as the convolution it replaces; outputs and gradients
    equal the stock layer's up to the order of the floating-point sums.
    """

    def _eligible(self, x: torch.Tensor) -> bool:
        return (x.device.type == "cpu" and x.dim() == 4 and x.shape[-2] * x.shape[-1] <= MAX_PIXELS
                and self.groups == 1 and self.dilation == (1, 1) and self.padding_mode == "zeros"
                and not isinstance(self.padding, str))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._eligible(x):
            return super().forward(x)
        n, c, height, width = x.shape
        taps = self._tap_tensor(height, width, x.dtype)  # [tap, p, q]
        n_taps, pixels_in, pixels_out = taps.shape
        out_h = (height + 2 * self.padding[0] - self.kernel_size[0]) // self.stride[0] + 1
        out_w = pixels_out // out_h
        o = self.out_channels
        gathered = self.weight.to(x.dtype).reshape(o * c, n_taps) @ taps.reshape(n_taps, -1)  # [(o, c), (p, q)]
        matrix = gathered.view(o, c, pixels_in, pixels_out).permute(3, 0, 2, 1).reshape(pixels_out * o, pixels_in * c)
        pixels_first = x.permute(0, 2, 3, 1).reshape(n, pixels_in * c)  # a view when x is channels-last
        y = pixels_first @ matrix.t()
        if self.bias is not None:
            y = (y.view(n, pixels_out, o) + self.bias.to(x.dtype)).view(n, -1)
        return y.view(n, out_h, out_w, o).permute(0, 3, 1, 2)  # channels-last memory, NCHW shape

    def _tap_tensor(self, height: int, width: int, dtype: torch.dtype) -> torch.Tensor:
        cache = self.__dict__.setdefault("_taps_cache", {})
        key = (height, width, dtype)
        if key not in cache:
            cache[key] = _taps(self.kernel_size, self.stride, self.padding, height, width, dtype)
        return cache[key]


def use_small_map_convs(model: nn.Module) -> nn.Module:
    """Swap every plain ``nn.Conv2d`` of ``model`` (in place) for :class:`SmallMapConv2d`, keeping its parameters.

    Only the forward dispatch changes: parameters are the same objects, so an optimiser or a
    mask built before or after the swap sees the same tensors, and state dicts load either way.
    """
    for module in model.modules():
        if type(module) is nn.Conv2d:
            module.__class__ = SmallMapConv2d
    return model


__all__ = ["SmallMapConv2d", "use_small_map_convs", "MAX_PIXELS"]
