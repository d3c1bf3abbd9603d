"""minitx.testing: checks for your own ops and models.

`gradcheck` compares a backward with finite differences on one input.
"""
from ._gradcheck import GradcheckError, gradcheck

__all__ = ["GradcheckError", "gradcheck"]
