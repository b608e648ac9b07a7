import numpy as np

import nndfast
from nndfast import reference


def test_tutorial_forward_matches_reference():
    np.random.seed(0)
    a = nndfast.Neural_Network()
    np.random.seed(0)
    b = reference.Neural_Network()
    np.testing.assert_allclose(a.forward(nndfast.X), b.forward(reference.X), rtol=1e-12)
