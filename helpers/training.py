"""Training with early stopping, and train-or-load checkpoints keyed by what was trained.

Nothing here knows a VAE loss: train_vae and evaluate_vae call the functions you pass,
`loss_fn(x, x_hat, mu, log_var, labels) -> (loss, recon, kl)` and `reparameterize(mu, log_var) -> z`.

Two budgets. "converge" trains until early stopping ends the run (the course's models, trained by
``make reference`` and shipped in helpers/checkpoints/). "quick" (the default in a notebook) first looks
for such a converged checkpoint trained with functions that give the same results as yours, and only
when there is none trains a short run of CONFIG.quick_epochs, so that a notebook still runs in about a
minute. VAE_COURSE_BUDGET=converge in the environment makes every run converge.
"""

import hashlib
import json
import os
import tempfile
from pathlib import Path

from .config import CONFIG
from .data import stratified_split
from .models import make_classifier
from .utils import checkpoint_dir

__all__ = ["split_validation", "function_fingerprint", "load_or_train", "train_vae", "evaluate_vae",
           "fit_vae", "train_classifier", "progress_disabled", "shipped_checkpoint_dir", "training_budget"]

BUDGETS = ("quick", "converge")


def progress_disabled() -> bool:
    """True while nbgrader autogrades (NBGRADER_EXECUTION is set): no progress lines then."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def shipped_checkpoint_dir() -> Path:
    """The course's converged models, committed with the helpers (written by ``make reference``);
    $VAE_COURSE_SHIPPED_CHECKPOINTS replaces the folder (make reference trains without them)."""
    return Path(os.environ.get("VAE_COURSE_SHIPPED_CHECKPOINTS") or Path(__file__).resolve().parent / "checkpoints")


def training_budget(budget=None) -> str:
    """'quick' or 'converge': the argument, else $VAE_COURSE_BUDGET, else 'quick'."""
    budget = budget or os.environ.get("VAE_COURSE_BUDGET") or "quick"
    if budget not in BUDGETS:
        raise ValueError(f"unknown training budget {budget!r}: use 'quick' or 'converge' "
                         "(argument budget= or the environment variable VAE_COURSE_BUDGET)")
    return budget


class _Progress:
    """One line that updates in place in a notebook (an IPython display handle), so a saved notebook
    keeps only its last state: no progress-bar residue. Silent outside a notebook and while autograding."""

    def __init__(self, desc: str):
        self.desc, self.handle = desc, None
        if progress_disabled():
            return
        try:
            from IPython import get_ipython
            from IPython.display import Pretty, display
        except ImportError:
            return
        shell = get_ipython()
        if shell is not None and getattr(shell, "kernel", None) is not None:
            self._pretty = Pretty
            self.handle = display(Pretty(f"{desc}: starting"), display_id=True)

    def update(self, text: str):
        if self.handle is not None:
            self.handle.update(self._pretty(f"{self.desc}: {text}"))


def split_validation(x, y, fraction: float = CONFIG.val_fraction, seed: int = 0):
    """Split (x (N, ...), y (N,)) into (x_train, y_train, x_val, y_val), stratified by label."""
    import torch

    keep, held = stratified_split(y.numpy(), fraction, seed)
    keep, held = torch.as_tensor(keep), torch.as_tensor(held)
    return x[keep], y[keep], x[held], y[held]


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _rounded(tensors) -> str:
    import torch

    flat = torch.cat([torch.as_tensor(t).detach().reshape(-1).double() for t in tensors])
    return ",".join(f"{v:.4g}" for v in flat.tolist())


def function_fingerprint(loss_fn, reparameterize, latent_dim: int) -> str:
    """A short hash of what loss_fn and reparameterize return on fixed probe tensors (fixed noise seed).

    Fixing a bug in either function changes the hash, so the checkpoint is retrained;
    the same functions always give the same hash, so a checkpoint is reused.
    """
    import torch

    g = torch.Generator().manual_seed(2024)
    b = 6
    x = torch.rand(b, 784, generator=g)
    x_hat = torch.rand(b, 784, generator=g).clamp(0.02, 0.98)
    mu = torch.randn(b, latent_dim, generator=g)
    log_var = 0.5 * torch.randn(b, latent_dim, generator=g)
    labels = torch.tensor([0, 6, 1, 6, 9, 3])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2024)
        with torch.no_grad():
            z = reparameterize(mu, log_var)
            out = loss_fn(x, x_hat, mu, log_var, labels)
    return hashlib.sha256(_rounded([z, *out]).encode()).hexdigest()[:16]


def _save_atomic(obj, path: Path):
    """torch.save to a temporary file in the same folder, then os.replace: readers never see half a file."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _compact(state: dict) -> dict:
    """The state dict with its float32 tensors stored as float16 (half the size on disk); a tensor that
    float16 cannot hold (|x| > 60000) stays float32."""
    import torch

    def fits(v):
        return v.dtype == torch.float32 and (v.numel() == 0 or float(v.abs().max()) <= 6e4)

    return {k: v.half() if fits(v) else v.clone() for k, v in state.items()}


