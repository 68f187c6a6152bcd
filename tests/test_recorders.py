"""The recorders in gradviz.record (PyTorch and Keras 3): what they write, checked against norms worked out by hand.

The model is two linear layers, h = x A + a, p = h B + b, with the mean squared error, so its gradients have
a closed form; the updates are measured from the weights before and after each step; and with plain SGD
the applied (clipped) gradient must be the update divided by the learning rate, which ties the recorded
clipped_norm to what the framework really did.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gradviz.experiments.your_run import read_run

LR = 0.1
BATCH = 4
RTOL = 1e-5  # the recorders write 7 significant digits of float32 arithmetic


def recorder_module(name: str):
    """gradviz.record's module of a recorder ("pytorch" or "keras3"), which imports torch or keras."""
    return importlib.import_module(f"gradviz.record.{name}")


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3 * BATCH, 4)).astype(np.float32)
    return x, (x @ rng.normal(size=(4, 1)) + 3.0).astype(np.float32)


def by_hand(x, y, A, a, B, b) -> tuple[float, list[list[np.ndarray]]]:
    """The loss mean((x A + a) B + b − y)² and its gradients [[dA, da], [dB, db]]."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    h = x @ A + a
    p = h @ B + b
    d = 2.0 * (p - y) / len(x)
    dh = d @ B.T
    return float(np.mean((p - y) ** 2)), [[x.T @ dh, dh.sum(axis=0)], [h.T @ d, d.sum(axis=0)]]


def norm(arrays) -> float:
    return float(np.sqrt(sum(np.sum(np.square(a, dtype=np.float64)) for a in arrays)))


def expected_rows(step: int, names, loss: float, grads, clipped, before, after) -> list[dict]:
    return [{"step": step, "layer": name, "grad_norm": norm(g), "loss": loss, "weight_norm": norm(w0),
             "update_norm": norm([w1 - w0 for w0, w1 in zip(layer0, layer1)]), "clipped_norm": norm(c)}
            for name, g, c, w0, layer0, layer1 in zip(names, grads, clipped, before, before, after)]


def check_file(path: Path, expected: list[dict], columns) -> None:
    written = pd.read_csv(path)
    assert list(written.columns) == list(columns)
    wanted = pd.DataFrame(expected)
    assert written["step"].tolist() == wanted["step"].tolist()
    assert written["layer"].tolist() == wanted["layer"].tolist()
    for column in columns[2:]:
        np.testing.assert_allclose(written[column], wanted[column], rtol=RTOL, err_msg=column)
    np.testing.assert_allclose(written["update_norm"], LR * written["clipped_norm"], rtol=RTOL)
    h = read_run(path)
    assert h.layer_names == tuple(wanted["layer"].unique())
    grads = wanted.pivot(index="step", columns="layer", values="grad_norm")[list(h.layer_names)]
    np.testing.assert_allclose(10 ** h.grad_log10, grads, rtol=RTOL)


# --- PyTorch ----------------------------------------------------------------------------------------


def test_pytorch_recorder_writes_the_norms_of_each_layer(tmp_path):
    torch = pytest.importorskip("torch")
    record = recorder_module("pytorch")
    nn = torch.nn

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(4, 3))
            self.frozen = nn.Linear(2, 2).requires_grad_(False)  # not trained, so not recorded
            self.head = nn.Linear(3, 1)

        def forward(self, x):
            return self.head(self.encoder(x))

    torch.manual_seed(0)
    model = Tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    x, y = data()
    clip = 0.5

    def weights():
        return [[model.encoder[0].weight.detach().numpy().T.copy(), model.encoder[0].bias.detach().numpy().copy()],
                [model.head.weight.detach().numpy().T.copy(), model.head.bias.detach().numpy().copy()]]

    expected = []
    path = tmp_path / "run.csv"
    with record.TorchRecorder(model, path, every=2) as recorder:
        for step in range(6):
            batch = slice(BATCH * (step % 3), BATCH * (step % 3 + 1))
            before = weights()
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(torch.tensor(x[batch])), torch.tensor(y[batch]))
            loss.backward()
            recorder.after_backward(loss)
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
            optimizer.step()
            recorder.after_step()
            if step % 2 == 0:
                value, grads = by_hand(x[batch], y[batch], *before[0], *before[1])
                scale = min(1.0, clip / (norm([g for layer in grads for g in layer]) + 1e-6))
                clipped = [[g * scale for g in layer] for layer in grads]
                expected += expected_rows(step, ["encoder.0", "head"], value, grads, clipped, before, weights())
    assert any(row["clipped_norm"] < row["grad_norm"] * 0.99 for row in expected)  # clipping did happen
    check_file(path, expected, record.COLUMNS)


def test_pytorch_recorder_keeps_huge_gradients_finite():
    torch = pytest.importorskip("torch")
    record = recorder_module("pytorch")
    huge = torch.full((4,), 1e20)  # its float32 squares overflow
    np.testing.assert_allclose(record._norms([[huge], [huge, huge]]), [2e20, 2e20 * np.sqrt(2)], rtol=1e-6)


# --- Keras 3 ----------------------------------------------------------------------------------------


def keras_on_torch():
    """Keras 3 on the torch backend, or skip."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras recorder needs the torch backend")
    return keras


