#!/usr/bin/env python3
"""Trains the fraud loop's slow teacher on the labelled history and exports it as TorchScript.

    train_teacher.py DATASET --out teacher.pt [--train-days 35] [--hidden 256,256]
                     [--epochs 6] [--batch 2048] [--seed 1]

DATASET is a file of `apprentice fraud generate` (docs/fraud.md). The teacher learns from the
payments of days [0, train-days - delay): the labels it may know when the stream is served from
day train-days on. It is a large network (two hidden layers of 256 by default, about 70 000
weights, against the executor's few thousand), trained with class-weighted cross-entropy, and
saved with torch.jit.script and the attribute apprentice_output = "logits" (two logits: genuine,
fraud) for `apprentice serve --planner torchscript` and `apprentice fraud run`, with a method
features(x), its last hidden layer, for feature distillation (--feature-weight). It prints its
average precision on the week after its training days, with progress on stderr.

Exit status: 0 written; 1 a dataset that cannot be read or holds no fraud; 2 bad arguments.
"""
import argparse
import json
import struct
import sys
import time

import numpy as np
import torch

RECORD = np.dtype([("id", "<i8"), ("time_s", "<i8"), ("day", "<i4"), ("customer", "<i4"),
                   ("terminal", "<i4"), ("amount", "<f4"), ("fraud", "u1"), ("scenario", "u1"),
                   ("pad", "u1", 2), ("features", "<f4", 15)])


def read_dataset(path):
    with open(path, "rb") as f:
        if f.read(8) != b"APFRAUD1":
            raise ValueError(f"{path} is not a fraud dataset (no APFRAUD1 magic)")
        (length,) = struct.unpack("<I", f.read(4))
        header = json.loads(f.read(length))
    records = np.fromfile(path, dtype=RECORD, offset=12 + length)
    if len(records) != header["records"]:
        raise ValueError(f"{path}: {len(records)} records, the header announces "
                         f"{header['records']}")
    return header, records


class Teacher(torch.nn.Module):
    def __init__(self, inputs, hidden):
        super().__init__()
        layers = []
        width = inputs
        for h in hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
            width = h
        self.body = torch.nn.Sequential(*layers)
        self.head = torch.nn.Linear(width, 2)
        # Read by apprentice's torchscript planner: forward() returns logits.
        self.apprentice_output = "logits"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    @torch.jit.export
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer, for feature distillation (`fraud run --feature-weight`)."""
        return self.body(x)


def average_precision(scores, labels):
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    positives = y.sum()
    if positives == 0:
        return 0.0
    tp = np.cumsum(y)
    seen = np.arange(1, len(y) + 1)
    last = np.r_[s[1:] != s[:-1], True]  # the end of each threshold
    recall = tp[last] / positives
    precision = tp[last] / seen[last]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--out", required=True)
    parser.add_argument("--train-days", type=int, default=35)
    parser.add_argument("--hidden", default="256,256")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    try:
        hidden = [int(h) for h in args.hidden.split(",")]
        if not hidden or min(hidden) < 1:
            raise ValueError
    except ValueError:
        parser.error("--hidden: comma-separated widths >= 1")
    if args.epochs < 1 or args.batch < 1:
        parser.error("--epochs and --batch must be >= 1")
    try:
        header, records = read_dataset(args.dataset)
    except (OSError, ValueError, KeyError) as e:
        print(f"train_teacher: {e}", file=sys.stderr)
        return 1
    delay = int(header["delay_days"])
    known = records["day"] < args.train_days - delay
    if known.sum() == 0 or records["fraud"][known].sum() == 0:
        print(f"train_teacher: no labelled fraud before day {args.train_days - delay} "
              f"(--train-days {args.train_days}, delay {delay})", file=sys.stderr)
        return 1
    x = torch.from_numpy(records["features"][known].copy())
    y = torch.from_numpy(records["fraud"][known].astype(np.int64))
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    model = Teacher(x.shape[1], hidden)
    frauds = int(y.sum())
    weight = torch.tensor([1.0, min(20.0, (len(y) - frauds) / max(frauds, 1))])
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    print(f"train_teacher: {len(y)} payments of days [0, {args.train_days - delay}), {frauds} "
          f"frauds; {sum(p.numel() for p in model.parameters())} weights", file=sys.stderr)
    started = time.time()
    for epoch in range(args.epochs):
        order = torch.randperm(len(y))
        total = 0.0
        for start in range(0, len(y), args.batch):
            idx = order[start:start + args.batch]
            optimizer.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += float(loss) * len(idx)
        print(f"train_teacher: epoch {epoch + 1}/{args.epochs}, loss {total / len(y):.4f}, "
              f"{time.time() - started:.0f} s", file=sys.stderr)
    model.eval()
    week = (records["day"] >= args.train_days) & (records["day"] < args.train_days + 7)
    with torch.no_grad():
        logits = model(torch.from_numpy(records["features"][week].copy()))
        scores = torch.softmax(logits, dim=1)[:, 1].numpy()
    ap = average_precision(scores, records["fraud"][week].astype(np.int64))
    torch.jit.save(torch.jit.script(model), args.out)
    print(json.dumps({"out": args.out, "train_payments": int(len(y)), "train_frauds": frauds,
                      "weights": sum(p.numel() for p in model.parameters()),
                      "validation_days": [args.train_days, args.train_days + 7],
                      "validation_average_precision": ap,
                      "seconds": round(time.time() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
