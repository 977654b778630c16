"""The latent explorers (helpers/widgets.py), driven without a browser through their widgets' values."""

import numpy as np
import pytest
import torch

import helpers as h


def blob_decoder(z):
    """A stand-in decoder: a bright blob whose position follows z (B, 2) -> (B, 1, 28, 28)."""
    grid = torch.arange(28.0)
    rows = 14 + 4 * z[:, 0, None, None]
    cols = 14 + 4 * z[:, 1, None, None]
    return torch.exp(-((grid[None, :, None] - rows) ** 2 + (grid[None, None, :] - cols) ** 2) / 8)[:, None]


def corner_encoder(x):
    """A stand-in encoder reading z from the first two pixels: (B, 1, 28, 28) -> (mu, log_var), both (B, 2)."""
    mu = x.flatten(1)[:, :2] * 4 - 2
    return mu, torch.zeros_like(mu)


def sliders_of(widget):
    import ipywidgets

    found, stack = [], [widget]
    while stack:
        w = stack.pop()
        if isinstance(w, ipywidgets.FloatSlider):
            found.append(w)
        stack.extend(getattr(w, "children", ()))
    return sorted(found, key=lambda s: s.description)


def images_of(widget):
    import ipywidgets

    found, stack = [], [widget]
    while stack:
        w = stack.pop(0)
        if isinstance(w, ipywidgets.Image):
            found.append(w)
        stack.extend(getattr(w, "children", ()))
    return found


def test_latent_explorer_starts_at_the_origin():
    explorer = h.latent_explorer(blob_decoder)
    z1, z2 = sliders_of(explorer)
    assert (z1.description, z2.description) == ("z_1", "z_2")
    assert z1.value == z2.value == 0.0 and z1.min == -3.0 and z1.max == 3.0
    np.testing.assert_allclose(h.explorer_image(explorer), blob_decoder(torch.zeros(1, 2))[0, 0].numpy(), atol=1e-6)


def test_moving_a_slider_changes_the_shown_digit():
    explorer = h.latent_explorer(blob_decoder)
    (image,) = images_of(explorer)
    z1, _ = sliders_of(explorer)
    before_png, before = image.value, h.explorer_image(explorer)
    z1.value = 2.0
    after = h.explorer_image(explorer)
    assert image.value != before_png, "the Image widget did not update when the slider moved"
    assert np.unravel_index(after.argmax(), after.shape) == (22, 14), "the blob should move down by 4 * 2 pixels"
    assert np.abs(after - before).max() > 0.5
    assert "2.00" in explorer.children[0].children[-1].value, "the caption should show the new z"


def test_latent_explorer_accepts_flat_numpy_decoders_and_more_dimensions():
    def flat_decoder(z):  # (1, 3) -> (1, 784) numpy, values outside [0, 1] are clipped for display
        return np.full((1, 784), float(z.sum()))

    explorer = h.latent_explorer(flat_decoder, latent_dim=3, z_range=1.0)
    assert len(sliders_of(explorer)) == 3
    sliders_of(explorer)[2].value = 0.5
    assert h.explorer_image(explorer).shape == (28, 28)
    np.testing.assert_allclose(h.explorer_image(explorer), 0.5)


def test_latent_explorer_uses_the_models_device_without_gradients():
    class Decoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 784)

        def decode(self, z):
            assert not torch.is_grad_enabled(), "the explorer should decode under torch.no_grad()"
            return torch.sigmoid(self.linear(z)).view(-1, 1, 28, 28)

    explorer = h.latent_explorer(Decoder().decode)
    assert h.explorer_image(explorer).shape == (28, 28)