def _expand(state: dict, like: dict) -> dict:
    return {k: v.to(like[k].dtype) if k in like else v for k, v in state.items()}


def load_or_train(model, path, train_fn, force: bool = False):
    """Load model's weights and history from checkpoint `path`, or run train_fn() -> history and save both.

    Weights are stored as float16. After training, the model takes the stored weights back, so a model
    gives the same numbers whether it was just trained or loaded later.
    force=True always retrains (and overwrites the checkpoint). Returns the training history (a dict).
    """
    import torch

    path = Path(path)
    like = model.state_dict()
    if path.exists() and not force:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(_expand(state["model"], like))
        model.checkpoint = str(path)
        return state["history"]
    history = train_fn()
    stored = _compact(model.state_dict())
    _save_atomic({"model": stored, "history": history}, path)
    model.load_state_dict(_expand(stored, like))
    model.checkpoint = str(path)
    return history


def evaluate_vae(model, x, labels, loss_fn, batch_size: int = 1000) -> dict:
    """Mean loss, recon and kl of loss_fn over (x (N, 784), labels (N,)), decoding z = mu (no sampling)."""
    import torch

    with torch.no_grad():
        model.eval()
        totals = torch.zeros(3)
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], labels[start:start + batch_size]
            mu, log_var = model.encode(xb)
            loss, recon, kl = loss_fn(xb, model.decode(mu), mu, log_var, yb)
            totals += torch.stack([loss, recon, kl]).float() * len(xb)
        loss, recon, kl = (totals / len(x)).tolist()
        return {"loss": loss, "recon": recon, "kl": kl}


