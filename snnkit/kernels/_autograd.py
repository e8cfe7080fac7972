"""Guard for the fused kernels' hand-written backwards: they give first-order gradients only.

Under ``create_graph=True`` (a gradient penalty, a Hessian-vector product) the gradients a
fused backward returns carried no graph, so ``grad(penalty, weight)`` silently dropped the
kernel's second-order term (0 or ``None``). ``torch.autograd.function.once_differentiable``
does not help: it guards only when an incoming gradient requires grad, and links its error
to fresh leaves that ``torch.autograd.grad(..., inputs)`` never visits. Here the results are
tied to the function's saved inputs, so differentiating them again raises.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Tuple

import torch


class _NoSecondOrder(torch.autograd.Function):
    """Identity on ``outs``, depending on ``deps``; its backward raises ``msg``."""

    @staticmethod
    def forward(ctx: Any, msg: str, n: int, *tensors: torch.Tensor) -> Tuple[torch.Tensor, ...]:  # type: ignore[override]
        ctx.msg = msg
        return tuple(t.clone() for t in tensors[:n])

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Tuple[Any, ...]:
        raise RuntimeError(ctx.msg)


def first_order_only(what: str) -> Callable[[Callable[..., Tuple[Any, ...]]], Callable[..., Tuple[Any, ...]]]:
    """Decorate a ``backward``: under ``create_graph=True`` its results raise when differentiated again."""
    msg = (f"{what}: the fused kernel's backward gives first-order gradients only, so it cannot be "
           "differentiated again (create_graph=True, e.g. a gradient penalty); use backend='reference' "
           "for higher-order gradients")

    def deco(fn: Callable[..., Tuple[Any, ...]]) -> Callable[..., Tuple[Any, ...]]:
        @functools.wraps(fn)
        def wrapper(ctx: Any, *grads: Any) -> Tuple[Any, ...]:
            with torch.no_grad():
                outs = fn(ctx, *grads)
            if not torch.is_grad_enabled():  # an ordinary backward (create_graph=False)
                return outs
            deps = [t for t in (*ctx.saved_tensors, *grads) if isinstance(t, torch.Tensor) and t.requires_grad]
            idx = [i for i, o in enumerate(outs) if isinstance(o, torch.Tensor)]
            if not deps or not idx:
                return outs
            tied = _NoSecondOrder.apply(msg, len(idx), *(outs[i] for i in idx), *deps)
            res = list(outs)
            for i, t in zip(idx, tied):
                res[i] = t
            return tuple(res)

        return wrapper

    return deco
