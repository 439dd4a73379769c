#!/usr/bin/env python3
"""The independent values tests/test_phantom.cpp checks the phantom's exact ellipse perimeter
against (include/fbseg/data/phantom/shapes.hpp): P = 4 a E(m), m = 1 - b^2 / a^2, with E the
complete elliptic integral of the second kind as scipy.special.ellipe computes it (Cephes), and the
same with mpmath at 30 digits as a second opinion. No fixture file: the test writes the numbers in.

    python3 tools/phantom_reference_values.py
"""
import math

import mpmath
import scipy
from scipy.special import ellipe

mpmath.mp.dps = 30
print(f"scipy {scipy.__version__}, mpmath {mpmath.__version__}")
for a, b in [(1, 1), (3, 2), (100, 60), (5, 1)]:
    p_scipy = 4 * a * ellipe(1 - (b / a) ** 2)
    p_mp = 4 * a * mpmath.ellipe(1 - mpmath.mpf(b) ** 2 / a**2)
    print(f"a={a} b={b}: scipy {p_scipy!r}  mpmath {mpmath.nstr(p_mp, 20)}  (2 pi a = {2 * math.pi * a!r})")