def train_vae(model, data, loss_fn, reparameterize, max_epochs: int = CONFIG.max_epochs,
              config=CONFIG, desc: str = "training", monitor=None):
    """Train model on data.x_train with Adam, ReduceLROnPlateau and early stopping on a validation split.

    Each step: mu, log_var = model.encode(x); z = reparameterize(mu, log_var);
    (loss, recon, kl) = loss_fn(x, model.decode(z), mu, log_var, labels); loss.backward().
    After each epoch the validation loss decides: a better one is kept; after config.lr_patience epochs
    without one the learning rate is multiplied by config.lr_factor; after config.patience epochs without
    one training stops. The model ends with the weights of its best epoch.
    monitor: optional function model -> float, called (in eval mode) after every epoch.
    Returns the history: per-epoch lists train_/val_ loss, recon and kl, lr (and monitor), plus
    best_epoch (0-based), epochs (run), max_epochs and stopped_early.
    """
    import time

    import torch

    x_tr, y_tr, x_val, y_val = split_validation(data.x_train, data.y_train, config.val_fraction, config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=config.lr_factor,
                                                           patience=config.lr_patience)
    order = torch.Generator().manual_seed(config.seed)
    keys = ("loss", "recon", "kl")
    history = {f"{part}_{k}": [] for part in ("train", "val") for k in keys}
    history["lr"] = []
    if monitor is not None:
        history["monitor"] = []
    best, best_state, best_epoch, waited = float("inf"), None, -1, 0
    progress, started = _Progress(desc), time.perf_counter()
    epoch = -1
    for epoch in range(max_epochs):
        model.train()
        sums = torch.zeros(3)
        history["lr"].append(optimizer.param_groups[0]["lr"])
        for idx in torch.randperm(len(x_tr), generator=order).split(config.batch_size):
            xb, yb = x_tr[idx], y_tr[idx]
            mu, log_var = model.encode(xb)
            loss, recon, kl = loss_fn(xb, model.decode(reparameterize(mu, log_var)), mu, log_var, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            sums += torch.stack([loss.detach(), recon.detach(), kl.detach()]).float() * len(idx)
        for k, v in zip(keys, (sums / len(x_tr)).tolist()):
            history[f"train_{k}"].append(v)
        val = evaluate_vae(model, x_val, y_val, loss_fn)
        for k in keys:
            history[f"val_{k}"].append(val[k])
        if monitor is not None:
            with torch.no_grad():
                history["monitor"].append(float(monitor(model)))
        if val["loss"] < best:
            best, best_epoch, waited = val["loss"], epoch, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
        scheduler.step(val["loss"])
        progress.update(f"epoch {epoch + 1} of at most {max_epochs}, validation loss {val['loss']:.2f} "
                        f"(best {best:.2f} at epoch {best_epoch + 1}), {time.perf_counter() - started:.0f} s")
        if waited >= config.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    history.update(best_epoch=best_epoch, epochs=epoch + 1, max_epochs=max_epochs,
                   stopped_early=waited >= config.patience)
    how = (f"stopped after {epoch + 1} epochs ({config.patience} without a better validation loss)"
           if history["stopped_early"] else f"ran all {epoch + 1} epochs")
    progress.update(f"{how}; kept epoch {best_epoch + 1} (validation loss {best:.2f}), "
                    f"{time.perf_counter() - started:.0f} s")
    model.eval()
    return history


def _reset_parameters(model):
    """Re-draw every layer's initial weights from the (seeded) global torch generator."""
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()


def _data_key(data) -> list:
    # the sum in float64: a float32 sum depends on how many threads add it up (411045.5 on two threads,
    # 411045.53 on one), which would change every key from one machine to the next
    return [data.source, list(data.x_train.shape), round(float(data.x_train.double().sum()), 2), list(data.x_test.shape)]


def _existing(filename: str):
    """The checkpoint `filename` in <checkpoint_dir>, else among the course's shipped models, else None."""
    for folder in (checkpoint_dir(), shipped_checkpoint_dir()):
        if (folder / filename).exists():
            return folder / filename
    return None


# the constants that change how a model trains (the losses' constants, betas included, reach the key
# through the fingerprint of the loss function); changing anything else in CONFIG keeps the checkpoints
TRAINING_FIELDS = ("test_fraction", "val_fraction", "batch_size", "learning_rate", "lr_factor", "lr_patience",
                   "max_epochs", "patience", "seed")
QUICK_FIELDS = ("quick_epochs", "quick_finetune_epochs")


def _vae_key(model, data, loss_fn, reparameterize, name, init_from, config, budget) -> str:
    settings = config.as_dict()
    fields = TRAINING_FIELDS + (QUICK_FIELDS if budget == "quick" else ())
    key = {
        "name": name,
        "config": {k: settings[k] for k in fields},
        "budget": budget,
        "data": _data_key(data),
        "model": [type(model).__name__, getattr(model, "latent_dim", None), getattr(model, "hidden_dim", None),
                  list(getattr(model, "channels", ()))],
        "parent": getattr(init_from, "checkpoint_key", None) if init_from is not None else None,
        "functions": function_fingerprint(loss_fn, reparameterize, model.latent_dim),
    }
    return _digest(key)[:16]


def fit_vae(model, data, loss_fn, reparameterize, name: str, init_from=None, config=CONFIG,
            force: bool = False, budget=None, monitor=None):
    """Train-or-load a VAE; returns its training history (a dict, see train_vae).

    The checkpoint mnist-<name>-<key>.pt is looked up in <checkpoint_dir> and then among the course's
    converged models (helpers/checkpoints/). The key hashes the configuration, the data, the architecture,
    the starting weights (init_from, a model fitted before) and the fingerprint of your loss_fn and
    reparameterize, so changing any of them trains afresh.

    Without a converged checkpoint, budget "quick" (the default, see training_budget) trains
    CONFIG.quick_epochs (quick_finetune_epochs with init_from) and "converge" trains until early
    stopping. force=True retrains with the budget. monitor: see train_vae.
    """
    budget = training_budget(budget)
    converged_key = _vae_key(model, data, loss_fn, reparameterize, name, init_from, config, "converge")
    found = None if force else _existing(f"mnist-{name}-{converged_key}.pt")
    if found is not None:
        model.checkpoint_key = converged_key
        history = load_or_train(model, found, None)
        model.eval()
        return history
    if budget == "converge":
        key, max_epochs = converged_key, config.max_epochs
    else:
        key = _vae_key(model, data, loss_fn, reparameterize, name, init_from, config, "quick")
        max_epochs = config.quick_epochs if init_from is None else config.quick_finetune_epochs
    model.checkpoint_key = key
    path = checkpoint_dir() / f"mnist-{name}-{key}.pt"

    def train():
        import torch

        torch.manual_seed(config.seed)
        if init_from is not None:
            model.load_state_dict(init_from.state_dict())
        else:  # the same initial weights whatever ran before
            _reset_parameters(model)
        return train_vae(model, data, loss_fn, reparameterize, max_epochs=max_epochs, config=config,
                         desc=f"{name} ({budget})", monitor=monitor)

    history = load_or_train(model, path, train, force=force)
    model.eval()
    return history


def train_classifier(data, config=CONFIG, force: bool = False):
    """Train-or-load the reference DigitClassifier on data's training split; return it in eval mode.

    Its held-out accuracy is classifier.val_accuracy (on the validation part of the training split);
    measure the test accuracy with h.accuracy(classifier, data.x_test, data.y_test).
    """
    model = make_classifier()
    # the judge is the same for every seed of the VAEs: its key leaves out the seed (it always uses 0)
    fixed = {k: v for k, v in config.as_dict().items() if k in ("val_fraction", "classifier_epochs")}
    key = _digest({"config": fixed, "data": _data_key(data), "arch": repr(model)})[:16]
    path = _existing(f"mnist-classifier-{key}.pt") or checkpoint_dir() / f"mnist-classifier-{key}.pt"

    def train():
        import torch

        torch.manual_seed(0)
        _reset_parameters(model)
        x_tr, y_tr, x_val, y_val = split_validation(data.x_train, data.y_train, config.val_fraction, 0)
        optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
        order = torch.Generator().manual_seed(0)
        history = {"train_loss": [], "val_accuracy": []}
        progress = _Progress("reference classifier")
        for epoch in range(config.classifier_epochs):
            model.train()
            total = torch.zeros(())
            for idx in torch.randperm(len(x_tr), generator=order).split(64):
                loss = torch.nn.functional.cross_entropy(model(x_tr[idx]), y_tr[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.detach() * len(idx)
            model.eval()
            with torch.no_grad():
                acc = (model(x_val).argmax(1) == y_val).float().mean()
            history["train_loss"].append(float(total / len(x_tr)))
            history["val_accuracy"].append(float(acc))
            progress.update(f"epoch {epoch + 1} of {config.classifier_epochs}, validation accuracy {float(acc):.3f}")
        return history

    history = load_or_train(model, path, train, force=force)
    model.val_accuracy = history["val_accuracy"][-1]
    model.eval()
    return model
