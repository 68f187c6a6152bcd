"""Make gradviz's example runs, gradviz/data/runs/*.csv, with the PyTorch recorder (gradviz.record.TorchRecorder).

    .venv/bin/python scripts/make_example_runs.py              # writes the three runs (about a minute)
    .venv/bin/python scripts/make_example_runs.py --overhead   # times the recorder on a 784-256-256-10 MLP

Every run is deterministic: a fixed seed, torch.use_deterministic_algorithms(True), one thread.

vanishing.csv          [784, 30 × 8, 10] sigmoid MLP, Nielsen's initialization (weights N(0, 1/n_in), biases
                       N(0, 1)), on the 1,000 shipped MNIST digits: the first layers barely learn.
exploding_clipped.csv  a tanh RNN whose recurrent weights are 2.2 × N(0, 1/n), on the adding problem over 100
                       steps, trained with clip_grad_norm_(max_norm=1): the gradient before clipping explodes,
                       the applied one stays at 1.
healthy.csv            the vanishing run's MLP with ReLU and He initialization (weights N(0, 2/n_in), biases 0).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from gradviz.datasets import mnist_1k, mnist_1k_labels  # noqa: E402
from gradviz.record import TorchRecorder  # noqa: E402

RUNS = ROOT / "gradviz" / "data" / "runs"
CLIP = 1.0  # max_norm of the RNN's gradient clipping


class MLP(nn.Module):
    """Hidden layers hidden.0, hidden.1, … with one activation, then a linear output layer."""

    def __init__(self, widths: list[int], activation):
        super().__init__()
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-2], widths[1:-1]))
        self.output = nn.Linear(widths[-2], widths[-1])
        self.activation = activation

    def forward(self, x):
        for layer in self.hidden:
            x = self.activation(layer(x))
        return self.output(x)


class RNN(nn.Module):
    """embed → tanh RNN → head on the last hidden state."""

    def __init__(self, n_in: int, width: int, recurrent_scale: float):
        super().__init__()
        self.embed = nn.Linear(n_in, width)
        self.rnn = nn.RNN(width, width, nonlinearity="tanh", batch_first=True)
        self.head = nn.Linear(width, 1)
        with torch.no_grad():
            self.rnn.weight_hh_l0.normal_(0.0, recurrent_scale / width**0.5)

    def forward(self, x):
        states, _ = self.rnn(self.embed(x))
        return self.head(states[:, -1]).squeeze(-1)


def deterministic(seed: int) -> None:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    x, _ = mnist_1k()
    return torch.tensor(x, dtype=torch.float32), torch.tensor(mnist_1k_labels(), dtype=torch.int64)


def adding_problem(n: int, length: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Hochreiter's adding problem: two channels (a value in [0, 1], a marker on two steps); the target is
    the sum of the two marked values."""
    values = torch.rand(n, length, generator=generator)
    marks = torch.zeros(n, length)
    first = torch.randint(0, length // 2, (n,), generator=generator)
    second = torch.randint(length // 2, length, (n,), generator=generator)
    marks[torch.arange(n), first] = 1.0
    marks[torch.arange(n), second] = 1.0
    return torch.stack([values, marks], dim=-1), (values * marks).sum(dim=1)


def train(model, batches, loss_fn, optimizer, recorder: TorchRecorder, clip: float | None = None) -> None:
    for x, y in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        recorder.after_backward(loss)
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
        optimizer.step()
        recorder.after_step()


def minibatches(x, y, batch: int, epochs: int, generator: torch.Generator):
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch):
            take = order[start:start + batch]
            yield x[take], y[take]


def mlp_run(path: Path, activation, init, seed: int) -> None:
    deterministic(seed)
    model = MLP([784] + [30] * 8 + [10], activation)
    with torch.no_grad():
        for layer in [*model.hidden, model.output]:
            init(layer)
    x, y = digits()
    generator = torch.Generator().manual_seed(seed)
    with TorchRecorder(model, path, every=10) as recorder:
        train(model, minibatches(x, y, 100, 200, generator), nn.CrossEntropyLoss(),
              torch.optim.SGD(model.parameters(), lr=0.1), recorder)


def nielsen_init(layer: nn.Linear) -> None:
    layer.weight.normal_(0.0, layer.in_features**-0.5)
    layer.bias.normal_(0.0, 1.0)


def he_init(layer: nn.Linear) -> None:
    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    layer.bias.zero_()


def rnn_run(path: Path, seed: int = 3) -> None:
    deterministic(seed)
    model = RNN(2, 32, recurrent_scale=2.2)
    generator = torch.Generator().manual_seed(seed)
    batches = (adding_problem(32, 100, generator) for _ in range(1000))
    with TorchRecorder(model, path, every=5) as recorder:
        train(model, batches, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.01), recorder, clip=CLIP)


def make_runs() -> None:
    RUNS.mkdir(parents=True, exist_ok=True)
    mlp_run(RUNS / "vanishing.csv", torch.sigmoid, nielsen_init, seed=1)
    rnn_run(RUNS / "exploding_clipped.csv")
    mlp_run(RUNS / "healthy.csv", torch.relu, he_init, seed=1)


def overhead(every_values=(1, 10, 20, 50), steps: int = 600, repeats: int = 5) -> dict[int, float]:
    """The recorder's cost as a fraction of a training step (784-256-256-10 MLP, batch 64, SGD, one thread):
    the time spent in its two calls over the time of the rest of the steps, the median of `repeats` runs.
    Timing the calls themselves, rather than comparing two loops, keeps the figure steady on a busy machine."""
    deterministic(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.rand(steps, 64, 784), torch.randint(0, 10, (steps, 64))
    loss_fn = nn.CrossEntropyLoss()

    def fraction(every: int) -> float:
        training = recording = 0.0
        with TorchRecorder(model, os.devnull, every=every) as recorder:
            for i in range(steps):
                t0 = time.perf_counter()
                optimizer.zero_grad()
                loss = loss_fn(model(x[i]), y[i])
                loss.backward()
                t1 = time.perf_counter()
                recorder.after_backward(loss)
                t2 = time.perf_counter()
                optimizer.step()
                t3 = time.perf_counter()
                recorder.after_step()
                t4 = time.perf_counter()
                training += (t1 - t0) + (t3 - t2)
                recording += (t2 - t1) + (t4 - t3)
        return recording / training

    fraction(every_values[0])  # warm up
    return {every: statistics.median(fraction(every) for _ in range(repeats)) for every in every_values}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overhead", action="store_true", help="time the recorder instead of making the runs")
    if parser.parse_args().overhead:
        for every, fraction in overhead().items():
            print(f"every={every}: {100 * fraction:+.1f} % per step")
    else:
        make_runs()
        for path in sorted(RUNS.glob("*.csv")):
            print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1000:.0f} kB")


if __name__ == "__main__":
    main()
