"""Interactive latent-space explorers (ipywidgets) for a trained VAE.

Display the returned widget as the last line of a cell. Move the sliders and the decoded digit
changes live: the decoder runs in the notebook's kernel on every move.

- ``h.latent_explorer(model2d.decode)``: one slider per latent coordinate, shows decode(z).
- ``h.interpolation_explorer(model2d.encode, model2d.decode, x_test, a=0, b=1)``: pick two test
  digits; a slider t in [0, 1] shows decode((1 - t) z_a + t z_b).
- ``h.explorer_image(widget)``: the image a widget shows now, as a (28, 28) numpy array.

ipywidgets, torch and matplotlib are imported by the functions, never at import time.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = ["latent_explorer", "interpolation_explorer", "explorer_image"]

_PIXELS = 6  # each image pixel is drawn as a 6 x 6 block: 28 x 28 -> 168 x 168 on screen


def _as_numpy(x) -> np.ndarray:
    """A torch tensor or array-like as a float numpy array (on the CPU, without gradient)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


def _as_tensor(x, device):
    """An array-like or tensor as a float32 torch tensor on `device`."""
    import torch

    if not torch.is_tensor(x):
        x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    return x.to(device=device, dtype=torch.float32)


def _device_of(fn):
    """The device of the module a bound method belongs to (model.decode -> model's device), else the CPU."""
    owner = getattr(fn, "__self__", None)
    params = getattr(owner, "parameters", None)
    if callable(params):
        for p in params():
            return p.device
    return "cpu"


def _one_image(decoded, who: str) -> np.ndarray:
    """Turn a decoder output for one latent vector, (1, 1, H, W), (1, H, W) or (1, H*W), into (H, W)."""
    if isinstance(decoded, (tuple, list)):
        raise TypeError(f"{who} returned a {type(decoded).__name__}; it should return one tensor of images "
                        "(1, 1, 28, 28) or (1, 784) for one latent vector")
    arr = _as_numpy(decoded)
    if arr.ndim < 2 or arr.shape[0] != 1:
        raise ValueError(f"{who} should return one image per latent vector, e.g. shape (1, 1, 28, 28) or (1, 784) "
                         f"for a batch of 1; got shape {arr.shape}")
    img = arr[0]
    if img.ndim == 3 and img.shape[0] == 1:  # one channel
        img = img[0]
    if img.ndim == 1:
        side = int(round(np.sqrt(img.size)))
        if side * side != img.size:
            raise ValueError(f"{who} returned {img.size} values per image, which is not a square image (784 = 28 x 28)")
        img = img.reshape(side, side)
    if img.ndim != 2:
        raise ValueError(f"{who} returned images of shape {arr.shape[1:]}; expected (1, H, W), (H, W) or (H*W,)")
    if not np.all(np.isfinite(img)):
        raise ValueError(f"{who} returned NaN or inf pixels: is the model trained, and is the input scaled to [0, 1]?")
    return img


def _png(img: np.ndarray) -> bytes:
    """A grey-scale image in [0, 1] (values outside are clipped) as PNG bytes, each pixel a 6 x 6 block."""
    import matplotlib.image

    big = np.kron(np.clip(img, 0.0, 1.0), np.ones((_PIXELS, _PIXELS)))
    buf = io.BytesIO()
    matplotlib.image.imsave(buf, big, cmap="gray", vmin=0.0, vmax=1.0, format="png")
    return buf.getvalue()


def _image_widget(img: np.ndarray):
    import ipywidgets as widgets

    return widgets.Image(value=_png(img), format="png", width=img.shape[1] * _PIXELS, height=img.shape[0] * _PIXELS)


def _check_callable(fn, name: str, example: str) -> None:
    if not callable(fn):
        raise TypeError(f"{name} should be a function such as {example}, got {type(fn).__name__}")


def explorer_image(explorer) -> np.ndarray:
    """The image an explorer widget shows for its current slider values, as an (H, W) numpy array."""
    render = getattr(explorer, "_vae_render", None)
    if render is None:
        raise TypeError("explorer_image expects a widget made by h.latent_explorer or h.interpolation_explorer, "
                        f"got {type(explorer).__name__}")
    return render()


