"""Use the TCJA block in your own spiking network.

TCJA (Zhu et al., arXiv 2206.10177) re-weights a multi-step feature map x[T, B, C, H, W] with a
gate computed jointly over time and channels. Put it after a conv-BN-LIF unit, as the paper does.
"""
from __future__ import annotations

import argparse
from typing import Optional, Sequence

import torch
import torch.nn as nn

import snnkit
from snnkit import layers
from snnkit.attention import TCJA
from snnkit.train.evaluate import predicted_class


def build(T: int, classes: int = 10) -> nn.Sequential:
    """Two conv stages, TCJA after the second, then a spiking classifier with voting."""
    return nn.Sequential(
        layers.SpikingConv2d(2, 16, 3, padding=1),          # conv-BN-LIF, multi-step
        layers.AvgPool2d(2),
        layers.SpikingConv2d(16, 32, 3, padding=1),
        TCJA(T, 32, kernel_t=4, kernel_c=4),                  # temporal-channel joint attention
        layers.AvgPool2d(2),
        layers.Flatten(),
        layers.SpikingLinear(32 * 8 * 8, classes * 10, bn=True),  # BN keeps the output layer firing from the start
        layers.VotingLayer(10),
    )


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Fit one batch of random event frames with a small TCJA network "
                                                 "(conv-BN-LIF, TCJA, voting readout) and print loss and TCJA gradients.")
    parser.add_argument("--steps", type=int, default=30, help="optimiser steps on the batch (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the weights and the frames (default 0)")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    torch.manual_seed(args.seed)
    T, B, classes = 8, 16, 10
    net = build(T, classes)
    x = (torch.rand(T, B, 2, 32, 32) < 0.2).float()  # event frames [T, B, C, H, W]
    y = torch.arange(B) % classes
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    tcja = net[3]
    for step in range(args.steps):                    # fit one batch: the loss falls, TCJA's convs learn
        out = net(x)                                  # [T, B, 10] firing rates of the voting groups
        snnkit.reset(net)                             # membrane potentials start at rest for the next batch
        loss = nn.functional.mse_loss(out.mean(0), nn.functional.one_hot(y, classes).float())
        opt.zero_grad()
        loss.backward()
        if step in (0, args.steps - 1):
            print(f"step {step + 1:2d}: output {tuple(out.shape)}, mean rate {out.mean():.3f}, loss {loss.item():.4f}, "
                  f"accuracy {(predicted_class(out.mean(0)) == y).float().mean():.2f}, TCJA grads: conv_t "
                  f"{tcja.conv_t.weight.grad.abs().sum():.3g}, conv_c {tcja.conv_c.weight.grad.abs().sum():.3g}")
        opt.step()


if __name__ == "__main__":
    main()
