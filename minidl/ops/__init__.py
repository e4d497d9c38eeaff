"""The differentiable ops, each an `autograd.Op` (forward on backend arrays, backward on
Tensors; `Op.apply` wraps) written once against the backend contract; the view ops of
movement.py are the tensor-level exception."""
