"""Fused ops, one file each: the NumPy twin written from the math, the Function and the
public function; their compiled versions are in kernels/numba/."""
