"""Record per-layer gradient norms of a Keras 3 training run, for gradviz's "Your own run" section.

With gradviz installed, `from gradviz.record import KerasRecorder`; without it, copy this file next to your
training script: it needs only Keras 3 (and numpy, which Keras installs).
Run Keras on the torch backend (KERAS_BACKEND=torch), then:

    model.fit(x, y, epochs=5, callbacks=[KerasRecorder("run.csv", every=20)])

and upload run.csv to gradviz, or check it on the training machine (python -m gradviz diagnose run.csv).
It has one row per recorded step and layer:

    step,layer,grad_norm,loss,weight_norm,update_norm,clipped_norm

A layer is a layer with trainable weights, named as Keras names it (dense, dense_1), in model.layers order
(nested models are opened). Each norm is the 2-norm over all of the layer's trainable weights: grad_norm of
their gradients, clipped_norm of the gradients after the optimizer's clipnorm, global_clipnorm or clipvalue
(equal to grad_norm without clipping), weight_norm of the weights before the step, update_norm of the change
the step made. loss is the batch's loss, recovered from the running mean that Keras reports (exact when the
batches have the same size; the last, smaller batch of an epoch comes out approximate).

Why the torch backend: a callback sees the model between steps but not the step's gradients, and Keras 3
has no backend-independent gradient API. With the torch backend, fit() leaves each weight's gradient in its
torch tensor (v.value.grad) until the next step's zero_grad(), so a plain callback can read it. With JAX or
TensorFlow the gradients exist only inside the compiled train step, and recording them means overriding
Model.train_step with that backend's own code (jax.value_and_grad, tf.GradientTape), as in Keras's guide
"Customizing what happens in fit()"; this recorder stops with an error there instead. Use
steps_per_execution=1 (the default) so that the callback runs after every step.
"""

import csv

import keras
import numpy as np

COLUMNS = ("step", "layer", "grad_norm", "loss", "weight_norm", "update_norm", "clipped_norm")


class KerasRecorder(keras.callbacks.Callback):
    """Writes per-layer gradient, weight and update norms of every `every`-th training step to `path`."""

    def __init__(self, path, every=20):
        super().__init__()
        self.path = path
        self.every = every
        self.step = 0  # counts on across several fit() calls, which add to the same file

    def on_train_begin(self, logs=None):
        if keras.backend.backend() != "torch":
            raise RuntimeError("KerasRecorder reads gradients from torch tensors: set KERAS_BACKEND=torch")
        self.layers = [(layer.name, layer.trainable_weights) for layer in _leaf_layers(self.model)
                       if layer.trainable_weights]
        self._file = open(self.path, "a" if self.step else "w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._file)
        if not self.step:
            self._csv.writerow(COLUMNS)
        self._mean_loss = None

    def on_train_batch_begin(self, batch, logs=None):
        if self.step % self.every == 0:
            self._before = [[_weights(w) for w in weights] for _, weights in self.layers]

    def on_train_batch_end(self, batch, logs=None):
        mean_loss = (logs or {}).get("loss")
        if self.step % self.every == 0:
            loss = _batch_loss(batch, mean_loss, self._mean_loss)
            grads = [[_gradient(w) for w in weights] for _, weights in self.layers]
            clipped = _clipped(grads, self.model.optimizer)
            for (name, weights), before, g, c in zip(self.layers, self._before, grads, clipped):
                after = [_weights(w) for w in weights]
                self._csv.writerow((self.step, name, _number(_norm(g)), _number(loss), _number(_norm(before)),
                                    _number(_norm([a - b for a, b in zip(after, before)])), _number(_norm(c))))
            self._file.flush()
        self._mean_loss = mean_loss
        self.step += 1

    def on_train_end(self, logs=None):
        self._file.close()


def _batch_loss(batch, mean, previous_mean):
    """The loss of batch `batch` (0-based in its epoch) from Keras's running means of the epoch's losses,
    after this batch and after the one before: (b + 1)·mean_b − b·mean_(b−1) for batches of one size."""
    if batch == 0 or mean is None:
        return mean
    return (batch + 1) * mean - batch * previous_mean


def _leaf_layers(model):
    """The model's layers in order, with nested models opened."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


def _clipped(grads, optimizer):
    """The gradients, grouped by layer, as the optimizer applies them after its clipping."""
    if optimizer.clipnorm:  # each weight's gradient on its own
        return [[g * optimizer.clipnorm / max(_norm([g]), optimizer.clipnorm) for g in layer] for layer in grads]
    if optimizer.global_clipnorm:  # all gradients together
        total = _norm([g for layer in grads for g in layer])
        scale = optimizer.global_clipnorm / max(total, optimizer.global_clipnorm)
        return [[g * scale for g in layer] for layer in grads]
    if optimizer.clipvalue:
        return [[np.clip(g, -optimizer.clipvalue, optimizer.clipvalue) for g in layer] for layer in grads]
    return grads


def _gradient(weight):
    """The gradient fit() left on the weight's torch tensor (zeros if the weight took no part in the loss)."""
    grad = weight.value.grad
    return np.zeros(weight.shape) if grad is None else _array(grad)


def _weights(weight):
    """The weight's values now (a copy)."""
    return _array(weight.value)


def _array(tensor):
    """A torch tensor as a float64 numpy array (a copy)."""
    return tensor.detach().cpu().numpy().astype(np.float64)


def _norm(arrays):
    """The 2-norm of a group of arrays."""
    return float(np.sqrt(sum(np.vdot(a, a) for a in arrays)))


def _number(x):
    """A float as the CSV writes it: 7 significant digits, empty when absent."""
    return "" if x is None else f"{x:.7g}"
