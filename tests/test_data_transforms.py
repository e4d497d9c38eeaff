"""minidl.data.transforms: shapes, layouts, values against simple references, seeding."""
import numpy as np
import pytest

from minidl.data import transforms as T
from minidl.data.rng import current_rng, rng_context


def _img(h=6, w=8, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def test_to_tensor_layouts_and_scale():
    hwc = _img()
    out = T.ToTensor()(hwc)
    assert out.shape == (3, 6, 8) and out.dtype == np.float32
    np.testing.assert_allclose(out, hwc.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    assert T.ToTensor()(hwc[..., 0]).shape == (1, 6, 8)
    f64 = np.zeros((4, 5, 3))
    assert T.ToTensor()(f64).dtype == np.float64  # only uint8 is rescaled (torchvision)
    assert T.ToTensor()(np.stack([hwc, hwc])).shape == (2, 3, 6, 8)


def test_normalize_matches_formula_and_checks_channels():
    x = np.random.default_rng(1).random((3, 4, 5)).astype(np.float32)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    out = T.Normalize(mean, std)(x)
    ref = (x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    assert out.dtype == np.float32
    assert not np.shares_memory(out, x)
    y = x.copy()
    assert T.Normalize(mean, std, inplace=True)(y) is y
    with pytest.raises(ValueError, match="3 channels"):
        T.Normalize((0.1, 0.2), (1, 1))(x)
    with pytest.raises(ValueError, match="zero"):
        T.normalize(x, mean, (1, 0, 1))


def test_layout_inference():
    assert T.hflip(_img()).shape == (6, 8, 3)
    chw = np.arange(3 * 6 * 8, dtype=np.float32).reshape(3, 6, 8)
    np.testing.assert_array_equal(T.hflip(chw), chw[:, :, ::-1])
    np.testing.assert_array_equal(T.vflip(_img()), _img()[::-1])
    with pytest.raises(ValueError, match="HWC from CHW"):
        T.hflip(np.zeros((10, 10, 10)))


def test_pad_modes():
    img = _img(3, 4)
    out = T.Pad((1, 2))(img)  # left/right 1, top/bottom 2
    assert out.shape == (7, 6, 3)
    assert (out[:2] == 0).all() and (out[:, :1] == 0).all()
    np.testing.assert_array_equal(out[2:5, 1:5], img)
    out = T.Pad((1, 0, 2, 3), padding_mode="edge")(img)
    assert out.shape == (6, 7, 3)
    np.testing.assert_array_equal(out[0, 0], img[0, 0])
    np.testing.assert_array_equal(T.Pad(2, padding_mode="reflect")(img)[2:5, 2:6], img)
    assert T.Pad(1, fill=7)(img)[0, 0, 0] == 7


def test_crop_and_center_crop():
    img = _img(6, 8)
    np.testing.assert_array_equal(T.crop(img, 1, 2, 3, 4), img[1:4, 2:6])
    np.testing.assert_array_equal(T.CenterCrop((2, 4))(img), img[2:4, 2:6])
    # out of bounds: zero padded, like torchvision's center_crop on small images
    out = T.CenterCrop(10)(img)
    assert out.shape == (10, 10, 3)
    np.testing.assert_array_equal(out[2:8, 1:9], img)
    assert out[0].sum() == 0


@pytest.mark.parametrize("padding_mode", ["constant", "reflect"])
def test_random_crop_equals_pad_then_crop(padding_mode):
    img = _img(8, 8)
    t = T.RandomCrop(8, padding=3, padding_mode=padding_mode)
    padded = T.pad(img, 3, padding_mode=padding_mode)
    seen = set()
    for s in range(40):
        with rng_context(np.random.default_rng(s)):
            out = t(img)
        r = np.random.default_rng(s)
        i, j = int(r.integers(0, 7)), int(r.integers(0, 7))
        np.testing.assert_array_equal(out, padded[i:i + 8, j:j + 8])
        seen.add((i, j))
    assert len(seen) > 10


def test_random_crop_pad_if_needed_and_errors():
    img = _img(4, 5)
    out = T.RandomCrop((6, 7), pad_if_needed=True)(img)
    assert out.shape == (6, 7, 3)
    with pytest.raises(ValueError, match="larger than input"):
        T.RandomCrop(9)(img)


def test_random_flip_probability_and_seeding():
    img = _img()
    flip = T.RandomHorizontalFlip()
    with rng_context(np.random.default_rng(0)):
        outs = [flip(img) for _ in range(200)]
    n_flipped = sum(not np.array_equal(o, img) for o in outs)
    assert 70 < n_flipped < 130
    assert all(np.array_equal(o, img) or np.array_equal(o, img[:, ::-1]) for o in outs)
    assert np.array_equal(T.RandomHorizontalFlip(p=1.0)(img), img[:, ::-1])
    assert np.array_equal(T.RandomVerticalFlip(p=1.0)(img), img[::-1])


def test_resize_bilinear_matches_reference():
    rng = np.random.default_rng(0)
    x = rng.random((5, 7)).astype(np.float32)
    out = T.resize(x, (9, 4))
    # scalar reference: half-pixel centres, clamped edges (PyTorch, align_corners=False)
    ref = np.zeros((9, 4), np.float32)
    for oy in range(9):
        for ox in range(4):
            sy = min(max((oy + 0.5) * 5 / 9 - 0.5, 0), 4)
            sx = min(max((ox + 0.5) * 7 / 4 - 0.5, 0), 6)
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            y1, x1 = min(y0 + 1, 4), min(x0 + 1, 6)
            wy, wx = sy - y0, sx - x0
            ref[oy, ox] = ((1 - wy) * (1 - wx) * x[y0, x0] + (1 - wy) * wx * x[y0, x1]
                           + wy * (1 - wx) * x[y1, x0] + wy * wx * x[y1, x1])
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    # constant images stay constant; uint8 stays uint8; HWC and CHW agree
    assert (T.resize(np.full((4, 4, 3), 200, np.uint8), (7, 3)) == 200).all()
    img = _img(6, 8)
    hwc = T.Resize((5, 11))(img)
    chw = T.Resize((5, 11))(img.transpose(2, 0, 1).astype(np.float32))
    assert hwc.shape == (5, 11, 3) and hwc.dtype == np.uint8
    np.testing.assert_allclose(hwc.transpose(2, 0, 1), np.rint(chw), atol=1)
    # an int size matches the shorter edge and keeps the aspect ratio
    assert T.Resize(4)(img).shape == (4, 5, 3)
    assert T.Resize(3, interpolation="nearest")(img).shape == (3, 4, 3)


def test_random_resized_crop():
    img = _img(20, 30)
    t = T.RandomResizedCrop(12, scale=(0.2, 1.0))
    with rng_context(np.random.default_rng(0)):
        for _ in range(20):
            i, j, h, w = t.get_params(img, current_rng())
            assert 0 <= i and i + h <= 20 and 0 <= j and j + w <= 30
            assert 0.2 * 600 * 0.8 <= h * w <= 600
            assert t(img).shape == (12, 12, 3)
    # impossible constraints fall back to a centre crop with the ratio clamped
    t2 = T.RandomResizedCrop(4, scale=(5.0, 6.0))
    assert t2.get_params(img, np.random.default_rng(0)) == (0, 1, 20, 27)


def test_five_and_ten_crop():
    img = np.arange(6 * 6, dtype=np.uint8).reshape(6, 6)[..., None].repeat(3, -1)
    crops = T.TenCrop(4)(img)
    assert len(crops) == 10 and all(c.shape == (4, 4, 3) for c in crops)
    np.testing.assert_array_equal(crops[0], img[:4, :4])
    np.testing.assert_array_equal(crops[3], img[2:, 2:])
    np.testing.assert_array_equal(crops[4], img[1:5, 1:5])
    np.testing.assert_array_equal(crops[5], img[:, ::-1][:4, :4])
    stacked = T.Compose([T.TenCrop(4, stack=True), T.ToTensor(), T.Normalize((0.5,) * 3,
                                                                               (0.5,) * 3)])(img)
    assert stacked.shape == (10, 3, 4, 4)
    assert T.TenCrop(4, vertical_flip=True)(img)[5].shape == (4, 4, 3)
    with pytest.raises(ValueError, match="bigger than input"):
        T.FiveCrop(7)(img)


def test_lighting_pca():
    rng = np.random.default_rng(0)
    # pixels drawn along one colour direction: the top eigenvector recovers it
    direction = np.array([0.6, 0.64, 0.48])
    t = rng.normal(0, 0.2, (4, 16, 16, 1))
    images = 0.5 + t * direction + rng.normal(0, 0.01, (4, 16, 16, 3))
    eigval, eigvec = T.pca_lighting_stats(images)
    assert eigval[0] > 10 * eigval[1] and eigval.dtype == np.float32
    assert abs(abs(eigvec[:, 0] @ direction) - 1) < 1e-3
    np.testing.assert_allclose(eigval[0], 0.04, rtol=0.1)
    # uint8 input is scaled by 1/255, channels-first is accepted
    u8 = rng.integers(0, 256, (3, 3, 8, 8), dtype=np.uint8)
    ev, _ = T.pca_lighting_stats(u8)
    ev2, _ = T.pca_lighting_stats(u8.transpose(0, 2, 3, 1).astype(np.float64) / 255)
    np.testing.assert_allclose(ev, ev2, rtol=1e-5)

    x = np.zeros((3, 4, 4), np.float32)
    light = T.Lighting(0.1, eigval, eigvec)
    with rng_context(np.random.default_rng(3)):
        out = light(x)
    alpha = np.random.default_rng(3).normal(0, 0.1, 3)
    shift = eigvec.astype(np.float64) @ (alpha * eigval)
    np.testing.assert_allclose(out[:, 0, 0], shift, rtol=1e-5)
    assert (out == out[:, :1, :1]).all()  # the same colour shift everywhere
    assert T.Lighting(0.0)(x) is x
    assert T.Lighting(0.1)(np.zeros((4, 4, 3), np.float32)).shape == (4, 4, 3)


def test_compose_and_seeding_from_manual_seed():
    import minidl
    t = T.Compose([T.RandomCrop(6, padding=2), T.RandomHorizontalFlip(), T.ToTensor()])
    img = _img(6, 6)
    minidl.manual_seed(5)
    a = [t(img) for _ in range(5)]
    minidl.manual_seed(5)
    b = [t(img) for _ in range(5)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(a[0], x) for x in a[1:])
    assert "RandomCrop" in repr(t)
    assert T.Lambda(lambda x: x + 1)(1) == 2
