"""What "plain numpy" and "plain PyTorch" mean in scripts/bench.py: the same computations as gradviz, written
the straightforward efficient way, with no records beyond what each docstring says and no log-space safety.

All numpy code is float64; row r of a batch is one example, so a layer is z = a @ W.T + b (W: (n_out, n_in)).
Cross-entropy with a sigmoid output is C = mean_r Σ_j −[y ln a + (1 − y) ln(1 − a)], whose output error is
δ_L = a_L − y; the quadratic cost is C = mean_r ½‖a_L − y‖². Nothing here imports gradviz.
"""

from __future__ import annotations

import math

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _layer_gradients(weights, biases, x, y):
    """Nielsen's backprop (network2.py), vectorized over the rows: ([∇W_l], [∇b_l]) of the cross-entropy cost,
    with σ'(z_l) = a_l (1 − a_l); every layer sigmoid."""
    acts = [x]
    for w, b in zip(weights, biases):
        acts.append(sigmoid(acts[-1] @ w.T + b))
    delta = acts[-1] - y                                    # δ_L = a_L − y
    grad_w, grad_b = [None] * len(weights), [None] * len(weights)
    for l in reversed(range(len(weights))):
        grad_w[l] = delta.T @ acts[l] / len(x)              # ∇W_l = δ_lᵀ a_{l−1} / batch
        grad_b[l] = delta.mean(axis=0)                      # ∇b_l = mean over rows of δ_l
        if l:
            delta = (delta @ weights[l]) * acts[l] * (1.0 - acts[l])   # δ_{l−1} = (δ_l W_l) ⊙ σ'(z_{l−1})
    return grad_w, grad_b


def sgd_epoch(weights, biases, x, y, order, eta, batch_size):
    """One epoch of mini-batch SGD over the rows in `order` (no records); returns the new (weights, biases)."""
    weights, biases = [w.copy() for w in weights], [b.copy() for b in biases]
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        grad_w, grad_b = _layer_gradients(weights, biases, x[rows], y[rows])
        for w, b, gw, gb in zip(weights, biases, grad_w, grad_b):
            w -= eta * gw
            b -= eta * gb
    return weights, biases


def full_set_bias_norms(weights, biases, x, y):
    """‖∂C/∂b_l‖ per layer over the whole set (what gradviz.train records before every epoch)."""
    return np.array([np.linalg.norm(gb) for gb in _layer_gradients(weights, biases, x, y)[1]])


def full_batch_l2(weights, biases, x, y, epochs, eta, lmbda):
    """Full-batch gradient descent with Nielsen's L2 weight decay, w ← (1 − ηλ/n) w − η ∇w, b ← b − η ∇b,
    recording ‖∇b_l‖ per layer before every epoch and after the last (epochs + 1 rows, as the page plots).
    Returns (weights, biases, norms of shape (epochs + 1, layers))."""
    weights, biases = [w.copy() for w in weights], [b.copy() for b in biases]
    decay = 1.0 - eta * lmbda / len(x)
    norms = np.empty((epochs + 1, len(weights)))
    for epoch in range(epochs + 1):
        grad_w, grad_b = _layer_gradients(weights, biases, x, y)
        norms[epoch] = [np.linalg.norm(gb) for gb in grad_b]
        if epoch < epochs:
            weights = [decay * w - eta * gw for w, gw in zip(weights, grad_w)]
            biases = [b - eta * gb for b, gb in zip(biases, grad_b)]
    return weights, biases, norms


def chain_log10_bias_grads(w, b, a0, y):
    """log10 |∂C/∂b_j| of a chain of single sigmoid neurons with C = ½(a_L − y)²: a forward pass in Python
    floats (z_j = w_j a_{j−1} + b_j, a_j = σ(z_j)), then one reversed cumulative sum of ln|w_j σ'(z_j)|:
        ln|∂C/∂b_j| = ln|a_L − y| + ln σ'(z_j) + Σ_{k>j} ln|w_k σ'(z_k)|."""
    a, zs = a0, []
    for w_j, b_j in zip(w, b):
        z = w_j * a + b_j
        a = 1.0 / (1.0 + math.exp(-z))
        zs.append(z)
    s = sigmoid(np.array(zs))
    ln_slope = np.log(s * (1.0 - s))
    ln_factor = np.log(np.abs(np.asarray(w))) + ln_slope
    after = np.zeros(len(zs))                               # Σ_{k>j} ln|w_k σ'(z_k)|
    after[:-1] = np.cumsum(ln_factor[:0:-1])[::-1]
    return (math.log(abs(a - y)) + ln_slope + after) / math.log(10.0)


def bptt(w, b, h0, y, steps):
    """Backprop through time of h_t = tanh(h_{t−1} Wᵀ + b), t = 1..T, cost C = mean_r ½‖h_T − y‖².
    Returns (∂C/∂W, ∂C/∂b, ‖∂C/∂h_t‖ for t = 0..T), plain floats: they underflow to 0 or overflow to inf
    where the true values leave float64. tanh'(z) is taken as 1/cosh²(z), not 1 − h², which loses every digit
    once tanh saturates (z = 8: 1 − h² = 4.5e-7 with a relative error near 1e-10)."""
    hs, zs = [h0], []
    for _ in range(steps):
        zs.append(hs[-1] @ w.T + b)
        hs.append(np.tanh(zs[-1]))
    grad_h = (hs[-1] - y) / len(h0)
    norms = np.empty(steps + 1)
    norms[steps] = np.linalg.norm(grad_h)
    grad_w, grad_b = np.zeros_like(w), np.zeros_like(b)
    for t in range(steps, 0, -1):
        delta = grad_h / np.cosh(zs[t - 1]) ** 2
        grad_w += delta.T @ hs[t - 1]
        grad_b += delta.sum(axis=0)
        grad_h = delta @ w
        norms[t - 1] = np.linalg.norm(grad_h)
    return grad_w, grad_b, norms


def torch_sgd_epoch(weights, biases, x, y, order, eta, batch_size):
    """The same SGD epoch in PyTorch, float64 on the CPU: autograd through F.linear + sigmoid, cross-entropy as
    binary_cross_entropy_with_logits on the last layer's z (= BCE on its sigmoid output), summed over the 10
    outputs and averaged over the rows, then p -= η p.grad. Returns a function running one epoch from the
    given initial parameters (copied into fresh tensors) and returning (parameters, per-batch losses)."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    x_t, y_t = torch.tensor(x), torch.tensor(y)
    batches = torch.from_numpy(np.asarray(order, dtype=np.int64)).split(batch_size)
    initial = [torch.from_numpy(np.array(p)) for pair in zip(weights, biases) for p in pair]

    def epoch():
        params = [p.clone().requires_grad_() for p in initial]
        losses = []
        for rows in batches:
            a = x_t[rows]
            for k in range(0, len(params) - 2, 2):
                a = torch.sigmoid(F.linear(a, params[k], params[k + 1]))
            z = F.linear(a, params[-2], params[-1])
            loss = F.binary_cross_entropy_with_logits(z, y_t[rows], reduction="sum") / len(rows)
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p -= eta * p.grad
                    p.grad = None
            losses.append(loss.detach())
        return [p.detach().numpy() for p in params], torch.stack(losses).numpy()

    return epoch
