#!/usr/bin/env python3
"""Writes small TorchScript teachers with PyTorch (Debian: python3-torch), for tests and examples.

    make_torchscript_teacher.py OUT_DIR

writes, each saved with torch.jit.save:
  rule.pt        torch.jit.script of a module: 6 inputs -> 2 logits, a fixed rule (class 1 when
                 x0 + x1 > 0.5), sharp enough that its argmax is the rule
  rule_traced.pt the same module through torch.jit.trace
  gaussian.pt    6 inputs -> mean and log-std of 2 components (mean = [x0 - x1, 0.5 * x2]),
                 declaring apprentice_output = "gaussian"
  wide.pt        8 inputs -> 2 logits (a model of the wrong input size for 6 observations)
  three.pt       6 inputs -> 3 logits (the wrong output size for Discrete(2))
  featured.pt    rule.pt's logits, plus a method features(x) -> [n, 3] = 2 * x[:, :3] (a hidden
                 layer for feature distillation)
  reference.txt  observations and the logits PyTorch computes for them with rule.pt, one line
                 each: 6 inputs, then 2 logits
"""
import os
import sys

import torch


class Rule(torch.nn.Module):
    def __init__(self, inputs: int = 6, outputs: int = 2):
        super().__init__()
        self.linear = torch.nn.Linear(inputs, outputs)
        with torch.no_grad():
            self.linear.weight.zero_()
            self.linear.bias.zero_()
            if outputs >= 2:
                self.linear.weight[1, 0] = 8.0
                self.linear.weight[1, 1] = 8.0
                self.linear.bias[1] = -4.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class Featured(Rule):
    @torch.jit.export
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * x[:, :3]


class Gaussian(torch.nn.Module):
    def __init__(self):
        super().__init__()
        # Read by apprentice's torchscript planner (its output=auto): what forward() returns.
        self.apprentice_output = "gaussian"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.stack([x[:, 0] - x[:, 1], 0.5 * x[:, 2]], dim=1)
        log_std = torch.full_like(mean, -1.0)
        return torch.cat([mean, log_std], dim=1)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    rule = Rule().eval()
    torch.jit.save(torch.jit.script(rule), os.path.join(out, "rule.pt"))
    torch.jit.save(torch.jit.trace(rule, torch.zeros(3, 6)), os.path.join(out, "rule_traced.pt"))
    torch.jit.save(torch.jit.script(Gaussian().eval()), os.path.join(out, "gaussian.pt"))
    torch.jit.save(torch.jit.script(Rule(8, 2).eval()), os.path.join(out, "wide.pt"))
    torch.jit.save(torch.jit.script(Rule(6, 3).eval()), os.path.join(out, "three.pt"))
    torch.jit.save(torch.jit.script(Featured().eval()), os.path.join(out, "featured.pt"))
    x = torch.rand(16, 6) * 2 - 1
    with torch.no_grad():
        logits = rule(x)
    with open(os.path.join(out, "reference.txt"), "w") as f:
        for row, out_row in zip(x.tolist(), logits.tolist()):
            f.write(" ".join(repr(v) for v in row + out_row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
