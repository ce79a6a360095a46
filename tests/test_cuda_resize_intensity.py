"""CUDA twins of the separable-filter resize (area, lanczos3/5, antialiased bilinear / bicubic) and
of the ImageDataGenerator intensity / standardisation kernels vs the CPU. Marked ``cuda``: skips
itself without a device (conftest.py)."""
import numpy as np
import pytest

from fusednet import _C
from tolerances import TOL

pytestmark = pytest.mark.cuda

RT, AT = TOL["cuda_vs_cpu"]


def dev(a):
    return _C.asarray(np.ascontiguousarray(a)).to("cuda")


def host(a):
    return np.array(a.to("cpu").numpy(), copy=True)


def cpu(a):
    return _C.asarray(np.ascontiguousarray(a))


@pytest.mark.parametrize("mode,aa", [("area", False), ("lanczos3", False), ("lanczos3", True), ("lanczos5", True),
                                     ("bilinear", True), ("bicubic", True), ("gaussian", False), ("gaussian", True),
                                     ("mitchellcubic", True)])
@pytest.mark.parametrize("src,dst", [((1, 1), (3, 2)), ((13, 17), (5, 7)), ((31, 29), (64, 9))])
@pytest.mark.parametrize("crop", [False, True])
def test_resize_filters_cuda_vs_cpu(mode, aa, src, dst, crop):
    x = np.random.default_rng(0).uniform(0, 255, (2,) + src + (3,)).astype(np.float32)
    want = np.asarray(_C.resize_images(cpu(x), dst[0], dst[1], mode, crop, aa))
    got = host(_C.resize_images(dev(x), dst[0], dst[1], mode, crop, aa))
    np.testing.assert_allclose(got, want, rtol=RT, atol=AT * 255)


@pytest.mark.parametrize("shape,lo,hi", [((3, 6, 5, 3), 10, 200), ((2, 9, 4, 1), -50, 300), ((2, 3, 7, 4), 0, 255),
                                         ((1, 40, 40, 3), 0, 255)])
def test_intensity_cuda_vs_cpu(shape, lo, hi):
    rng = np.random.default_rng(1)
    x = rng.uniform(lo, hi, shape).astype(np.float32)
    s = rng.uniform(-30, 30, shape[0]).astype(np.float32)
    b = rng.uniform(0.3, 1.7, shape[0]).astype(np.float32)
    for sa, ba in ((s, None), (None, b), (s, b)):
        want = np.asarray(_C.image_intensity(cpu(x), None if sa is None else cpu(sa), None if ba is None else cpu(ba)))
        got = host(_C.image_intensity(dev(x), None if sa is None else dev(sa), None if ba is None else dev(ba)))
        np.testing.assert_array_equal(got, want)     # same float32 steps, same truncation


def test_standardize_cuda_vs_cpu():
    rng = np.random.default_rng(2)
    x = rng.normal(5, 3, (3, 17, 13, 3)).astype(np.float32)
    m, sd = rng.normal(size=3).astype(np.float32), rng.uniform(0.5, 2, 3).astype(np.float32)
    want = np.asarray(_C.image_standardize(cpu(x), 0.5, True, True, cpu(m), cpu(sd)))
    got = host(_C.image_standardize(dev(x), 0.5, True, True, dev(m), dev(sd)))
    np.testing.assert_allclose(got, want, rtol=RT, atol=AT * 10)
