"""The compiled (Numba) versions of the kernels, one file per op; each is tested equal to
its NumPy twin in kernels/<op>.py."""