def tiny_keras_model(keras, clipping: dict):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="encoder"),
                              keras.layers.Dense(1, name="head")])
    model.compile(optimizer=keras.optimizers.SGD(LR, **clipping), loss="mse")
    return model


@pytest.mark.parametrize("clipping", [{"global_clipnorm": 0.5}, {"clipnorm": 0.3}, {"clipvalue": 0.05}, {}])
def test_keras_recorder_writes_the_norms_of_each_layer(tmp_path, clipping):
    keras = keras_on_torch()
    record = recorder_module("keras3")
    model = tiny_keras_model(keras, clipping)

    class Weights(keras.callbacks.Callback):
        """The weights at the start of every step."""

        def __init__(self):
            super().__init__()
            self.seen = []

        def on_train_batch_begin(self, batch, logs=None):
            self.seen.append([[w.value.detach().numpy().astype(np.float64) for w in layer.weights]
                              for layer in self.model.layers])

    x, y = data()
    path = tmp_path / "run.csv"
    weights = Weights()
    model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
              callbacks=[weights, record.KerasRecorder(path, every=2)])
    expected = []
    for step in (0, 2, 4):  # step 4 is the second batch of the second epoch
        batch = slice(BATCH * (step % 3), BATCH * (step % 3 + 1))
        before, after = weights.seen[step], weights.seen[step + 1]
        value, grads = by_hand(x[batch], y[batch], *before[0], *before[1])
        clipped = [[np.array(c) for c in layer] for layer in _keras_clipped(grads, clipping)]
        expected += expected_rows(step, ["encoder", "head"], value, grads, clipped, before, after)
    if clipping:
        assert any(row["clipped_norm"] < row["grad_norm"] * 0.99 for row in expected)  # clipping did happen
    check_file(path, expected, record.COLUMNS)


def test_keras_recorder_adds_a_second_fit_to_the_same_file(tmp_path):
    keras = keras_on_torch()
    record = recorder_module("keras3")
    model = tiny_keras_model(keras, {})
    recorder = record.KerasRecorder(tmp_path / "run.csv", every=2)
    x, y = data()
    for _ in range(2):
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[recorder])
    assert read_run(tmp_path / "run.csv").times.tolist() == [0, 2, 4]


def _keras_clipped(grads, clipping):
    """The gradients after Keras's clipping, from its documented rules."""
    if "global_clipnorm" in clipping:
        total = norm([g for layer in grads for g in layer])
        return [[g * min(1.0, clipping["global_clipnorm"] / total) for g in layer] for layer in grads]
    if "clipnorm" in clipping:
        return [[g * min(1.0, clipping["clipnorm"] / norm([g])) for g in layer] for layer in grads]
    if "clipvalue" in clipping:
        return [[np.clip(g, -clipping["clipvalue"], clipping["clipvalue"]) for g in layer] for layer in grads]
    return grads


def test_the_recorders_load_torch_and_keras_only_when_asked_for():
    import subprocess
    import sys

    code = ("import sys, gradviz, gradviz.record; "
            "print(sorted(m for m in ('torch', 'keras') if m in sys.modules)); "
            "print(sorted(gradviz.record.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.split("\n")
    assert out[:2] == ["[]", "['KerasRecorder', 'TorchRecorder']"]
    import gradviz.record

    with pytest.raises(AttributeError):
        gradviz.record.NoSuchRecorder  # noqa: B018