def latent_explorer(decode, latent_dim: int = 2, z_range: float = 3.0, step: float = 0.1):
    """Sliders z_1..z_D in [-z_range, z_range] that show decode(z) live; decode maps (1, D) to (1, 1, 28, 28).

    decode: e.g. model2d.decode, called under torch.no_grad() with a float32 tensor of shape (1, D)
    on the model's device; it returns images (1, 1, H, W) or (1, H*W) with pixels in [0, 1].
    Returns the widget: make it the last line of a cell to display it.
    """
    import ipywidgets as widgets
    import torch

    _check_callable(decode, "decode", "model2d.decode")
    if int(latent_dim) != latent_dim or latent_dim < 1:
        raise ValueError(f"latent_dim should be a positive integer (2 for a 2-D latent space), got {latent_dim!r}")
    if not z_range > 0:
        raise ValueError(f"z_range should be positive (3.0 covers 99.7% of the prior N(0, 1)), got {z_range!r}")
    if not 0 < step <= z_range:
        raise ValueError(f"step should be in (0, z_range], got {step!r}")
    device = _device_of(decode)

    sliders = [widgets.FloatSlider(value=0.0, min=-z_range, max=z_range, step=step, description=f"z_{i + 1}",
                                   continuous_update=True, readout_format=".2f")
               for i in range(int(latent_dim))]

    def render() -> np.ndarray:
        z = torch.tensor([[s.value for s in sliders]], dtype=torch.float32, device=device)
        with torch.no_grad():
            return _one_image(decode(z), "decode")

    first = render()
    image = _image_widget(first)
    caption = widgets.Label()

    def update(_change=None) -> None:
        image.value = _png(render())
        caption.value = "decode(z) for z = (" + ", ".join(f"{s.value:.2f}" for s in sliders) + ")"

    for s in sliders:
        s.observe(update, names="value")
    update()
    box = widgets.HBox([widgets.VBox(sliders + [caption]), image])
    box.add_class("vae-latent-explorer")
    box._vae_render = render
    return box


def interpolation_explorer(encode, decode, images, a: int = 0, b: int = 1, labels=None, steps: int = 20):
    """Pick two of `images` (indices a and b); a slider t in [0, 1] shows decode((1 - t) z_a + t z_b).

    encode: e.g. model2d.encode, maps images (1, ...) to the latent mean (1, D) or to a tuple
    (mu, log_var) whose first element is used. decode maps (1, D) to (1, 1, H, W) or (1, H*W).
    images: (N, 1, 28, 28) tensor or array in [0, 1], e.g. x_test; labels: optional (N,) digits.
    Returns the widget: make it the last line of a cell to display it.
    """
    import ipywidgets as widgets
    import torch

    _check_callable(encode, "encode", "model2d.encode")
    _check_callable(decode, "decode", "model2d.decode")
    n = len(images)
    if n < 2:
        raise ValueError(f"images should hold at least two images to interpolate between, got {n}")
    for name, idx in (("a", a), ("b", b)):
        if int(idx) != idx or not 0 <= idx < n:
            raise ValueError(f"{name} should be an index into images, between 0 and {n - 1}; got {idx!r}")
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels should have one entry per image ({n}), got {len(labels)}")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps should be a positive integer (the slider moves by 1/steps), got {steps!r}")
    device = _device_of(decode)

    def latent(i: int):
        x = _as_tensor(images[i:i + 1], device)
        with torch.no_grad():
            z = encode(x)
        if isinstance(z, (tuple, list)):  # encode returned (mu, log_var): interpolate between the means
            z = z[0]
        if not torch.is_tensor(z) or z.ndim != 2 or z.shape[0] != 1:
            raise ValueError("encode should return the latent means of shape (1, D) for one image "
                             f"(or a tuple (mu, log_var)); got {getattr(z, 'shape', type(z).__name__)}")
        return z

    pick_a = widgets.BoundedIntText(value=int(a), min=0, max=n - 1, description="digit a", layout={"width": "180px"})
    pick_b = widgets.BoundedIntText(value=int(b), min=0, max=n - 1, description="digit b", layout={"width": "180px"})
    t = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=1.0 / int(steps), description="t",
                            continuous_update=True, readout_format=".2f")

    def original(i: int) -> np.ndarray:
        return _one_image(_as_numpy(images[i:i + 1]).reshape(1, -1), "images")

    def render() -> np.ndarray:
        z = (1.0 - t.value) * latent(pick_a.value) + t.value * latent(pick_b.value)
        with torch.no_grad():
            return _one_image(decode(z), "decode")

    image_a, image_mix, image_b = (_image_widget(original(pick_a.value)), _image_widget(render()),
                                   _image_widget(original(pick_b.value)))
    caption = widgets.Label()

    def name(i: int) -> str:
        return f"#{i}" + (f" (a {int(labels[i])})" if labels is not None else "")

    def update(_change=None) -> None:
        image_a.value = _png(original(pick_a.value))
        image_b.value = _png(original(pick_b.value))
        image_mix.value = _png(render())
        caption.value = (f"decode({1 - t.value:.2f} z_a + {t.value:.2f} z_b): "
                         f"from {name(pick_a.value)} to {name(pick_b.value)}")

    for w in (pick_a, pick_b, t):
        w.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox([pick_a, pick_b, t]),
                        widgets.HBox([image_a, image_mix, image_b]), caption])
    box.add_class("vae-interpolation-explorer")
    box._vae_render = render
    return box
