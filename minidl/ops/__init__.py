"""The differentiable ops, each a `Function` written once against the backend contract."""
