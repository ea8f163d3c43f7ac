import numpy as np
import pytest
from helpers import check_layer

from layers import CosineLogits


def test_shared_layer_checks(tmp_path):
    check_layer(lambda: CosineLogits(5), (None, 8), (None, 5), tmp_path=tmp_path, batch_size=4)


def test_outputs_are_cosines_by_hand():
    layer = CosineLogits(3)
    layer.build((None, 2))
    layer.kernel.assign(np.array([[1.0, 0.0, 3.0], [0.0, 2.0, 3.0]], np.float32))
    out = np.asarray(layer(np.array([[2.0, 0.0], [1.0, 1.0]], np.float32)))
    s = 1 / np.sqrt(2)
    np.testing.assert_allclose(out, [[1.0, 0.0, s], [s, s, 1.0]], atol=1e-6)
    with pytest.raises(ValueError, match="units"):
        CosineLogits(0)
