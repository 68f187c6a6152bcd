"""Record per-layer gradient norms of a PyTorch training run, for gradviz's "Your own run" section.

With gradviz installed, `from gradviz.record import TorchRecorder`; without it, copy this file next to your
training script: it needs only torch and the standard library.

    recorder = TorchRecorder(model, "run.csv", every=20)
    for x, y in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        recorder.after_backward(loss)      # gradient norms, before any clipping
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)   # if you clip
        optimizer.step()
        recorder.after_step()              # the clipped gradients, and the change the step made
    recorder.close()

Then upload run.csv to gradviz, or check it on the training machine (python -m gradviz diagnose run.csv).
It has one row per recorded step and layer:

    step,layer,grad_norm,loss,weight_norm,update_norm,clipped_norm

A layer is a module with trainable parameters of its own, named as PyTorch names it (encoder.0, head), in
the order the modules were registered — for most models, the forward order. Each norm is the 2-norm over
all of the layer's parameters: grad_norm of their gradients before clipping, clipped_norm after clipping
(the gradient the optimizer used), weight_norm of the parameters before the step, update_norm of the change
the step made to them. nan and inf are written as they are: they are the symptoms.

Only every `every`-th step is recorded, so the cost stays small: a recorded step costs about half a step of
a 784-256-256-10 MLP with batch 64 (CPU, one thread), so every=20 (the default) adds about 4 % to its steps
(scripts/make_example_runs.py --overhead measures it). Call after_step() before the next zero_grad(): it
reads the gradients that the step used.
"""

import csv
import math

import torch

COLUMNS = ("step", "layer", "grad_norm", "loss", "weight_norm", "update_norm", "clipped_norm")


class TorchRecorder:
    """Writes per-layer gradient, weight and update norms of every `every`-th step to a CSV file at `path`."""

    def __init__(self, model, path, every=20):
        self.layers = [(name or type(model).__name__, params) for name, module in model.named_modules()
                       if (params := [p for p in module.parameters(recurse=False) if p.requires_grad])]
        self.every = every
        self.step = 0
        self._pending = None
        self._file = open(path, "w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._file)
        self._csv.writerow(COLUMNS)

    def after_backward(self, loss=None):
        """Call after loss.backward(), before clipping: notes the gradients and weights of a recorded step."""
        if self.step % self.every:
            return
        with torch.no_grad():
            grads = _norms([[_grad(p) for p in params] for _, params in self.layers])
            weights = _norms([params for _, params in self.layers])
            before = [[p.detach().clone() for p in params] for _, params in self.layers]
        self._pending = (grads, loss.item() if torch.is_tensor(loss) else loss, weights, before)

    def after_step(self):
        """Call after optimizer.step(): writes the recorded step's rows, with the clipped gradient and the update."""
        if self._pending is not None:
            grads, loss, weights, before = self._pending
            with torch.no_grad():
                clipped = _norms([[_grad(p) for p in params] for _, params in self.layers])
                updates = _norms([[b.sub_(p) for p, b in zip(params, old)]
                                  for (_, params), old in zip(self.layers, before)])
            for (name, _), g, w, u, c in zip(self.layers, grads, weights, updates, clipped):
                self._csv.writerow((self.step, name, _number(g), _number(loss), _number(w), _number(u), _number(c)))
            self._file.flush()
            self._pending = None
        self.step += 1

    def close(self):
        """Close the file."""
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _grad(p):
    """The parameter's gradient (zeros when it took no part in this step's loss)."""
    return p.grad if p.grad is not None else torch.zeros_like(p)


def _norms(groups):
    """The 2-norm of each group of tensors, as floats, with one device sync. Summed in float32; a group whose
    squares overflow float32 (a gradient above about 1e19) is summed again in float64, so it is not inf."""
    norms = torch.stack([_norm(g, torch.float32) for g in groups]).tolist()
    return [n if math.isfinite(n) else float(_norm([t.cpu() for t in g], torch.float64))
            for n, g in zip(norms, groups)]


def _norm(tensors, dtype):
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t, dtype=dtype) for t in tensors]))


def _number(x):
    """A float as the CSV writes it: 7 significant digits (float32 holds about 7), empty when absent."""
    return "" if x is None else f"{x:.7g}"
