"""minidl.testing: gradient checking, hypothesis strategies and the op table, public so users can
test their own ops and `autograd.Function`s the way minidl tests its own (docs/testing.md)."""
from . import opinfo, strategies
from .gradcheck import GradcheckError, assert_close, gradcheck

__all__ = ["gradcheck", "GradcheckError", "assert_close", "strategies", "opinfo"]