@pytest.mark.parametrize("kwargs, message", [
    (dict(decode="model2d.decode"), "decode should be a function"),
    (dict(decode=blob_decoder, z_range=0), "z_range should be positive"),
    (dict(decode=blob_decoder, latent_dim=0), "latent_dim should be a positive integer"),
    (dict(decode=lambda z: torch.zeros(2, 1, 28, 28)), "one image per latent vector"),
    (dict(decode=lambda z: torch.zeros(1, 780)), "not a square image"),
    (dict(decode=lambda z: (torch.zeros(1, 784), None)), "returned a tuple"),
    (dict(decode=lambda z: torch.full((1, 784), float("nan"))), "NaN"),
])
def test_latent_explorer_explains_bad_input(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        h.latent_explorer(**kwargs)


def test_explorer_image_rejects_other_widgets():
    import ipywidgets

    with pytest.raises(TypeError, match="latent_explorer or h.interpolation_explorer"):
        h.explorer_image(ipywidgets.VBox())


def two_digits():
    """Two stand-in 'digits' whose encoder means are z_a = (-2, -2) and z_b = (2, 2)."""
    x = torch.zeros(3, 1, 28, 28)
    x[1, 0, 0, :2] = 1.0
    x[2, 0, 0, :2] = 0.5
    return x


def test_interpolation_goes_from_a_to_b():
    x = two_digits()
    explorer = h.interpolation_explorer(corner_encoder, blob_decoder, x, a=0, b=1, labels=[3, 7, 1])
    (t,) = sliders_of(explorer)
    for value, z in [(0.0, [-2.0, -2.0]), (1.0, [2.0, 2.0]), (0.5, [0.0, 0.0]), (0.25, [-1.0, -1.0])]:
        t.value = value
        np.testing.assert_allclose(h.explorer_image(explorer), blob_decoder(torch.tensor([z]))[0, 0].numpy(),
                                   atol=1e-5, err_msg=f"t = {value} should decode (1 - t) z_a + t z_b = {z}")
    assert "a 3" in explorer.children[-1].value and "a 7" in explorer.children[-1].value


def test_choosing_another_digit_updates_the_pictures():
    x = two_digits()
    explorer = h.interpolation_explorer(corner_encoder, blob_decoder, x, a=0, b=1)
    pick_b = explorer.children[0].children[1]
    image_a, image_mix, image_b = images_of(explorer)
    before_b, before_mix = image_b.value, image_mix.value
    pick_b.value = 2  # z_b = (0, 0): the midpoint moves
    assert image_b.value != before_b and image_mix.value != before_mix
    np.testing.assert_allclose(h.explorer_image(explorer), blob_decoder(torch.tensor([[-1.0, -1.0]]))[0, 0].numpy(),
                               atol=1e-5)


def test_interpolation_accepts_numpy_images_and_an_encoder_returning_the_mean():
    x = two_digits().numpy()
    explorer = h.interpolation_explorer(lambda x: corner_encoder(x)[0], blob_decoder, x)
    assert h.explorer_image(explorer).shape == (28, 28)


@pytest.mark.parametrize("kwargs, message", [
    (dict(a=5), "a should be an index into images, between 0 and 2"),
    (dict(b=-1), "b should be an index"),
    (dict(labels=[1, 2]), "one entry per image"),
    (dict(encode=None), "encode should be a function"),
    (dict(encode=lambda x: torch.zeros(2)), "encode should return the latent means of shape \\(1, D\\)"),
])
def test_interpolation_explains_bad_input(kwargs, message):
    args = dict(encode=corner_encoder, decode=blob_decoder, images=two_digits())
    args.update(kwargs)
    with pytest.raises((TypeError, ValueError), match=message):
        h.interpolation_explorer(**args)


def test_interpolation_needs_two_images():
    with pytest.raises(ValueError, match="at least two images"):
        h.interpolation_explorer(corner_encoder, blob_decoder, two_digits()[:1], a=0, b=0)


class BlobModel(torch.nn.Module):
    """A 2-D "VAE" whose decoder is blob_decoder, for the static latent grid."""

    latent_dim = 2

    def decode(self, z):
        return blob_decoder(z)


def test_static_latent_grid_decodes_the_lattice_the_explorer_shows():
    """h.latent_grid is the static twin of h.latent_explorer: the explorer at a lattice point shows that tile."""
    z, images = h.latent_grid(BlobModel(), z_range=3.0, n=5)
    assert z.shape == (25, 2) and images.shape == (25, 784)
    # row r, column c is z = (values[c], values[n - 1 - r]): the top-left tile is (-3, 3), the bottom-right (3, -3)
    np.testing.assert_allclose(z[0].numpy(), [-3.0, 3.0])
    np.testing.assert_allclose(z[24].numpy(), [3.0, -3.0])
    np.testing.assert_allclose(z[6].numpy(), [-1.5, 1.5])
    explorer = h.latent_explorer(blob_decoder)
    z1, z2 = sliders_of(explorer)
    z1.value, z2.value = -1.5, 1.5
    np.testing.assert_allclose(images[6].reshape(28, 28).numpy(), h.explorer_image(explorer), atol=1e-6)


def test_show_latent_grid_places_tiles_at_their_latent_coordinates():
    import matplotlib

    matplotlib.use("Agg")
    ax = h.show_latent_grid(BlobModel(), z_range=3.0, n=5)
    (image,) = ax.get_images()
    canvas = image.get_array()
    assert canvas.shape == (5 * 28, 5 * 28)
    np.testing.assert_allclose(image.get_extent(), [-3.75, 3.75, -3.75, 3.75])   # half a step (1.5) beyond +-3
    z, images = h.latent_grid(BlobModel(), z_range=3.0, n=5)
    np.testing.assert_allclose(canvas[28:56, 28:56], images[6].reshape(28, 28).numpy(), atol=1e-6)  # row 1, column 1
    with pytest.raises(ValueError, match="2-D latent space"):
        model = BlobModel()
        model.latent_dim = 4
        h.latent_grid(model)
