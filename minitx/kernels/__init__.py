"""Fused ops, one file each: a NumPy twin and a Numba version of forward and backward."""
