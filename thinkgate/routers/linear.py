"""Multi-output L2-regularised logistic regression, written with torch (no scikit-learn dependency: the
model is one linear layer and full-batch L-BFGS fits it in well under a second on a calibration set).

One sigmoid output per routing level ("is the answer correct at this level?"), fitted jointly. Features
are standardised with the calibration set's mean and standard deviation, which are saved with the
weights. The L2 strength is chosen by k-fold cross-validation on the mean log-loss; the out-of-fold
probabilities are what thresholds and curves are computed from, so they are not fitted to the very items
they are judged on.
"""

from __future__ import annotations

from dataclasses import dataclass

L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1)


@dataclass
class Linear:
    weight: "object"  # (levels, dim) torch tensor
    bias: "object"  # (levels,)
    mean: "object"  # (dim,)
    std: "object"  # (dim,)

    def predict(self, x):
        """P(correct) per level, (n, levels)."""
        import torch

        z = (x.float() - self.mean) / self.std
        return torch.sigmoid(z @ self.weight.T + self.bias)

    def tensors(self) -> dict:
        return {"weight": self.weight.contiguous(), "bias": self.bias.contiguous(), "mean": self.mean.contiguous(),
                "std": self.std.contiguous()}

    @classmethod
    def from_tensors(cls, t: dict) -> "Linear":
        return cls(t["weight"].float(), t["bias"].float(), t["mean"].float(), t["std"].float())


def fit(x, y, l2: float, standardize: bool = True, max_iter: int = 200) -> Linear:
    """x (n, dim) float, y (n, levels) in {0, 1}. Minimises mean BCE + l2/2 * |W|^2 by L-BFGS."""
    import torch

    x, y = x.float(), y.float()
    if standardize:
        mean, std = x.mean(0), x.std(0).clamp_min(1e-4) if len(x) > 1 else torch.ones(x.shape[1])
    else:
        mean, std = torch.zeros(x.shape[1]), torch.ones(x.shape[1])
    z = (x - mean) / std
    w = torch.zeros(y.shape[1], x.shape[1], requires_grad=True)
    # start the bias at the base rate, so an uninformative feature set predicts the prior
    prior = y.mean(0).clamp(0.01, 0.99)
    b = torch.log(prior / (1 - prior)).clone().requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z @ w.T + b, y) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return Linear(w.detach(), b.detach(), mean, std)


def folds(n: int, k: int) -> list[list[int]]:
    """Deterministic interleaved folds (items arrive grouped by family and level, so every fold gets some
    of each)."""
    return [list(range(i, n, k)) for i in range(k)]


def cross_validate(x, y, k: int = 5, grid=L2_GRID, standardize: bool = True):
    """(best l2, out-of-fold probabilities (n, levels), {l2: mean CV log-loss})."""
    import torch

    n = len(x)
    k = max(2, min(k, n))
    losses, oofs = {}, {}
    for l2 in grid:
        oof = torch.zeros(y.shape)
        for idx in folds(n, k):
            train = sorted(set(range(n)) - set(idx))
            model = fit(x[train], y[train], l2, standardize)
            oof[idx] = model.predict(x[idx])
        p = oof.clamp(1e-6, 1 - 1e-6)
        losses[l2] = float(-(y * p.log() + (1 - y) * (1 - p).log()).mean())
        oofs[l2] = oof
    best = min(losses, key=losses.get)
    return best, oofs[best], losses
