"""The measurements of notebook 13: parameter counts, receptive field, the checkerboard demo."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nstlib.feedforward.fast import (
    TransformerNet,
    parameter_counts,
    periodic_variation,
    receptive_width,
    upsampling_demo,
)


def test_parameter_counts_add_up_and_match_johnson():
    counts = parameter_counts(TransformerNet())
    assert counts["total"] == 1_679_235  # Johnson et al.'s width-32 network
    assert counts["down"] + counts["residual"] + counts["up"] + counts["output"] == counts["total"]
    # γ and β of every norm: 2 × (32 + 64 + 128 + 10·128 + 64 + 32) channels
    assert counts["per_style"] == 3200 and counts["shared"] == counts["total"] - 3200
    multi = parameter_counts(TransformerNet(n_styles=3, width=8, n_residual=2))
    single = parameter_counts(TransformerNet(n_styles=1, width=8, n_residual=2))
    assert multi["shared"] == single["shared"]
    assert multi["total"] == single["total"] + 2 * single["per_style"]


class _NoNorm(nn.Module):
    def forward(self, x, mix):
        return x


@pytest.mark.parametrize("n_residual", [0, 2, 5])
def test_receptive_field_is_where_the_gradient_reaches(n_residual):
    # With the norms removed, positive weights and a positive input, every ReLU passes, so the
    # gradient of one output pixel is positive exactly on its receptive field.
    torch.manual_seed(0)
    net = TransformerNet(width=2, n_residual=n_residual).double()
    for norms in (net.down_norm, net.res_norm, net.up_norm):
        for i in range(len(norms)):
            norms[i] = _NoNorm()
    with torch.no_grad():
        for conv in (*net.down, *net.res, *net.up, net.out):
            conv.conv.weight.abs_()
            conv.conv.bias.fill_(0.1)
    size = 224
    for row in (100, 101, 102, 103):
        x = torch.rand(1, 3, size, size, dtype=torch.float64) + 0.5
        x.requires_grad_(True)
        net(x)[0, :, row, size // 2].sum().backward()
        rows = (x.grad[0].abs().sum((0, 2)) > 0).nonzero().flatten()
        assert 0 < rows.min() and rows.max() < size - 1, "the window must not touch the border"
        assert int(rows.max() - rows.min() + 1) == receptive_width(net, row)
    assert receptive_width(net) == max(receptive_width(net, r) for r in range(4))
    assert receptive_width(TransformerNet(width=2, n_residual=n_residual)) == receptive_width(net)


def test_johnson_receptive_field():
    assert receptive_width(TransformerNet()) == 111
    # each residual block adds two 3×3 convolutions at a quarter of the resolution: 2 · 2 · 4 px
    assert receptive_width(TransformerNet(n_residual=6)) == receptive_width(TransformerNet()) + 16


def test_transposed_convolution_makes_a_checkerboard_and_upsampling_does_not():
    for kernel in (3, 4):
        out = upsampling_demo(size=8, channels=4, stages=2, transposed_kernel=kernel, seed=1)
        assert all(y.shape == (4, 32, 32) for y in out.values())
        assert periodic_variation(out["transposed conv"], period=4) > 0.1
        for name in ("upsample + conv, zero padding", "upsample + conv, reflection"):
            assert periodic_variation(out[name], period=4) < 1e-6
        reflect = out["upsample + conv, reflection"]
        zero = out["upsample + conv, zero padding"]
        # reflection keeps the constant constant up to the border; zero padding does not
        assert (reflect - reflect[:, 16:17, 16:17]).abs().max() < 1e-5
        assert (zero - zero[:, 16:17, 16:17]).abs().max() > 1e-2
    with pytest.raises(ValueError, match="transposed_kernel"):
        upsampling_demo(transposed_kernel=5)


def test_periodic_variation_of_known_patterns():
    y, x = torch.meshgrid(torch.arange(20), torch.arange(20), indexing="ij")
    board = 1.0 + 0.5 * (((x + y) % 2) * 2 - 1).double()  # 1 ± 0.5
    assert periodic_variation(board[None], 2, border=2) == pytest.approx(1.0)
    assert periodic_variation(torch.full((3, 12, 12), 2.0), 2) == 0.0
    assert periodic_variation(torch.zeros(1, 12, 12), 2) == 0.0
    smooth = torch.linspace(0, 1, 40)[None, None, :].expand(1, 40, 40)
    assert periodic_variation(smooth, 2) < 0.06  # a ramp: the phases differ by one step of it
    with pytest.raises(ValueError, match="smaller than the period"):
        periodic_variation(torch.ones(1, 6, 6), 4, border=2)
